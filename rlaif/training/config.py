"""Settings shared by every trainer (reward model, DPO, PPO): LoRA, optimiser and run settings.

They are pydantic models with ``extra="forbid"`` so that pipeline files (and ``--set`` style overrides) are checked
field by field like constitutions are. Each trainer nests them in its own config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rlaif.fields import BatchSize, Seed
from rlaif.strict import StrictConfig


class LoraSettings(StrictConfig):
    """A LoRA adapter (peft). ``enabled=False`` trains every weight (full fine-tune)."""

    enabled: bool = Field(default=True, description="train a LoRA adapter (false: train every weight)")
    r: int = Field(default=16, ge=1, description="adapter rank")
    alpha: int = Field(default=32, ge=1, description="scaling numerator (scale = alpha / r)")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="dropout on the adapter input")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default="all-linear",
        description="module names to adapt; 'all-linear' = every linear layer but the output head",
    )


class OptimSettings(StrictConfig):
    """AdamW with warm-up and a decay schedule, gradient clipping."""

    lr: float = Field(default=1e-4, gt=0.0, description="peak learning rate")
    weight_decay: float = Field(default=0.0, ge=0.0, description="AdamW weight decay")
    betas: tuple[float, float] = Field(default=(0.9, 0.999), description="AdamW betas")
    eps: float = Field(default=1e-8, gt=0.0, description="AdamW epsilon")
    warmup_ratio: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction of optimiser steps spent warming up"
    )
    schedule: Literal["constant", "linear", "cosine"] = Field(
        default="linear", description="learning-rate schedule after warmup"
    )
    max_grad_norm: float | None = Field(
        default=1.0, gt=0.0, description="clip the gradient norm; null = no clipping"
    )


class RunSettings(StrictConfig):
    """How a training run is driven: seed, batch, epochs, precision, checkpoints, logging."""

    seed: Seed = Field(default=0, description="seed of shuffling, dropout and initialisation")
    epochs: int = Field(default=1, ge=1, description="passes over the training data")
    max_steps: int | None = Field(
        None, ge=1, description="stop after this many optimiser steps (overrides epochs)"
    )
    batch_size: BatchSize = Field(default=8, description="examples per micro-batch on each process")
    grad_accum: int = Field(default=1, ge=1, description="micro-batches per optimiser step")
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = Field(
        "no",
        description="autocast precision; 'no' = full precision, or what `accelerate launch` was told; 'auto' = "
        "bf16 on a bf16 GPU or a CPU with native bf16 units (AMX / AVX512-BF16), else full precision",
    )
    gradient_checkpointing: bool = Field(
        default=False, description="recompute activations in the backward pass: less memory, more time"
    )
    device: str = Field(
        "auto", description="auto, cpu, cuda, cuda:N or mps (ignored under accelerate launch)"
    )
    save_every: int = Field(
        50, ge=1, description="checkpoint every this many optimiser steps (and at the end)"
    )
    keep_checkpoints: int = Field(default=2, ge=1, description="how many recent checkpoints to keep")
    log_every: int = Field(default=1, ge=1, description="log metrics every this many optimiser steps")
    trackers: list[Literal["tensorboard", "wandb", "trackio"]] = Field(
        default_factory=list,
        description="accelerate trackers to log to, besides metrics.jsonl and the console",
    )
    resume: bool = Field(
        True, description="resume from the latest checkpoint in the output folder if one exists"
    )
