"""The configuration of a PPO run (:class:`PPOConfig`, with its KL penalty settings :class:`KLSettings`): every
field typed, documented and defaulting to the usual RLHF-PPO value."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rlaif.fields import Count, TokenCap
from rlaif.policy.ppo_math import KLEstimator
from rlaif.policy.rewards import RewardSpec
from rlaif.strict import StrictConfig
from rlaif.training.config import LoraSettings, OptimSettings, RunSettings


class KLSettings(StrictConfig):
    """The per-token KL penalty to the reference model."""

    coef: float = Field(default=0.05, ge=0.0, description="initial KL penalty coefficient (beta)")
    adaptive: bool = Field(
        default=False, description="adapt the coefficient toward `target` (Ziegler et al.)"
    )
    target: float = Field(default=6.0, gt=0.0, description="target KL per response (nats), adaptive only")
    horizon: int = Field(default=10000, ge=1, description="adaptive controller horizon, in samples")
    estimator: KLEstimator = Field(
        default="k1", description="per-token KL estimate in the reward: k1 = log p - log q, k3 (non-negative)"
    )


class PPOConfig(StrictConfig):
    """Everything a PPO run needs. Defaults follow the usual RLHF-PPO settings (TRL/InstructGPT) unless noted."""

    model: str = Field(default="smollm2", description="policy base model: alias, local path or hub id")
    prompts: str | list[str] = Field(description="prompt file(s) (jsonl/json/csv/parquet/HF folder)")
    prompt_split: str | None = Field(
        default="train", description="use only prompts of this split (rows without a split count as train)"
    )
    output_dir: str = Field(
        description="run folder: checkpoints, metrics.jsonl, the exported adapter in model/"
    )
    init_adapter: str | None = Field(
        default=None, description="continue from this adapter (a DPO or previous-round policy)"
    )
    templates: str | None = Field(default=None, description="template folder searched before prompts/")
    reward: RewardSpec = Field(description="reward sources and how they are combined")
    kl: KLSettings = Field(
        default_factory=lambda: KLSettings.model_validate({}),
        description="the KL penalty toward the reference",
    )
    gamma: float = Field(default=1.0, ge=0.0, le=1.0, description="discount")
    lam: float = Field(default=0.95, ge=0.0, le=1.0, description="GAE lambda")
    ppo_epochs: int = Field(default=4, ge=1, description="passes over each rollout batch")
    minibatch: int = Field(default=4, ge=1, description="responses per optimiser step")
    clip: float = Field(default=0.2, gt=0.0, description="policy ratio clip epsilon")
    vf_clip: float | None = Field(
        default=0.2, gt=0.0, description="value clip range around the rollout values (null: no clipping)"
    )
    vf_coef: float = Field(default=0.1, ge=0.0, description="weight of the value loss")
    ent_coef: float = Field(default=0.0, ge=0.0, description="entropy bonus weight")
    whiten_advantages: bool = Field(default=True, description="standardise advantages over the rollout batch")
    early_stop_kl: float | None = Field(
        default=0.1,
        gt=0.0,
        description="stop the PPO epochs of a step when a minibatch's approximate KL to the rollout policy "
        "exceeds this (nats per token); null = never",
    )
    value_init: Literal["auto", "reward_model", "policy_head"] = Field(
        default="auto",
        description="value model: a copy of the reward model (reward_model) or a head on the policy "
        "(policy_head); auto = reward_model when a reward model is configured",
    )
    max_new_tokens: TokenCap = Field(default=64, description="response length limit (tokens)")
    temperature: float = Field(default=1.0, gt=0.0, description="rollout sampling temperature")
    rollout_batch: Count = Field(default=16, description="prompts (responses) per PPO step")
    steps: int = Field(default=100, ge=1, description="PPO steps (rollout + optimisation)")
    max_prompt_tokens: int | None = Field(
        default=None, ge=1, description="longest prompt allowed (default: context length - max_new_tokens)"
    )
    overlong_prompts: Literal["error", "skip"] = Field(
        default="error", description="prompts longer than max_prompt_tokens: stop with an error, or skip them"
    )
    merge: bool = Field(default=False, description="export merged weights instead of the adapter")
    lora: LoraSettings = Field(
        default_factory=lambda: LoraSettings.model_validate({}), description="the policy's LoRA adapter"
    )
    optim: OptimSettings = Field(
        default_factory=lambda: OptimSettings.model_validate({}), description="optimiser and schedule"
    )
    run: RunSettings = Field(
        default_factory=lambda: RunSettings.model_validate({}),
        description="seed, batch, epochs, precision, checkpoints, logging",
    )

    @model_validator(mode="after")
    def _check(self) -> PPOConfig:
        if self.run.max_steps is not None or self.run.epochs != 1:
            raise ValueError("PPO counts PPO steps with `steps`; leave run.max_steps and run.epochs unset")
        if self.run.grad_accum != 1:
            raise ValueError(
                "PPO sets its optimiser step with `minibatch` (and micro-batches with run.batch_size); "
                "leave run.grad_accum at 1"
            )
        if self.value_init == "reward_model" and self.reward.reward_model is None:
            raise ValueError("value_init: reward_model needs a reward.reward_model source")
        return self

    @property
    def prompt_files(self) -> list[str]:
        """The prompt files as a list."""
        return [self.prompts] if isinstance(self.prompts, str) else list(self.prompts)

    @property
    def value_source(self) -> Literal["reward_model", "policy_head"]:
        """The value model actually used (``auto`` resolved)."""
        if self.value_init == "auto":
            return "reward_model" if self.reward.reward_model is not None else "policy_head"
        return self.value_init


__all__ = ["KLSettings", "PPOConfig"]
