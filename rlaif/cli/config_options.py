"""Command-line options generated from a stage config: one field, one flag, its help the field's description.

:func:`config_options` decorates a typer command that takes a built config (``config: LabelConfig``): every field
of the config becomes an option of the command, with the field's default and description, and the command receives
the config built from them. Adding a field to the config adds the flag; a default or a help text cannot drift
between the CLI, the Python API and a pipeline section, because there is only the field.

Typer reads a command's options from its signature, so the decorator gives the command a signature of its own
parameters plus one per config field (typer has no option groups; this is the smallest piece of code that makes a
pydantic model a set of options). A field shown in another form (``both_orders`` as ``--one-order``) is a
:class:`Form`; a field the command does not offer is listed in ``skip``.
"""

from __future__ import annotations

import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import typer
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rlaif.cli._validation import flag_errors
from rlaif.errors import RlaifError
from rlaif.strict import StrictConfig

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Form:
    """A config field offered in another form: the parameter, its option, its default and the way back."""

    param: str
    option: Any  # typer.Option(...)
    annotation: Any
    default: Any
    to_field: Callable[[Any], Any]


def switch(param: str, help: str, to_field: Callable[[bool], Any] = operator.not_) -> Form:
    """A field offered as a switch ``--<param>``, off by default; the field is its negation unless ``to_field``
    says otherwise (``--one-order`` sets ``both_orders`` false)."""
    return Form(param, typer.Option(flag(param), help=help), bool, False, to_field)


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


#: field types a flag takes as they are
_PLAIN = (int, float, str, bool, Path)


