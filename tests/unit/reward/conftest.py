"""Fixtures for the reward-model tests: a small labels file over the shipped style constitution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.resources import shipped_dir


def write_labels(path: Path, n: int = 12, *, extra: dict | None = None) -> Path:
    """``n`` pairs: a calm short answer beats a shouting one under `no_exclamations` (p = 0.9)."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "prompt": f"Question number {i}?",
                "chosen": "A calm answer.",
                "rejected": "SHOUTING! " * (1 + i % 3),
                "p_chosen": 0.9,
                "principles": ["no_exclamations@1"],
                "prompt_id": f"q{i}",
                "pair_id": f"q{i}:0-1",
                **(extra or {}),
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def style_path() -> Path:
    return shipped_dir("principles") / "style.yaml"


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    return write_labels(tmp_path / "labels.jsonl")
