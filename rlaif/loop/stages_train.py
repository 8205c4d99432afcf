"""The training stages of a round (reward model, policy, SFT baseline) and the configs they build from the pipeline
(:func:`reward_config`, :func:`dpo_config`, :func:`ppo_config`; ``rlaif check`` validates them before a run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.loop.context import RunContext
from rlaif.loop.rundir import hash_path, hash_value
from rlaif.loop.stages import (
    CONSTITUTION_FILE,
    TRAIN_PROMPTS,
    Stage,
    StageResult,
    _const_hash,
    _hash_opt,
    _prev_output,
    _prompts_hash,
    _summary,
    _templates_input,
    _with_templates,
    is_contrastive,
    policy_adapter,
    training_labels,
)

# -- reward model ----------------------------------------------------------------------------------------------


def reward_stage(ctx: RunContext, k: int, inputs_dir: Path) -> Stage:
    """Train the principle-conditioned reward model on the round's training labels."""
    pl = ctx.pipeline
    labels = _prev_output(ctx, k, "label", "labels")
    previous = _prev_output(ctx, k - 1, "reward", "model") if pl.reward.refresh == "continue" else None
    config = {"model": pl.reward_model_base, **pl.reward.model_dump()}
    inputs = {
        "labels": _hash_opt(labels),
        "previous": _hash_opt(previous),
        "constitution": _const_hash(inputs_dir),
        **_templates_input(ctx),
    }

    def run(folder: Path) -> StageResult:
        from rlaif.reward import train_reward_model

        data = training_labels(ctx, k, folder)
        cfg = reward_config(ctx, inputs_dir, data=data, output_dir=folder, init=previous)
        result = train_reward_model(cfg, progress=ctx.progress)
        return StageResult({"model": result.model_dir}, {"summary": _summary(result)})

    return Stage("reward", k, config, inputs, run)


def reward_config(
    ctx: RunContext, inputs_dir: Path, *, data: Path, output_dir: Path, init: Path | None = None
) -> Any:
    """The :class:`rlaif.reward.RewardConfig` of a round (pipeline ``reward.settings`` + what the loop owns).

    ``init`` is the previous round's reward model when ``reward.refresh`` is ``continue``: training starts from it.
    """
    from rlaif.reward import RewardConfig

    pl = ctx.pipeline
    owned = {
        "data": data,
        "constitution": inputs_dir / CONSTITUTION_FILE,
        "output_dir": output_dir,
        "model": pl.reward_model_base,
        "trust_remote_code": pl.models.trust_remote_code,
        **({"init_adapter": init} if init is not None else {}),
    }
    return RewardConfig.model_validate({**_with_templates(ctx, pl.reward.settings), **owned})


# -- policy ----------------------------------------------------------------------------------------------------


def dpo_config(
    ctx: RunContext, section: dict[str, Any], *, labels: Path, output_dir: Path, init: Path | None
) -> Any:
    """A :class:`rlaif.policy.dpo.DPOConfig` from a pipeline section plus what the loop owns."""
    from rlaif.policy.dpo import DPOConfig

    pl = ctx.pipeline
    owned = {
        "model": pl.policy_model,
        "labels": labels,
        "output_dir": output_dir,
        "init_adapter": init,
        "trust_remote_code": pl.models.trust_remote_code,
    }
    return DPOConfig.model_validate({**section, **owned})


def ppo_config(
    ctx: RunContext, inputs_dir: Path, *, output_dir: Path, init: Path | None, reward: Path | None
) -> Any:
    """A :class:`rlaif.policy.ppo.PPOConfig` from ``policy.ppo`` plus what the loop owns.

    Without an explicit ``reward`` section the reward is the round's reward model (when the reward stage is on) or
    the constitution's rules.
    """
    from rlaif.policy.ppo import PPOConfig

    pl = ctx.pipeline
    section = _with_templates(ctx, pl.policy.ppo)
    const = str(inputs_dir / CONSTITUTION_FILE)
    if "reward" not in section:
        if reward is not None:
            section["reward"] = {"reward_model": {"path": str(reward), "constitution": const}}
        else:
            section["reward"] = {"rules": {"constitution": const}}
    owned = {
        "model": pl.policy_model,
        "prompts": str(inputs_dir / TRAIN_PROMPTS),
        "prompt_split": None,
        "output_dir": str(output_dir),
        "init_adapter": str(init) if init is not None else None,
    }
    return PPOConfig.model_validate({**section, **owned})


