"""``rlaif score``: rewards of responses from a trained reward model, batched.

    rlaif score --model runs/rm/model --responses out/responses -c principles/style.yaml -p concise -o out/scores.jsonl
    rlaif score --model runs/rm/model --input pairs.jsonl -c principles/style.yaml --normalize -o scores.jsonl

Input: a responses dataset written by ``rlaif generate`` (``--responses``), or a .jsonl/.json/.parquet file
(``--input``) whose rows have ``prompt`` (text or messages) and ``response`` and optionally ``principles`` (ids).
Principles: the row's own, else ``--principle`` (repeat), else every principle of the constitution. Output: one JSON
line per response with ``reward`` (and ``reward_normalized`` with ``--normalize``). Rewards are saved to
``<out>.partial`` every ``--chunk-size`` responses; a killed run, rerun, scores only what is missing
(:mod:`rlaif.reward.score_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import config_options
from rlaif.jobs.score import RewardScoreConfig


def command(
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Reward model folder (train-rm's <out>/model).")
    ],
    constitution: Annotated[
        Path, typer.Option("--constitution", "-c", help="Constitution of the principles.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .jsonl file.")],
    responses: Annotated[
        Path | None, typer.Option("--responses", help="Responses dataset written by `rlaif generate`.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="Rows with prompt, response[, principles].")
    ] = None,
    principle: Annotated[
        list[str] | None, typer.Option("--principle", "-p", help="Principle id to judge by (repeat).")
    ] = None,
    *,
    config: RewardScoreConfig,
) -> None:
    """Score responses with a principle-conditioned reward model."""
    from rlaif.jobs.score import ScoreJob, run_score

    with flag_errors("score"):
        job = ScoreJob(
            model=model,
            constitution=constitution,
            out=out,
            responses=responses,
            input=input_file,
            principles=tuple(principle or ()),
            **config.model_dump(),
        )
    run = run_score(job)
    for note in run.notes:
        print(note)
    print(
        f"scored {run.scored} responses in {run.seconds:.1f} s ({run.per_second:.1f} responses/s)"
        + (f", {run.reused} reused from a killed run" if run.reused else "")
        + f" -> {out}"
    )


command = config_options(RewardScoreConfig, command="score")(command)
