"""A contrastive (RLCD) pipeline end to end on a tiny random model: pairs, DPO, SFT baseline, ceiling, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rlaif.loop import load_pipeline, run_pipeline

PROMPTS = [
    ("p1", "Explain rain.", "train"),
    ("p2", "Say hello.", "train"),
    ("p3", "Name a color.", "train"),
    ("p4", "Describe a cat.", "heldout"),
    ("p5", "Give a tip.", "heldout"),
]


def test_contrastive_pipeline_runs_and_records_provenance(tiny_model_dir: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": i, "prompt": t, "split": s}) + "\n" for i, t, s in PROMPTS))
    spec = tmp_path / "rlcd.yaml"
    spec.write_text(
        f"""
name: rlcd
rounds: 1
models: {{policy: "{tiny_model_dir}", device: cpu}}
constitution: principles/plain.yaml
prompts: {{files: ["{prompts}"]}}
generate: {{n: 1, max_new_tokens: 12}}
label: {{label_source: contrastive, k: 2, p_chosen: 0.9}}
policy:
  method: dpo
  dpo:
    max_length: 64
    max_prompt_length: 32
    lora: {{r: 4, alpha: 8}}
    run: {{batch_size: 2, epochs: 1, save_every: 100}}
  sft:
    max_length: 64
    max_prompt_length: 32
    lora: {{r: 4, alpha: 8}}
    run: {{batch_size: 2, epochs: 1, save_every: 100}}
sft_baseline: true
evaluate:
  settings: {{max_new_tokens: 8, principles: [brief]}}
"""
    )
    runs = tmp_path / "runs"
    summary = run_pipeline(load_pipeline(spec), runs_dir=runs, progress=False)
    stages = [t.stage for t in summary.timings]
    assert stages == [
        "generate",
        "label",
        "policy",
        "ceiling",
        "sft-baseline",
        "evaluate",
        "evaluate-sft-baseline",
    ]
    rd = runs / "rlcd" / "round-1"
    labels = (
        pq.read_table(rd / "label" / "labels" / "data.parquet").to_pylist()
        if (rd / "label" / "labels").exists()
        else pq.read_table(next((rd / "label").rglob("data.parquet"))).to_pylist()
    )
    assert labels, "no contrastive pair kept"
    row = labels[0]
    assert row["label_source"] == "contrastive" and row["p_chosen"] == 0.9
    assert row["side_chosen"] == "positive" and row["side_rejected"] == "negative"
    assert len(row["principles"]) == 2
    assert "system" not in json.dumps(row["prompt"])  # the training prompt has no system prompt
    ceiling = json.loads(next(rd.rglob("ceiling.json")).read_text())
    assert set(ceiling) >= {"none", "positive", "n"} and ceiling["n"] == 2
    assert 0.0 <= ceiling["positive"]["compliance"]["all"]["value"] <= 1.0


def test_contrast_cli_writes_pairs_and_rejects_bad_input(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlaif.cli.main import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": i, "prompt": t}) + "\n" for i, t, _ in PROMPTS))
    out = tmp_path / "contrast"
    args = ["contrast", "--prompts", str(prompts), "-c", "principles/plain.yaml", "-o", str(out)]
    args += ["--policy", str(tiny_model_dir), "--device", "cpu", "--max-new-tokens", "8", "--no-progress"]
    assert main(args) == 0
    rows = pq.read_table(out / "labels" / "data.parquet").to_pylist()
    assert rows and {r["side_chosen"] for r in rows} == {"positive"}
    assert main([*args, "--label-source", "critic"]) == 1
    assert "unknown contrastive label source 'critic'" in capsys.readouterr().err
