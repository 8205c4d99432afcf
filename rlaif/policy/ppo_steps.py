"""The parts of a PPO run, in the order :func:`rlaif.policy.ppo.train_ppo` calls them: set up once
(:func:`open_run`, :func:`prepare_training`), then per step :func:`sample` → :func:`score` → :func:`experience`
(log-probabilities, reference, values, advantages) → :func:`optimise` → :func:`step_record`, and at the end
:func:`export_policy`.

This module imports torch at the top: :mod:`rlaif.policy.ppo` imports it only when a run starts, so reading a
:class:`~rlaif.policy.ppo_config.PPOConfig` stays light.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rlaif.errors import RlaifError
from rlaif.feedback.inputs import PromptRow
from rlaif.policy.model import Policy, load_policy
from rlaif.policy.ppo_config import PPOConfig
from rlaif.policy.ppo_data import encode_prompts, load_ppo_prompts, prompt_indices
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
from rlaif.policy.rewards import CombinedReward, RewardSource, build_reward, load_reward_model
from rlaif.policy.rollout import (
    RolloutEngine,
    RolloutSample,
    TransformersRolloutEngine,
    forward_tokens,
    make_value_head,
)
from rlaif.seeds import derive_seed
from rlaif.training import (
    Checkpointer,
    MetricsLogger,
    TrainerState,
    check_finite,
    check_launch,
    count_parameters,
    export_model,
    make_accelerator,
    make_optimizer,
    make_scheduler,
    mean_over_processes,
    pad_left,
    response_mask_left,
    seed_everything,
    shard_bounds,
    sum_over_processes,
)

log = logging.getLogger(__name__)

#: the minibatch statistics logged per PPO step (token-weighted means over every minibatch update)
STATS = ("policy_loss", "value_loss", "clipfrac", "vf_clipfrac", "approx_kl", "entropy", "ratio")


def _chunks(seq: Sequence[int], size: int) -> list[list[int]]:
    return [list(seq[i : i + size]) for i in range(0, len(seq), size)]


class PolicyAndValue(torch.nn.Module):
    """Holds everything that trains, so checkpoints and the optimiser see one module."""

    def __init__(self, policy_model: Any, value_head: Any | None, value_model: Any | None) -> None:
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


def _load_value_model(config: PPOConfig, policy: Policy, device: str) -> Any:
    """A trainable copy of the reward model to serve as the value model (same tokenizer as the policy)."""
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


# -- setup ------------------------------------------------------------------------------------------------------


@dataclass
class PPORun:
    """What a run sets up before training: the processes, the policy, the encoded prompts and the reward."""

    config: PPOConfig
    out_dir: Path
    accelerator: Any
    world: int
    rank: int
    main: bool
    device: str
    policy: Policy
    prompts: list[PromptRow]
    prompt_ids: list[list[int]]
    reward: CombinedReward


@dataclass
class PPOTraining:
    """What trains and its bookkeeping: value model, prepared model and optimiser, checkpoints, KL controller."""

    value_head: Any | None
    value_model: Any | None
    model: Any  # PolicyAndValue, prepared by accelerate
    optimizer: Any
    scheduler: Any
    ckpt: Checkpointer
    kl_ctl: KLController
    state: TrainerState
    metrics: MetricsLogger
    engine: RolloutEngine
    micro: int  # micro-batch size of the forwards


def open_run(config: PPOConfig, reward_sources: Sequence[RewardSource] = ()) -> PPORun:
    """Start the processes, seed, read and encode the prompts, load the policy (LoRA on) and build the reward.

    The caller closes ``run.reward`` when done.
    """
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
    return PPORun(
        config, out_dir, accelerator, world, rank, main, device, policy, prompts, prompt_ids, reward
    )


def prepare_training(r: PPORun, rollout_engine: RolloutEngine | None = None) -> PPOTraining:
    """The value model, optimiser, scheduler and checkpointer (resumed from the latest checkpoint when asked),
    the metrics log and the rollout engine (``rollout_engine`` or the transformers sampler)."""
    config, run, policy, accelerator = r.config, r.config.run, r.policy, r.accelerator
    value_head = value_model = None
    if config.value_source == "policy_head":
        hidden = int(policy.model.config.get_text_config().hidden_size)
        value_head = make_value_head(hidden).to(r.device)
    else:
        value_model = _load_value_model(config, policy, r.device)
    trainable = PolicyAndValue(policy.model, value_head, value_model)
    n_train, n_total = count_parameters(trainable)
    log.info("PPO: %d prompts, %d trainable of %d parameters", len(r.prompts), n_train, n_total)
    optimizer = make_optimizer(trainable.parameters(), config.optim)
    scheduler = make_scheduler(optimizer, config.steps, config.optim)
    # the model is already on `device`; the scheduler stays out (accelerate would step it once per process)
    model, optimizer = accelerator.prepare(trainable, optimizer, device_placement=[False, False])
    ckpt = Checkpointer(r.out_dir, keep=run.keep_checkpoints)
    kl_ctl = KLController(config.kl.coef, config.kl.adaptive, config.kl.target, config.kl.horizon)
    state = TrainerState()
    latest = ckpt.latest() if run.resume else None
    if latest is not None:
        state = ckpt.load(
            latest, model=model, optimizer=optimizer, scheduler=scheduler, accelerator=accelerator
        )
        kl_ctl.coef = float(state.extra.get("kl_coef", kl_ctl.coef))
        log.info("PPO: resumed from %s (step %d)", latest, state.step)
    metrics = MetricsLogger(r.out_dir, accelerator=accelerator, resume_step=state.step)
    if run.trackers:
        accelerator.init_trackers("rlaif-ppo", config={"steps": config.steps, "model": config.model})
    engine = rollout_engine or TransformersRolloutEngine(
        policy.model, policy.tokenizer, pad_id=policy.pad_id, batch_size=max(run.batch_size, 1) * 8
    )
    micro = min(run.batch_size, config.minibatch)
    return PPOTraining(
        value_head, value_model, model, optimizer, scheduler, ckpt, kl_ctl, state, metrics, engine, micro
    )


# -- one step ---------------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """A step's prompts (``idx``; this process holds ``idx[lo:hi]``) and their sampled responses."""

    idx: list[int]
    lo: int
    hi: int
    samples: list[RolloutSample]  # this process's share


