"""Configuration of reward-model training (``rlaif train-rm`` options and the pipeline's ``reward`` stage map onto it).

Every field is typed, documented and checked (``extra="forbid"``), and nests the shared trainer settings
(:class:`~rlaif.training.LoraSettings`, :class:`~rlaif.training.OptimSettings`, :class:`~rlaif.training.RunSettings`).
New behaviour (augmentations, margins, weights) is opt-in.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from rlaif.fields import ConstitutionFile, Limit, Probability, TemplatesDir
from rlaif.strict import StrictConfig
from rlaif.training.config import LoraSettings, OptimSettings, RunSettings


class AugmentSettings(StrictConfig):
    """Training-time augmentations, each opt-in; drawn per example and epoch from the run seed (resume-exact)."""

    principle_subset: bool = Field(
        default=False,
        description="show a random non-empty subset of each row's principles instead of all of them (the soft "
        "label is kept: it was made under the full set)",
    )
    negation_prob: Probability = Field(
        default=0.0,
        description="probability of replacing every shown principle by its negation text and flipping the label "
        "(p -> 1 - p); rows with a principle that has no negation are never negated",
    )
    negation_pairs: bool = Field(
        default=False,
        description="also train every pair, in the same micro-batch, under the negations of the principles it is "
        "shown with (label flipped): each pair is seen both ways at once, so ranking by the responses alone "
        "cancels out and only reading the principles lowers the loss (doubles the inputs per batch; rows with a "
        "principle that has no negation are seen once)",
    )
    label_noise: float = Field(
        default=0.0,
        ge=0.0,
        lt=0.5,
        description="probability of flipping a label (p -> 1 - p), to test robustness",
    )


class RewardConfig(StrictConfig):
    """Everything ``train_reward_model`` needs.

    The labels file is a dataset written by ``rlaif label`` (a folder with ``data.parquet``) or any
    .parquet/.jsonl/.json file with the columns ``prompt``, ``chosen``, ``rejected``, ``p_chosen`` (probability that
    ``chosen`` is better, in [0, 1]) and ``principles`` (list of ``"id"`` or ``"id@version"`` of ``constitution``).
    """

    data: Path = Field(
        description="labels dataset: a folder holding data.parquet, or a .parquet/.jsonl/.json file"
    )
    constitution: ConstitutionFile = Field(description="constitution YAML whose principles the rows name")
    output_dir: Path = Field(
        description="run folder: checkpoints, metrics.jsonl, logs; the model goes to model/"
    )
    model: str = Field(
        default="smollm2", description="base causal LM: alias (smollm2), local folder or hub id"
    )
    model_dir: Path | None = Field(
        default=None, description="where the exported model goes (default: <output_dir>/model)"
    )
    init_adapter: Path | None = Field(
        default=None,
        description="continue from this reward model (an exported adapter folder of the same base, e.g. the previous "
        "round's): its LoRA weights and score head are the starting point and stay trainable",
    )
    templates: TemplatesDir = None
    template: str = Field(default="rm_input", description="template rendering the reward-model input")
    max_length: int = Field(
        default=512,
        ge=16,
        description="longest input in tokens (capped by the model's context); longer inputs lose the start of the "
        "conversation first, then the end of the response (both counted and reported)",
    )
    val_data: Path | None = Field(
        default=None, description="separate validation labels (default: split off the training data)"
    )
    val_fraction: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="fraction of prompts held out for validation when val_data is not given",
    )
    eval_every: int | None = Field(
        default=None,
        ge=1,
        description="evaluate on the validation split every this many optimiser steps (default: each epoch)",
    )
    early_stopping_patience: int | None = Field(
        default=3,
        ge=1,
        description="stop after this many evaluations without a lower validation loss (null: never)",
    )
    early_stopping_min_delta: float = Field(
        default=0.0, ge=0.0, description="improvement smaller than this does not count"
    )
    hard_labels: bool = Field(
        default=False,
        description="round p_chosen to 0/1 (plain Bradley-Terry); a file without p_chosen then counts as p = 1",
    )
    margin_column: str | None = Field(
        default=None,
        description="column with a per-row margin m: the loss uses sigmoid(r_chosen - r_rejected - m)",
    )
    weight_column: str | None = Field(default=None, description="column with a per-row loss weight (>= 0)")
    augment: AugmentSettings = Field(
        default=AugmentSettings(), description="principle augmentation of the training rows"
    )
    lora: LoraSettings = Field(default=LoraSettings(), description="the reward model's LoRA adapter")
    optim: OptimSettings = Field(
        default=OptimSettings.model_validate({}), description="optimiser and schedule"
    )
    run: RunSettings = Field(
        default=RunSettings.model_validate({}),
        description="seed, batch, epochs, precision, checkpoints, logging",
    )
    dtype: str = Field(default="auto", description="weights dtype: auto, float32, bfloat16, float16")
    trust_remote_code: bool = Field(
        default=False, description="allow custom modelling code shipped with the model"
    )
    merge: bool = Field(default=False, description="export merged full weights instead of the LoRA adapter")
    norm_stats_max_responses: int = Field(
        default=2048,
        ge=2,
        description="at most this many training responses are scored for the normalisation statistics",
    )
    limit: Limit = None

    @model_validator(mode="after")
    def _check(self) -> RewardConfig:
        if self.margin_column is not None and self.margin_column == self.weight_column:
            raise ValueError("margin_column and weight_column must be different columns")
        return self

    @property
    def export_dir(self) -> Path:
        """Where the exported model folder goes."""
        return self.model_dir if self.model_dir is not None else self.output_dir / "model"