def policy_stage(ctx: RunContext, k: int, inputs_dir: Path) -> Stage:
    """Fine-tune the policy (continuing from round k-1's adapter) with DPO, PPO or SFT on revisions."""
    pl = ctx.pipeline
    method = pl.policy.method
    init = policy_adapter(ctx, k - 1)
    labels = _prev_output(ctx, k, "label", "labels")
    reward = _prev_output(ctx, k, "reward", "model")
    sft = _prev_output(ctx, k, "revise", "sft")
    section = {"dpo": pl.policy.dpo, "ppo": pl.policy.ppo, "sft": pl.policy.sft}.get(method, {})
    config = {"method": method, "model": pl.policy_model, "settings": section, "seed": pl.seed}
    inputs = {"init": _hash_opt(init), "prompts": _prompts_hash(ctx.train_prompts)}
    if method == "dpo":
        inputs["labels"] = _hash_opt(labels)
    elif method == "ppo":
        inputs["reward"] = _hash_opt(reward)
        inputs["constitution"] = _const_hash(inputs_dir)
        inputs.update(_templates_input(ctx))
    elif method == "sft":
        inputs["sft"] = _hash_opt(sft)

    def run(folder: Path) -> StageResult:
        if method == "dpo":
            from rlaif.policy.dpo import train_dpo

            data = training_labels(ctx, k, folder)
            result = train_dpo(
                dpo_config(ctx, section, labels=data, output_dir=folder, init=init), progress=ctx.progress
            )
        elif method == "ppo":
            from rlaif.policy.ppo import train_ppo

            result = train_ppo(
                ppo_config(ctx, inputs_dir, output_dir=folder, init=init, reward=reward),
                progress=ctx.progress,
            )
        else:  # sft
            if sft is None:
                raise RlaifError("policy.method is sft but no revisions were made", field="revise.enabled")
            from rlaif.policy.dpo import train_dpo

            cfg = dpo_config(ctx, {**section, "loss": "sft"}, labels=sft, output_dir=folder, init=init)
            result = train_dpo(cfg, progress=ctx.progress)
        return StageResult({"model": result.model_dir}, {"summary": _summary(result)})

    return Stage("policy", k, config, inputs, run)


def sft_baseline_stage(ctx: RunContext, k: int) -> Stage:
    """Fine-tune the base model on all rounds' revisions so far (plain distillation, the baseline RLAIF must beat)."""
    pl = ctx.pipeline
    # contrastive pipelines distil the positive answers (the labels' chosen side) instead of revisions
    source = ("label", "labels") if is_contrastive(ctx) else ("revise", "sft")
    sfts = [p for j in range(1, k + 1) if (p := _prev_output(ctx, j, *source)) is not None]
    config = {"model": pl.policy_model, "settings": pl.policy.sft, "seed": pl.seed}
    inputs = {"sft": hash_value([hash_path(p) for p in sfts])}

    def run(folder: Path) -> StageResult:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from rlaif.atomic import atomic_directory
        from rlaif.policy.dpo import train_dpo

        if not sfts:
            raise RlaifError("sft_baseline needs revisions: turn on revise.enabled", field="sft_baseline")
        data = folder / "sft-data"
        with atomic_directory(data) as tmp:
            pq.write_table(
                pa.concat_tables([pq.read_table(p / "data.parquet") for p in sfts]), tmp / "data.parquet"
            )
        cfg = dpo_config(ctx, {**pl.policy.sft, "loss": "sft"}, labels=data, output_dir=folder, init=None)
        result = train_dpo(cfg, progress=ctx.progress)
        return StageResult({"model": result.model_dir}, {"summary": _summary(result)})

    return Stage("sft-baseline", k, config, inputs, run)
