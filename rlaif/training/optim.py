"""Optimiser and learning-rate schedule from :class:`~rlaif.training.config.OptimSettings`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from rlaif.training.config import OptimSettings


def make_optimizer(params: Iterable[Any], settings: OptimSettings) -> Any:
    """AdamW over the given (trainable) parameters."""
    import torch

    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: the model is entirely frozen")
    return torch.optim.AdamW(
        trainable, lr=settings.lr, betas=settings.betas, eps=settings.eps, weight_decay=settings.weight_decay
    )


def lr_factor(step: int, total_steps: int, settings: OptimSettings) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based) of ``total_steps``."""
    warmup = int(settings.warmup_ratio * total_steps)
    if warmup and step < warmup:
        return (step + 1) / (warmup + 1)
    if settings.schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    if settings.schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: Any, total_steps: int, settings: OptimSettings) -> Any:
    """A ``LambdaLR`` following :func:`lr_factor`; step it once per optimiser step."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, settings))
