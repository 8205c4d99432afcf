"""The loop end to end on a tiny random model: two rounds, resume after SIGKILL, skip/redo, status, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlaif.errors import RlaifError
from rlaif.loop import check_pipeline, load_pipeline, run_pipeline, run_status
from rlaif.loop.rundir import read_manifest, stage_folders

PROMPTS = [
    ("p1", "Explain rain.", "train"),
    ("p2", "Say hello.", "train"),
    ("p3", "Name a color.", "train"),
    ("p4", "Describe a cat.", "train"),
    ("p5", "Give a tip.", "heldout"),
    ("p6", "Count to three.", "heldout"),
]


def _pipeline(tmp: Path, model: Path, *, rounds: int = 2, name: str = "tiny") -> Path:
    prompts = tmp / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": i, "prompt": t, "split": s}) + "\n" for i, t, s in PROMPTS))
    p = tmp / f"{name}.yaml"
    p.write_text(
        f"""
name: {name}
rounds: {rounds}
models: {{policy: "{model}", device: cpu}}
constitution: principles/style.yaml
prompts: {{files: ["{prompts}"]}}
generate: {{n: 3, max_new_tokens: 12}}
label: {{label_source: hybrid, pairing: best_worst, best_worst_by: rules, k: 2, gate: {{enabled: false}}}}
policy:
  method: dpo
  dpo:
    max_length: 64
    max_prompt_length: 32
    lora: {{r: 4, alpha: 8}}
    optim: {{lr: 1.0e-3, schedule: constant}}
    run: {{batch_size: 2, epochs: 2, save_every: 1}}
evaluate:
  settings: {{max_new_tokens: 8, principles: [concise, no_exclamations]}}
