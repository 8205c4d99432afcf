"""The NaN/inf guard: stop training with a clear message instead of writing garbage weights."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError


class TrainingDivergedError(RlaifError):
    """A loss, reward or gradient became NaN or infinite."""


def check_finite(
    values: Mapping[str, Any], *, step: int, what: str = "training", last_checkpoint: Path | None = None
) -> None:
    """Raise :class:`TrainingDivergedError` if any value (float or tensor) is NaN or infinite.

    The message names the quantities that went bad, the step, and the last good checkpoint to resume from.
    """
    bad: list[str] = []
    for name, value in values.items():
        if hasattr(value, "detach"):
            import torch

            ok = bool(torch.isfinite(value.detach()).all())
            shown = "non-finite values" if value.numel() > 1 else f"{float(value):g}"
        else:
            ok = math.isfinite(float(value))
            shown = f"{float(value):g}"
        if not ok:
            bad.append(f"{name}={shown}")
    if bad:
        where = (
            f"; the last good checkpoint is {last_checkpoint} (rerun to resume from it)"
            if last_checkpoint is not None
            else "; no checkpoint was written yet"
        )
        raise TrainingDivergedError(
            f"{what} diverged at step {step}: {', '.join(bad)}{where}",
            hint="lower the learning rate, enable gradient clipping (optim.max_grad_norm), or check the data "
            "for empty or extreme rows",
        )