@dataclass
class Scored:
    """The step's samples and total rewards, for the whole batch on every process, and the reward metrics."""

    samples: list[RolloutSample]
    totals: list[float]
    reward_metrics: dict[str, float]


@dataclass
class Experience:
    """The whole batch as tensors ``[n, width]`` (left-padded): rollout and reference log-probabilities, values,
    per-token KL, advantages and returns."""

    ids: torch.Tensor
    attn: torch.Tensor
    rmask: torch.Tensor
    old_logps: torch.Tensor
    old_values: torch.Tensor
    kl_tok: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    totals: list[float]

    @property
    def n(self) -> int:
        """Responses in the batch."""
        return int(self.ids.shape[0])


@dataclass
class Optimised:
    """What the PPO epochs of a step did: the token-weighted minibatch statistics, updates, early stop."""

    stats: dict[str, float]
    updates: int
    early_stopped: bool


def sample(r: PPORun, t: PPOTraining, step: int) -> Rollout:
    """This process's share of the step's prompts, answered by the current policy."""
    config, seed = r.config, r.config.run.seed
    idx = prompt_indices(len(r.prompts), config.rollout_batch, seed=seed, step=step)
    lo, hi = shard_bounds(len(idx), r.rank, r.world)
    mine = idx[lo:hi]
    samples = t.engine.generate(
        [r.prompt_ids[i] for i in mine],
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        seed=derive_seed(seed, "rollout", step)
        if r.world == 1
        else derive_seed(seed, "rollout", step, r.rank),
    )
    return Rollout(idx, lo, hi, list(samples))


def score(r: PPORun, t: PPOTraining, rollout: Rollout, step: int) -> Scored:
    """The reward of this process's samples, then every process gets the whole batch, in prompt order."""
    samples = rollout.samples
    rb = r.reward(
        [r.prompts[i] for i in rollout.idx[rollout.lo : rollout.hi]],
        [s.text for s in samples],
        [s.finished for s in samples],
        step=step,
    )
    totals = list(rb.total)
    reward_metrics = mean_over_processes(r.accelerator, rb.metrics)
    if r.world > 1:  # every process gets the whole batch, in prompt order
        from accelerate.utils import gather_object

        shared = gather_object([(samples, totals)])
        samples = [s for part in shared for s in part[0]]
        totals = [x for part in shared for x in part[1]]
    check_finite(
        {"reward": torch.tensor(totals, dtype=torch.float64)},
        step=step + 1,
        what="PPO reward",
        last_checkpoint=t.ckpt.latest(),
    )
    return Scored(samples, totals, reward_metrics)


