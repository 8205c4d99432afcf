"""``rlaif eval rm``: accuracy and calibration of a reward model on held-out labels (per principle), agreement with
human labels, and the principle-vs-negation steering check.

    rlaif eval rm --model runs/rm/model --labels out/heldout -c principles/style.yaml -o out/rm-eval
    rlaif eval rm --model runs/rm/model --human data/human_labels/trl_format.jsonl -c principles/hhh.yaml -o out/rm-eval

Every option but ``--model``, ``--out``, ``--device`` and ``--dtype`` is a field of
:class:`rlaif.reward.evaluate.RewardEvalConfig`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from rlaif.cli._common import DeviceOpt, DtypeOpt
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import Form, config_options
from rlaif.reward.evaluate import RewardEvalConfig


def command(
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Reward model folder (train-rm's <out>/model).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/rm-eval"),
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    *,
    config: RewardEvalConfig,
) -> None:
    """Evaluate a reward model: held-out accuracy and calibration, human agreement, steering by negation."""
    from rlaif.reward.evaluate import RewardEvalJob, run_reward_eval

    with flag_errors("eval rm"):
        job = RewardEvalJob(model=model, out=out, device=device, dtype=dtype, config=config)
    result = run_reward_eval(job)
    print(result.report.to_markdown())
    print(f"report: {result.paths['markdown']} (JSON: {result.paths['json']})")


def _given(field: str, *decls: str, annotation: Any = Path | None) -> Form:
    """A RewardEvalConfig field that names files (no generated form): its flags, its description as help."""
    info = RewardEvalConfig.model_fields[field]
    default = inspect.Parameter.empty if info.is_required() else info.default
    return Form(
        decls[0].lstrip("-").replace("-", "_"),
        typer.Option(*decls, help=info.description),
        annotation,
        default,
        lambda value: (value or None) if isinstance(value, list) else value,  # no --principle: all
    )


#: RewardEvalConfig fields whose values are files or a list, offered as typed options of their own
FORMS = {
    "labels": _given("labels", "--labels"),
    "constitution": _given("constitution", "--constitution", "-c", annotation=Path),
    "human": _given("human", "--human"),
    "human_principles": _given("human_principles", "--principle", "-p", annotation=list[str] | None),
}

command = config_options(
    RewardEvalConfig, command="eval rm", forms=FORMS, flags={"limit": ("--limit", "-n")}
)(command)
