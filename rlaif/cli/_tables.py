"""The result tables the evaluation commands print: one look (left title, light rules, numbers right-aligned), one
way to write an estimate in a cell, and a console that does not wrap rows when its output goes to a file or pipe.

rich draws the tables; this module only fixes the choices every evaluation command would otherwise repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from rlaif.stats import Estimate


def percent_cell(e: Estimate | None) -> str:
    """``52.5 (40–65)``: a proportion in percent, its interval in brackets (compact so a table fits 100 columns)."""
    if e is None:
        return "n/a"
    return f"{100 * e.value:.1f} ({100 * e.low:.0f}–{100 * e.high:.0f})"


def number_cell(e: Estimate | None) -> str:
    """``0.123 (0.101–0.150)``: an estimate and its interval to three decimals."""
    if e is None:
        return "n/a"
    return f"{e.value:.3f} ({e.low:.3f}–{e.high:.3f})"


def results_table(title: str, columns: Sequence[str]) -> Table:
    """A table with ``title`` over ``columns``: the first (the row's name) left-aligned, the numbers right."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    return table


def results_console(width: int) -> Console:
    """A console for result tables; one writing to a file or pipe is at least ``width`` columns wide (log files do
    not wrap, so each row stays on one line)."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, width)
    return console