def _cli_type(annotation: Any) -> tuple[Any, Callable[[Any], Any]]:
    """The command-line type of a field's annotation and the conversion back to the field's value.

    A union offers its one member a flag can take (``Path | InstanceOf[Constitution]`` is a path on the command
    line, a loaded constitution from Python), optional when ``None`` is a member.
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        forms = []
        for member in (a for a in args if a is not type(None)):
            try:
                forms.append(_cli_type(member))
            except TypeError:
                continue
        if len(forms) == 1:
            cli, back = forms[0]
            if type(None) not in args:
                return cli, back
            return cli | None, lambda v: None if v is None else back(v)
    if origin is Literal:
        return str, lambda v: v  # pydantic checks the value (and the error names the flag)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in _PLAIN:
        return list[args[0]], lambda v: tuple(v or ())  # type: ignore[valid-type]
    if origin is list and len(args) == 1 and args[0] in _PLAIN:
        return list[args[0]], lambda v: list(v or ())  # type: ignore[valid-type]
    if annotation in _PLAIN:
        return annotation, lambda v: v
    raise TypeError(f"no command-line form for {annotation!r}: give the field a Form or skip it")


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    """A parameter's annotation as an object (``from __future__ import annotations`` leaves it a string).

    One that names a type imported only for type checking stays a string: that is a parameter a group builds, which
    typer never sees.
    """
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, namespace)
    except NameError:
        return annotation


@dataclass(frozen=True)
class OptionGroup:
    """Options a command gains as one value: the typer parameters, and how their values build that value.

    ``build`` gets the group's parameters as keywords and returns what the command's parameter receives;
    ``flags`` maps a field of what ``build`` validates to its flag, so a validation error names the flag.
    """

    params: tuple[inspect.Parameter, ...]
    build: Callable[..., Any]
    flags: Mapping[str, str]


def option(name: str, annotation: Any, default: Any, *decls: str, help: str | None) -> inspect.Parameter:
    """One keyword-only typer option (``decls`` default to ``--`` + the name with dashes)."""
    option_decls = decls or (flag(name),)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, typer.Option(*option_decls, help=help)],
    )


def one_option(
    name: str,
    annotation: Any,
    default: Any,
    *decls: str,
    help: str | None,
    build: Callable[[Any], Any] | None = None,
) -> OptionGroup:
    """A group of one option (see :func:`option`): its value as given, or ``build(value)``."""
    convert = build or (lambda value: value)
    return OptionGroup(
        (option(name, annotation, default, *decls, help=help),), lambda **kw: convert(kw[name]), {}
    )


def with_options(group: OptionGroup, *, param: str, command: str) -> Callable[[F], F]:
    """Give a typer command the options of ``group``; the command's ``param`` receives the value they build.

    Decorators stack: each one reads the signature the one below it made.
    """

    def decorate(fn: F) -> F:
        namespace = getattr(fn, "__rlaif_globals__", None) or getattr(fn, "__globals__", {})
        own = [
            p.replace(annotation=_resolve(p.annotation, namespace))
            for p in inspect.signature(fn).parameters.values()
            if p.name != param
        ]
        mine = {p.name for p in group.params}
        clash = {p.name for p in own} & mine
        if clash:
            raise TypeError(f"{fn.__name__} already has parameters {sorted(clash)}")

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in mine}
            with flag_errors(command, group.flags):
                built = group.build(**values)
            return fn(**kwargs, **{param: built})

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + list(group.params)
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer reads __signature__, not the wrapped function's
        wrapper.__rlaif_globals__ = namespace  # type: ignore[attr-defined]
        configs = getattr(fn, "__rlaif_configs__", ())
        wrapper.__rlaif_configs__ = configs + getattr(group.build, "__rlaif_configs__", ())  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


#: a field's short flag, the same in every command (docs/glossary.md lists them)
SHORT_FLAGS: dict[str, str] = {
    "adapter": "-a",
    "constitution": "-c",
    "input": "-i",
    "labels": "-l",
    "limit": "-n",
    "model": "-m",
    "out": "-o",
    "responses": "-r",
    "templates": "-t",
}


def _default(info: FieldInfo) -> Any:
    """A field's default as an option's (a tuple as a list; none: the option is required)."""
    default = info.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return inspect.Parameter.empty
    return list(default) if isinstance(default, tuple) else default


def _decls(field: str, default: Any) -> tuple[str, ...]:
    """A field's option names: ``--name/--no-name`` for a switch on by default, else ``--name`` and its short
    flag of :data:`SHORT_FLAGS`."""
    if default is True:
        return (f"{flag(field)}/--no-{field.replace('_', '-')}",)
    return (flag(field), *((SHORT_FLAGS[field],) if field in SHORT_FLAGS else ()))


def config_group(
    config: type[StrictConfig],
    *,
    flags: Mapping[str, tuple[str, ...]] | None = None,
    forms: Mapping[str, Form] | None = None,
    skip: Collection[str] = (),
    fixed: Mapping[str, Any] | None = None,
) -> OptionGroup:
    """One option per field of ``config`` (its default, its description as help), building the config.

    Args:
        config: the stage config.
        flags: option names of fields whose flag is not ``--`` + the field name with dashes (``-k``, ``--tag``).
        forms: fields offered in another form (see :class:`Form`).
        skip: fields the command does not offer (they keep their defaults, or ``fixed``).
        fixed: values the command always gives these fields.
    """
    flags = dict(flags or {})
    forms = dict(forms or {})
    fixed = dict(fixed or {})
    params: list[inspect.Parameter] = []
    back: dict[str, tuple[str, Callable[[Any], Any]]] = {}  # parameter -> (field, conversion)
    names: dict[str, str] = {}  # field -> its flag, for error messages
    for field, info in config.model_fields.items():
        if field in skip:
            continue
        if field in forms:
            form = forms[field]
            annotation, default, to_field = (
                Annotated[form.annotation, form.option],
                form.default,
                form.to_field,
            )
            pname = form.param
            names[field] = form.option.param_decls[0] if form.option.param_decls else flag(form.param)
        else:
            cli_type, to_field = _cli_type(info.annotation)
            default = _default(info)
            decls = flags.get(field) or _decls(field, default)
            annotation = Annotated[cli_type, typer.Option(*decls, help=info.description)]
            pname = field
            names[field] = next((d for d in decls if d.startswith("--")), decls[0]).split("/")[0]
        back[pname] = (field, to_field)
        params.append(
            inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )

    def build(**kwargs: Any) -> StrictConfig:
        values = {field: to_field(kwargs[pname]) for pname, (field, to_field) in back.items()}
        return config(**values, **fixed)

    mapping = {pname: field for pname, (field, _) in back.items()}
    # (config, parameter -> field, parameters offered in another form): read by the defaults test
    build.__rlaif_configs__ = ((config, mapping, frozenset(f.param for f in forms.values())),)  # type: ignore[attr-defined]
    return OptionGroup(tuple(params), build, names)


def config_options(
    config: type[StrictConfig],
    *,
    command: str,
    param: str = "config",
    flags: Mapping[str, tuple[str, ...]] | None = None,
    forms: Mapping[str, Form] | None = None,
    skip: Collection[str] = (),
    fixed: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Give a typer command one option per field of ``config`` and call it with the built config as ``param``.

    Args:
        config: the stage config.
        command: the command's name (error messages: ``see rlaif <command> --help``).
        param: the command's parameter that receives the built config.
        flags: option names of fields whose flag is not ``--`` + the field name with dashes (``-k``, ``--tag``).
        forms: fields offered in another form (see :class:`Form`).
        skip: fields the command does not offer (they keep their defaults, or ``fixed``).
        fixed: values the command always gives these fields.
    """
    group = config_group(config, flags=flags, forms=forms, skip=skip, fixed=fixed)
    return with_options(group, param=param, command=command)


