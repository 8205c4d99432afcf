"""The one base of every configuration model: strict (unknown fields are an error), frozen, fields described.

Every stage config (:class:`rlaif.policy.dpo.DPOConfig`, :class:`rlaif.reward.RewardConfig`, the label, generate
and revise configs, ...) and every section of a pipeline file derives from :class:`StrictConfig`, so a typo in a
YAML key, a ``--set`` override or a Python keyword argument is refused with the field's dotted path, and
``tests/unit/test_strict_configs.py`` checks that every field carries a description (the docs and ``--help`` read
them).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from rlaif.errors import Problem, RlaifError


class StrictConfig(BaseModel):
    """A frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def invalid_config(
    error: ValidationError, *, what: str, names: Mapping[str, str] | None = None, hint: str | None = None
) -> RlaifError:
    """A config's pydantic ``ValidationError`` as an :class:`~rlaif.errors.RlaifError` a user can read: one problem
    per bad value, each naming its field (dotted path), or the name ``names`` gives that field where it came from
    elsewhere (a command-line flag: ``{"config.k": "-k"}``; a key matches its dotted path or its last part).

    Use it where a config is built from something other than a file (YAML files have
    :func:`rlaif.yamlfile.validate_document`, which also names the line).
    """
    names = names or {}
    problems = []
    for err in error.errors(include_url=False):
        loc = ".".join(str(part) for part in err.get("loc", ()))
        last = loc.rsplit(".", 1)[-1]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        inp = err.get("input")
        if (
            err.get("type") != "missing"
            and isinstance(inp, str | int | float | bool)
            and repr(inp) not in msg
        ):
            msg = f"{msg} (got {inp!r})"
        problems.append(Problem(msg, field=names.get(loc, names.get(last, loc)) or None))
    return RlaifError(f"invalid {what}", problems=problems, hint=hint)
