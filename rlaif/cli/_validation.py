"""Command-line flags checked by a stage's config or job: a bad value is a user error naming its flag.

A command builds its config and job inside :func:`flag_errors`; a validation error (pydantic's, or
:class:`~rlaif.strict.ConfigError` from a config built by keywords) becomes an :class:`rlaif.errors.RlaifError`
(printed as a short paragraph, exit code 1, no traceback) with one problem per bad value, each naming the flag
(``--max-new-tokens``) rather than the field (``max_new_tokens``), through :func:`rlaif.strict.invalid_config`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pydantic import ValidationError

from rlaif.strict import ConfigError, invalid_config


def flag_name(field: str, flags: Mapping[str, str] | None = None) -> str:
    """The flag of a field (``top_p`` → ``--top-p``), unless ``flags`` maps it to a flag of another name."""
    if flags and field in flags:
        return flags[field]
    return "--" + field.replace("_", "-")


@contextmanager
def flag_errors(command: str, flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn a validation error raised inside into an :class:`~rlaif.errors.RlaifError` naming each bad flag (the
    flag of the last part of the field's dotted path)."""
    try:
        yield
    except (ValidationError, ConfigError) as e:
        records = e.records if isinstance(e, ConfigError) else e.errors(include_url=False)
        names = {}
        for err in records:
            loc = ".".join(str(part) for part in err.get("loc", ()))
            names[loc] = flag_name(loc.rsplit(".", 1)[-1], flags)
        raise invalid_config(
            e, what=f"options for rlaif {command}", names=names, hint=f"see `rlaif {command} --help`"
        ) from None
