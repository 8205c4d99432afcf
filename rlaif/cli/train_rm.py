"""``rlaif train-rm``: train a principle-conditioned reward model on a labels dataset.

    rlaif train-rm --data out/rule-labels -c principles/style.yaml -o runs/rm --epochs 2 --negation-prob 0.5
    rlaif train-rm --config pipelines/stages/reward.yaml --set run.epochs=3

Options map onto :class:`rlaif.reward.RewardConfig`; ``--config`` reads the same fields from YAML (checked with file,
line and field), and the command-line options given explicitly override it. Rerunning into the same ``--out`` resumes
from the last checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rlaif.cli._common import DeviceOpt, DtypeOpt, ProgressOpt, TemplatesOpt
from rlaif.errors import RlaifError


def build_config(config_file: Path | None, options: dict[str, Any], assignments: list[str] | None) -> Any:
    """A :class:`RewardConfig` from an optional YAML file, explicit options (dotted keys) and ``--set`` items."""
    from rlaif.overrides import parse_override, set_path
    from rlaif.reward import RewardConfig
    from rlaif.yamlfile import YamlDocument, load_yaml_file, validate_document

    doc = (
        load_yaml_file(config_file, what="reward config")
        if config_file is not None
        else YamlDocument(data={}, path_label="<command line>")
    )
    if not isinstance(doc.data, dict):
        doc.data = {}
    for key, value in options.items():
        if value is not None:
            set_path(doc.data, key.split("."), value)
    for item in assignments or []:
        path, value = parse_override(
            item, what="--set", field="--set", hint="e.g. --set optim.lr=5e-4", lenient=True
        )
        set_path(doc.data, path, value, what=item)
    for required in ("data", "constitution", "output_dir"):
        if required not in doc.data:
            flag = {"data": "--data", "constitution": "--constitution", "output_dir": "--out"}[required]
            raise RlaifError(
                f"no {required} given", field=required, hint=f"pass {flag} (or set it in --config)"
            )
    return validate_document(doc, RewardConfig, what="reward config")


def command(
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", help="Labels dataset folder (rlaif label) or .parquet/.jsonl."),
    ] = None,
    constitution: Annotated[
        Path | None, typer.Option("--constitution", "-c", help="Constitution the labels name principles of.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (model goes to <out>/model).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Base causal LM [default: smollm2].")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML with RewardConfig fields.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            help="Override a config field: key=value (dotted; the value read as YAML, repeatable).",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Passes over the training pairs.")] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after N optimiser steps.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Pairs per micro-batch.")] = None,
    grad_accum: Annotated[int | None, typer.Option("--grad-accum", help="Micro-batches per step.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", help="LoRA rank.")] = None,
    full: Annotated[bool, typer.Option("--full-finetune", help="Train every weight (no LoRA).")] = False,
    max_length: Annotated[int | None, typer.Option("--max-length", help="Longest input in tokens.")] = None,
    val_data: Annotated[Path | None, typer.Option("--val-data", help="Separate validation labels.")] = None,
    val_fraction: Annotated[float | None, typer.Option("--val-fraction", help="Prompts held out.")] = None,
    eval_every: Annotated[int | None, typer.Option("--eval-every", help="Validate every N steps.")] = None,
    patience: Annotated[
        int | None, typer.Option("--patience", help="Early-stopping patience (evals).")
    ] = None,
    principle_subset: Annotated[
        bool,
        typer.Option("--principle-subset", help="Augment: show a random subset of each row's principles."),
    ] = False,
    negation_prob: Annotated[
        float | None,
        typer.Option("--negation-prob", help="Augment: negate the principles and flip the label."),
    ] = None,
    negation_pairs: Annotated[
        bool,
        typer.Option(
            "--negation-pairs",
            help="Augment: also show every pair under its principles' negations, label flipped, in the same batch.",
        ),
    ] = False,
    label_noise: Annotated[float | None, typer.Option("--label-noise", help="Augment: flip labels.")] = None,
    hard_labels: Annotated[bool, typer.Option("--hard-labels", help="Round labels to 0/1.")] = False,
    margin_column: Annotated[
        str | None, typer.Option("--margin-column", help="Per-row margin column.")
    ] = None,
    weight_column: Annotated[
        str | None, typer.Option("--weight-column", help="Per-row weight column.")
    ] = None,
    merge: Annotated[
        bool, typer.Option("--merge", help="Export merged weights instead of the adapter.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed (data order, head init, augmentations).")
    ] = None,
    mixed_precision: Annotated[
        str | None,
        typer.Option(
            "--mixed-precision", help="no, bf16, fp16 or auto (bf16 where the hardware has native bf16)."
        ),
    ] = None,
    tracker: Annotated[
        list[str] | None,
        typer.Option("--tracker", help="Also log to tensorboard, wandb or trackio (repeat)."),
    ] = None,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Ignore existing checkpoints.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Use only the first N rows.")] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    templates: TemplatesOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Train a principle-conditioned reward model (soft Bradley-Terry on AI labels, LoRA) and export it."""
    from rlaif.reward import train_reward_model

    options: dict[str, Any] = {
        "data": str(data) if data else None,
        "constitution": str(constitution) if constitution else None,
        "output_dir": str(out) if out else None,
        "model": model,
        "templates": str(templates) if templates else None,
        "max_length": max_length,
        "val_data": str(val_data) if val_data else None,
        "val_fraction": val_fraction,
        "eval_every": eval_every,
        "early_stopping_patience": patience,
        "hard_labels": True if hard_labels else None,
        "margin_column": margin_column,
        "weight_column": weight_column,
        "merge": True if merge else None,
        "limit": limit,
        "dtype": None if dtype == "auto" else dtype,
        "augment.principle_subset": True if principle_subset else None,
        "augment.negation_prob": negation_prob,
        "augment.negation_pairs": True if negation_pairs else None,
        "augment.label_noise": label_noise,
        "lora.r": lora_r,
        "lora.enabled": False if full else None,
        "optim.lr": lr,
        "run.epochs": epochs,
        "run.max_steps": max_steps,
        "run.batch_size": batch_size,
        "run.grad_accum": grad_accum,
        "run.seed": seed,
        "run.mixed_precision": mixed_precision,
        "run.trackers": tracker,
        "run.resume": False if no_resume else None,
        "run.device": None if device == "auto" else device,
    }
    cfg = build_config(config, options, set_)
    result = train_reward_model(cfg, progress=progress)
    from rlaif.training.distributed import is_main_process

    if not is_main_process():  # under `accelerate launch` the main process reports for all of them
        return
    s = result.summary
    val = s.get("validation") or {}
    print(f"reward model: {result.model_dir}")
    print(f"steps: {result.steps}; training pairs: {s['train_pairs']}; validation pairs: {s['val_pairs']}")
    if val:
        print(
            f"validation: loss {val['loss']:.4f}, accuracy {100 * val['accuracy']:.1f}% (best step {s['best_step']})"
        )
    if s.get("early_stopped"):
        print("stopped early: validation loss stopped improving")
    norm = s["norm_stats"]
    print(f"normalisation (training responses): mean {norm['mean']:.4f}, std {norm['std']:.4f}")
    t = s["truncation"]
    if t["conversation_truncated"] or t["response_truncated"]:
        print(
            f"truncated to fit: {t['conversation_truncated']} conversations (from the left), "
            f"{t['response_truncated']} responses, of {t['inputs']} inputs"
        )
