"""Options of a trainer command (``train-rm``, ``train-policy``): fields of its config that override its YAML file.

A trainer command reads its config from ``--config FILE`` (a YAML of the trainer config), then the options typed on
the command line, then ``--set key=value`` overrides. Its options are fields of the trainer config and of the config's
sections (``run.epochs`` as ``--epochs``): :func:`trainer_options` generates one option per offered field, with the
field's default and description (as :func:`rlaif.cli.config_options.config_options` does), and gives the command the
values of the options the user gave, as dotted keys (``{"run.epochs": 2}``). An option left at its default does not
override the file, so the file's value or the field's own default applies.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer

from rlaif.cli.config_options import Form, OptionGroup, _cli_type, config_group, with_options
from rlaif.strict import StrictConfig

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Section:
    """Fields of one config a trainer command offers as options.

    ``prefix`` is the section's dotted path in the trainer config (``"run"``; ``""`` for the top level); ``also``
    lists other configs the command builds that have the same fields (``train-policy``'s ``--model`` is a field of
    both the DPO and the PPO config), recorded too so that a test checks they agree.
    """

    config: type[StrictConfig]
    fields: tuple[str, ...]
    prefix: str = ""
    flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    forms: Mapping[str, Form] = field(default_factory=dict)
    also: tuple[type[StrictConfig], ...] = ()


def renamed(config: type[StrictConfig], name: str, param: str, *decls: str) -> Form:
    """Field ``name`` of ``config`` as the parameter ``param`` (flags ``decls``), with its default and description.

    For a field whose name alone would be unclear as a parameter (``lora.r`` as ``--lora-r``).
    """
    info = config.model_fields[name]
    cli_type, to_field = _cli_type(info.annotation)
    return Form(param, typer.Option(*decls, help=info.description), cli_type, info.default, to_field)


#: the parameter through which typer hands the group the command's context (to tell given options from defaults)
CONTEXT = "rlaif_context"


def _given(ctx: Any, pname: str) -> bool:
    """Whether the option ``pname`` was given (typed, or from the environment), not left at its default."""
    source = ctx.get_parameter_source(pname)
    return source is not None and source.name != "DEFAULT"


def trainer_options(*sections: Section, command: str, param: str = "given") -> Callable[[F], F]:
    """Give a trainer command one option per offered field of ``sections``; its ``param`` receives the options the
    user gave as ``{dotted field: value}``."""
    params: list[Any] = []
    keys: dict[str, tuple[str, Callable[[Any], Any]]] = {}  # parameter -> (dotted field, conversion)
    configs: tuple[Any, ...] = ()
    for section in sections:
        offered = set(section.fields)
        unknown = offered - set(section.config.model_fields)
        for other in section.also:
            unknown |= offered - set(other.model_fields)
        if unknown:
            raise TypeError(
                f"{command}: no fields {sorted(unknown)} in the configs of {section.config.__name__}"
            )
        skip = [f for f in section.config.model_fields if f not in offered]
        group = config_group(section.config, flags=section.flags, forms=section.forms, skip=skip)
        params += group.params
        recorded = group.build.__rlaif_configs__  # type: ignore[attr-defined]
        _, mapping, form_params = recorded[0]
        configs += recorded + tuple((other, mapping, form_params) for other in section.also)
        by_param = {form.param: form.to_field for form in section.forms.values()}
        for pname, name in mapping.items():
            to_field = by_param.get(pname) or _cli_type(section.config.model_fields[name].annotation)[1]
            dotted = f"{section.prefix}.{name}" if section.prefix else name
            keys[pname] = (dotted, to_field)

    params.append(inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))

    def build(**values: Any) -> dict[str, Any]:
        ctx = values.pop(CONTEXT)
        return {key: to_field(values[p]) for p, (key, to_field) in keys.items() if _given(ctx, p)}

    build.__rlaif_configs__ = configs  # type: ignore[attr-defined]
    # the values are validated with the trainer config (file, options and --set together), not here
    return with_options(OptionGroup(tuple(params), build, {}), param=param, command=command)


__all__ = ["Section", "renamed", "trainer_options"]
