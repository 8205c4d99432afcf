"""DPO on soft AI labels (and SFT on the chosen responses): the trainer.

Run it with ``rlaif train-policy --method dpo --config dpo.yaml`` or from Python::

    from rlaif.policy.dpo import DPOConfig, train_dpo
    result = train_dpo(DPOConfig(model="smollm2", labels="out/labels", output_dir="out/dpo"))

Recipe: load the policy (base weights + a LoRA adapter, or a previous round's adapter), read and tokenize the labels
dataset, optionally compute the reference log-probabilities once, then loop: length-bucketed micro-batches, one
forward of the policy and one of the reference (the same weights with the adapter disabled) per micro-batch,
gradient accumulation, clipping, AdamW; checkpoint, log, evaluate; finally export the adapter (and a merged model on
request) with a model card. Killing and rerunning it resumes from the last checkpoint exactly.

Deviations from the DPO paper (Rafailov et al. 2023), all deliberate: labels are soft (the loss is the cross-entropy
against ``p``, see :mod:`rlaif.policy.dpo_loss`); the policy is trained through a LoRA adapter by default (a full
fine-tune is ``lora.enabled: false``, whose reference log-probs are then computed before training); the optimiser is
AdamW with the shared defaults rather than RMSprop at 1e-6, a rate that barely moves a LoRA adapter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from rlaif.errors import DataFileError
from rlaif.fields import TokenCap
from rlaif.policy.dpo_batch import PreferenceBatch, batch_logps, choose_layout, collate_pairs
from rlaif.policy.dpo_data import PromptFormat, TokenizedRow, epoch_batches, read_preferences, tokenize_pairs
from rlaif.policy.dpo_loss import preference_loss, sft_nll
from rlaif.strict import StrictConfig
from rlaif.training.config import LoraSettings, OptimSettings, RunSettings
from rlaif.training.result import TrainResult

log = logging.getLogger(__name__)

REFERENCE_FILE = "reference_logps.safetensors"


class EvalSettings(StrictConfig):
    """Held-out prompts answered greedily during training: response length, rule compliance, KL to reference."""

    prompts: Path = Field(description="prompt set (jsonl/json/csv/parquet) with a 'prompt' field")
    constitution: Path | None = Field(
        default=None, description="constitution whose rule-carrying principles give the compliance rate"
    )
    limit: int | None = Field(default=32, ge=1, description="use at most this many prompts (the first ones)")
    max_new_tokens: TokenCap = Field(default=128, description="greedy tokens per response")
    every: int | None = Field(default=None, ge=1, description="also evaluate every this many optimiser steps")
    before: bool = Field(
        default=True, description="evaluate the starting policy too (step 0), for a before/after delta"
    )


class DPOConfig(StrictConfig):
    """Everything a DPO (or SFT) run needs. Defaults follow the DPO paper where it has one (β = 0.1, sigmoid)."""

    model: str = Field(default="smollm2", description="policy base model: alias, local folder or hub id")
    labels: Path = Field(description="labels dataset: a folder with data.parquet, or a .parquet/.jsonl file")
    output_dir: Path = Field(description="run folder: checkpoints, metrics.jsonl, model/ (and merged/)")
    init_adapter: Path | None = Field(
        default=None, description="continue training this adapter (e.g. the previous round's model/)"
    )
    loss: Literal["sigmoid", "ipo", "sft"] = Field(
        default="sigmoid",
        description="sigmoid = DPO with soft labels, ipo = IPO, sft = NLL of the chosen responses only",
    )
    beta: float = Field(default=0.1, gt=0.0, description="DPO temperature β (for IPO the regulariser τ)")
    sft_weight: float = Field(
        default=0.0, ge=0.0, description="weight of an added NLL term on the chosen responses"
    )
    max_length: int = Field(
        default=1024, ge=2, description="tokens of prompt + response; longer responses are cut"
    )
    max_prompt_length: int = Field(default=512, ge=1, description="prompt tokens kept (cut from the left)")
    prompt_format: PromptFormat = Field(
        default="auto",
        description="plain-text prompts: chat template as a user turn (auto: when the model has one) or raw",
    )
    reference: Literal["base", "initial"] = Field(
        default="base",
        description="base = the base weights (adapter disabled); initial = the starting policy, incl. init_adapter "
        "(implies precompute_reference)",
    )
    precompute_reference: bool = Field(
        default=False,
        description="compute reference log-probs once before training (cached in the output folder)",
    )
    share_prompt: bool = Field(
        default=True,
        description="run each prompt once for both responses: in one packed row with a custom attention mask "
        "(sdpa/eager attention), else through its KV cache (no checkpointing), else concatenated",
    )
    length_bucketing: bool = Field(default=True, description="batch pairs of similar length (less padding)")
    merge: bool = Field(
        default=False, description="also write the adapter merged into the base weights (merged/)"
    )
    dtype: str = Field(default="auto", description="weights dtype: auto, float32, bfloat16, float16")
    trust_remote_code: bool = Field(
        default=False, description="allow custom modelling code shipped with the model (off: safer)"
    )
    lora: LoraSettings = Field(default_factory=LoraSettings, description="the policy's LoRA adapter")
    optim: OptimSettings = Field(
        default_factory=lambda: OptimSettings.model_validate({}), description="optimiser and schedule"
    )
    run: RunSettings = Field(
        default_factory=lambda: RunSettings.model_validate({}),
        description="seed, batch, epochs, precision, checkpoints, logging",
    )
    eval: EvalSettings | None = Field(
        default=None, description="answer held-out prompts during training (null: no evaluation)"
    )

    @model_validator(mode="after")
    def _lengths(self) -> DPOConfig:
        if self.max_prompt_length >= self.max_length:
            raise ValueError(
                f"max_prompt_length ({self.max_prompt_length}) must be below max_length ({self.max_length})"
            )
        return self


# ---------------------------------------------------------------------------------------------------------------
# Reference log-probs computed once
# ---------------------------------------------------------------------------------------------------------------


def _reference_key(config: DPOConfig, policy: Any, pairs: list[TokenizedRow]) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps([policy.model_id, policy.revision, config.reference, str(config.init_adapter)]).encode()
    )
    for p in pairs:
        h.update(json.dumps([p.prompt_ids, p.chosen_ids, p.rejected_ids]).encode())
    return h.hexdigest()


def reference_logps(
    config: DPOConfig, policy: Any, pairs: list[TokenizedRow], *, adapter_on: bool, accelerator: Any
) -> Any:
    """``[N, 2]`` reference log-probs (chosen, rejected) of every pair, read from the cache file when it matches."""
    import torch
    from safetensors.torch import load_file, save

    from rlaif.atomic import atomic_write_bytes

    path = config.output_dir / REFERENCE_FILE
    key = _reference_key(config, policy, pairs)
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            same = (fh.metadata() or {}).get("key") == key
        if same:
            log.info("reference log-probs read from %s", path)
            return load_file(str(path))["logps"]
    model = policy.model
    out = torch.zeros((len(pairs), 2), dtype=torch.float32)
    bs = max(1, config.run.batch_size)
    ctx = contextlib.nullcontext() if adapter_on else model.disable_adapter()
    was_training = model.training
    model.eval()
    # each process computes every num_processes-th pair; the rows are then shared
    mine = list(range(accelerator.process_index, len(pairs), accelerator.num_processes))
    with torch.no_grad(), ctx:
        for start in range(0, len(mine), bs):
            idx = mine[start : start + bs]
            batch = collate_pairs([pairs[i] for i in idx], policy.pad_id, indices=idx, layout="concat")
            with accelerator.autocast():
                seq = batch_logps(model, batch.to(accelerator.device)).float().cpu()
            out[idx, 0], out[idx, 1] = seq[: len(idx)], seq[len(idx) :]
    if was_training:
        model.train()
    if accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        for rows in gather_object([(mine, out[mine].tolist())]):
            out[rows[0]] = torch.tensor(rows[1], dtype=torch.float32).reshape(-1, 2)
    if accelerator.is_main_process:
        atomic_write_bytes(path, save({"logps": out}, metadata={"key": key}))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------------------------


def _model_card(config: DPOConfig, policy: Any, data: Any, result: dict[str, Any]) -> str:
    hashes = ", ".join(f"`{h}`" for h in data.constitution_hashes) or "none recorded"
    lines = [
        f"# {policy.model_id} — {config.loss.upper()} on AI feedback (rlaif)",
        "",
        f"Trained with `rlaif train-policy --method dpo` ({config.loss} loss, β = {config.beta:g}, "
        f"SFT weight {config.sft_weight:g}) on the labels dataset `{data.file}` (sha256 `{data.sha256}`, "
        f"{len(data.rows)} pairs, {'soft' if data.soft else 'hard'} labels).",
        "",
        f"- base model: `{policy.model_id}` (revision `{policy.revision or 'n/a'}`)",
        f"- constitution hash(es): {hashes}",
        f"- reference: {config.reference} weights; adapter: {'LoRA r=' + str(config.lora.r) if config.lora.enabled else 'none (full fine-tune)'}",
        f"- optimiser steps: {result.get('steps')}, pairs seen: {result.get('pairs_seen')}",
        "",
        "Load the adapter with `peft.AutoPeftModelForCausalLM.from_pretrained(folder)`, with transformers' "
        "`model.load_adapter(folder)`, or with vLLM's `LoRARequest`. `rlaif.json` holds the full settings.",
        "",
    ]
    return "\n".join(lines)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def train_dpo(config: DPOConfig, *, progress: bool = True) -> TrainResult:
    """Train the policy on a labels dataset with DPO / IPO / SFT and export it (see the module doc)."""
    import torch

    from rlaif.constitution import load_constitution
    from rlaif.feedback.inputs import load_prompts
    from rlaif.policy.dpo_eval import evaluate_policy
    from rlaif.policy.model import load_policy
    from rlaif.training import (
        Checkpointer,
        MetricsLogger,
        TrainerState,
        check_finite,
        check_launch,
        export_model,
        finish_trackers,
        make_accelerator,
        make_optimizer,
        make_scheduler,
        mean_over_processes,
        progress_bar,
        seed_everything,
    )

    started = time.perf_counter()
    out = Path(config.output_dir)
    run = config.run
    accelerator = make_accelerator(run, project_dir=out)
    check_launch(accelerator, trainer="DPO")
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    seed_everything(run.seed)
    sft_only = config.loss == "sft"
    data = read_preferences(config.labels, need_rejected=not sft_only)
    eval_prompts: list[Any] = []
    eval_principles: list[Any] = []
    if config.eval is not None:
        eval_prompts = [r.conversation for r in load_prompts(config.eval.prompts)][: config.eval.limit]
        if config.eval.constitution is not None:
            eval_principles = list(load_constitution(config.eval.constitution).principles)

    policy = load_policy(
        config.model,
        lora=config.lora,
        init_adapter=config.init_adapter,
        device=str(accelerator.device),
        dtype=config.dtype,
        trust_remote_code=config.trust_remote_code,
        gradient_checkpointing=run.gradient_checkpointing,
    )
    context = getattr(policy.model.config, "max_position_embeddings", None)
    max_length = min(config.max_length, int(context)) if context else config.max_length
    if max_length < config.max_length:
        log.info("max_length lowered to the model's context, %d tokens", max_length)
    pairs, truncation = tokenize_pairs(
        policy,
        data.rows,
        max_length=max_length,
        max_prompt_length=min(config.max_prompt_length, max_length - 1),
        prompt_format=config.prompt_format,
        with_rejected=not sft_only,
    )
    layout, why = choose_layout(
        policy.model, share_prompt=config.share_prompt, gradient_checkpointing=run.gradient_checkpointing
    )
    log.info("batch layout: %s (%s)", layout, why)

    # the reference: adapter disabled on the fly, or computed once before any update
    has_adapter = hasattr(policy.model, "disable_adapter") and (
        config.lora.enabled or config.init_adapter is not None
    )
    precompute = not sft_only and (
        config.precompute_reference or config.reference == "initial" or not has_adapter
    )
    ref_table = None
    if precompute:
        ref_table = reference_logps(
            config,
            policy,
            pairs,
            adapter_on=config.reference == "initial" or not has_adapter,
            accelerator=accelerator,
        )

    world, rank = accelerator.num_processes, accelerator.process_index
    lengths = [p.length for p in pairs]
    per_epoch = len(epoch_batches(lengths, run.batch_size, seed=run.seed, epoch=0)) // world
    if per_epoch == 0:
        raise DataFileError(
            f"{len(pairs)} pairs make no full batch per process ({world} processes)",
            path=data.file,
            hint="label more pairs or use fewer processes",
        )
    steps_per_epoch = math.ceil(per_epoch / run.grad_accum)
    total_steps = run.max_steps or run.epochs * steps_per_epoch

    model = policy.model
    optimizer = make_optimizer(model.parameters(), config.optim)
    scheduler = make_scheduler(optimizer, total_steps, config.optim)
    # the scheduler stays out of prepare(): accelerate would step it once per process at every optimiser step
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    checkpointer = Checkpointer(out, keep=run.keep_checkpoints)
    state = TrainerState()
    latest = checkpointer.latest() if run.resume else None
    if latest is not None:
        state = checkpointer.load(
            latest, model=model, optimizer=optimizer, scheduler=scheduler, accelerator=accelerator
        )
        log.info("resuming from %s (step %d)", latest, state.step)
    metrics = MetricsLogger(out, accelerator=accelerator, resume_step=state.step)
    if run.trackers:
        accelerator.init_trackers("rlaif-dpo", config=json.loads(config.model_dump_json()))
    main = accelerator.is_main_process

    def run_eval(step: int) -> dict[str, float]:
        assert config.eval is not None
        if not main:
            return {}
        result = evaluate_policy(
            policy, eval_prompts, principles=eval_principles, max_new_tokens=config.eval.max_new_tokens
        )
        return metrics.log(step, result.metrics(), phase="eval")

    eval_before: dict[str, float] = {}
    if config.eval is not None and config.eval.before and state.step == 0:
        eval_before = run_eval(0)

    bar = progress_bar(
        total_steps, desc=f"{config.loss} training", initial=state.step, enabled=progress and main
    )
    pairs_seen = int(state.extra.get("pairs_seen", 0))
    step_pairs = 0  # pairs this process put into the current optimiser step
    last_record: dict[str, Any] = {}
    acc: dict[str, list[float]] = {}
    model.train()
    while state.step < total_steps:
        batches = epoch_batches(
            lengths, run.batch_size, seed=run.seed, epoch=state.epoch, bucket=config.length_bucketing
        )
        batches = batches[: per_epoch * world][rank::world]
        for bi in range(state.batch_in_epoch, per_epoch):
            group_start = (bi // run.grad_accum) * run.grad_accum
            group_len = min(run.grad_accum, per_epoch - group_start)
            last_in_group = bi == group_start + group_len - 1
            idx = batches[bi]
            batch: PreferenceBatch = collate_pairs(
                [pairs[i] for i in idx], policy.pad_id, indices=idx, layout=layout, with_rejected=not sft_only
            ).to(accelerator.device)
            sync = contextlib.nullcontext() if last_in_group else accelerator.no_sync(model)
            with sync:
                with accelerator.autocast():
                    seq = batch_logps(model, batch).float()
                n = batch.pairs
                chosen, rejected = seq[:n], seq[n:]
                chosen_tokens = batch.response_tokens[:n]
                sft = sft_nll(chosen, chosen_tokens)
                if sft_only:
                    ref_c = ref_r = torch.zeros_like(chosen)
                    rejected = torch.zeros_like(chosen)
                    rej_tokens = chosen_tokens
                else:
                    rej_tokens = batch.response_tokens[n:]
                    if ref_table is not None:
                        ref = ref_table[idx].to(seq.device)
                        ref_c, ref_r = ref[:, 0], ref[:, 1]
                    else:
                        # the reference forward needs no gradient, so it skips the DDP wrapper (and its hooks)
                        with torch.no_grad(), unwrapped.disable_adapter(), accelerator.autocast():
                            ref_seq = batch_logps(unwrapped, batch).float()
                        ref_c, ref_r = ref_seq[:n], ref_seq[n:]
                out_loss = preference_loss(
                    chosen, rejected, ref_c, ref_r, batch.p_chosen,
                    beta=config.beta, loss_type=config.loss, chosen_tokens=chosen_tokens,
                    rejected_tokens=rej_tokens, sft=sft, sft_weight=config.sft_weight,
                )  # fmt: skip
                accelerator.backward(out_loss.loss / group_len)
            step_pairs += n
            margins = out_loss.chosen_rewards - out_loss.rejected_rewards
            for k, v in {
                "loss": float(out_loss.loss.detach()),
                "sft_nll": float(sft.detach()),
                "rewards/chosen": float(out_loss.chosen_rewards.mean()),
                "rewards/rejected": float(out_loss.rejected_rewards.mean()),
                "rewards/margin": float(margins.mean()),
                "rewards/accuracy": float((margins > 0).float().mean()),
                "logps/chosen": float(chosen.detach().mean()),
                "logps/rejected": float(rejected.detach().mean()),
                # k1 estimate of KL(π‖π_ref) per response, on the labelled (not sampled) responses
                "kl_estimate": float(
                    ((chosen - ref_c) + (rejected - ref_r)).detach().mean() / (1 if sft_only else 2)
                ),
                "p_chosen": float(batch.p_chosen.mean()),
            }.items():
                acc.setdefault(k, []).append(v)
            state.batch_in_epoch = bi + 1
            if not last_in_group:
                continue
            grad_norm = None
            if config.optim.max_grad_norm is not None:
                grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.optim.max_grad_norm)
            # the micro-batch means of every process (the same number on each) averaged together
            record_values = mean_over_processes(
                accelerator, {**{k: _mean(v) for k, v in acc.items()}, "pairs": float(step_pairs)}
            )
            pairs_seen += round(record_values.pop("pairs") * world)
            step_pairs = 0
            if grad_norm is not None:
                record_values["grad_norm"] = float(grad_norm)
            check_finite(
                record_values, step=state.step + 1, what="DPO training", last_checkpoint=checkpointer.latest()
            )
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            acc = {}
            record_values["lr"] = scheduler.get_last_lr()[0]
            record_values["pairs_seen"] = pairs_seen
            if state.step % run.log_every == 0 or state.step == total_steps:
                last_record = metrics.log(state.step, record_values)
            bar.update(1)
            bar.set_postfix(
                loss=f"{record_values['loss']:.4f}", margin=f"{record_values['rewards/margin']:.3f}"
            )
            state.extra["pairs_seen"] = pairs_seen
            if state.step % run.save_every == 0 or state.step == total_steps:
                checkpointer.save(
                    model=model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    state=state,
                    accelerator=accelerator,
                )
            if config.eval is not None and config.eval.every and state.step % config.eval.every == 0:
                run_eval(state.step)
            if state.step >= total_steps:
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()

    eval_after: dict[str, float] = {}
    if config.eval is not None:
        done_at_end = config.eval.every and state.step % config.eval.every == 0
        eval_after = (
            next((r for r in reversed(metrics.history) if r.get("phase") == "eval"), {})
            if done_at_end
            else run_eval(state.step)
        )
    summary: dict[str, Any] = {
        "pairs": len(pairs),
        "skipped_identical": data.skipped_identical,
        "truncated_prompts": truncation.prompts,
        "truncated_responses": truncation.responses,
        "pairs_seen": pairs_seen,
        "layout": layout,
        "reference": "precomputed" if ref_table is not None else "adapter disabled",
        "seconds": round(time.perf_counter() - started, 2),
        "labels_sha256": data.sha256,
        "constitution_hashes": data.constitution_hashes,
    }
    if eval_before:
        summary["eval_before"] = {k: v for k, v in eval_before.items() if isinstance(v, float)}
    if eval_after:
        summary["eval_after"] = {k: v for k, v in eval_after.items() if isinstance(v, float)}
    accelerator.wait_for_everyone()
    model_dir = out / "model"
    if main:
        sidecar = {
            "kind": "policy",
            "trainer": "dpo",
            "config": json.loads(config.model_dump_json()),
            "base_model": policy.model_id,
            "base_revision": policy.revision,
            "labels": str(data.file),
            "labels_sha256": data.sha256,
            "constitution_hashes": data.constitution_hashes,
            "steps": state.step,
            # wall time stays out of the exported folder, so a resumed run exports the same bytes
            "summary": {k: v for k, v in summary.items() if k != "seconds"},
        }
        card = _model_card(config, policy, data, {"steps": state.step, "pairs_seen": pairs_seen})
        export_model(unwrapped, policy.tokenizer, model_dir, card=card, sidecar=sidecar)
        if config.merge:
            export_model(unwrapped, policy.tokenizer, out / "merged", merge=True, card=card, sidecar=sidecar)
            summary["merged_dir"] = str(out / "merged")
    accelerator.wait_for_everyone()  # the exported folder is complete when any process returns
    finish_trackers(accelerator)
    final = {k: v for k, v in last_record.items() if isinstance(v, float)}
    return TrainResult(output_dir=out, model_dir=model_dir, steps=state.step, final=final, summary=summary)
