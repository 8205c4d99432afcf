"""run_label: the label stage's one wiring (inputs checked first, critic opened once, dataset and run record), on the
mock backend; and how a bad option reaches a `rlaif label` user."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import rlaif
from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.backends.spec import ModelSpec
from rlaif.cli.main import main
from rlaif.constitution import load_constitution
from rlaif.errors import RlaifError
from rlaif.feedback.call_cache import open_backend
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.label_config import GateSettings, LabelConfig
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import label_dataset
from rlaif.feedback.responses import GenerateConfig, generate_responses, read_responses, write_responses
from rlaif.jobs.label import LabelJob, run_label
from rlaif.prompting import TemplateSet
from rlaif.resources import shipped_dir
from rlaif.strict import ConfigError

HHH = shipped_dir("principles") / "hhh.yaml"
STYLE = shipped_dir("principles") / "style.yaml"
MOCK = ModelSpec(model="m", backend="mock")
NO_GATE = GateSettings(enabled=False)


@pytest.fixture
def responses(tmp_path: Path) -> Path:
    prompts = [PromptRow(f"p{i}", (ChatMessage("user", f"Question {i}?"),)) for i in range(5)]
    sets = generate_responses(
        MockBackend("m"), prompts, GenerateConfig(n=2, max_new_tokens=8, batch_prompts=2, progress=False)
    )
    return write_responses(tmp_path / "responses", sets).parent


def _job(tmp_path: Path, responses: Path, name: str = "labels", **config: object) -> LabelJob:
    return LabelJob(
        out=tmp_path / name,
        responses=responses,
        constitution=HHH,
        critic=MOCK,
        cache=tmp_path / "cache.sqlite",
        config=LabelConfig.model_validate(
            {"k": 2, "gate": NO_GATE, "keep_ties": True, "progress": False, **config}
        ),
    )


def test_run_label_writes_what_label_dataset_writes_and_counts_the_cache(
    responses: Path, tmp_path: Path
) -> None:
    result = run_label(_job(tmp_path, responses))
    config = LabelConfig(k=2, gate=NO_GATE, keep_ties=True, progress=False)
    direct = label_dataset(
        read_responses(responses),
        load_constitution(HHH),
        open_backend("mock", "m"),
        TemplateSet.load(),
        config,
    )
    write_label_run(direct, tmp_path / "direct")
    assert result.data == tmp_path / "labels" / "data.parquet"
    assert result.data.read_bytes() == (tmp_path / "direct" / "data.parquet").read_bytes()
    assert result.summary == {"pairs": 5, "rows": 5, "filtered": 0, "unlabeled": 0}
    # every critic call computed once, then read back from the cache
    assert (result.critic, result.cache_hits) == ("mock:m", 0) and result.cache_misses > 0
    record = json.loads((tmp_path / "labels" / "run.json").read_text())
    assert record == {
        "stage": "label",
        "responses": str(responses),
        "constitution": str(HHH),
        "critic": "mock:m",
        "backend": "mock",
        "executor": "local",
        "cache": str(tmp_path / "cache.sqlite"),
        "cache_hits": 0,
        "cache_misses": result.cache_misses,
    }
    again = run_label(_job(tmp_path, responses, "again"))
    assert (again.cache_hits, again.cache_misses) == (result.cache_misses, 0)
    assert again.data.read_bytes() == result.data.read_bytes()


def test_older_rounds_are_relabelled_under_prefixed_ids_and_no_record_when_asked(
    responses: Path, tmp_path: Path
) -> None:
    job = _job(tmp_path, responses).model_copy(update={"older_responses": [responses], "run_record": False})
    result = run_label(job)
    ids = pq.read_table(result.data).column("prompt_id").to_pylist()
    assert sorted(ids) == sorted([f"p{i}" for i in range(5)] + [f"r1:p{i}" for i in range(5)])
    assert not (tmp_path / "labels" / "run.json").exists()


def test_rule_labels_open_no_critic(responses: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rlaif.jobs.engine

    monkeypatch.setattr(rlaif.jobs.engine, "open_engine", _no_model)
    job = _job(tmp_path, responses, label_source="rules", k=1).model_copy(
        update={"critic": None, "constitution": STYLE}
    )
    result = run_label(job)
    assert result.critic is None and result.stats["label_source"] == "rules"


def _no_model(*args: object, **kwargs: object) -> None:
    raise AssertionError("a model was opened")


def test_inputs_are_checked_before_the_critic_loads(
    responses: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rlaif.jobs.engine

    monkeypatch.setattr(rlaif.jobs.engine, "open_engine", _no_model)
    gated = _job(tmp_path, responses).model_copy(
        update={"config": LabelConfig(k=2, gate=GateSettings(gold=str(tmp_path / "no-gold.jsonl")))}
    )
    with pytest.raises(RlaifError, match=r"no-gold\.jsonl"):
        run_label(gated)
    with pytest.raises(RlaifError, match="exactly one of --responses"):
        run_label(_job(tmp_path, responses).model_copy(update={"pairs": "x.jsonl"}))
    with pytest.raises(RlaifError, match="needs a critic model"):
        run_label(_job(tmp_path, responses).model_copy(update={"critic": None}))
    contrastive = _job(tmp_path, responses, label_source="contrastive")
    with pytest.raises(RlaifError, match="not relabelled pairs"):
        run_label(contrastive.model_copy(update={"older_responses": [responses]}))
    with pytest.raises(RlaifError, match="dataset not found"):
        run_label(_job(tmp_path, tmp_path / "missing"))


def test_label_dataset_refuses_a_contrastive_source(responses: Path) -> None:
    with pytest.raises(RlaifError, match="labels contrastive pairs by construction"):
        label_dataset(
            read_responses(responses),
            load_constitution(HHH),
            None,
            TemplateSet.load(),
            LabelConfig(label_source="contrastive"),
        )


def test_label_config_checks_its_values_with_clear_messages() -> None:
    with pytest.raises(ConfigError, match="cot_clamp must be two probabilities, low then high"):
        LabelConfig(cot_clamp=(0.7, 0.2))
    with pytest.raises(ConfigError, match="markers must be 'random' or two letters"):
        LabelConfig(markers="xyz")
    with pytest.raises(ConfigError, match="greater than or equal to 1"):
        LabelConfig(k=0)
    with pytest.raises(ConfigError, match="unknown field of LabelConfig"):
        LabelConfig(judge={"mode": "verdict"})  # type: ignore[call-arg]
    assert (
        LabelConfig(markers="random", seed=3).judge_config().markers
        == LabelConfig(markers="random", seed=3).judge_config().markers
    )


def test_judge_config_is_the_flat_judge_fields() -> None:
    config = LabelConfig(
        seed=7,
        chain_of_thought=True,
        cot_clamp=(0.3, 0.7),
        both_orders=False,
        judge_mode="verdict",
        verdict_samples=3,
        markers="K,Q",
        batch_calibration=True,
    )
    judge = config.judge_config()
    assert (judge.seed, judge.chain_of_thought, judge.cot_clamp, judge.both_orders) == (
        7,
        True,
        (0.3, 0.7),
        False,
    )
    assert (judge.mode, judge.verdict_samples, judge.markers, judge.batch_calibration) == (
        "verdict",
        3,
        ("K", "Q"),
        True,
    )


def test_a_bad_flag_value_is_a_clear_error_naming_the_flag(
    responses: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["label", "-r", str(responses), "-o", str(tmp_path / "x"), "--critic", "m", "--backend", "mock"]
    assert main([*base, "-k", "0", "--cot-clamp", "0.7,0.2"]) == 1
    err = capsys.readouterr().err
    assert "hint: see `rlaif label --help`" in err
    assert "field '--k': Input should be greater than or equal to 1 (got 0)" in err
    assert "field '--cot-clamp': cot_clamp must be two probabilities, low then high, got [0.7, 0.2]" in err
    assert "Traceback" not in err
    assert main([*base, "--pairing", "best"]) == 1
    assert "field '--pairing': Input should be 'first_two', 'all_pairs' or 'best_worst' (got 'best')" in (
        capsys.readouterr().err
    )


def test_rlaif_label_runs_the_job(responses: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["label", "-r", str(responses), "-o", str(out), "--critic", "m", "--backend", "mock", "-k", "2"]
    assert main([*args, "--keep-ties", "--no-progress", "--cache", str(tmp_path / "cache.sqlite")]) == 0
    direct = run_label(_job(tmp_path, responses))
    assert (out / "data.parquet").read_bytes() == direct.data.read_bytes()


def test_the_job_is_exported_lazily() -> None:
    assert rlaif.LabelJob is LabelJob and rlaif.run_label is run_label
