"""``rlaif eval policy`` on the embedded SmolLM2 (policy = SmolLM2 + a perturbed LoRA adapter), then the report of a
run directory holding that evaluation. A few prompts and short answers keep it to about a minute on 2 cores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_eval_policy_embedded_then_report(embedded_model_dir: Path, tmp_path: Path) -> None:
    import torch

    from rlaif.cli.main import main
    from rlaif.policy.model import load_policy
    from rlaif.report import build_report
    from rlaif.testing.sample_run import write_sample_run
    from rlaif.training import LoraSettings, export_model

    policy = load_policy(str(embedded_model_dir), lora=LoraSettings(), device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    adapter = export_model(policy.model, policy.tokenizer, tmp_path / "adapter")
    del policy

    run = write_sample_run(tmp_path / "runs" / "demo", rounds=2)
    out = run / "round-2" / "evaluate"
    shutil.rmtree(out)
    rc = main(
        [
            "eval", "policy", "--prompts", str(ROOT / "data/prompts/smoke.jsonl"), "--all-splits", "--limit", "3",
            "-c", str(ROOT / "principles/hhh.yaml"), "-p", "helpfulness", "-p", "honesty",
            "--rules", str(ROOT / "principles/style.yaml"),
            "--human", str(ROOT / "data/human_labels/trl_format.jsonl"), "--human-limit", "4", "--human-k", "1",
            "--adapter", str(adapter), "--model", str(embedded_model_dir), "--critic", str(embedded_model_dir),
            "--max-new-tokens", "24", "--device", "cpu", "--no-progress", "-o", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "eval.json").read_text())
    assert doc["n_prompts"] == 3
    wr = doc["win_rate"]["constitution"]
    assert wr is not None and wr["wins"] + wr["ties"] + wr["losses"] == wr["n"] <= 3
    assert set(doc["win_rate"]["per_principle"]) == {"helpfulness@1", "honesty@1"}
    assert {c["principle"] for c in doc["compliance"]} >= {"no_filler", "all"}  # style.yaml's rules
    assert doc["labeler"]["human_agreement"]["n_pairs"] == 4
    assert doc["kl"]["estimator"] == "greedy"
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and all(s["policy"] and s["baseline"] for s in samples)
    _, md = build_report(run)
    text = md.read_text()
    assert "policy round 2" in text
    assert (
        "Agreement with human labels" in text and "No human preference file" not in text.split("## Reward")[0]
    )
