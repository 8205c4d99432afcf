"""Command-line flags checked by a stage's pydantic config or job: a bad value is a user error naming its flag.

A command builds its config and job inside :func:`flag_errors`; pydantic's :class:`~pydantic.ValidationError`
becomes an :class:`rlaif.errors.RlaifError` (printed as a short paragraph, exit code 1, no traceback) with one
problem per bad value, each naming the flag (``--max-new-tokens``) rather than the field (``max_new_tokens``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pydantic import ValidationError

from rlaif.errors import Problem, RlaifError
from rlaif.strict import ConfigError


def flag_name(loc: tuple[object, ...], flags: Mapping[str, str] | None = None) -> str:
    """The flag of a pydantic error location: its last field name, dashed (``("config", "top_p")`` → ``--top-p``),
    unless ``flags`` maps that field to a flag of another name."""
    names = [str(part) for part in loc if isinstance(part, str)]
    if not names:
        return ""
    field = names[-1]
    if flags and field in flags:
        return flags[field]
    return "--" + field.replace("_", "-")


@contextmanager
def flag_errors(command: str, flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn a :class:`ValidationError` or :class:`~rlaif.strict.ConfigError` raised inside into an
    :class:`RlaifError` naming each bad flag."""
    try:
        yield
    except (ValidationError, ConfigError) as e:
        problems = []
        records = e.errors if isinstance(e, ConfigError) else e.errors(include_url=False)
        for err in records:
            message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            value = err.get("input")
            if isinstance(value, str | int | float | bool) and repr(value) not in message:
                message += f" (got {value!r})"
            problems.append(Problem(message, field=flag_name(tuple(err.get("loc", ())), flags) or None))
        raise RlaifError(
            f"invalid options for rlaif {command}",
            problems=problems,
            hint=f"see `rlaif {command} --help`",
        ) from None
