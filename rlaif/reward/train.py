"""Training a principle-conditioned reward model (SALMON-style) on soft AI preference labels.

    rlaif train-rm --data out/labels --constitution principles/style.yaml -o runs/rm

Recipe: load labelled pairs → split off validation prompts → one-scalar sequence classifier on the base causal LM,
LoRA adapter with the score head trainable → per micro-batch, the chosen and rejected inputs of each pair (principles
augmented per the config) go through one concatenated forward → soft Bradley-Terry loss → AdamW step every
``grad_accum`` micro-batches → validation, early stopping, checkpoints → normalisation statistics over the training
responses → export (adapter or merged) with template, sidecar and card.

Deliberate choices: the model exported is the one with the lowest validation loss (when there is a validation
split), not the last; principles are shown in the order they were labelled under.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlaif.constitution import constitution_hash, load_constitution
from rlaif.feedback.labels_dataset import labels_sha256
from rlaif.prompting import TemplateSet
from rlaif.reward.augment import AugmentedRow, augment_pair, with_negation_pairs
from rlaif.reward.config import RewardConfig
from rlaif.reward.data import RewardRow, load_reward_pairs, split_pairs
from rlaif.reward.inputs import RewardInputEncoder, check_reward_template
from rlaif.reward.loss import soft_bradley_terry_loss
from rlaif.reward.model import NormStats, forward_rewards, load_seq_cls_base, model_context, rewards_of
from rlaif.training import (
    Checkpointer,
    MetricsLogger,
    TrainerState,
    TrainResult,
    attach_lora,
    check_finite,
    check_launch,
    count_parameters,
    finish_trackers,
    make_accelerator,
    make_optimizer,
    make_scheduler,
    progress_bar,
    seed_everything,
    sum_over_processes,
    trainable_state,
)

log = logging.getLogger("rlaif.reward")

BEST_FILE = "best-trainable.safetensors"


def epoch_order(n: int, *, seed: int, epoch: int) -> list[int]:
    """The order rows are visited in ``epoch``: a permutation that depends only on (seed, epoch)."""
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return [int(i) for i in torch.randperm(n, generator=g)]


def process_order(n: int, *, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    """The rows process ``rank`` of ``world`` visits in ``epoch``: every ``world``-th row of :func:`epoch_order`.

    The order is first padded with its own first rows to a multiple of ``world`` (as torch's DistributedSampler
    does), so every process runs the same number of micro-batches of the same sizes; micro-batch ``b`` of the
    processes together holds rows ``b·B·world .. (b+1)·B·world - 1`` of the epoch order, the micro-batch of a
    one-process run with ``batch_size = B·world`` (or ``B`` with ``grad_accum`` multiplied by ``world``).
    """
    order = epoch_order(n, seed=seed, epoch=epoch)
    if order and len(order) % world:
        order += order[: world - len(order) % world]
    return order[rank::world]


class _Batcher:
    """Encodes augmented pairs into one left-padded ``[2B, T]`` batch (chosen rows first), caching encodings."""

    def __init__(self, encoder: RewardInputEncoder, pad_id: int) -> None:
        self.encoder = encoder
        self.pad_id = pad_id
        self._cache: dict[tuple[int, tuple[str, ...], str], list[int]] = {}

    def _ids(self, pair: RewardRow, principles: Sequence[Any], side: str) -> list[int]:
        key = (pair.row, tuple(f"{p.ref}:{p.compare}" for p in principles), side)
        if key not in self._cache:
            text = pair.chosen if side == "c" else pair.rejected
            self._cache[key] = self.encoder.encode(principles, pair.conversation, text)
        return self._cache[key]

    def batch(self, items: Sequence[AugmentedRow]) -> dict[str, Any]:
        import torch

        from rlaif.training.logprobs import pad_left

        seqs = [self._ids(a.pair, a.principles, "c") for a in items] + [
            self._ids(a.pair, a.principles, "r") for a in items
        ]
        ids, mask = pad_left(seqs, self.pad_id)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "p": torch.tensor([a.p_chosen for a in items], dtype=torch.float32),
            "margin": torch.tensor([a.pair.margin for a in items], dtype=torch.float32),
            "weight": torch.tensor([a.pair.weight for a in items], dtype=torch.float32),
            "tokens": int(mask.sum()),
        }


def _pair_loss(model: Any, batch: dict[str, Any], device: Any, config: RewardConfig) -> tuple[Any, Any, Any]:
    """(loss, reward_chosen, reward_rejected) of one batch."""
    rewards = forward_rewards(model, batch["input_ids"].to(device), batch["attention_mask"].to(device))
    n = batch["p"].shape[0]
    rc, rr = rewards[:n], rewards[n:]  # [B] each: chosen rows came first
    loss, _ = soft_bradley_terry_loss(
        rc,
        rr,
        batch["p"].to(device),
        margin=batch["margin"].to(device) if config.margin_column else None,
        weight=batch["weight"].to(device) if config.weight_column else None,
    )
    return loss, rc, rr


def evaluate_pairs(
    model: Any, batcher: _Batcher, pairs: Sequence[RewardRow], config: RewardConfig, device: Any
) -> dict[str, float]:
    """Validation loss and pairwise accuracy of ``pairs`` under their own principles (no augmentation)."""
    import torch

    was_training = model.training
    model.eval()
    total_loss = total_acc = total_w = 0.0
    bs = max(1, config.run.batch_size)
    try:
        with torch.inference_mode():
            for start in range(0, len(pairs), bs):
                chunk = [AugmentedRow(p, p.principles, p.p_chosen) for p in pairs[start : start + bs]]
                batch = batcher.batch(chunk)
                loss, rc, rr = _pair_loss(model, batch, device, config)
                diff = (rc - rr).float().cpu()
                target = batch["p"]
                right = torch.where(
                    target == 0.5, torch.full_like(diff, 0.5), ((diff > 0) == (target > 0.5)).float()
                )
                total_loss += float(loss) * len(chunk)
                total_acc += float(right.sum())
                total_w += len(chunk)
    finally:
        if was_training:
            model.train()
    return {
        "loss": total_loss / max(total_w, 1),
        "accuracy": total_acc / max(total_w, 1),
        "pairs": float(total_w),
    }


def _save_best(model: Any, path: Path) -> None:
    from safetensors.torch import save_file

    from rlaif.atomic import atomic_write_bytes

    tmp = path.with_suffix(".tmp")
    save_file(trainable_state(model), str(tmp))
    atomic_write_bytes(path, tmp.read_bytes())
    tmp.unlink(missing_ok=True)


def _load_trainable(model: Any, path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in load_file(str(path)).items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))


def _continue_from(model: Any, folder: Path) -> Any:
    """``model`` wrapped in the trainable LoRA adapter and score head of an exported reward model."""
    from peft import PeftModel

    from rlaif.errors import ModelError

    if not (Path(folder) / "adapter_config.json").is_file():
        raise ModelError(
            f"{folder} holds no adapter to continue from (adapter_config.json missing)",
            path=Path(folder),
            field="init_adapter",
            hint="continue from a reward model exported as an adapter (not merged), or train from scratch",
        )
    try:
        return PeftModel.from_pretrained(model, str(folder), is_trainable=True)
    except (ValueError, RuntimeError, KeyError) as e:
        raise ModelError(
            f"cannot continue from reward model {folder}: {e}", path=Path(folder), field="init_adapter"
        ) from e


def train_reward_model(config: RewardConfig, *, progress: bool = True) -> TrainResult:
    """Train, validate, checkpoint and export a reward model (see the module docstring); returns where it went.

    Rerunning with the same ``output_dir`` resumes from the latest checkpoint (``run.resume``) and ends with the same
    weights as an uninterrupted run. Raises :class:`~rlaif.errors.RlaifError` for bad data or settings and
    :class:`~rlaif.training.TrainingDivergedError` if the loss or gradients stop being finite.
    """
    import torch

    started = time.monotonic()
    run = config.run
    out = Path(config.output_dir)
    constitution = load_constitution(config.constitution)
    templates = TemplateSet.load(config.templates)
    check_reward_template(templates, config.template)  # before any data or model is loaded

    def read(path: Path, limit: int | None) -> list[RewardRow]:
        return load_reward_pairs(
            path,
            constitution,
            hard_labels=config.hard_labels,
            margin_column=config.margin_column,
            weight_column=config.weight_column,
            limit=limit,
        )

    pairs = read(config.data, config.limit)
    if config.val_data is not None:
        train, val = pairs, read(config.val_data, None)
    else:
        train, val = split_pairs(pairs, config.val_fraction, seed=run.seed)
    c_hash = constitution_hash(constitution)
    log.info("reward model: %d training pairs, %d validation pairs", len(train), len(val))

    accelerator = make_accelerator(run, project_dir=out)
    check_launch(accelerator, trainer="reward-model")
    seed_everything(run.seed)
    model, tokenizer, resolved = load_seq_cls_base(
        config.model, dtype=config.dtype, device="cpu", trust_remote_code=config.trust_remote_code
    )
    if run.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.init_adapter is not None:
        model = _continue_from(model, config.init_adapter)
    else:
        model = attach_lora(model, config.lora, task_type="SEQ_CLS")
    if run.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    trainable, total = count_parameters(model)
    log.info("training %d of %d parameters (%.2f%%)", trainable, total, 100 * trainable / max(total, 1))
    context = model_context(model)
    max_length = min(config.max_length, context) if context else config.max_length
    encoder = RewardInputEncoder(tokenizer, templates, template=config.template, max_length=max_length)
    batcher = _Batcher(encoder, int(tokenizer.pad_token_id))
    # its own cache: rows of a separate validation file reuse the training rows' numbers (the cache key)
    val_batcher = _Batcher(encoder, int(tokenizer.pad_token_id))

    rank, world = accelerator.process_index, accelerator.num_processes
    per_process = math.ceil(len(train) / world)
    micro_per_epoch = math.ceil(per_process / run.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / run.grad_accum)
    total_steps = run.max_steps or steps_per_epoch * run.epochs
    optimizer = make_optimizer(model.parameters(), config.optim)
    scheduler = make_scheduler(optimizer, total_steps, config.optim)
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)  # evaluation and scoring: no DDP hooks or collectives
    device = accelerator.device

    ckpt = Checkpointer(out, keep=run.keep_checkpoints)
    best_path = out / BEST_FILE
    state = TrainerState()
    latest = ckpt.latest() if run.resume else None
    if latest is not None:
        state = ckpt.load(
            latest, model=model, optimizer=optimizer, scheduler=scheduler, accelerator=accelerator
        )
        log.info(
            "resumed from %s (step %d, epoch %d, batch %d)",
            latest,
            state.step,
            state.epoch,
            state.batch_in_epoch,
        )
    metrics = MetricsLogger(out, accelerator=accelerator, resume_step=state.step)
    if run.trackers:
        accelerator.init_trackers("rlaif-reward", config={"lr": config.optim.lr, "lora_r": config.lora.r})
    eval_every = config.eval_every
    bar = progress_bar(
        total_steps, desc="train-rm", enabled=progress and accelerator.is_main_process, initial=state.step
    )
    stopped_early = False
    examples = state.extra.get("examples", 0)

    def save() -> None:
        """A checkpoint of the run as it stands (weights, optimiser, schedule, state)."""
        ckpt.save(model=model, optimizer=optimizer, scheduler=scheduler, state=state, accelerator=accelerator)

    def validate() -> bool:
        """Evaluate, track the best weights; True when early stopping says stop."""
        if not val:
            return False
        result = evaluate_pairs(unwrapped, val_batcher, val, config, device)
        if (
            world > 1
        ):  # every process evaluated the same weights; the main one's numbers decide for all of them
            from accelerate.utils import broadcast_object_list

            result = broadcast_object_list([result])[0]
        metrics.log(state.step, {"loss": result["loss"], "accuracy": result["accuracy"]}, phase="val")
        check_finite(
            {"validation loss": result["loss"]},
            step=state.step,
            what="validation",
            last_checkpoint=ckpt.latest(),
        )
        best = state.best_metric
        if best is None or result["loss"] < best - config.early_stopping_min_delta:
            state.best_metric, state.best_step, state.bad_evals = result["loss"], state.step, 0
            if accelerator.is_main_process:
                _save_best(unwrapped, best_path)
            accelerator.wait_for_everyone()  # the file is complete before any process reads it back
        else:
            state.bad_evals += 1
        state.extra["last_val_step"] = state.step
        patience = config.early_stopping_patience
        return patience is not None and state.bad_evals >= patience

    model.train()
    window: dict[str, float] = {"loss": 0.0, "acc": 0.0, "margin": 0.0, "n": 0.0, "tokens": 0.0}
    t_window = time.monotonic()
    done = state.step >= total_steps
    while not done and state.epoch < run.epochs:
        order = process_order(len(train), seed=run.seed, epoch=state.epoch, rank=rank, world=world)
        micro = [order[i : i + run.batch_size] for i in range(0, len(order), run.batch_size)]
        for b in range(state.batch_in_epoch, len(micro)):
            items = [
                augment_pair(train[i], config.augment, seed=run.seed, epoch=state.epoch) for i in micro[b]
            ]
            if config.augment.negation_pairs:
                items = with_negation_pairs(items)
            batch = batcher.batch(items)
            group_start = (b // run.grad_accum) * run.grad_accum
            group_len = min(run.grad_accum, len(micro) - group_start)  # the epoch's last group may be shorter
            last_of_step = b == group_start + group_len - 1
            sync = accelerator.no_sync(model) if not last_of_step and world > 1 else _null()
            with sync:
                with accelerator.autocast():
                    loss, rc, rr = _pair_loss(model, batch, device, config)
                check_finite(
                    {"loss": loss.detach(), "reward_chosen": rc.detach(), "reward_rejected": rr.detach()},
                    step=state.step + 1,
                    what="reward-model training",
                    last_checkpoint=ckpt.latest(),
                )
                accelerator.backward(loss / group_len)  # the step's gradient: the mean over its micro-batches
            diff = (rc - rr).detach().float()
            window["loss"] += float(loss.detach()) * len(items)
            window["acc"] += float(((diff > 0) == (batch["p"].to(diff.device) > 0.5)).float().sum())
            window["margin"] += float(diff.sum())
            window["n"] += len(items)
            window["tokens"] += batch["tokens"]
            examples += len(items) * world  # every process's micro-batch has the same size
            if not last_of_step:
                continue
            grad_norm = (
                accelerator.clip_grad_norm_(model.parameters(), config.optim.max_grad_norm)
                if config.optim.max_grad_norm is not None
                else torch.sqrt(
                    sum((p.grad.float() ** 2).sum() for p in model.parameters() if p.grad is not None)
                )
            )
            check_finite(
                {"grad_norm": grad_norm},
                step=state.step + 1,
                what="reward-model training",
                last_checkpoint=ckpt.latest(),
            )
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.batch_in_epoch = b + 1
            state.extra["examples"] = examples
            bar.update(1)
            if state.step % run.log_every == 0 or state.step == total_steps:
                elapsed = max(time.monotonic() - t_window, 1e-9)
                window = sum_over_processes(accelerator, window)
                n = max(window["n"], 1.0)
                metrics.log(
                    state.step,
                    {
                        "loss": window["loss"] / n,
                        "accuracy": window["acc"] / n,
                        "reward_margin": window["margin"] / n,
                        "grad_norm": float(grad_norm),
                        "lr": scheduler.get_last_lr()[0],
                        "epoch": state.epoch + (b + 1) / len(micro),
                        "examples_per_s": window["n"] / elapsed,
                        "tokens_per_s": window["tokens"] / elapsed,
                    },
                )
                window = dict.fromkeys(window, 0.0)
                t_window = time.monotonic()
            if eval_every is not None and state.step % eval_every == 0:
                stopped_early = validate()
            if state.step % run.save_every == 0 or state.step == total_steps or stopped_early:
                save()
            if state.step >= total_steps or stopped_early:
                done = True
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
            if eval_every is None:
                stopped_early = validate()
                save()
                done = stopped_early
    bar.close()
    if stopped_early:
        log.info(
            "early stopping at step %d: validation loss did not improve for %d evaluations",
            state.step,
            state.bad_evals,
        )

    final_val: dict[str, float] = {}
    if val:
        if state.extra.get("last_val_step") != state.step:
            validate()
        if best_path.is_file() and state.best_step != state.step:
            log.info("exporting the weights of step %s (lowest validation loss)", state.best_step)
            _load_trainable(unwrapped, best_path)
        final_val = evaluate_pairs(unwrapped, val_batcher, val, config, device)

    # Normalisation statistics: rewards of the training responses under their own principles.
    subset = train[: max(1, config.norm_stats_max_responses // 2)]
    seqs = encoder.encode_many(
        [(p.principles, p.conversation, p.chosen) for p in subset]
        + [(p.principles, p.conversation, p.rejected) for p in subset]
    )
    unwrapped.eval()
    stats = NormStats.from_rewards(
        rewards_of(unwrapped, seqs, int(tokenizer.pad_token_id), batch_size=run.batch_size * 2)
    )

    model_dir = config.export_dir
    sidecar: dict[str, Any] = {
        "base_model": {"model": config.model, **resolved.provenance()},
        "constitution": constitution.name,
        "constitution_hash": c_hash,
        "template_hash": encoder.template_hash,
        "max_length": max_length,
        "norm_stats": stats.as_dict(),
        "principles": sorted({p.ref for pair in train for p in pair.principles}),
        "data": str(config.data),
        "data_hash": labels_sha256(config.data),
        "train_pairs": len(train),
        "validation": final_val,
        "steps": state.step,
        "best_step": state.best_step,
        "truncation": encoder.stats.as_dict(),
        "settings": config.model_dump(mode="json"),
    }
    if accelerator.is_main_process:
        from rlaif.reward.export import export_reward_model

        export_reward_model(
            unwrapped,
            tokenizer,
            model_dir,
            templates=templates,
            template=config.template,
            sidecar=sidecar,
            merge=config.merge,
        )
    accelerator.wait_for_everyone()
    if run.trackers:
        finish_trackers(accelerator)
    if encoder.stats.conversation_truncated or encoder.stats.response_truncated:
        log.warning("truncation: %s (max_length=%d)", encoder.stats.describe(), max_length)
    final = dict(metrics.history[-1]) if metrics.history else {}
    log.info("reward model written to %s", model_dir)
    return TrainResult(
        output_dir=out,
        model_dir=Path(model_dir),
        steps=state.step,
        final=final,
        summary={
            "train_pairs": len(train),
            "val_pairs": len(val),
            "examples_seen": examples,
            "validation": final_val,
            "best_step": state.best_step,
            "early_stopped": stopped_early,
            "norm_stats": stats.as_dict(),
            "truncation": encoder.stats.as_dict(),
            "trainable_parameters": trainable,
            "total_parameters": total,
            "seconds": time.monotonic() - started,
        },
    )


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
