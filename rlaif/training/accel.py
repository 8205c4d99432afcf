"""Creating the ``accelerate`` Accelerator every trainer runs under, and seeding."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from rlaif.training.config import RunSettings


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_accelerator(run: RunSettings, *, project_dir: str | Path) -> Any:
    """An ``accelerate.Accelerator`` for ``run``: mixed precision, gradient accumulation, trackers.

    On a plain ``python``/``rlaif`` invocation this is a single process on ``run.device``; under ``accelerate
    launch`` it picks up the launcher's processes (DDP, FSDP, DeepSpeed) unchanged. Trackers log under
    ``project_dir``.
    """
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    cpu = run.device == "cpu"
    kwargs: dict[str, Any] = {}
    if run.trackers:
        kwargs["log_with"] = list(run.trackers)
    return Accelerator(
        mixed_precision=run.mixed_precision,
        gradient_accumulation_steps=run.grad_accum,
        cpu=cpu,
        project_config=ProjectConfiguration(
            project_dir=str(project_dir), logging_dir=str(Path(project_dir) / "logs")
        ),
        **kwargs,
    )
