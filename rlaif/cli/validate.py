"""``rlaif validate PATH...``: check constitutions and templates, reporting every problem of every file.

Files are recognised by their ending and content: ``.yaml``/``.yml`` with a top-level ``principles`` key are
constitutions; ``.j2``/``.jinja``/``.jinja2`` are templates. Folders are searched recursively; other files in them
(README.md, data) are ignored. Exit code 1 when anything is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from rlaif.errors import DataFileError, Problem

YAML_SUFFIXES = (".yaml", ".yml")
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2")
#: Top-level keys that mark a pipeline file (validated once the pipeline loader exists).
PIPELINE_KEYS = ("rounds", "stages")


@dataclass
class FileReport:
    """What validating one file found."""

    path: Path
    kind: str
    problems: list[Problem] = field(default_factory=list)
    note: str | None = None
    skipped: bool = False


def _collect(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    """Files to check: named files as given, folders searched recursively for known endings."""
    files: list[Path] = []
    missing: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in YAML_SUFFIXES + TEMPLATE_SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        elif path.exists():
            files.append(path)
        else:
            missing.append(Problem("no such file or directory", path=str(path)))
    return files, missing


def check_yaml_file(path: Path) -> FileReport:
    """Validate a YAML file as the kind of rlaif file its top-level keys say it is."""
    from rlaif.constitution.schema import Constitution
    from rlaif.yamlfile import load_yaml_file, validate_document

    try:
        doc = load_yaml_file(path, what="YAML")
    except DataFileError as e:
        return FileReport(path, "yaml", list(e.problems))
    data = doc.data
    if isinstance(data, dict) and "principles" in data:
        try:
            constitution = validate_document(doc, Constitution, what="constitution")
        except DataFileError as e:
            return FileReport(path, "constitution", list(e.problems))
        n = len(constitution.principles)
        return FileReport(
            path,
            "constitution",
            note=f"constitution {constitution.name!r}, {n} principle{'s' if n != 1 else ''}, "
            f"hash {constitution.short_hash()}",
        )
    if isinstance(data, dict) and any(k in data for k in PIPELINE_KEYS):
        return FileReport(
            path, "pipeline", note="pipeline file: not validated yet (coming later)", skipped=True
        )
    return FileReport(
        path,
        "yaml",
        [
            Problem(
                "not a recognised rlaif file (expected a constitution, with a top-level 'principles' list; "
                "pipeline files come later)",
                path=str(path),
                line=1,
            )
        ],
    )


def check_template(path: Path) -> FileReport:
    """Validate a Jinja2 template with :func:`rlaif.prompting.check_template_file`."""
    from rlaif.prompting import check_template_file

    return FileReport(path, "template", list(check_template_file(path)))


def check_path(path: Path) -> FileReport:
    """Validate one file by its ending."""
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        return check_yaml_file(path)
    if suffix in TEMPLATE_SUFFIXES:
        return check_template(path)
    return FileReport(
        path,
        "unknown",
        [
            Problem(
                "not a recognised rlaif file type (expected .yaml/.yml or a .j2/.jinja/.jinja2 template)",
                path=str(path),
            )
        ],
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def command(
    paths: list[Path] = typer.Argument(
        ...,
        help="Constitution (.yaml) or template (.j2) files, or folders to search recursively.",
        show_default=False,
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only problems and the summary."),
) -> None:
    """Validate constitutions and templates; report every problem (file:line, field, message)."""
    files, missing = _collect(paths)
    reports = [check_path(p) for p in files]

    for problem in missing:
        typer.echo(str(problem))
    for report in reports:
        if report.problems:
            for problem in report.problems:
                typer.echo(str(problem))
        elif not quiet:
            status = "skip" if report.skipped else "ok"
            typer.echo(f"{status:<5}{report.path}" + (f"  ({report.note})" if report.note else ""))

    ok = sum(1 for r in reports if not r.problems and not r.skipped)
    bad = [r for r in reports if r.problems]
    skipped = sum(1 for r in reports if r.skipped)
    n_problems = sum(len(r.problems) for r in bad) + len(missing)
    parts = [f"{_plural(ok, 'file')} OK"]
    if bad:
        parts.append(
            f"{_plural(len(bad), 'file')} with {_plural(sum(len(r.problems) for r in bad), 'problem')}"
        )
    if missing:
        parts.append(f"{_plural(len(missing), 'missing path')}")
    if skipped:
        parts.append(f"{skipped} skipped")
    if not files and not missing:
        typer.echo("no constitution (.yaml) or template (.j2) files found")
        raise SystemExit(1)
    typer.echo(", ".join(parts))
    if n_problems:
        # SystemExit, not typer.Exit: rlaif.cli.main.main() runs typer with standalone_mode=False, where
        # typer.Exit's code is returned (and dropped) rather than raised.
        raise SystemExit(1)
