"""``run_generate`` / ``run_revise``: the one wiring ``rlaif generate``, ``rlaif revise`` and a pipeline's round share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.spec import ModelSpec
from rlaif.constitution import load_constitution
from rlaif.feedback.contrastive import ContrastConfig
from rlaif.feedback.inputs import load_prompts
from rlaif.feedback.responses import GenerateConfig, read_responses
from rlaif.feedback.revise_config import ReviseConfig
from rlaif.jobs.generate import ContrastiveGeneration, GenerateJob, run_generate
from rlaif.jobs.revise import ReviseJob, run_revise
from rlaif.strict import ConfigError

ROOT = Path(__file__).resolve().parents[3]
HHH = ROOT / "principles/hhh.yaml"
SMOKE = ROOT / "data/prompts/smoke.jsonl"
MOCK = ModelSpec(model="m", backend="mock")


def test_generate_from_a_file_writes_the_dataset_and_the_run_record(tmp_path: Path) -> None:
    job = GenerateJob(
        prompts=SMOKE,
        out=tmp_path / "resp",
        policy=MOCK,
        cache=tmp_path / "cache.sqlite",
        config=GenerateConfig(n=3, max_new_tokens=8, progress=False),
    )
    result = run_generate(job)
    n_prompts = len(load_prompts(SMOKE))
    assert len(result.sets) == n_prompts and result.responses == 3 * n_prompts
    assert result.cache_misses > 0 and result.cache_hits == 0
    assert [s.prompt.id for s in read_responses(result.path)] == [s.prompt.id for s in result.sets]
    record = json.loads((tmp_path / "resp" / "run.json").read_text())
    assert record["backend"] == "mock" and record["executor"] == "local"
    assert record["cache_misses"] == result.cache_misses
    again = run_generate(job)  # every call is seeded, hence cached
    assert again.cache_hits == result.cache_misses and again.cache_misses == 0
    assert again.path.read_bytes() == result.path.read_bytes()


def test_generate_from_loaded_prompts_contrastively_without_a_run_record(tmp_path: Path) -> None:
    rows = tuple(load_prompts(SMOKE)[:2])
    job = GenerateJob(
        prompts=rows,
        out=tmp_path / "resp",
        policy="m",  # a bare name is a ModelSpec on the transformers backend
        config=GenerateConfig(n=2, max_new_tokens=8, progress=False),
        contrastive=ContrastiveGeneration(constitution=load_constitution(HHH), contrast=ContrastConfig(k=2)),
        write_record=False,
    )
    assert job.policy == ModelSpec(model="m") and job.policy.engine == "transformers"
    result = run_generate(job.model_copy(update={"policy": MOCK}))
    assert [s.prompt.id for s in result.sets] == [r.id for r in rows]
    assert all(s.params["contrastive"]["sides"] == ["positive"] * 2 + ["negative"] * 2 for s in result.sets)
    assert not (tmp_path / "resp" / "run.json").exists()  # a pipeline stage's folder holds only the dataset


def test_job_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match="prompt file"):
        GenerateJob(prompts=(), out=Path("o"), policy=MOCK, skip_bad_rows=True)
    with pytest.raises(ConfigError, match="limit"):
        ReviseJob(constitution=HHH, out=Path("o"), limit=0)
    with pytest.raises(ConfigError, match="polcy"):
        ReviseJob(constitution=HHH, out=Path("o"), polcy="m")  # type: ignore[call-arg]


def _count_engines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import rlaif.jobs.revise as jobs_revise

    opened: list[str] = []
    real = jobs_revise.open_engine

    def counting(spec: ModelSpec, **kw: Any) -> Any:
        opened.append(spec.model)
        return real(spec, **kw)

    monkeypatch.setattr(jobs_revise, "open_engine", counting)
    return opened


def test_revise_shares_one_engine_when_policy_and_critic_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _count_engines(monkeypatch)
    job = ReviseJob(
        constitution=load_constitution(HHH),
        prompts=SMOKE,
        out=tmp_path / "rev",
        policy=MOCK,
        critic=MOCK,
        limit=2,
        config=ReviseConfig(few_shot=False),
    )
    result = run_revise(job)
    assert opened == ["m"]
    assert result.run.stats.prompts == 2
    assert result.sft_dir == tmp_path / "rev" / "sft" and result.pairs_dir == tmp_path / "rev" / "pairs"
    # the call cache defaults to the output's parent folder (shared by sibling stages)
    assert (tmp_path / ".rlaif-cache.sqlite").exists()
    opened.clear()
    run_revise(job.model_copy(update={"critic": ModelSpec(model="c", backend="mock"), "use_cache": False}))
    assert opened == ["m", "c"]


def test_revise_needs_prompts_or_responses_but_not_both(tmp_path: Path) -> None:
    from rlaif.errors import RlaifError

    with pytest.raises(RlaifError, match="give either --prompts"):
        run_revise(ReviseJob(constitution=HHH, out=tmp_path / "rev", policy=MOCK, critic=MOCK))
