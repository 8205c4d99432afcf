"""``rlaif ls principles|templates``: list constitutions and templates with their content hashes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rlaif.cli._common import command_group

if TYPE_CHECKING:
    from rich.console import Console

app = command_group("ls", "List constitutions (principles) or prompt templates, with their hashes.")


def _console() -> Console:
    from rich.console import Console

    # piped output gets rich's default of 80 columns, which folds every tag list: use a wider page then
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@app.command("principles")
def principles(
    paths: list[Path] | None = typer.Argument(
        None,
        help="Constitution files or folders (default: the shipped principles/ folder).",
        show_default=False,
    ),
) -> None:
    """One table per constitution: id, version, weight (and share), tags, rule, hash."""
    from rich.table import Table

    from rlaif.constitution import constitution_files, load_constitution
    from rlaif.errors import DataFileError, Problem
    from rlaif.resources import shipped_dir

    console = _console()
    files = constitution_files(paths or [shipped_dir("principles")])
    if not files:
        console.print("no constitution files found")
        raise SystemExit(1)
    problems: list[Problem] = []
    for path in files:
        try:
            c = load_constitution(path)
        except DataFileError as e:
            problems.extend(e.problems)
            continue
        total = sum(p.weight for p in c.principles)
        table = Table(
            title=f"{c.name} (version {c.version}) — {len(c.principles)} principles, hash {c.short_hash()}",
            caption=str(path),
            title_justify="left",
            caption_justify="left",
        )
        table.add_column("id", no_wrap=True)
        table.add_column("ver", justify="right")
        table.add_column("weight", justify="right")
        table.add_column("share", justify="right")
        table.add_column("tags")
        table.add_column("rule")
        table.add_column("hash", no_wrap=True)
        for p in c.principles:
            table.add_row(
                p.id,
                str(p.version),
                f"{p.weight:g}",
                f"{p.weight / total:.0%}",
                ", ".join(p.tags),
                "yes" if p.rule is not None else "no",
                p.short_hash(),
            )
        console.print(table, markup=False)
        console.print()
    if problems:
        raise DataFileError("invalid constitutions", problems=problems)


@app.command("templates")
def templates(
    directory: Path | None = typer.Argument(
        None, help="A folder of templates (listed before, and hiding, the shipped ones).", show_default=False
    ),
) -> None:
    """One row per template: name, variables, hash, path."""
    from rich.table import Table

    from rlaif.errors import DataFileError
    from rlaif.prompting import list_templates

    if directory is not None and not directory.is_dir():
        raise DataFileError(
            "not a directory" if directory.exists() else "no such directory", path=str(directory)
        )
    infos = list_templates(directory)
    table = Table(title="templates", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("variables")
    table.add_column("hash", no_wrap=True)
    table.add_column("path")
    for info in infos:
        error = getattr(info, "error", None)
        table.add_row(
            info.name,
            ", ".join(info.variables),
            info.hash[:12] if info.hash else "",
            str(info.path) + (f"  (error: {error})" if error else ""),
        )
    _console().print(table, markup=False)
