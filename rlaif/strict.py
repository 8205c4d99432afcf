"""The one base of every configuration model: strict (unknown fields are an error), frozen, fields described.

Every stage config (:class:`rlaif.policy.dpo.DPOConfig`, :class:`rlaif.reward.RewardConfig`, the label, generate
and revise configs, ...) and every section of a pipeline file derives from :class:`StrictConfig`, so a typo in a
YAML key, a ``--set`` override or a Python keyword argument is refused with the field's dotted path, and
``tests/unit/test_strict_configs.py`` checks that every field carries a description (the docs and ``--help`` read
them).

Built from Python keywords (``LabelConfig(k=0)``, a CLI command building its job) a bad value raises
:class:`ConfigError`, an :class:`~rlaif.errors.RlaifError` naming the field, which the CLI prints without a
traceback. Validated from a file (``model_validate``, as :func:`rlaif.yamlfile.load_yaml_model` does) the pydantic
``ValidationError`` is kept, so the loader can point at the file's line.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from rlaif.errors import Problem, RlaifError


class ConfigError(RlaifError):
    """A configuration built from keywords has a bad or unknown field (one problem per field)."""

    @classmethod
    def from_validation(cls, model: str, error: ValidationError) -> ConfigError:
        """One :class:`~rlaif.errors.Problem` per pydantic error, the field as a dotted path."""
        problems = []
        for err in error.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or None
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown field of {model}"
            elif "input" in err and not isinstance(err["input"], dict):
                msg = f"{msg} (got {err['input']!r})"
            problems.append(Problem(message=msg, field=where))
        made = cls(problems[0].message, problems=problems, hint=f"see the fields of {model}")
        made.errors = error.errors(include_url=False)
        return made

    #: pydantic's error records (``loc``, ``msg``, ``input``), for callers that name the fields otherwise (the CLI
    #: names its flags)
    errors: list[Any] = []  # noqa: RUF012  (replaced per instance)


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
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Pydantic's ``model_validate``; its ``ValidationError`` is kept (a file loader maps it to lines)."""
        token = _VALIDATING.set(True)
        try:
            return super().model_validate(obj, **kwargs)
        finally:
            _VALIDATING.reset(token)


#: set while a model validates: nested models (pydantic calls a custom ``__init__`` for them) leave the error to it
_VALIDATING: ContextVar[bool] = ContextVar("rlaif_strict_validating", default=False)
