"""``rlaif train-policy``: fine-tune the policy with DPO (or SFT/IPO) on a labels dataset, or with PPO.

    rlaif train-policy --method dpo --config dpo.yaml
    rlaif train-policy --method dpo --model smollm2 --labels out/labels -o out/dpo -s beta=0.2 -s run.max_steps=50
    rlaif train-policy --method ppo --config ppo.yaml

Settings come from the YAML config (validated field by field: errors name the file, line and field), then the
shortcut options (``--model``, ``--labels``, ``-o``, ``--init-adapter``, ``--device``), then ``-s key=value``
overrides with dotted keys into nested settings (``-s run.batch_size=4``; values are read as YAML scalars or JSON).
The DPO settings are :class:`rlaif.policy.dpo.DPOConfig`; the PPO ones :class:`rlaif.policy.ppo.PPOConfig`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from rlaif.cli._common import ProgressOpt
from rlaif.cli.trainer_options import Section, trainer_options
from rlaif.errors import DataFileError, RlaifError

M = TypeVar("M", bound=BaseModel)

#: method -> (module, config class, train function)
METHODS: dict[str, tuple[str, str, str]] = {
    "dpo": ("rlaif.policy.dpo", "DPOConfig", "train_dpo"),
    "ppo": ("rlaif.policy.ppo", "PPOConfig", "train_ppo"),
}

SET_HINT = "e.g. -s beta=0.2 or -s run.batch_size=4"


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"run.batch_size=4"`` → ``(["run", "batch_size"], 4)`` (:func:`rlaif.overrides.parse_override`)."""
    from rlaif.overrides import parse_override as parse

    return parse(item, what="setting", field="--set", hint=SET_HINT, lenient=True)


def trainer_config(
    model: type[M],
    config_file: Path | None,
    *,
    shortcuts: Mapping[str, Any] | None = None,
    overrides: list[str] | None = None,
    what: str = "training config",
) -> M:
    """Build and validate a trainer config: YAML file, then ``shortcuts`` (fields by dotted path, None = not
    given), then dotted ``overrides``. Every validation problem names the file, line and field it comes from."""
    from rlaif.overrides import set_path
    from rlaif.yamlfile import YamlDocument, load_yaml_file, validate_document

    if config_file is not None:
        doc = load_yaml_file(config_file, what=what)
        if not isinstance(doc.data, dict):
            raise DataFileError(f"a {what} must be a mapping of fields", path=config_file, line=1)
    else:
        doc = YamlDocument(data={}, path_label="<command line>")
    data: dict[str, Any] = doc.data
    for key, value in (shortcuts or {}).items():
        if value is not None:
            set_path(data, key.split("."), str(value) if isinstance(value, Path) else value)
    for item in overrides or []:
        parts, value = parse_override(item)
        set_path(data, parts, value, what=item)
    return validate_document(doc, model, what=what)


def print_result(result: Any) -> None:
    """Print a trainer's :class:`~rlaif.training.TrainResult` as a short summary."""
    print(f"trained {result.steps} steps; model written to {result.model_dir}")
    shown = {k: round(v, 4) for k, v in result.final.items() if isinstance(v, float)}
    if shown:
        print("last step: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    for key in ("eval_before", "eval_after"):
        if key in result.summary:
            values = {k: round(v, 4) for k, v in result.summary[key].items()}
            print(f"{key.replace('_', ' ')}: {json.dumps(values)}")
    rest = {k: v for k, v in result.summary.items() if k not in ("eval_before", "eval_after")}
    print("summary: " + json.dumps(rest, default=str))


def _load_method(method: str) -> tuple[type[BaseModel], Callable[..., Any]]:
    if method not in METHODS:
        raise RlaifError(f"unknown method {method!r}", field="--method", hint="use dpo or ppo")
    module_name, config_name, train_name = METHODS[method]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise RlaifError(
                f"the {method} trainer is not available in this version of rlaif ({module_name} is missing)",
                field="--method",
            ) from None
        raise
    return getattr(module, config_name), getattr(module, train_name)


def command(
    method: Annotated[str, typer.Option("--method", help="dpo (also IPO/SFT via loss) or ppo.")] = "dpo",
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file with the trainer settings.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a setting: key=value, dotted for nested (repeatable)."),
    ] = None,
    labels: Annotated[Path | None, typer.Option("--labels", "-l", help="Labels dataset (DPO).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output (run) folder.")] = None,
    init_adapter: Annotated[
        Path | None, typer.Option("--init-adapter", help="Continue from this adapter (previous round).")
    ] = None,
    progress: ProgressOpt = True,
    *,
    given: dict[str, Any],
) -> None:
    """Fine-tune the policy: DPO/IPO/SFT on AI labels, or PPO on reward-model scores.

    --model and --device are fields of both the DPO and the PPO config (--device: run.device); one given on the
    command line overrides --config, and -s overrides both."""
    config_cls, train = _load_method(method)
    shortcuts: dict[str, Any] = {"output_dir": out, "init_adapter": init_adapter, **given}
    if labels is not None:
        shortcuts["labels"] = labels
    settings = trainer_config(
        config_cls, config, shortcuts=shortcuts, overrides=set_, what=f"{method} config"
    )
    result = train(settings, progress=progress)
    from rlaif.training.distributed import is_main_process

    if is_main_process():  # under `accelerate launch` the main process reports for all of them
        print_result(result)


def _sections() -> tuple[Section, ...]:
    """The fields `rlaif train-policy` offers as options: the same in the DPO and the PPO config."""
    from rlaif.policy.dpo import DPOConfig
    from rlaif.policy.ppo_config import PPOConfig
    from rlaif.training.config import RunSettings

    return (
        Section(DPOConfig, ("model",), also=(PPOConfig,)),
        Section(RunSettings, ("device",), prefix="run"),
    )


command = trainer_options(*_sections(), command="train-policy")(command)