"""
    )
    return p


def _artifacts(run_dir: Path) -> dict[str, dict[str, str]]:
    out = {}
    for k, stage, folder in stage_folders(run_dir):
        m = read_manifest(folder)
        assert m is not None and m["status"] == "done", (k, stage, m)
        outputs = {n: h for n, h in m["outputs"].items() if not stage.startswith("evaluate")}
        out[f"{k}/{stage}"] = outputs
    return out


def test_two_rounds_resume_after_sigkill_and_skip(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = _pipeline(tmp_path, tiny_model_dir)
    runs = tmp_path / "runs"
    summary = run_pipeline(load_pipeline(spec), runs_dir=runs, progress=False)
    stages = [(t.round, t.stage) for t in summary.timings]
    assert stages == [(k, s) for k in (1, 2) for s in ("generate", "label", "policy", "evaluate")]
    reference = _artifacts(runs / "tiny")
    # round 2 generated with round 1's adapter: different responses
    assert reference["1/generate"] != reference["2/generate"]
    ev = json.loads((runs / "tiny" / "round-2" / "evaluate" / "eval.json").read_text())
    assert ev  # the evaluation wrote its numbers

    # a rerun skips everything
    again = run_pipeline(load_pipeline(spec), runs_dir=runs, progress=False)
    assert {t.action for t in again.timings} == {"skipped"}

    # changing a policy setting redoes the policy stages and what follows them, not round 1's generate/label
    (runs).rename(tmp_path / "ref")
    changed = run_pipeline(
        load_pipeline(spec, ["policy.dpo.beta=0.2"]), runs_dir=tmp_path / "ref", progress=False
    )
    actions = {(t.round, t.stage): t.action for t in changed.timings}
    assert actions[(1, "generate")] == "skipped" and actions[(1, "label")] == "skipped"
    assert actions[(1, "policy")] == "ran" and actions[(2, "generate")] == "ran"

    # SIGKILL in the middle of round 1's policy training, then rerun (same folder as the reference run used,
    # since model cards name their data paths): the same artifacts, byte for byte
    cmd = [sys.executable, "-m", "rlaif", "run", str(spec), "--runs-dir", str(runs), "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = runs / "tiny" / "round-1" / "policy" / "checkpoints"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and not any(ckpts.glob("step-*")):
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    status = run_status(runs / "tiny")
    assert ("policy", "running") in {(s.stage, s.status) for s in status.stages}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _artifacts(runs / "tiny") == reference
    assert run_status(runs / "tiny").record["status"] == "done"


def test_bad_inputs_fail_before_any_work(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = _pipeline(tmp_path, tiny_model_dir, rounds=1)
    with pytest.raises(RlaifError) as e:
        run_pipeline(
            load_pipeline(spec, ["prompts.files=[missing.jsonl]"]), runs_dir=tmp_path / "r", progress=False
        )
    assert "missing.jsonl" in str(e.value.problems[0].path)
    with pytest.raises(RlaifError) as e:
        run_pipeline(load_pipeline(spec, ["policy.dpo.bogus=1"]), runs_dir=tmp_path / "r", progress=False)
    assert e.value.problems[0].field == "policy.dpo.bogus"
    assert not (tmp_path / "r" / "tiny" / "round-1").exists()
    with pytest.raises(RlaifError, match="free"):
        run_pipeline(
            load_pipeline(spec, ["min_free_disk_gb=1000000"]), runs_dir=tmp_path / "r", progress=False
        )
    with pytest.raises(RlaifError, match="held"):
        run_pipeline(
            load_pipeline(spec, ["prompts.heldout_split=nothing"]), runs_dir=tmp_path / "r", progress=False
        )
    templates = tmp_path / "my_templates"
    templates.mkdir()
    (templates / "rm_input.j2").write_text("{{ principles }} {{ answer }}")
    with pytest.raises(RlaifError) as e:
        run_pipeline(
            load_pipeline(spec, ["reward.enabled=true", f"reward.settings.templates={templates}"]),
            runs_dir=tmp_path / "r",
            progress=False,
        )
    assert "rm_input.j2 uses variables it is not given: answer" in str(e.value)
    assert str(templates / "rm_input.j2") in e.value.format()
    assert not (tmp_path / "r" / "tiny" / "round-1").exists()


def test_check_makes_the_run_checks_and_runs_nothing(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlaif.cli.main import main

    spec = _pipeline(tmp_path, tiny_model_dir, rounds=1)
    runs = tmp_path / "runs"
    ctx = check_pipeline(load_pipeline(spec), runs_dir=runs)
    assert len(ctx.train_prompts) == 4 and len(ctx.heldout_prompts) == 2
    with pytest.raises(RlaifError) as e:  # a stage setting: used to pass --check and fail only when run
        check_pipeline(load_pipeline(spec, ["policy.dpo.bogus=1"]), runs_dir=runs)
    assert e.value.problems[0].field == "policy.dpo.bogus"
    # nothing written but the (empty) run folder whose disk is checked
    assert list(runs.rglob("*")) == [runs / "tiny"]

    cli = ["run", str(spec), "--check", "--runs-dir", str(runs)]
    assert main(cli) == 0
    assert "is valid: 1 round(s), 4 training and 2 held-out prompts" in capsys.readouterr().err
    assert main([*cli, "policy.dpo.optim.lr=-1"]) == 1
    said = capsys.readouterr().err
    assert "policy.dpo.optim.lr" in said and "Traceback" not in said
    assert list(runs.rglob("*")) == [runs / "tiny"]


def test_a_pipeline_template_folder_is_used_checked_and_fingerprinted(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from rlaif.feedback.dataset_io import read_rows
    from rlaif.prompting import TemplateSet

    folder = tmp_path / "my_templates"
    folder.mkdir()
    shipped = TemplateSet.load().path("compare.j2").read_text()
    (folder / "compare.j2").write_text(shipped.replace("and nothing else.", "and nothing else. Be strict."))
    spec = _pipeline(tmp_path, tiny_model_dir, rounds=1)
    runs = tmp_path / "runs"
    fast = ["policy.method=none", "evaluate.enabled=false", f"templates={folder}"]
    run_pipeline(load_pipeline(spec, fast), runs_dir=runs, progress=False)
    labels = read_rows(runs / "tiny" / "round-1" / "label")
    mine = TemplateSet.load(folder).template_hash("compare")
    assert mine != TemplateSet.load().template_hash("compare")
    assert labels and {r["template_hash"] for r in labels} == {
        mine
    }  # the critic rendered the folder's template

    # editing a template redoes the label stage (generation is untouched)
    (folder / "compare.j2").write_text(shipped.replace("and nothing else.", "and nothing else. Be fair."))
    again = run_pipeline(load_pipeline(spec, fast), runs_dir=runs, progress=False)
    actions = {t.stage: t.action for t in again.timings}
    assert actions == {"generate": "skipped", "label": "ran"}

    # a template that does not load stops the run before any stage, naming the file
    (folder / "compare.j2").write_text("{% if %}")
    with pytest.raises(RlaifError) as e:
        run_pipeline(load_pipeline(spec, fast), runs_dir=runs, progress=False)
    assert e.value.problems[0].field == "templates"
    assert str(folder / "compare.j2") in e.value.format()
    with pytest.raises(RlaifError, match="no such template folder"):
        run_pipeline(load_pipeline(spec, [*fast, "templates=nowhere"]), runs_dir=runs, progress=False)


def test_reward_refresh_continue_starts_round_two_from_round_one(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    spec = _pipeline(tmp_path, tiny_model_dir, name="rmloop")
    text = spec.read_text().replace("  method: dpo", "  method: none")  # reward models only, fast
    text += (
        "reward:\n  enabled: true\n  refresh: continue\n"
        "  settings: {max_length: 512, lora: {r: 4, alpha: 8}, val_fraction: 0.0, run: {batch_size: 2, max_steps: 2}}\n"
    )
    spec.write_text(text)
    runs = tmp_path / "runs"
    run_pipeline(load_pipeline(spec), runs_dir=runs, progress=False)
    sidecars = [
        json.loads((runs / "rmloop" / f"round-{k}" / "reward" / "model" / "rlaif.json").read_text())
        for k in (1, 2)
    ]
    assert sidecars[0]["settings"]["init_adapter"] is None
    assert (
        Path(sidecars[1]["settings"]["init_adapter"]).resolve()
        == (runs / "rmloop" / "round-1" / "reward" / "model").resolve()
    )