def experience(r: PPORun, t: PPOTraining, rollout: Rollout, scored: Scored) -> Experience:
    """Log-probabilities, reference log-probabilities and values of this process's rows (then gathered), the
    per-token rewards (score minus the KL penalty) and GAE advantages (whitened over the whole batch)."""
    config, policy, device, accelerator = r.config, r.policy, r.device, r.accelerator
    idx, lo, hi = rollout.idx, rollout.lo, rollout.hi
    plens = [len(r.prompt_ids[i]) for i in idx]
    seqs = [r.prompt_ids[i] + list(s.token_ids) for i, s in zip(idx, scored.samples, strict=True)]
    ids, attn = pad_left(seqs, policy.pad_id)
    width = ids.shape[1]
    rmask = response_mask_left(plens, [len(s) for s in seqs], width)
    ids, attn, rmask = ids.to(device), attn.to(device), rmask.to(device)
    n = len(seqs)
    old_logps = torch.zeros((n, width), device=device)
    ref_logps = torch.zeros((n, width), device=device)
    old_values = torch.zeros((n, width), device=device)
    with torch.no_grad(), accelerator.autocast():
        for part in _chunks(range(lo, hi), t.micro):
            chunk = (ids[part], attn[part], rmask[part])
            fo = forward_tokens(
                policy.model,
                *chunk,
                temperature=config.temperature,
                value_head=t.value_head,
                value_model=t.value_model,
            )
            old_logps[part] = fo.logps.float()
            assert fo.values is not None
            old_values[part] = fo.values.float()
            # the reference: the unwrapped policy with its adapter disabled
            with policy.model.disable_adapter():
                ref = forward_tokens(policy.model, *chunk, temperature=config.temperature)
            ref_logps[part] = ref.logps.float()
    if r.world > 1:
        old_logps, ref_logps, old_values = (
            accelerator.gather(x[lo:hi].contiguous()) for x in (old_logps, ref_logps, old_values)
        )
    scores = torch.tensor(scored.totals, dtype=torch.float32, device=device)
    kl_tok = kl_per_token(old_logps, ref_logps, estimator=config.kl.estimator) * rmask
    rewards_tok = token_rewards(scores, kl_tok, rmask, t.kl_ctl.coef)
    advantages, returns = gae(rewards_tok, old_values, rmask, gamma=config.gamma, lam=config.lam)
    if config.whiten_advantages:  # over the whole batch: every process holds all of it
        advantages = whiten(advantages, rmask)
    return Experience(ids, attn, rmask, old_logps, old_values, kl_tok, advantages, returns, scored.totals)


