"""``rlaif run``: run (or resume) a pipeline file, round after round.

rlaif run pipelines/quickstart.yaml
rlaif run pipelines/quickstart.yaml policy.method=ppo rounds=3
rlaif run --config pipelines/quickstart.yaml --set policy.method=ppo --set rounds=3   # the same

Here the configuration is the pipeline file, so ``--config`` names it (instead of PIPELINE) and ``--set`` sets a
pipeline field by dotted path, like the ``KEY=VALUE`` arguments (one parser: :mod:`rlaif.overrides`); the
command's own options (``--runs-dir``, ``--until-round``, ``--check``) are flags only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._common import ProgressOpt
from rlaif.errors import RlaifError


def command(
    pipeline: Annotated[
        str | None,
        typer.Argument(
            help="Pipeline YAML file (see pipelines/ and docs/pipelines.md); or give it as --config.",
            show_default=False,
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Dotted overrides: rounds=3 policy.method=ppo label.k=4 ...", show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE.yaml",
            help="The pipeline file (instead of PIPELINE).",
            show_default=False,
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            help="Set a pipeline field by dotted path, like the KEY=VALUE arguments (repeatable).",
            show_default=False,
        ),
    ] = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Folder holding runs/<name>.")] = Path("runs"),
    rounds: Annotated[
        int | None,
        typer.Option("--until-round", help="Stop after this round (the run can be continued later)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only load and check the pipeline and its inputs, run nothing.")
    ] = False,
    progress: ProgressOpt = True,
) -> None:
    """Run a pipeline: generate → label/revise → reward model → policy → evaluate, for each round; resumable."""
    import time

    from rich.console import Console
    from rich.table import Table

    from rlaif.loop import check_pipeline, load_pipeline, run_pipeline

    path, items = _pipeline_and_overrides(pipeline, overrides or [], config)
    loaded = load_pipeline(path, [*items, *(set_ or [])])
    console = Console(stderr=True)
    if check:
        ctx = check_pipeline(loaded, runs_dir=runs_dir)
        console.print(
            f"pipeline {path} is valid: {loaded.pipeline.rounds} round(s), {len(ctx.train_prompts)} training and "
            f"{len(ctx.heldout_prompts)} held-out prompts, {len(ctx.constitution.principles)} principles, "
            f"policy {loaded.pipeline.policy.method}",
            soft_wrap=True,  # one line, never broken inside the path
        )
        return
    t0 = time.monotonic()
    summary = run_pipeline(loaded, runs_dir=runs_dir, progress=progress, only_rounds=rounds)
    table = Table(title=f"rlaif run {loaded.pipeline.name}: time per stage")
    for col in ("round", "stage", "this run", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for row in summary.table():
        table.add_row(*row)
    table.add_row("", "total", "", f"{time.monotonic() - t0:.1f}")
    console.print(table)
    console.print(
        f"run folder: {summary.run_dir}   (rlaif status {summary.run_dir}; rlaif report {summary.run_dir})"
    )


def _pipeline_and_overrides(
    pipeline: str | None, overrides: list[str], config: Path | None
) -> tuple[Path, list[str]]:
    """The pipeline file and the ``KEY=VALUE`` arguments: with ``--config``, every argument is an override."""
    if config is None:
        if pipeline is None:
            raise RlaifError(
                "no pipeline file given",
                field="PIPELINE",
                hint="rlaif run PIPELINE.yaml (or --config PIPELINE.yaml)",
            )
        return Path(pipeline), overrides
    if pipeline is not None and "=" not in pipeline:
        raise RlaifError(
            f"two pipeline files given: {pipeline} and --config {config}",
            field="--config",
            hint="give the pipeline either as the first argument or as --config",
        )
    return config, [*([pipeline] if pipeline is not None else []), *overrides]
