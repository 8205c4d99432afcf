"""PPO with principle-conditioned rewards (and direct critic rewards, and rule rewards).

Run it from the command line (the config file's fields are :class:`PPOConfig`)::

    rlaif train-policy --method ppo --config ppo.yaml

or from Python::

    from rlaif.policy.ppo import PPOConfig, train_ppo
    result = train_ppo(PPOConfig.model_validate(yaml.safe_load(open("ppo.yaml"))))

One PPO step: draw ``rollout_batch`` prompts (a seeded permutation per pass over the prompt set), sample a response
to each from the current policy (LoRA adapter on), score the responses with the configured reward sources (principles
sampled per prompt), compute the log-probabilities of the sampled tokens under the policy and under the reference
(the same weights with the adapter disabled) and the values, turn them into per-token rewards (``-kl_coef * KL`` per
token, the score on the last token), estimate advantages with GAE (γ, λ), whiten them, and run ``ppo_epochs`` passes
of minibatch updates of the clipped policy loss plus the clipped value loss. An epoch stops early when the minibatch's
approximate KL to the rollout policy exceeds ``early_stop_kl``. The KL coefficient is fixed or adapted toward
``kl.target`` (Ziegler et al. 2019).

Deliberate choices: the value model is either a scalar head on the policy's final hidden states (sharing the
policy's forward; ``vf_coef`` weighs its loss) or a separate copy of the reward model with its adapter trained
further (``value_init: reward_model``, as in InstructGPT); the learning-rate schedule advances once per PPO step;
rollouts use full-vocabulary sampling at ``temperature`` (no top-k/top-p) so that the log-probabilities PPO uses are
those of the sampling distribution.

Several processes (``accelerate launch``, DDP): ``rollout_batch`` and ``minibatch`` stay global and must be
multiples of the number of processes. Each process samples and scores a contiguous share of the step's prompts and
computes the rollout log-probabilities, reference log-probabilities and values of its share; the samples, rewards and
those tensors are then gathered, so every process holds the whole experience batch and computes the same GAE,
whitening statistics (global, over the whole batch), KL and minibatch order. Each minibatch is split evenly across
the processes and its loss is weighted per token of the whole minibatch, so the averaged gradient equals the
one-process gradient; early stopping reads the KL summed over the processes. Only the sampling itself differs from a
one-process run: each process draws from its own seed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlaif.errors import DataFileError, Problem, RlaifError
from rlaif.feedback.inputs import PromptRow
from rlaif.policy.ppo_math import KLEstimator
from rlaif.policy.rewards import RewardSource, RewardSpec
from rlaif.policy.rollout import RolloutEngine
from rlaif.training.config import LoraSettings, OptimSettings, RunSettings
from rlaif.training.result import TrainResult

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KLSettings(_Strict):
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


class PPOConfig(_Strict):
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
    kl: KLSettings = Field(default_factory=lambda: KLSettings.model_validate({}))
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
    max_new_tokens: int = Field(default=64, ge=1, description="response length limit (tokens)")
    temperature: float = Field(default=1.0, gt=0.0, description="rollout sampling temperature")
    rollout_batch: int = Field(default=16, ge=1, description="prompts (responses) per PPO step")
    steps: int = Field(default=100, ge=1, description="PPO steps (rollout + optimisation)")
    max_prompt_tokens: int | None = Field(
        default=None, ge=1, description="longest prompt allowed (default: context length - max_new_tokens)"
    )
    overlong_prompts: Literal["error", "skip"] = Field(
        default="error", description="prompts longer than max_prompt_tokens: stop with an error, or skip them"
    )
    merge: bool = Field(default=False, description="export merged weights instead of the adapter")
    lora: LoraSettings = Field(default_factory=lambda: LoraSettings.model_validate({}))
    optim: OptimSettings = Field(default_factory=lambda: OptimSettings.model_validate({}))
    run: RunSettings = Field(default_factory=lambda: RunSettings.model_validate({}))

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


def _derive(seed: int, *parts: object) -> int:
    blob = json.dumps([seed, *[str(p) for p in parts]], separators=(",", ":")).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def load_ppo_prompts(config: PPOConfig) -> list[tuple[str, PromptRow]]:
    """The (file, prompt) pairs PPO samples from: every file, filtered by ``prompt_split``."""
    from rlaif.feedback.inputs import load_prompts

    out: list[tuple[str, PromptRow]] = []
    for path in config.prompt_files:
        rows = load_prompts(path)
        out.extend((path, r) for r in rows if config.prompt_split is None or r.split == config.prompt_split)
    if not out:
        raise RlaifError(
            f"no prompts of split {config.prompt_split!r} in {config.prompt_files}",
            field="prompt_split",
            hint="set prompt_split: null to use every prompt",
        )
    return out


def encode_prompts(
    policy: Any, rows: Sequence[tuple[str, PromptRow]], config: PPOConfig
) -> tuple[list[PromptRow], list[list[int]]]:
    """Token ids of each prompt; prompts longer than the limit raise a :class:`DataFileError` or are skipped."""
    cfg = policy.model.config
    context = int(getattr(cfg, "max_position_embeddings", 0) or 0)
    if config.max_prompt_tokens is not None:
        limit = config.max_prompt_tokens
    elif context:
        limit = context - config.max_new_tokens
    else:
        limit = 1 << 30
    if context and limit + config.max_new_tokens > context:
        limit = context - config.max_new_tokens
    if limit < 1:
        raise RlaifError(
            f"max_new_tokens={config.max_new_tokens} leaves no room for a prompt in the model's context of "
            f"{context} tokens",
            field="max_new_tokens",
        )
    kept_rows: list[PromptRow] = []
    kept_ids: list[list[int]] = []
    problems: list[Problem] = []
    for path, row in rows:
        ids = policy.encode_prompt(row.conversation)
        if len(ids) > limit:
            problems.append(
                Problem(
                    f"prompt {row.id!r} has {len(ids)} tokens, more than the {limit} allowed "
                    f"(context {context or 'unknown'} - max_new_tokens {config.max_new_tokens})",
                    path=path,
                    field="prompt",
                )
            )
            continue
        kept_rows.append(row)
        kept_ids.append(ids)
    if problems:
        if config.overlong_prompts == "error":
            raise DataFileError(
                "",
                problems=problems[:20],
                hint="shorten them, lower max_new_tokens, or set overlong_prompts: skip",
            )
        for p in problems:
            log.warning("skipping overlong prompt: %s", p)
    if not kept_rows:
        raise RlaifError("every prompt is longer than the limit", field="max_prompt_tokens")
    return kept_rows, kept_ids


def prompt_indices(n_prompts: int, batch: int, *, seed: int, step: int) -> list[int]:
    """Which prompts step ``step`` uses: consecutive positions in a stream of seeded per-pass permutations."""
    import random

    out: list[int] = []
    perms: dict[int, list[int]] = {}
    for pos in range(step * batch, (step + 1) * batch):
        epoch, k = divmod(pos, n_prompts)
        if epoch not in perms:
            order = list(range(n_prompts))
            random.Random(_derive(seed, "prompts", epoch)).shuffle(order)
            perms[epoch] = order
        out.append(perms[epoch][k])
    return out


def _trainable_container(policy_model: Any, value_head: Any | None, value_model: Any | None) -> Any:
    import torch

    class PolicyAndValue(torch.nn.Module):
        """Holds everything that trains, so checkpoints and the optimiser see one module."""

        def __init__(self) -> None:
            super().__init__()
            self.policy = policy_model
            if value_head is not None:
                self.value_head = value_head
            if value_model is not None:
                self.value_model = value_model

        def forward(
            self,
            input_ids: Any,
            attention_mask: Any,
            response_mask: Any,
            *,
            temperature: float,
            with_entropy: bool = False,
        ) -> Any:
            """:func:`~rlaif.policy.rollout.forward_tokens` of the policy and value; the training forward goes
            through here so that a DDP wrapper sees it (and all-reduces the gradients)."""
            from rlaif.policy.rollout import forward_tokens

            return forward_tokens(
                self.policy,
                input_ids,
                attention_mask,
                response_mask,
                temperature=temperature,
                with_entropy=with_entropy,
                value_head=getattr(self, "value_head", None),
                value_model=getattr(self, "value_model", None),
            )

    return PolicyAndValue()


def _load_value_model(config: PPOConfig, policy: Any, device: str) -> Any:
    """A trainable copy of the reward model to serve as the value model (same tokenizer as the policy)."""
    from rlaif.policy.rewards import load_reward_model

    assert config.reward.reward_model is not None
    rm: Any = load_reward_model(config.reward.reward_model.path, device=device, trainable=True)
    tok = getattr(rm, "tokenizer", None)
    if tok is not None and tok.get_vocab() != policy.tokenizer.get_vocab():
        raise RlaifError(
            "the reward model's tokenizer differs from the policy's, so it cannot value the policy's tokens",
            path=config.reward.reward_model.path,
            field="value_init",
            hint="set value_init: policy_head",
        )
    model = rm.model
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name or "score" in name)
    model.train()
    return model


#: the minibatch statistics logged per PPO step (token-weighted means over every minibatch update)
_STATS = ("policy_loss", "value_loss", "clipfrac", "vf_clipfrac", "approx_kl", "entropy", "ratio")


def _chunks(seq: Sequence[int], size: int) -> list[list[int]]:
    return [list(seq[i : i + size]) for i in range(0, len(seq), size)]


def train_ppo(
    config: PPOConfig,
    *,
    progress: bool = True,
    reward_sources: Sequence[RewardSource] = (),
    rollout_engine: RolloutEngine | None = None,
) -> TrainResult:
    """Train the policy with PPO; returns where the adapter and the run's files are and the last metrics.

    ``reward_sources`` adds reward sources written in Python (see :class:`~rlaif.policy.rewards.RewardSource`) to
    those of ``config.reward``; ``rollout_engine`` replaces the default transformers sampler. A killed run resumes
    from its latest checkpoint (``run.resume``), reproducing the uninterrupted run.
    """
    import torch

    from rlaif.policy.model import load_policy
    from rlaif.policy.ppo_math import (
        KLController,
        gae,
        kl_per_token,
        masked_mean,
        policy_loss,
        token_rewards,
        value_loss,
        whiten,
    )
    from rlaif.policy.rewards import build_reward
    from rlaif.policy.rollout import TransformersRolloutEngine, forward_tokens, make_value_head
    from rlaif.training import (
        Checkpointer,
        MetricsLogger,
        TrainerState,
        check_finite,
        check_launch,
        count_parameters,
        export_model,
        finish_trackers,
        make_accelerator,
        make_optimizer,
        make_scheduler,
        mean_over_processes,
        pad_left,
        progress_bar,
        response_mask_left,
        seed_everything,
        shard_bounds,
        sum_over_processes,
    )

    out_dir = Path(config.output_dir)
    run = config.run
    accelerator = make_accelerator(run, project_dir=out_dir)
    check_launch(accelerator, trainer="PPO")
    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    if config.rollout_batch % world or config.minibatch % world:
        raise RlaifError(
            f"rollout_batch ({config.rollout_batch}) and minibatch ({config.minibatch}) must be multiples of the "
            f"number of processes ({world}): each process takes an equal share of both",
            field="rollout_batch",
            hint=f"e.g. rollout_batch: {config.rollout_batch - config.rollout_batch % world or world}",
        )
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    # under a launcher each process has its own device; run.device only picks the device of a single process
    device = run.device if run.device != "auto" and world == 1 else str(accelerator.device)
    seed_everything(run.seed)
    rows = load_ppo_prompts(config)
    policy = load_policy(
        config.model,
        lora=config.lora,
        init_adapter=config.init_adapter,
        device=device,
        gradient_checkpointing=run.gradient_checkpointing,
    )
    if not hasattr(policy.model, "disable_adapter"):
        raise RlaifError(
            "PPO needs a LoRA adapter: its reference model is the policy with the adapter disabled",
            field="lora.enabled",
        )
    prompts, prompt_ids = encode_prompts(policy, rows, config)
    reward = build_reward(
        config.reward,
        seed=run.seed,
        templates=config.templates,
        device=device,
        extra_sources=reward_sources,
    )
    value_head = value_model = None
    try:
        if config.value_source == "policy_head":
            hidden = int(policy.model.config.get_text_config().hidden_size)
            value_head = make_value_head(hidden).to(device)
        else:
            value_model = _load_value_model(config, policy, device)
        trainable = _trainable_container(policy.model, value_head, value_model)
        n_train, n_total = count_parameters(trainable)
        log.info("PPO: %d prompts, %d trainable of %d parameters", len(prompts), n_train, n_total)
        optimizer = make_optimizer(trainable.parameters(), config.optim)
        scheduler = make_scheduler(optimizer, config.steps, config.optim)
        # the model is already on `device`; the scheduler stays out (accelerate would step it once per process)
        model, optimizer = accelerator.prepare(trainable, optimizer, device_placement=[False, False])
        ckpt = Checkpointer(out_dir, keep=run.keep_checkpoints)
        kl_ctl = KLController(config.kl.coef, config.kl.adaptive, config.kl.target, config.kl.horizon)
        state = TrainerState()
        latest = ckpt.latest() if run.resume else None
        if latest is not None:
            state = ckpt.load(
                latest, model=model, optimizer=optimizer, scheduler=scheduler, accelerator=accelerator
            )
            kl_ctl.coef = float(state.extra.get("kl_coef", kl_ctl.coef))
            log.info("PPO: resumed from %s (step %d)", latest, state.step)
        metrics = MetricsLogger(out_dir, accelerator=accelerator, resume_step=state.step)
        if run.trackers:
            accelerator.init_trackers("rlaif-ppo", config={"steps": config.steps, "model": config.model})
        engine = rollout_engine or TransformersRolloutEngine(
            policy.model, policy.tokenizer, pad_id=policy.pad_id, batch_size=max(run.batch_size, 1) * 8
        )
        micro = min(run.batch_size, config.minibatch)
        timings = {"rollout": 0.0, "reward": 0.0, "logprobs": 0.0, "optimise": 0.0}
        tokens = {"rollout": 0, "reward": 0, "logprobs": 0, "optimise": 0}
        last: dict[str, Any] = metrics.history[-1] if metrics.history else {}
        bar = progress_bar(config.steps, desc="ppo", initial=state.step, enabled=progress and main)
        try:
            while state.step < config.steps:
                step = state.step
                # -- rollout: this process's share of the step's prompts ------------------------------------
                t0 = time.perf_counter()
                idx = prompt_indices(len(prompts), config.rollout_batch, seed=run.seed, step=step)
                lo, hi = shard_bounds(len(idx), rank, world)
                mine = idx[lo:hi]
                samples = engine.generate(
                    [prompt_ids[i] for i in mine],
                    max_new_tokens=config.max_new_tokens,
                    temperature=config.temperature,
                    seed=_derive(run.seed, "rollout", step)
                    if world == 1
                    else _derive(run.seed, "rollout", step, rank),
                )
                t1 = time.perf_counter()
                # -- reward -----------------------------------------------------------------------------------
                rb = reward(
                    [prompts[i] for i in mine],
                    [s.text for s in samples],
                    [s.finished for s in samples],
                    step=step,
                )
                totals = list(rb.total)
                reward_metrics = mean_over_processes(accelerator, rb.metrics)
                if world > 1:  # every process gets the whole batch, in prompt order
                    from accelerate.utils import gather_object

                    shared = gather_object([(samples, totals)])
                    samples = [s for part in shared for s in part[0]]
                    totals = [t for part in shared for t in part[1]]
                check_finite(
                    {"reward": torch.tensor(totals, dtype=torch.float64)},
                    step=step + 1,
                    what="PPO reward",
                    last_checkpoint=ckpt.latest(),
                )
                t2 = time.perf_counter()
                # -- log-probabilities, reference, values of this process's rows, then gathered -------------
                plens = [len(prompt_ids[i]) for i in idx]
                seqs = [prompt_ids[i] + list(s.token_ids) for i, s in zip(idx, samples, strict=True)]
                ids, attn = pad_left(seqs, policy.pad_id)
                width = ids.shape[1]
                rmask = response_mask_left(plens, [len(s) for s in seqs], width)
                ids, attn, rmask = ids.to(device), attn.to(device), rmask.to(device)
                n = len(seqs)
                old_logps = torch.zeros((n, width), device=device)
                ref_logps = torch.zeros((n, width), device=device)
                old_values = torch.zeros((n, width), device=device)
                with torch.no_grad(), accelerator.autocast():
                    for part in _chunks(range(lo, hi), micro):
                        fo = forward_tokens(
                            policy.model,
                            ids[part],
                            attn[part],
                            rmask[part],
                            temperature=config.temperature,
                            value_head=value_head,
                            value_model=value_model,
                        )
                        old_logps[part] = fo.logps.float()
                        assert fo.values is not None
                        old_values[part] = fo.values.float()
                        # the reference: the unwrapped policy with its adapter disabled
                        with policy.model.disable_adapter():
                            ref = forward_tokens(
                                policy.model,
                                ids[part],
                                attn[part],
                                rmask[part],
                                temperature=config.temperature,
                            )
                        ref_logps[part] = ref.logps.float()
                if world > 1:
                    old_logps, ref_logps, old_values = (
                        accelerator.gather(t[lo:hi].contiguous()) for t in (old_logps, ref_logps, old_values)
                    )
                scores = torch.tensor(totals, dtype=torch.float32, device=device)
                kl_tok = kl_per_token(old_logps, ref_logps, estimator=config.kl.estimator) * rmask
                rewards_tok = token_rewards(scores, kl_tok, rmask, kl_ctl.coef)
                advantages, returns = gae(rewards_tok, old_values, rmask, gamma=config.gamma, lam=config.lam)
                if config.whiten_advantages:  # over the whole batch: every process holds all of it
                    advantages = whiten(advantages, rmask)
                t3 = time.perf_counter()
                # -- PPO epochs: every minibatch split evenly over the processes ---------------------------------
                model.train()
                # token-weighted sums of the minibatch statistics (this process's tokens), and the grad norms
                sums: dict[str, float] = dict.fromkeys(_STATS, 0.0)
                sums["tokens"] = 0.0
                grad_norms: list[float] = []
                early_stopped = False
                updates = 0
                for epoch in range(config.ppo_epochs):
                    gen = torch.Generator().manual_seed(_derive(run.seed, "minibatch", step, epoch))
                    order = torch.randperm(n, generator=gen).tolist()
                    for mb in _chunks(order, config.minibatch):
                        optimizer.zero_grad(set_to_none=True)
                        mb_tokens = float(rmask[mb].sum())  # over the whole minibatch, all processes
                        a, b = shard_bounds(len(mb), rank, world)
                        parts = _chunks(mb[a:b], micro)
                        mb_kl = 0.0
                        for j, part in enumerate(parts):
                            sync = (
                                contextlib.nullcontext()
                                if j == len(parts) - 1
                                else accelerator.no_sync(model)
                            )
                            with sync:
                                with accelerator.autocast():
                                    fo = model(
                                        ids[part],
                                        attn[part],
                                        rmask[part],
                                        temperature=config.temperature,
                                        with_entropy=True,
                                    )
                                assert fo.values is not None and fo.entropy is not None
                                m = rmask[part]
                                pl = policy_loss(
                                    fo.logps, old_logps[part], advantages[part], m, clip=config.clip
                                )
                                vl = value_loss(
                                    fo.values, old_values[part], returns[part], m, clip=config.vf_clip
                                )
                                ent = masked_mean(fo.entropy, m)
                                loss = pl.loss + config.vf_coef * vl.loss - config.ent_coef * ent
                                check_finite(
                                    {"policy_loss": pl.loss.detach(), "value_loss": vl.loss.detach()},
                                    step=step + 1,
                                    what="PPO loss",
                                    last_checkpoint=ckpt.latest(),
                                )
                                part_tokens = float(m.sum())
                                share = part_tokens / max(mb_tokens, 1.0)  # token-weighted over the minibatch
                                # DDP averages the processes' gradients: undo its 1/world to get the token mean
                                accelerator.backward(loss * (share * world))
                            mb_kl += float(pl.approx_kl) * share
                            for key, val in zip(
                                _STATS,
                                (
                                    pl.loss,
                                    vl.loss,
                                    pl.clipfrac,
                                    vl.clipfrac,
                                    pl.approx_kl,
                                    ent,
                                    pl.ratio_mean,
                                ),
                                strict=True,
                            ):
                                sums[key] += float(val.detach()) * part_tokens
                            sums["tokens"] += part_tokens
                        if config.optim.max_grad_norm is not None:
                            norm = accelerator.clip_grad_norm_(model.parameters(), config.optim.max_grad_norm)
                            grad_norms.append(float(norm))
                        optimizer.step()
                        updates += 1
                        if config.early_stop_kl is not None:
                            mb_kl = sum_over_processes(accelerator, {"kl": mb_kl})["kl"]
                            if mb_kl > config.early_stop_kl:
                                early_stopped = True
                                break
                    if early_stopped:
                        break
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                totals_stats = sum_over_processes(accelerator, sums)
                stats = {k: totals_stats[k] / max(totals_stats["tokens"], 1.0) for k in _STATS}
                if grad_norms:
                    stats["grad_norm"] = sum(grad_norms) / len(grad_norms)
                t4 = time.perf_counter()
                # -- bookkeeping ------------------------------------------------------------------------------
                seq_kl = (kl_tok.sum(dim=1)).float()
                mean_kl = float(seq_kl.mean())
                coef_used = kl_ctl.coef
                kl_ctl.update(mean_kl, n)
                resp_lens = rmask.sum(dim=1).float()
                total_tokens = int(attn.sum())
                gen_tokens = int(resp_lens.sum())
                timings_step = {
                    "rollout": t1 - t0,
                    "reward": t2 - t1,
                    "logprobs": t3 - t2,
                    "optimise": t4 - t3,
                }
                tokens_step = {
                    "rollout": gen_tokens,
                    "reward": gen_tokens,
                    "logprobs": 2 * total_tokens,
                    "optimise": total_tokens * updates * config.minibatch // max(n, 1),
                }
                for k in timings:
                    timings[k] += timings_step[k]
                    tokens[k] += tokens_step[k]
                rewards_t = torch.tensor(totals, dtype=torch.float64)
                record: dict[str, Any] = {
                    "reward_mean": float(rewards_t.mean()),
                    "reward_std": float(rewards_t.std()) if n > 1 else 0.0,
                    "kl": mean_kl,
                    "kl_coef": coef_used,
                    "non_score_reward": float(-coef_used * seq_kl.mean()),
                    "response_length": float(resp_lens.mean()),
                    "tokens/generated": float(gen_tokens),
                    "tokens/batch": float(total_tokens),
                    "ppo_updates": float(updates),
                    "early_stopped": float(early_stopped),
                    "lr": float(scheduler.get_last_lr()[0]),
                    **stats,
                    **reward_metrics,
                    **{f"time/{k}": v for k, v in timings_step.items()},
                }
                state.step += 1
                state.extra["kl_coef"] = kl_ctl.coef
                last = metrics.log(state.step, record)
                if state.step % run.save_every == 0 or state.step == config.steps:
                    ckpt.save(
                        model=model,
                        optimizer=optimizer,
                        scheduler=scheduler,
                        state=state,
                        accelerator=accelerator,
                    )
                bar.update(1)
                bar.set_postfix(reward=f"{record['reward_mean']:.3f}", kl=f"{mean_kl:.3f}")
        finally:
            bar.close()
        if run.trackers:
            finish_trackers(accelerator)
    finally:
        reward.close()
    model_dir = out_dir / "model"
    sidecar = {
        "kind": "policy",
        "method": "ppo",
        "base_model": policy.model_id,
        "base_revision": policy.revision,
        "init_adapter": config.init_adapter,
        "steps": state.step,
        "reward_sources": {s.name: s.weight for s in reward.sources},
        "config": config.model_dump(mode="json"),
    }
    accelerator.wait_for_everyone()
    if main:
        export_model(
            policy.model,
            policy.tokenizer,
            model_dir,
            merge=config.merge,
            card=_card(config, last),
            sidecar=sidecar,
        )
    accelerator.wait_for_everyone()  # the exported folder is complete when any process returns
    summary = {
        "prompts": len(prompts),
        "value_init": config.value_source,
        "seconds": dict(timings),
        "tokens_per_second": {k: (tokens[k] / timings[k] if timings[k] > 0 else math.nan) for k in timings},
        "kl_coef": kl_ctl.coef,
    }
    return TrainResult(
        output_dir=out_dir, model_dir=model_dir, steps=state.step, final=dict(last), summary=summary
    )


def _card(config: PPOConfig, final: dict[str, Any]) -> str:
    shown = {k: v for k, v in final.items() if isinstance(v, float) and not k.startswith("time/")}
    lines = [
        "# Policy adapter trained with PPO (rlaif)",
        "",
        f"Base model: `{config.model}`. Reward sources: "
        + ", ".join(
            name
            for name in ("reward_model", "critic_score", "rules")
            if getattr(config.reward, name) is not None
        )
        + ".",
        "",
        "Last step's metrics:",
        "",
        *[f"- {k}: {v:.4g}" for k, v in sorted(shown.items())],
        "",
        "The full configuration is in `rlaif.json`.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["KLSettings", "PPOConfig", "encode_prompts", "load_ppo_prompts", "prompt_indices", "train_ppo"]
