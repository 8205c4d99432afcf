"""``rlaif status runs/<name>``: where a run stands (each stage's status, time, attempts, last error)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (runs/<name>).")],
) -> None:
    """Show each stage of a run: done, running/interrupted, failed (with its error) or incomplete."""
    from rich.console import Console
    from rich.table import Table

    from rlaif.loop import run_status

    status = run_status(run_dir)
    rec = status.record
    console = Console()
    title = f"{rec.get('name', run_dir.name)} — {rec.get('status', 'unknown')}"
    if rec.get("rounds"):
        title += f", {rec['rounds']} round(s) planned"
    table = Table(title=title)
    for col in ("round", "stage", "status", "seconds", "attempts", "error"):
        table.add_column(col)
    for s in status.stages:
        style = {"done": "green", "failed": "red", "running": "yellow"}.get(s.status, "")
        table.add_row(
            str(s.round),
            s.stage,
            f"[{style}]{s.status}[/{style}]" if style else s.status,
            f"{s.seconds:.1f}" if s.seconds is not None else "-",
            str(s.attempts),
            (s.error or "")[:120],
        )
    console.print(table)
    console.print(f"time in stages: {status.total_seconds:.1f} s")
