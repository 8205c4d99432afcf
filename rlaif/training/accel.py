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
    """An ``accelerate.Accelerator`` for ``run``: mixed precision, device placement, processes, trackers.

    On a plain ``python``/``rlaif`` invocation this is a single process on ``run.device``; under ``accelerate
    launch`` (or ``torchrun``) it picks up the launcher's processes, and its mixed precision unless ``run`` names
    one. Trackers log under ``project_dir``.

    Gradient accumulation is left at 1 here because the trainers accumulate by hand: they scale each micro-batch's
    loss by the size of its accumulation group (the last group of an epoch may be shorter) and skip DDP's
    all-reduce with ``no_sync`` until the group's last micro-batch; ``accelerator.backward`` must not divide again.
    """
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    from rlaif.training.cpu_memory import keep_freed_memory
    from rlaif.training.precision import resolve_mixed_precision

    if run.device == "cpu" or run.device == "auto":
        keep_freed_memory()  # CPU training: reuse freed activation memory (harmless on a GPU machine)

    cpu = run.device == "cpu"
    precision, _why = resolve_mixed_precision(run.mixed_precision, run.device)
    kwargs: dict[str, Any] = {}
    if run.trackers:
        kwargs["log_with"] = list(run.trackers)
    return Accelerator(
        # "no" (the default) leaves the choice to `accelerate launch` (its --mixed_precision or config file)
        mixed_precision=None if precision == "no" else precision,
        cpu=cpu,
        project_config=ProjectConfiguration(
            project_dir=str(project_dir), logging_dir=str(Path(project_dir) / "logs")
        ),
        **kwargs,
    )


def finish_trackers(accelerator: Any) -> None:
    """Close the run's trackers. Unlike ``accelerator.end_training()`` this keeps the process group alive, so a
    later stage in the same processes (the pipeline runs reward model, DPO and PPO one after the other) still has
    one."""
    for tracker in getattr(accelerator, "trackers", None) or []:
        tracker.finish()
