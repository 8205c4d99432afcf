"""``rlaif report runs/<name>``: rebuild the run report (report.html + report.md) from the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    run_dir: Annotated[Path, typer.Argument(help="The run directory, runs/<name>.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the report here instead of into the run directory."),
    ] = None,
) -> None:
    """Build report.html (self-contained, plots embedded, no network needed) and report.md from a run directory.
    Partially finished and older runs are reported as far as they go; what is missing is marked."""
    import time

    from rlaif.report import build_report
    from rlaif.report.rundir import read_run

    start = time.perf_counter()
    html, md = build_report(run_dir, out_dir=out)
    seconds = time.perf_counter() - start
    notes = read_run(run_dir).notes
    print(f"report: {html}")
    print(f"markdown: {md}")
    if notes:
        print(f"{len(notes)} note(s) on missing or unreadable parts (listed in the report), e.g.: {notes[0]}")
    print(f"built in {seconds:.2f} s")
