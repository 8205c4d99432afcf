"""What the trainers need to run under ``accelerate launch`` with several processes (DDP).

Batch semantics, the same for every trainer: ``run.batch_size`` is the micro-batch of **one** process. An optimiser
step of the reward model or DPO on ``N`` processes sees ``batch_size × grad_accum × N`` examples, and equals (up to
float rounding) a one-process run with the same ``batch_size`` and ``grad_accum × N``. PPO's ``rollout_batch`` and
``minibatch`` are global: each process samples and scores its share of the prompts, the experience is gathered, and
every minibatch is split evenly across the processes, so a PPO step is the same on any number of processes.

Only data-parallel replication (DDP, one or several machines) is supported: FSDP and DeepSpeed shard the weights
and optimiser state, which the checkpoints, exports and reference forwards here do not handle, so the trainers
refuse them at start-up (:func:`check_launch`) instead of saving a shard as if it were the model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from rlaif.errors import RlaifError

#: accelerate's distributed types the trainers do not handle (FSDP, DeepSpeed and Megatron shard the model)
_SHARDED = frozenset({"FSDP", "DEEPSPEED", "MEGATRON_LM", "XLA"})


def is_main_process() -> bool:
    """True outside ``accelerate launch``/``torchrun`` and on the global rank 0 inside (from the launcher's env)."""
    return os.environ.get("RANK", "0") == "0"


def check_launch(accelerator: Any, *, trainer: str) -> None:
    """Refuse launches whose sharding this trainer does not implement (FSDP, DeepSpeed, Megatron, XLA)."""
    kind = str(getattr(accelerator.distributed_type, "value", accelerator.distributed_type)).upper()
    if kind not in _SHARDED:
        return
    raise RlaifError(
        f"the {trainer} trainer runs in data-parallel processes (DDP), but this launch uses {kind}: rlaif does not "
        "checkpoint, export or resume sharded weights and optimiser states yet",
        field="accelerate config",
        hint="launch with configs/accelerate/ddp.yaml (LoRA keeps the trainable state small, so every process can "
        "hold the frozen weights in bf16); see docs/distributed-training.md",
    )


def _gather(accelerator: Any, values: Mapping[str, float]) -> list[dict[str, float]]:
    from accelerate.utils import gather_object

    parts: list[dict[str, float]] = gather_object([{k: float(v) for k, v in values.items()}])
    return parts


def sum_over_processes(accelerator: Any, values: Mapping[str, float]) -> dict[str, float]:
    """Each value summed over the processes (a key missing on a process counts as 0). Collective: every process
    must call it at the same point."""
    if accelerator.num_processes == 1:
        return {k: float(v) for k, v in values.items()}
    parts = _gather(accelerator, values)
    keys = sorted({k for p in parts for k in p})
    return {k: math.fsum(p.get(k, 0.0) for p in parts) for k in keys}


def mean_over_processes(accelerator: Any, values: Mapping[str, float]) -> dict[str, float]:
    """Each value averaged over the processes that report it (metrics of equal-sized shards: the global mean).
    Collective: every process must call it at the same point."""
    if accelerator.num_processes == 1:
        return {k: float(v) for k, v in values.items()}
    parts = _gather(accelerator, values)
    keys = sorted({k for p in parts for k in p})
    out: dict[str, float] = {}
    for k in keys:
        seen = [p[k] for p in parts if k in p]
        out[k] = math.fsum(seen) / len(seen)
    return out


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """``[start, stop)`` of process ``rank``'s contiguous share of ``n`` items (``n`` divisible by ``world``)."""
    if n % world:
        raise ValueError(f"{n} items do not split evenly over {world} processes")
    size = n // world
    return rank * size, (rank + 1) * size


__all__ = [
    "check_launch",
    "is_main_process",
    "mean_over_processes",
    "shard_bounds",
    "sum_over_processes",
]
