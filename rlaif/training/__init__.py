"""Building blocks shared by the trainers (reward model, DPO, PPO).

Settings (:class:`LoraSettings`, :class:`OptimSettings`, :class:`RunSettings`), LoRA attachment, the accelerate
Accelerator, optimiser and schedule, exact-resume checkpoints, the NaN guard, per-step metrics, response-token
log-probabilities without full-vocabulary prompt logits, reductions over the processes of a multi-process (DDP)
launch, and export as a Hugging Face folder with a card.
"""

from rlaif.training.accel import finish_trackers, make_accelerator, seed_everything
from rlaif.training.checkpoint import Checkpointer, TrainerState, trainable_state
from rlaif.training.config import LoraSettings, OptimSettings, RunSettings
from rlaif.training.distributed import (
    check_launch,
    is_main_process,
    mean_over_processes,
    shard_bounds,
    sum_over_processes,
)
from rlaif.training.export import export_model, read_sidecar
from rlaif.training.guard import TrainingDivergedError, check_finite
from rlaif.training.logprobs import pad_left, response_mask_left, token_logprobs
from rlaif.training.lora import attach_lora, count_parameters
from rlaif.training.metrics import MetricsLogger, read_metrics
from rlaif.training.optim import lr_factor, make_optimizer, make_scheduler
from rlaif.training.progress import progress_bar
from rlaif.training.result import TrainResult

__all__ = [
    "Checkpointer",
    "LoraSettings",
    "MetricsLogger",
    "OptimSettings",
    "RunSettings",
    "TrainResult",
    "TrainerState",
    "TrainingDivergedError",
    "attach_lora",
    "check_finite",
    "check_launch",
    "count_parameters",
    "export_model",
    "finish_trackers",
    "is_main_process",
    "lr_factor",
    "make_accelerator",
    "make_optimizer",
    "make_scheduler",
    "mean_over_processes",
    "pad_left",
    "progress_bar",
    "read_metrics",
    "read_sidecar",
    "response_mask_left",
    "seed_everything",
    "shard_bounds",
    "sum_over_processes",
    "token_logprobs",
    "trainable_state",
]
