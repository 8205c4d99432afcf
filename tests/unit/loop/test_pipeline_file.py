"""Pipeline files: validation with file:line:field, overrides, shipped pipelines, run-directory fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.errors import DataFileError
from rlaif.loop import load_pipeline
from rlaif.loop.rundir import StageRef, finish_manifest, prepare_stage, start_manifest
from rlaif.overrides import apply_overrides, parse_override
from rlaif.resources import shipped_dir

SHIPPED = sorted(p.name for p in shipped_dir("pipelines").glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_pipelines_validate(name: str) -> None:
    lp = load_pipeline(shipped_dir("pipelines") / name)
    assert lp.pipeline.name == Path(name).stem
    assert lp.pipeline.constitution


def test_shipped_pipelines_are_the_expected_set() -> None:
    assert {
        "smoke.yaml",
        "quickstart.yaml",
        "rules.yaml",
        "ppo.yaml",
        "distill-baseline.yaml",
        "gpu-7b-dpo.yaml",
        "gpu-7b-ppo.yaml",
    } <= set(SHIPPED)


def test_unknown_and_bad_fields_name_file_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(
        "name: bad\n"
        "constitution: principles/style.yaml\n"
        "prompts:\n"
        "  files: [data/prompts/smoke.jsonl]\n"
        "rounds: 0\n"
        "label:\n"
        "  kk: 3\n"
    )
    with pytest.raises(DataFileError) as e:
        load_pipeline(p)
    probs = {(pr.line, pr.field) for pr in e.value.problems}
    assert (5, "rounds") in probs
    assert any(line == 7 and field and field.startswith("label") for line, field in probs)
    assert all(pr.path == str(p) for pr in e.value.problems)


def test_overrides_set_nested_fields_and_are_validated(tmp_path: Path) -> None:
    base = shipped_dir("pipelines") / "smoke.yaml"
    lp = load_pipeline(base, ["policy.method=ppo", "rounds=3", "label.k=4", "models.device=cpu"])
    assert lp.pipeline.policy.method == "ppo" and lp.pipeline.rounds == 3 and lp.pipeline.label.k == 4
    with pytest.raises(DataFileError) as e:
        load_pipeline(base, ["policy.method=sgd"])
    assert e.value.problems[0].field == "policy.method"
    with pytest.raises(DataFileError):
        parse_override("no-equals-sign")
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("x=no") == (["x"], "no")  # YAML 1.2: 'no' stays text
    with pytest.raises(DataFileError):
        apply_overrides({"rounds": 2}, ["rounds.x=1"])


def test_stage_fingerprints_decide_skip_resume_and_redo(tmp_path: Path) -> None:
    ref = StageRef(tmp_path, 1, "label")
    cfg, inputs = {"k": 2}, {"responses": "abc"}
    assert prepare_stage(ref, cfg, inputs)[0] == "fresh"
    m = start_manifest(ref, cfg, inputs, attempts=1)
    (ref.folder / "data.parquet").write_bytes(b"x")
    assert prepare_stage(ref, cfg, inputs)[0] == "resume"  # running when killed
    assert (ref.folder / "data.parquet").exists()  # resume keeps partial work
    finish_manifest(ref, m, outputs={"labels": ref.folder}, seconds=1.5)
    assert prepare_stage(ref, cfg, inputs)[0] == "skip"
    action, _ = prepare_stage(ref, cfg, {"responses": "changed"})
    assert action == "fresh" and not ref.folder.exists()  # changed inputs: cleared and redone


def test_every_pipeline_field_is_documented() -> None:
    from pydantic import BaseModel

    from rlaif.loop.pipeline import Pipeline

    doc = (Path(__file__).resolve().parents[3] / "docs" / "pipelines.md").read_text()
    missing = []

    def walk(model: type[BaseModel]) -> None:
        for name, info in model.model_fields.items():
            if f"`{name}`" not in doc:
                missing.append(f"{model.__name__}.{name}")
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann)

    walk(Pipeline)
    assert not missing, missing


def test_a_failing_stage_is_recorded_and_resumed(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rlaif.errors import RlaifError
    from rlaif.loop.rundir import read_manifest
    from rlaif.loop.runner import run_stage
    from rlaif.loop.stages import Stage, StageResult

    ctx = SimpleNamespace(run_dir=tmp_path)
    calls: list[str] = []

    def boom(folder: Path) -> StageResult:
        calls.append("boom")
        (folder / "partial.txt").write_text("kept")
        raise RlaifError("the critic died")

    def ok(folder: Path) -> StageResult:
        calls.append("ok")
        assert (folder / "partial.txt").read_text() == "kept"  # finished work is kept for the resume
        (folder / "out.txt").write_text("done")
        return StageResult({"out": folder / "out.txt"})

    with pytest.raises(RlaifError, match="stage 'label' failed: the critic died"):
        run_stage(ctx, Stage("label", 1, {"k": 2}, {"x": "1"}, boom))  # type: ignore[arg-type]
    m = read_manifest(tmp_path / "round-1" / "label")
    assert m is not None and m["status"] == "failed" and "critic died" in m["error"]
    timing = run_stage(ctx, Stage("label", 1, {"k": 2}, {"x": "1"}, ok))  # type: ignore[arg-type]
    assert timing.action == "resumed" and calls == ["boom", "ok"]
    m = read_manifest(tmp_path / "round-1" / "label")
    assert m is not None and m["status"] == "done" and m["attempts"] == 2 and "error" not in m
