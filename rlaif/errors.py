"""User-facing errors.

Everything a user can cause (a bad data file, a missing model, an unreachable server) raises a subclass of
:class:`RlaifError`. The CLI prints these as a short paragraph naming the file, line and field, and exits with
code 1 without a traceback. Anything else escaping is a bug in rlaif and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in one file."""

    message: str
    path: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def location(self) -> str:
        """``file:line:col`` (as much of it as is known)."""
        parts: list[str] = []
        if self.path is not None:
            parts.append(self.path)
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        head = f"{loc}: " if loc else ""
        fld = f"field '{self.field}': " if self.field else ""
        return f"{head}{fld}{self.message}"


class RlaifError(Exception):
    """Base class for errors caused by user input or the environment (not by a bug in rlaif).

    Carries one or more :class:`Problem` records and an optional hint telling the user how to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        problems: Iterable[Problem] | None = None,
    ) -> None:
        self.problems: list[Problem] = list(problems or [])
        if not self.problems:
            self.problems.append(
                Problem(
                    message=message,
                    path=str(path) if path is not None else None,
                    line=line,
                    column=column,
                    field=field,
                )
            )
        self.hint = hint
        super().__init__(self.format())

    @property
    def problem(self) -> Problem:
        """The first problem (most errors carry exactly one)."""
        return self.problems[0]

    def format(self) -> str:
        """A readable paragraph: one line per problem, then the hint."""
        lines = [str(p) for p in self.problems]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class DataFileError(RlaifError):
    """A constitution, template, pipeline or data file is malformed or invalid."""


class TemplateError(DataFileError):
    """A Jinja2 template failed to parse, referenced an undefined variable, or broke the sandbox."""


class ModelError(RlaifError):
    """A model could not be resolved or loaded (missing path, unreachable hub, refused remote code...)."""


class BackendError(RlaifError):
    """A generation/scoring backend failed (server down, dependency missing, out of memory...)."""

    def __init__(self, backend: str, message: str, *, hint: str | None = None) -> None:
        self.backend = backend
        super().__init__(f"[{backend} backend] {message}", hint=hint)
