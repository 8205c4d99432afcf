"""DPO in two processes (DDP over gloo) against one process with the same global batch.

Two processes with ``batch_size=2`` and ``grad_accum=1`` take micro-batches 2k and 2k+1 of the epoch at step k; one
process with ``batch_size=2`` and ``grad_accum=2`` takes the same two, so the steps must agree: the averaged gradient
is the same mean over the same pairs. The launched run is also killed-and-resumed on the way (two runs into one
folder: 3 steps, then on to 6), so its curve checks the multi-process resume as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import assert_curves_match, assert_rank0_wrote_everything, launch, run_here, train_records

pytestmark = pytest.mark.distributed


def _labels(path: Path, n: int = 16) -> Path:
    rows = [
        {
            "prompt": f"Question {i}: what is the sun?",
            "chosen": "The sun is a star." + " It is hot." * (i % 2),
            "rejected": "The sun is a big ball of fire that is very hot " * (1 + i % 3),
            "p_chosen": 0.9 if i % 2 else 1.0,
            "pair_id": f"p{i}",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(model: Path, labels: Path, out: Path, *, grad_accum: int, max_steps: int) -> dict[str, Any]:
    return {
        "model": str(model),
        "labels": str(labels),
        "output_dir": str(out),
        "lora": {"r": 4, "alpha": 8},
        # constant rate: a run stopped at step 3 and resumed to 6 follows the same schedule as a straight one
        "optim": {"lr": 1e-2, "schedule": "constant"},
        "run": {
            "batch_size": 2,
            "grad_accum": grad_accum,
            "max_steps": max_steps,
            "save_every": 2,
            "device": "cpu",
            "seed": 3,
        },
    }


def test_two_processes_match_one_and_resume(tiny_model_dir: Path, tmp_path: Path) -> None:
    labels = _labels(tmp_path / "labels.jsonl")
    one = tmp_path / "one"
    run_here(
        {
            "runs": [
                {"trainer": "dpo", "config": _config(tiny_model_dir, labels, one, grad_accum=2, max_steps=6)}
            ]
        },
        tmp_path / "here",
    )
    two = tmp_path / "two"
    reports = launch(
        {
            "runs": [
                {"trainer": "dpo", "config": _config(tiny_model_dir, labels, two, grad_accum=1, max_steps=3)},
                {"trainer": "dpo", "config": _config(tiny_model_dir, labels, two, grad_accum=1, max_steps=6)},
            ]
        },
        tmp_path / "launch",
    )
    ref, got = train_records(one), train_records(two)
    assert [r["step"] for r in ref] == [1, 2, 3, 4, 5, 6]
    assert ref[-1]["loss"] < ref[0]["loss"] - 0.05  # it learns, so matching curves mean something
    worst = assert_curves_match(
        ref, got, ["loss", "rewards/margin", "logps/chosen", "grad_norm", "kl_estimate"], rel=1e-4, abs_=1e-5
    )
    print(f"DPO: largest relative difference over 6 steps: {worst:.2e}")
    assert [r["pairs_seen"] for r in got] == [r["pairs_seen"] for r in ref] == [4, 8, 12, 16, 20, 24]
    assert_rank0_wrote_everything(reports)
    # the second run resumed from step 3 (a fresh start would have saved step 2 again)
    assert [c["step"] for c in reports[0]["checkpoints"]] == [2, 3, 4, 6]
    assert [r["results"][-1]["steps"] for r in reports] == [6, 6]

    # the exported adapter loads and equals the one-process adapter
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    a = load_file(str(one / "model" / "adapter_model.safetensors"))
    b = load_file(str(two / "model" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-5)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    PeftModel.from_pretrained(base, str(two / "model"))