def job_options(
    job: type[StrictConfig],
    *,
    command: str,
    groups: Mapping[str, OptionGroup] | None = None,
    flags: Mapping[str, tuple[str, ...]] | None = None,
    defaults: Mapping[str, Any] | None = None,
    arguments: Collection[str] = (),
    skip: Collection[str] = (),
    derive: Mapping[str, Callable[[Mapping[str, Any]], Any]] | None = None,
    param: str = "job",
) -> Callable[[F], F]:
    """Give a typer command the options of a stage's job and call it with the built job as ``param``.

    A job holds its paths, its model specs and its configs (nested unchanged). Each of its file, text and number
    fields becomes an option (its description the help); each entry of ``groups`` is a block of options building
    one value, given to the job's field of that name (``critic`` from the critic's options, ``config`` from the
    stage config's fields) or read by ``derive``. The command writes no field twice and builds nothing by hand.

    Args:
        job: the stage's job.
        command: the command's name (error messages: ``see rlaif <command> --help``).
        groups: option groups by the name of the value they build (a job field, or a value ``derive`` reads).
        flags: option names of fields whose flag is not ``--`` + the field name with dashes (and the short flag
            of :data:`SHORT_FLAGS`).
        defaults: the command's default for a field the job requires (``--out out/diff``); a field with a default
            of its own keeps it, so the command and Python cannot differ.
        arguments: fields given as positional arguments instead of options.
        skip: fields the command does not offer (they keep their defaults).
        derive: fields computed from the other values (options, groups, and the command's own parameters), e.g.
            the call cache from ``--cache``/``--no-cache`` and ``--out``.
        param: the command's parameter that receives the job.
    """
    groups = dict(groups or {})
    flags, defaults, derive = dict(flags or {}), dict(defaults or {}), dict(derive or {})
    for field in defaults:
        if not job.model_fields[field].is_required():
            raise TypeError(f"{job.__name__}.{field} has a default of its own: the command cannot change it")
    params: list[inspect.Parameter] = []
    back: dict[str, Callable[[Any], Any]] = {}
    names: dict[str, str] = {}
    for field, info in job.model_fields.items():
        if field in skip or field in groups or field in derive:
            continue
        cli_type, back[field] = _cli_type(info.annotation)
        default = defaults[field] if field in defaults else _default(info)
        decls = flags.get(field) or _decls(field, default)
        help = info.description
        spec = typer.Argument(help=help) if field in arguments else typer.Option(*decls, help=help)
        annotation = Annotated[cli_type, spec]  # type: ignore[valid-type]
        params.append(
            inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )
        names[field] = next((d for d in decls if d.startswith("--")), decls[0]).split("/")[0]
    # a group's value stands in the signature until the group's decorator replaces it with the group's options
    placeholders = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Any) for name in groups
    ]

    def decorate(fn: F) -> F:
        namespace = getattr(fn, "__globals__", {})
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=_resolve(p.annotation, namespace))
            for p in inspect.signature(fn).parameters.values()
            if p.name != param
        ]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = {field: to_field(kwargs.pop(field)) for field, to_field in back.items()}
            values.update({name: kwargs.pop(name) for name in groups})
            context = {**kwargs, **values}
            values.update({field: compute(context) for field, compute in derive.items()})
            with flag_errors(command, names):
                built = job(**{k: v for k, v in values.items() if k in job.model_fields})
            return fn(**kwargs, **{param: built})

        signature = params + own + placeholders
        wrapper.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in signature}
        del wrapper.__wrapped__  # typer reads __signature__, not the wrapped function's
        wrapper.__rlaif_globals__ = namespace  # type: ignore[attr-defined]
        mapping = {field: field for field in back}
        # fields filled by a group or derived are offered in another form (their options are the group's)
        other_form = frozenset(groups) | frozenset(derive)
        wrapper.__rlaif_configs__ = ((job, mapping, other_form),)  # type: ignore[attr-defined]
        decorated: Any = wrapper
        for name, group in groups.items():
            decorated = with_options(group, param=name, command=command)(decorated)
        return decorated

    return decorate


def comma_pair(flag: str) -> Callable[[str], tuple[float, float]]:
    """``LOW,HIGH`` → ``(low, high)``, or a clear error naming ``flag``."""

    def parse(text: str) -> tuple[float, float]:
        try:
            lo, hi = (float(x) for x in text.split(","))
        except ValueError:
            raise RlaifError(
                f"bad {flag} {text!r}", field=flag, hint="write LOW,HIGH, e.g. 0.4,0.6"
            ) from None
        return lo, hi

    return parse
