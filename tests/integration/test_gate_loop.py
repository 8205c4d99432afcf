"""The critic gate in a real loop on a tiny random model: the run stops before labeling with a clear message, the
finished generate stage is kept, and the CLI exits non-zero without a traceback. Turned off, the stage labels and
records nothing about a gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlaif.errors import RlaifError
from rlaif.loop import load_pipeline, run_pipeline
from rlaif.loop.rundir import read_manifest, stage_folders

from .conftest import cli_env


def _pipeline(tmp: Path, model: Path, gate: str) -> Path:
    prompts = tmp / "prompts.jsonl"
    rows = [
        ("p1", "Say hello.", "train"),
        ("p2", "Name a colour.", "train"),
        ("p3", "Count to two.", "heldout"),
    ]
    prompts.write_text("".join(json.dumps({"id": i, "prompt": t, "split": s}) + "\n" for i, t, s in rows))
    gold = tmp / "gold.jsonl"  # a short gold set keeps the tiny critic's gate fast
    gold.write_text(
        "".join(
            json.dumps(
                {"id": f"g{i}", "prompt": f"What is {i} + {i}?", "chosen": str(2 * i), "rejected": "no"}
            )
            + "\n"
            for i in range(6)
        )
    )
    p = tmp / "gated.yaml"
    p.write_text(
        f"""
name: gated
rounds: 1
models: {{policy: "{model}", device: cpu}}
constitution: principles/style.yaml
prompts: {{files: ["{prompts}"]}}
generate: {{n: 2, max_new_tokens: 6}}
label: {{k: 1, gate: {gate.replace("GOLD", str(gold))}}}
policy:
  method: dpo
  dpo: {{max_length: 48, max_prompt_length: 24, lora: {{r: 4, alpha: 8}}, run: {{batch_size: 2, epochs: 1}}}}
evaluate:
  settings: {{max_new_tokens: 4, principles: [concise]}}
"""
    )
    return p


def test_the_gate_stops_a_chance_critic_and_keeps_finished_work(tiny_model_dir: Path, tmp_path: Path) -> None:
    # 6 gold pairs cannot give a lower bound of 95% (6 of 6 right gives 61%): the gate stops whatever the tiny model says
    spec = _pipeline(tmp_path, tiny_model_dir, "{gold: GOLD, k: 1, min_accuracy: 0.95}")
    runs = tmp_path / "runs"
    with pytest.raises(RlaifError) as e:
        run_pipeline(load_pipeline(spec), runs_dir=runs, progress=False)
    text = str(e.value)
    assert (
        "stage 'label' failed: field 'label.gate': critic gate:" in text and "fails on the gold set" in text
    )
    assert "label.gate.enabled: false" in text
    status = {
        stage: (read_manifest(folder) or {}).get("status")
        for _, stage, folder in stage_folders(runs / "gated")
    }
    assert status["generate"] == "done" and status["label"] == "failed"
    # the CLI: non-zero exit, the message, no traceback
    proc = subprocess.run(
        [sys.executable, "-m", "rlaif", "run", str(spec), "--runs-dir", str(runs)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    assert "critic gate:" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_with_the_gate_off_the_stage_labels(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = _pipeline(tmp_path, tiny_model_dir, "{enabled: false}")
    runs = tmp_path / "runs"
    loaded = load_pipeline(spec)
    run_pipeline(loaded, runs_dir=runs, progress=False, only_rounds=1)
    stats = json.loads((runs / "gated" / "round-1" / "label" / "stats.json").read_text())
    assert "critic_gate" not in stats and stats["labeled"] >= 1


def test_a_passing_gate_is_recorded_in_stats_card_and_report(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = _pipeline(tmp_path, tiny_model_dir, "{gold: GOLD, k: 1, min_accuracy: 0.0}")
    runs = tmp_path / "runs"
    run_pipeline(load_pipeline(spec), runs_dir=runs, progress=False)
    label = runs / "gated" / "round-1" / "label"
    gate = json.loads((label / "stats.json").read_text())["critic_gate"]
    assert gate["passed"] is True and gate["n"] == 6 and gate["min_accuracy"] == 0.0
    assert "Critic gate: the critic judged the gold set" in (label / "README.md").read_text()
    from rlaif.report import build_report

    paths = build_report(runs / "gated", out_dir=tmp_path / "report")
    assert any("Critic gate: the critic judged the gold set" in p.read_text() for p in paths)
