"""run_contrast: contrastive pairs sampled and labelled from Python on the mock backend, as `rlaif contrast` runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import rlaif
from rlaif.backends.spec import ModelSpec
from rlaif.constitution import load_constitution
from rlaif.errors import RlaifError
from rlaif.feedback.call_cache import open_backend
from rlaif.feedback.contrastive import (
    ContrastConfig,
    ContrastGenerateConfig,
    contrastive_label_run,
    generate_contrastive,
    instruction,
)
from rlaif.feedback.inputs import load_prompts
from rlaif.feedback.responses import write_responses
from rlaif.jobs.contrast import ContrastJob, run_contrast
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[3]
PLAIN = ROOT / "principles/plain.yaml"
SMOKE = ROOT / "data/prompts/smoke.jsonl"
#: the policy answers every positive system prompt with the id of the principle it asks to follow; the negative side
#: gets the mock's seeded gibberish
RULES = {instruction(p, "positive"): f"Following {p.id}." for p in load_constitution(PLAIN).principles}
POLICY = ModelSpec(model="m", backend="mock", options={"rules": RULES})
SAMPLING = ContrastGenerateConfig(max_new_tokens=40, progress=False)


def _job(tmp_path: Path, name: str = "contrast", **contrast: object) -> ContrastJob:
    return ContrastJob(
        prompts=SMOKE,
        constitution=PLAIN,
        out=tmp_path / name,
        policy=POLICY,
        cache=tmp_path / "cache.sqlite",
        contrast=ContrastConfig.model_validate({"k": 1, "seed": 3, **contrast}),
        sampling=SAMPLING,
    )


def test_run_contrast_writes_responses_labels_and_the_run_record(tmp_path: Path) -> None:
    result = run_contrast(_job(tmp_path))
    prompts = load_prompts(SMOKE)
    out = tmp_path / "contrast"
    assert (result.responses, result.labels) == (out / "responses/data.parquet", out / "labels/data.parquet")
    rows = pq.read_table(result.labels).to_pylist()
    assert [r["prompt_id"] for r in rows] == [p.id for p in prompts]
    for row in rows:
        (ref,) = row["principles"]
        assert row["chosen"] == f"Following {ref.split('@')[0]}."
        assert row["rejected"] != row["chosen"] and row["p_chosen"] == 1.0
        assert (row["side_chosen"], row["label_source"]) == ("positive", "contrastive")
    assert result.stats["rows"] == len(prompts) and result.stats["dropped"] == 0
    record = json.loads((out / "run.json").read_text())
    assert record == {"stage": "contrast", "prompts": str(SMOKE), "policy": "m", **result.stats}
    # the same bytes as the domain functions called by hand, sampled with the contrast seed
    policy = open_backend("mock", "m", options={"rules": RULES})
    constitution = load_constitution(PLAIN)
    sets = generate_contrastive(
        policy,
        prompts,
        constitution,
        TemplateSet.load(),
        SAMPLING.model_copy(update={"seed": 3}),
        ContrastConfig(k=1, seed=3),
    )
    assert write_responses(tmp_path / "direct", sets).read_bytes() == result.responses.read_bytes()
    assert contrastive_label_run(sets, constitution, ContrastConfig(k=1, seed=3)).rows == rows


def test_the_critic_rescores_and_is_required_before_the_policy_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_contrast(
        _job(tmp_path, label_source="contrastive+critic", drop_below=0.0).model_copy(
            update={"critic": ModelSpec(model="judge", backend="mock")}
        )
    )
    rows = pq.read_table(result.labels).to_pylist()
    assert rows and {(r["label_source"], r["critic_model"]) for r in rows} == {
        ("contrastive+critic", "mock:judge")
    }
    assert all(0.0 < r["p_chosen"] < 1.0 for r in rows)
    import rlaif.jobs.contrast
    import rlaif.jobs.generate

    monkeypatch.setattr(rlaif.jobs.generate, "open_engine", _no_model)
    monkeypatch.setattr(rlaif.jobs.contrast, "open_engine", _no_model)
    with pytest.raises(RlaifError, match="contrastive\\+critic needs a critic model"):
        run_contrast(_job(tmp_path, "again", label_source="contrastive+critic"))
    assert not (tmp_path / "again").exists()


def _no_model(*args: object, **kwargs: object) -> None:
    raise AssertionError("a model was opened")


def test_the_job_is_exported_lazily() -> None:
    assert rlaif.ContrastJob is ContrastJob and rlaif.run_contrast is run_contrast
