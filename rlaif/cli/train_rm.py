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

from rlaif.cli._common import ProgressOpt, TemplatesOpt
from rlaif.cli.config_options import Form, switch
from rlaif.cli.trainer_options import Section, renamed, trainer_options
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
            set_path(doc.data, key.split("."), str(value) if isinstance(value, Path) else value)
    for item in assignments or []:
        path, value = parse_override(
            item, what="--set", field="--set", hint="e.g. --set optim.lr=5e-4", lenient=True
        )
        set_path(doc.data, path, value, what=item)
    for required in ("data", "constitution", "output_dir"):
        if required not in doc.data:
            flag = {"data": "--labels", "constitution": "--constitution", "output_dir": "--out"}[required]
            raise RlaifError(
                f"no {required} given", field=required, hint=f"pass {flag} (or set it in --config)"
            )
    return validate_document(doc, RewardConfig, what="reward config")


def command(
    data: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            "-l",
            "--data",
            "-d",
            help="Labels dataset folder (rlaif label) or .parquet/.jsonl (--data: the older name).",
        ),
    ] = None,
    constitution: Annotated[
        Path | None, typer.Option("--constitution", "-c", help="Constitution the labels name principles of.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (model goes to <out>/model).")
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
    val_data: Annotated[
        Path | None,
        typer.Option(
            "--val-labels", "--val-data", help="Separate validation labels (--val-data: the older name)."
        ),
    ] = None,
    templates: TemplatesOpt = None,
    progress: ProgressOpt = True,
    *,
    given: dict[str, Any],
) -> None:
    """Train a principle-conditioned reward model (soft Bradley-Terry on AI labels, LoRA) and export it.

    The options from --model on are fields of the reward config (run.* and the other sections included); one given
    on the command line overrides --config, and --set overrides both."""
    from rlaif.reward import train_reward_model

    paths = {"data": data, "constitution": constitution, "output_dir": out, "templates": templates}
    options: dict[str, Any] = {key: str(value) for key, value in paths.items() if value is not None}
    if val_data is not None:
        options["val_data"] = str(val_data)
    options.update(given)
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


def _sections() -> tuple[Section, ...]:
    """The RewardConfig fields (and fields of its sections) `rlaif train-rm` offers as options."""
    from rlaif.reward.config import AugmentSettings, RewardConfig
    from rlaif.training.config import LoraSettings, OptimSettings, RunSettings

    return (
        Section(
            RewardConfig,
            (
                "model",
                "max_length",
                "val_fraction",
                "eval_every",
                "early_stopping_patience",
                "hard_labels",
                "margin_column",
                "weight_column",
                "merge",
                "limit",
                "dtype",
            ),
            flags={
                "model": ("--model", "-m"),
                "early_stopping_patience": ("--patience",),
                "limit": ("--limit", "-n"),
            },
        ),
        Section(
            RunSettings,
            (
                "epochs",
                "max_steps",
                "batch_size",
                "grad_accum",
                "seed",
                "mixed_precision",
                "trackers",
                "resume",
                "device",
            ),
            prefix="run",
            forms={
                "trackers": Form(
                    "tracker",
                    typer.Option("--tracker", help="also log to tensorboard, wandb or trackio (repeat)"),
                    list[str] | None,
                    None,
                    lambda trackers: list(trackers or []),
                )
            },
        ),
        Section(OptimSettings, ("lr",), prefix="optim"),
        Section(
            LoraSettings,
            ("r", "enabled"),
            prefix="lora",
            forms={
                "r": renamed(LoraSettings, "r", "lora_r", "--lora-r"),
                "enabled": switch("full_finetune", "train every weight (no LoRA adapter)"),
            },
        ),
        Section(
            AugmentSettings,
            ("principle_subset", "negation_prob", "negation_pairs", "label_noise"),
            prefix="augment",
        ),
    )


command = trainer_options(*_sections(), command="train-rm")(command)
