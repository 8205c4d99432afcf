"""``rlaif eval rm``: accuracy and calibration of a reward model on held-out labels (per principle), agreement with
human labels, and the principle-vs-negation steering check.

    rlaif eval rm --model runs/rm/model --labels out/heldout -c principles/style.yaml -o out/rm-eval
    rlaif eval rm --model runs/rm/model --human data/human_labels/trl_format.jsonl -c principles/hhh.yaml -o out/rm-eval
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._common import DeviceOpt, DtypeOpt


def command(
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Reward model folder (train-rm's <out>/model).")
    ],
    constitution: Annotated[
        Path, typer.Option("--constitution", "-c", help="Constitution of the principles.")
    ],
    labels: Annotated[Path | None, typer.Option("--labels", help="Held-out labels dataset or file.")] = None,
    human: Annotated[
        Path | None, typer.Option("--human", help="Human preference file (TRL/transcript).")
    ] = None,
    principle: Annotated[
        list[str] | None,
        typer.Option("--principle", "-p", help="Principles the human pairs are judged under (default: all)."),
    ] = None,
    no_steering: Annotated[
        bool, typer.Option("--no-steering", help="Skip the negation steering check.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="Only the first N pairs of each file.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Inputs per forward pass.")] = 16,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/rm-eval"),
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Evaluate a reward model: held-out accuracy and calibration, human agreement, steering by negation."""
    from rlaif.reward import RewardEvalConfig, RewardModel, evaluate_reward_model
    from rlaif.reward.evaluate import write_eval_report

    config = RewardEvalConfig(
        labels=labels,
        constitution=constitution,
        human=human,
        human_principles=list(principle) if principle else None,
        steering=not no_steering,
        batch_size=batch_size,
        limit=limit,
    )
    rm = RewardModel.load(model, device=device, dtype=dtype)
    report = evaluate_reward_model(rm, config, name=str(model))
    paths = write_eval_report(report, out)
    print(report.to_markdown())
    print(f"report: {paths['markdown']} (JSON: {paths['json']})")
