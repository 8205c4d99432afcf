"""A CLI default or a pipeline section default never differs from its stage config's default."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from pydantic import BaseModel

from rlaif.cli import generate as cli_generate
from rlaif.cli import label as cli_label
from rlaif.cli import revise as cli_revise
from rlaif.feedback.labeler import LabelConfig
from rlaif.feedback.responses import GenerateConfig
from rlaif.feedback.revise_config import ReviseConfig
from rlaif.loop.pipeline import GenerateSection, LabelSection, ReviseSection

#: fields whose meaning differs on purpose between the places (name -> why)
_DIFFERENT_ON_PURPOSE = {
    # a pipeline's critiques and revisions keep the 128-token cap pipelines always had (and their fingerprints)
    "ReviseSection.critique_max_new_tokens": "pipelines always capped critiques at 128 tokens",
    "ReviseSection.revision_max_new_tokens": "pipelines always capped revisions at 128 tokens",
}


#: CLI parameters of `rlaif label` that set a LabelConfig field under another name or form (param -> field, value)
_LABEL_CLI_FORMS: dict[str, tuple[str, Any]] = {
    form.param: (field, form.to_field) for field, form in cli_label.FORMS.items()
}

#: LabelConfig fields with no `rlaif label` flag, and why (the command's own list)
_LABEL_PIPELINE_ONLY = cli_label.PIPELINE_ONLY


def _config_defaults(config: Any) -> dict[str, Any]:
    """Field defaults of a pydantic model or a dataclass."""
    if isinstance(config, type) and issubclass(config, BaseModel):
        return {
            name: info.get_default(call_default_factory=True)
            for name, info in config.model_fields.items()
            if not info.is_required()
        }
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _normal(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _cli_defaults(command: Any, forms: dict[str, tuple[str, Any]] | None = None) -> dict[str, Any]:
    """A command's parameter defaults, named (and converted) as its config's fields where ``forms`` says so."""
    out: dict[str, Any] = {}
    for name, param in inspect.signature(command).parameters.items():
        default = param.default
        if default is inspect.Parameter.empty:
            continue
        value = getattr(default, "default", default)  # typer.Option(...) as a default value
        field, convert = (forms or {}).get(name, (name, None))
        out[field] = convert(value) if convert is not None else value
    return out


@pytest.mark.parametrize(
    ("command", "config"),
    [
        (cli_generate.command, GenerateConfig),
        (cli_label.command, LabelConfig),
        (cli_revise.command, ReviseConfig),
    ],
    ids=["generate", "label", "revise"],
)
def test_cli_defaults_equal_config_defaults(command: Any, config: Any) -> None:
    cli = _cli_defaults(command, _LABEL_CLI_FORMS if config is LabelConfig else None)
    cfg = _config_defaults(config)
    shared = sorted(set(cli) & set(cfg) - {"progress"})
    assert shared, "no option shares a name with its config"
    drift = {n: (cli[n], cfg[n]) for n in shared if _normal(cli[n]) != _normal(cfg[n])}
    assert drift == {}


@pytest.mark.parametrize(
    ("stage", "config"),
    [(GenerateSection, GenerateConfig), (LabelSection, LabelConfig), (ReviseSection, ReviseConfig)],
    ids=["generate", "label", "revise"],
)
def test_pipeline_section_defaults_equal_config_defaults(stage: type[BaseModel], config: Any) -> None:
    cfg = _config_defaults(config)
    judge = _config_defaults(type(cfg["judge"])) if "judge" in cfg else {}
    drift = {}
    for name, info in stage.model_fields.items():
        if f"{stage.__name__}.{name}" in _DIFFERENT_ON_PURPOSE:
            continue
        expected = cfg.get(name, judge.get(name, dataclasses.MISSING))
        if expected is dataclasses.MISSING:
            continue
        got = info.get_default(call_default_factory=True)
        if _normal(got) != _normal(expected):
            drift[name] = (got, expected)
    assert drift == {}


def test_the_pipeline_label_section_is_label_config_plus_enabled() -> None:
    assert issubclass(LabelSection, LabelConfig)
    assert set(LabelSection.model_fields) - set(LabelConfig.model_fields) == {"enabled"}


def test_every_label_config_field_is_a_flag_or_pipeline_only() -> None:
    cli = set(_cli_defaults(cli_label.command, _LABEL_CLI_FORMS))
    fields = set(LabelConfig.model_fields)
    assert fields - cli - set(_LABEL_PIPELINE_ONLY) == set()
    assert set(_LABEL_PIPELINE_ONLY) <= fields  # no stale entry
    assert set(_LABEL_PIPELINE_ONLY) & cli == set()  # a flag would make the entry wrong


def test_revise_few_shot_still_reads_an_old_integer_count() -> None:
    assert ReviseSection(few_shot=0).few_shot is False
    assert ReviseSection(few_shot=3).few_shot is True
    assert ReviseSection().few_shot is True


def test_revise_section_reads_the_older_shorthands() -> None:
    old = ReviseSection.model_validate({"max_new_tokens": 64, "require_both_orders": False})
    assert (old.critique_max_new_tokens, old.revision_max_new_tokens, old.accept) == (64, 64, "mean")
    assert ReviseSection.model_validate({"require_both_orders": True}).accept == "both_orders"
    # the section is the stage's config: the loop adds only the round's seed and the run's cache
    config = old.revise_config(seed=7, cache=None)
    assert type(config) is ReviseConfig
    assert config == ReviseConfig(
        critique_max_new_tokens=64, revision_max_new_tokens=64, accept="mean", seed=7, cache=None
    )
