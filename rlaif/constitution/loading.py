"""Loading constitutions from YAML files and folders.

All checks live in the schema (so a constitution built in Python is checked the same way); this module reads
files through :mod:`rlaif.yamlfile`, which reports every problem at its file, line and field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rlaif.constitution.schema import Constitution
from rlaif.errors import DataFileError, Problem
from rlaif.yamlfile import load_yaml_model, load_yaml_text, validate_document

#: File name endings read as constitutions when a folder is given.
CONSTITUTION_SUFFIXES = (".yaml", ".yml")


def load_constitution(path: str | Path) -> Constitution:
    """Load and validate one constitution file.

    Raises:
        DataFileError: with one problem per mistake, each naming the file, line and field.
    """
    return load_yaml_model(Path(path), Constitution, what="constitution")


def load_constitution_text(text: str, path_label: str = "<string>") -> Constitution:
    """Load and validate a constitution from YAML text (``path_label`` names it in messages)."""
    doc = load_yaml_text(text, path_label)
    if doc.data is None:
        raise DataFileError("constitution is empty", path=path_label)
    return validate_document(doc, Constitution, what="constitution")


def constitution_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """The files named by ``paths``: files as given, folders searched recursively for ``*.yaml``/``*.yml``.

    Hidden files and folders (``.name``) inside folders are skipped. A path that does not exist is an error.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    out: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in CONSTITUTION_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            problems.append(Problem("no such file or directory", path=str(path)))
    if problems:
        raise DataFileError("missing paths", problems=problems)
    return out


def load_constitutions(paths: str | Path | Iterable[str | Path]) -> list[Constitution]:
    """Load every constitution named by ``paths`` (files, or folders searched recursively).

    All files are read before failing, so one :class:`DataFileError` lists the problems of every bad file.
    """
    constitutions: list[Constitution] = []
    problems: list[Problem] = []
    for path in constitution_files(paths):
        try:
            constitutions.append(load_constitution(path))
        except DataFileError as e:
            problems.extend(e.problems)
    if problems:
        raise DataFileError("invalid constitutions", problems=problems)
    return constitutions


__all__ = [
    "CONSTITUTION_SUFFIXES",
    "constitution_files",
    "load_constitution",
    "load_constitution_text",
    "load_constitutions",
]
