"""The one base of every configuration model: strict (unknown fields are an error), frozen, fields described.

Every stage config (:class:`rlaif.policy.dpo.DPOConfig`, :class:`rlaif.reward.RewardConfig`, the label, generate
and revise configs, ...) and every section of a pipeline file derives from :class:`StrictConfig`, so a typo in a
YAML key, a ``--set`` override or a Python keyword argument is refused with the field's dotted path, and
``tests/unit/test_strict_configs.py`` checks that every field carries a description (the docs and ``--help`` read
them).

Built from Python keywords (``LabelConfig(k=0)``, a CLI command building its job) a bad value raises
:class:`ConfigError`, an :class:`~rlaif.errors.RlaifError` naming the field, which the CLI prints without a
traceback. Validated from a file (``model_validate``, as :func:`rlaif.yamlfile.load_yaml_model` does) the pydantic
``ValidationError`` is kept, so the loader can point at the file's line. :func:`invalid_config` renames the fields
of either error where they came from elsewhere (a command's flags).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from rlaif.errors import Problem, RlaifError


def _problems(records: list[Any], names: Mapping[str, str] | None = None, model: str = "") -> list[Problem]:
    """One problem per pydantic error record; the field is its dotted path, or the name ``names`` gives it (a key
    matches the dotted path or its last part)."""
    names = names or {}
    problems = []
    for err in records:
        loc = ".".join(str(part) for part in err.get("loc", ()))
        last = loc.rsplit(".", 1)[-1]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        inp = err.get("input")
        if err.get("type") == "extra_forbidden":
            msg = f"unknown field of {model}" if model else "unknown field"
        elif (
            err.get("type") != "missing"
            and isinstance(inp, str | int | float | bool)
            and repr(inp) not in msg
        ):
            msg = f"{msg} (got {inp!r})"
        problems.append(Problem(msg, field=names.get(loc, names.get(last, loc)) or None))
    return problems


class ConfigError(RlaifError):
    """A configuration built from keywords has a bad or unknown field (one problem per field)."""

    #: pydantic's error records (``loc``, ``msg``, ``input``), for :func:`invalid_config`
    records: list[Any]

    @classmethod
    def from_validation(cls, model: str, error: ValidationError) -> ConfigError:
        """One :class:`~rlaif.errors.Problem` per pydantic error, the field as a dotted path."""
        records = error.errors(include_url=False)
        problems = _problems(records, model=model)
        made = cls(problems[0].message, problems=problems, hint=f"see the fields of {model}")
        made.records = records
        return made


def invalid_config(
    error: ValidationError | ConfigError,
    *,
    what: str,
    names: Mapping[str, str] | None = None,
    hint: str | None = None,
) -> RlaifError:
    """A config's validation error as an :class:`~rlaif.errors.RlaifError` a user can read: one problem per bad
    value, each naming its field (dotted path), or the name ``names`` gives that field where it came from elsewhere
    (a command-line flag: ``{"config.k": "-k"}``; a key matches its dotted path or its last part).

    Use it where a config is built from something other than a file (YAML files have
    :func:`rlaif.yamlfile.validate_document`, which also names the line).
    """
    records = error.records if isinstance(error, ConfigError) else error.errors(include_url=False)
    return RlaifError(f"invalid {what}", problems=_problems(records, names), hint=hint)


class StrictConfig(BaseModel):
    """A frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, /, **data: Any) -> None:
        if _VALIDATING.get():  # a nested model: pydantic collects its errors with the full dotted path
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError.from_validation(type(self).__name__, e) from None
        finally:
            _VALIDATING.reset(token)

    @classmethod
    def from_shared(cls, source: BaseModel, **given: Any) -> Self:
        """This config from the fields ``source`` has under the same names, and ``given`` (which wins).

        Across the configs one name is one concept (docs/glossary.md), so a stage config hands its part to a
        narrower config (a label config its judge settings) by name: a setting both have is passed on without a
        hand-kept list that can miss one. A field ``source`` lacks keeps this config's default.
        """
        shared = {
            name: getattr(source, name) for name in cls.model_fields if name in type(source).model_fields
        }
        return cls(**{**shared, **given})

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Pydantic's ``model_validate``; its ``ValidationError`` is kept (a file loader maps it to lines)."""
        token = _VALIDATING.set(True)
        try:
            return super().model_validate(obj, **kwargs)
        finally:
            _VALIDATING.reset(token)


#: set while a model validates: nested models (pydantic calls a custom ``__init__`` for them) leave the error to it
_VALIDATING: ContextVar[bool] = ContextVar("rlaif_strict_validating", default=False)
