"""The reward model in two processes (DDP over gloo) against one process with the same global batch.

One process with ``batch_size=4`` and two with ``batch_size=2`` see the same 4 pairs at every step (process r takes
rows r, r+2, ... of the epoch order), and the loss of a step is the mean over them in both: each process's gradient
is the mean over its 2 pairs and DDP averages the two. The runs differ only in float rounding (other padding widths
and summation orders), so the curves must agree to a relative 1e-4 — far below the loss's own step-to-step change.
Validation every 2 steps (best-weights tracking, broadcast from the main process) is compared too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    ROOT,
    assert_curves_match,
    assert_rank0_wrote_everything,
    launch,
    run_here,
    train_records,
)

pytestmark = pytest.mark.distributed

STYLE = ROOT / "principles" / "style.yaml"


def _labels(path: Path, n: int, offset: int = 0) -> Path:
    rows = [
        {
            "prompt": f"Question number {i}?",
            "chosen": "A calm answer." + " Thanks." * (i % 2),
            "rejected": "SHOUTING! " * (1 + i % 3),
            "p_chosen": [0.9, 0.8, 1.0, 0.7][i % 4],
            "principles": ["no_exclamations@1"],
            "prompt_id": f"q{i}",
            "pair_id": f"q{i}:0-1",
        }
        for i in range(offset, offset + n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(model: Path, train: Path, val: Path, out: Path, *, batch_size: int) -> dict[str, Any]:
    return {
        "data": str(train),
        "val_data": str(val),
        "constitution": str(STYLE),
        "output_dir": str(out),
        "model": str(model),
        "eval_every": 2,
        "lora": {"r": 4, "alpha": 8},
        "optim": {"lr": 3e-3},
        "run": {"batch_size": batch_size, "epochs": 2, "save_every": 4, "device": "cpu", "seed": 1},
    }


def test_two_processes_match_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    train = _labels(tmp_path / "train.jsonl", 16)
    val = _labels(tmp_path / "val.jsonl", 4, offset=100)
    one, two = tmp_path / "one", tmp_path / "two"
    run_here(
        {"runs": [{"trainer": "rm", "config": _config(tiny_model_dir, train, val, one, batch_size=4)}]},
        tmp_path / "here",
    )
    reports = launch(
        {"runs": [{"trainer": "rm", "config": _config(tiny_model_dir, train, val, two, batch_size=2)}]},
        tmp_path / "launch",
    )
    ref, got = train_records(one), train_records(two)
    assert [r["step"] for r in ref] == list(range(1, 9))
    assert ref[-1]["loss"] < ref[0]["loss"] - 0.05  # it learns, so matching curves mean something
    worst = assert_curves_match(ref, got, ["loss", "reward_margin", "grad_norm", "lr"], rel=1e-4, abs_=1e-6)
    assert [r["accuracy"] for r in got] == [r["accuracy"] for r in ref]
    worst_val = assert_curves_match(
        train_records(one, "val"), train_records(two, "val"), ["loss", "accuracy"], rel=1e-4, abs_=1e-6
    )
    print(f"reward model: largest relative difference: train {worst:.2e}, validation {worst_val:.2e}")
    assert_rank0_wrote_everything(reports)
    assert [c["step"] for c in reports[0]["checkpoints"]] == [4, 8]

    # the exported model loads, scores like the one-process model, and records the same training
    from rlaif.constitution import load_constitution
    from rlaif.reward import RewardModel

    p = load_constitution(STYLE).get("no_exclamations")
    scores = []
    for folder in (one / "model", two / "model"):
        rm = RewardModel.load(folder, device="cpu")
        scores.append(
            rm.score([[p], [p]], ["Question number 1?"] * 2, ["A calm answer.", "SHOUTING! SHOUTING!"])
        )
    assert scores[1] == pytest.approx(scores[0], rel=1e-3, abs=1e-4)
    sidecars = [json.loads((f / "model" / "rlaif.json").read_text()) for f in (one, two)]
    assert sidecars[1]["steps"] == sidecars[0]["steps"] == 8
    assert sidecars[1]["best_step"] == sidecars[0]["best_step"]