def optimise(r: PPORun, t: PPOTraining, exp: Experience, step: int) -> Optimised:
    """``ppo_epochs`` passes of minibatch updates (each minibatch split evenly over the processes), stopping
    early on the minibatch KL; then the scheduler steps once."""
    config, accelerator, model, optimizer = r.config, r.accelerator, t.model, t.optimizer
    world, rank = r.world, r.rank
    ids, attn, rmask = exp.ids, exp.attn, exp.rmask
    model.train()
    # token-weighted sums of the minibatch statistics (this process's tokens), and the grad norms
    sums: dict[str, float] = dict.fromkeys(STATS, 0.0)
    sums["tokens"] = 0.0
    grad_norms: list[float] = []
    early_stopped = False
    updates = 0
    for epoch in range(config.ppo_epochs):
        gen = torch.Generator().manual_seed(derive_seed(config.run.seed, "minibatch", step, epoch))
        order = torch.randperm(exp.n, generator=gen).tolist()
        for mb in _chunks(order, config.minibatch):
            optimizer.zero_grad(set_to_none=True)
            mb_tokens = float(rmask[mb].sum())  # over the whole minibatch, all processes
            a, b = shard_bounds(len(mb), rank, world)
            parts = _chunks(mb[a:b], t.micro)
            mb_kl = 0.0
            for j, part in enumerate(parts):
                sync = contextlib.nullcontext() if j == len(parts) - 1 else accelerator.no_sync(model)
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
                    pl = policy_loss(fo.logps, exp.old_logps[part], exp.advantages[part], m, clip=config.clip)
                    vl = value_loss(
                        fo.values, exp.old_values[part], exp.returns[part], m, clip=config.vf_clip
                    )
                    ent = masked_mean(fo.entropy, m)
                    loss = pl.loss + config.vf_coef * vl.loss - config.ent_coef * ent
                    check_finite(
                        {"policy_loss": pl.loss.detach(), "value_loss": vl.loss.detach()},
                        step=step + 1,
                        what="PPO loss",
                        last_checkpoint=t.ckpt.latest(),
                    )
                    part_tokens = float(m.sum())
                    share = part_tokens / max(mb_tokens, 1.0)  # token-weighted over the minibatch
                    # DDP averages the processes' gradients: undo its 1/world to get the token mean
                    accelerator.backward(loss * (share * world))
                mb_kl += float(pl.approx_kl) * share
                for key, val in zip(
                    STATS,
                    (pl.loss, vl.loss, pl.clipfrac, vl.clipfrac, pl.approx_kl, ent, pl.ratio_mean),
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
    t.scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    totals_stats = sum_over_processes(accelerator, sums)
    stats = {k: totals_stats[k] / max(totals_stats["tokens"], 1.0) for k in STATS}
    if grad_norms:
        stats["grad_norm"] = sum(grad_norms) / len(grad_norms)
    return Optimised(stats, updates, early_stopped)


def step_record(
    r: PPORun,
    t: PPOTraining,
    exp: Experience,
    scored: Scored,
    opt: Optimised,
    timings_step: dict[str, float],
) -> tuple[dict[str, Any], dict[str, int]]:
    """The step's metrics record and tokens per phase; adapts the KL coefficient to the step's KL."""
    n = exp.n
    seq_kl = (exp.kl_tok.sum(dim=1)).float()
    mean_kl = float(seq_kl.mean())
    coef_used = t.kl_ctl.coef
    t.kl_ctl.update(mean_kl, n)
    resp_lens = exp.rmask.sum(dim=1).float()
    total_tokens = int(exp.attn.sum())
    gen_tokens = int(resp_lens.sum())
    tokens_step = {
        "rollout": gen_tokens,
        "reward": gen_tokens,
        "logprobs": 2 * total_tokens,
        "optimise": total_tokens * opt.updates * r.config.minibatch // max(n, 1),
    }
    rewards_t = torch.tensor(scored.totals, dtype=torch.float64)
    record: dict[str, Any] = {
        "reward_mean": float(rewards_t.mean()),
        "reward_std": float(rewards_t.std()) if n > 1 else 0.0,
        "kl": mean_kl,
        "kl_coef": coef_used,
        "non_score_reward": float(-coef_used * seq_kl.mean()),
        "response_length": float(resp_lens.mean()),
        "tokens/generated": float(gen_tokens),
        "tokens/batch": float(total_tokens),
        "ppo_updates": float(opt.updates),
        "early_stopped": float(opt.early_stopped),
        "lr": float(t.scheduler.get_last_lr()[0]),
        **opt.stats,
        **scored.reward_metrics,
        **{f"time/{k}": v for k, v in timings_step.items()},
    }
    return record, tokens_step


# -- the end ----------------------------------------------------------------------------------------------------


def export_policy(r: PPORun, t: PPOTraining, last: dict[str, Any]) -> Path:
    """Export the adapter (or merged weights) with its card and sidecar to ``<output_dir>/model`` (main process;
    every process waits until the folder is complete)."""
    config, policy = r.config, r.policy
    model_dir = r.out_dir / "model"
    sidecar = {
        "kind": "policy",
        "method": "ppo",
        "base_model": policy.model_id,
        "base_revision": policy.revision,
        "init_adapter": config.init_adapter,
        "steps": t.state.step,
        "reward_sources": {s.name: s.weight for s in r.reward.sources},
        "config": config.model_dump(mode="json"),
    }
    r.accelerator.wait_for_everyone()
    if r.main:
        export_model(
            policy.model,
            policy.tokenizer,
            model_dir,
            merge=config.merge,
            card=_card(config, last),
            sidecar=sidecar,
        )
    r.accelerator.wait_for_everyone()  # the exported folder is complete when any process returns
    return model_dir


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


__all__ = [
    "STATS",
    "Experience",
    "Optimised",
    "PPORun",
    "PPOTraining",
    "PolicyAndValue",
    "Rollout",
    "Scored",
    "experience",
    "export_policy",
    "open_run",
    "optimise",
    "prepare_training",
    "sample",
    "score",
    "step_record",
]
