"""What a trainer returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainResult:
    """The outcome of a training run.

    ``model_dir`` is the exported model folder (adapter or merged), ``output_dir`` the run folder (checkpoints,
    ``metrics.jsonl``), ``steps`` the optimiser steps done, ``final`` the last logged metrics, ``summary`` anything
    else the trainer reports (examples seen, skipped rows, timings, early-stopping step...).
    """

    output_dir: Path
    model_dir: Path
    steps: int
    final: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
