"""``--config FILE.yaml`` and ``--set KEY=VALUE`` on every command, implemented once.

:func:`make_configurable` gives every leaf command of a typer app the class :class:`ConfigurableCommand`, which adds
the two options and feeds them to click's ``default_map``, so that the precedence is

    an option typed on the command line  >  --set  >  --config  >  the option's default

and a value from the file is converted and checked exactly as if it had been typed after its flag. The file is a
mapping of the command's option names: the long flag without its dashes or the parameter's name, ``-`` and ``_``
alike (``backend-option``, ``backend_option``), so ``rlaif label --config label.yaml`` with ``limit: 5`` is
``rlaif label --limit 5``; a repeatable option takes a list; ``no-progress: true`` is ``--no-progress``.

A command that declares ``--config`` itself keeps its own meaning for both options: there the configuration is a
config model, not the command's options (``rlaif run``: the pipeline file, and ``--set`` sets a pipeline field by
dotted path; ``train-rm``, ``train-policy``: the trainer's config).

This module stays light (``rlaif --help`` imports it): YAML and the override parser are imported only when a
command is given ``--config`` or ``--set``.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from rlaif.errors import DataFileError, Problem

CONFIG_PARAM = "rlaif_config"
SET_PARAM = "rlaif_set"
_STATE = "rlaif.cli.config_file"


def _template(
    rlaif_config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE.yaml",
            help="YAML file of this command's options (name: value, names as the long flags); "
            "options typed on the command line win.",
            show_default=False,
        ),
    ] = None,
    rlaif_set: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="NAME=VALUE",
            help="Set one option, NAME=VALUE (a YAML value), over --config (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Template of the two options (typer builds them, so they read like every other option)."""


_TEMPLATE_PARAMS: list[Any] = []


def _shared_params() -> list[Any]:
    """``--config`` and ``--set`` parameters for one command: eager, so they are read before the options they set."""
    if not _TEMPLATE_PARAMS:
        template = typer.Typer(add_completion=False)
        template.command()(_template)
        for param in typer.main.get_command(template).params:
            param.is_eager = True
            param.expose_value = False
            param.callback = _on_config if param.name == CONFIG_PARAM else _on_set
            _TEMPLATE_PARAMS.append(param)
    return [copy.copy(param) for param in _TEMPLATE_PARAMS]


def _declares_config(params: list[Any]) -> bool:
    return any("--config" in getattr(p, "opts", ()) for p in params)


class ConfigurableCommand(TyperCommand):
    """A typer command that also takes ``--config FILE.yaml`` and ``--set NAME=VALUE`` (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not _declares_config(self.params):
            self.params.extend(_shared_params())

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse as usual; a bad value that came from ``--config``/``--set`` is reported at its file, line and key."""
        try:
            return super().parse_args(ctx, args)
        except Exception as e:
            param = getattr(e, "param", None)
            state = ctx.meta.get(_STATE)
            name = getattr(param, "name", None)
            if state is None or name not in state["origins"] or not hasattr(e, "message"):
                raise
            source = ctx.get_parameter_source(name)
            if source is None or source.name != "DEFAULT_MAP":
                raise
            label, line, key = state["origins"][name]
            raise DataFileError(
                f"bad value for option {key!r}: {e.message}",
                path=label,
                line=line,
                field=key,
            ) from None


def option_names(command: Any) -> dict[str, tuple[Any, bool]]:
    """Every name a ``--config`` key may use for ``command``'s options → (parameter, negated).

    Names are the long flags without dashes and the parameter's own name, with ``_`` for ``-``; a boolean flag's
    ``--no-x`` form is the same parameter, negated. ``--config``, ``--set`` and ``--help`` are not settable.
    """
    names: dict[str, tuple[Any, bool]] = {}
    for param in command.params:
        if param.name in (CONFIG_PARAM, SET_PARAM, "help") or not param.expose_value:
            continue
        names[_norm(param.name)] = (param, False)
        for opt in getattr(param, "opts", ()):
            if opt.startswith("--"):
                names[_norm(opt)] = (param, False)
        if getattr(param, "is_flag", False) and getattr(param, "secondary_opts", None):
            for opt in param.secondary_opts:
                if opt.startswith("--"):
                    names[_norm(opt)] = (param, True)
    return names


def _norm(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


def _shown_names(command: Any) -> list[str]:
    """One name per option, as users type the flag (``backend-option``), for error hints."""
    shown: list[str] = []
    for param in command.params:
        if param.name in (CONFIG_PARAM, SET_PARAM, "help") or not param.expose_value:
            continue
        longs = [o for o in getattr(param, "opts", ()) if o.startswith("--")]
        shown.append(longs[0][2:] if longs else param.name)
    return sorted(shown)


def _as_text(value: Any) -> str:
    """A YAML scalar as the text a user would type after the flag (``true``, ``5``, ``0.5``, ``out/x``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value_for(param: Any, value: Any, negated: bool, where: Problem) -> Any:
    """The ``default_map`` value for ``param`` from a YAML value; shape errors name the file, line and key."""

    def refuse(message: str) -> DataFileError:
        return DataFileError(message, problems=[Problem(message, where.path, where.line, field=where.field)])

    if isinstance(value, dict):
        raise refuse(f"option {where.field!r} takes a value, not a mapping")
    is_flag = getattr(param, "is_flag", False) and not getattr(param, "multiple", False)
    if is_flag and isinstance(value, bool):
        return not value if negated else value
    if is_flag and negated:
        raise refuse(f"option {where.field!r} is a flag: write true or false")
    if getattr(param, "multiple", False) or param.nargs != 1:
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, dict | list) for v in items):
            raise refuse(f"option {where.field!r} takes a list of values, not nested lists or mappings")
        return [_as_text(v) for v in items]
    if isinstance(value, list):
        raise refuse(f"option {where.field!r} takes one value, not a list")
    return _as_text(value)


def _entries(
    ctx: Any, data: dict[Any, Any], where: Any
) -> dict[str, tuple[Any, tuple[str | None, int | None, str]]]:
    """``{param name: (default_map value, origin)}`` for a mapping of option names; unknown names are refused."""
    names = option_names(ctx.command)
    out: dict[str, tuple[Any, tuple[str | None, int | None, str]]] = {}
    problems: list[Problem] = []
    for key, value in data.items():
        problem = where(key)
        found = names.get(_norm(str(key)))
        if found is None:
            close = difflib.get_close_matches(_norm(str(key)), list(names), n=1, cutoff=0.6)
            guess = f" (did you mean {close[0].replace('_', '-')!r}?)" if close else ""
            problems.append(
                Problem(f"unknown option {key!r}{guess}", problem.path, problem.line, field=str(key))
            )
            continue
        if value is None:
            continue  # null: the option's default
        param, negated = found
        out[param.name] = (_value_for(param, value, negated, problem), (problem.path, problem.line, str(key)))
    if problems:
        valid = ", ".join(_shown_names(ctx.command)) or "none"
        raise DataFileError(problems[0].message, problems=problems, hint=f"this command's options: {valid}")
    return out


def _state(ctx: Any) -> dict[str, Any]:
    state = ctx.meta.get(_STATE)
    if state is None:
        state = ctx.meta[_STATE] = {"base": dict(ctx.default_map or {}), "file": {}, "set": {}, "origins": {}}
    return state


def _refresh(ctx: Any, state: dict[str, Any]) -> None:
    merged = {**state["file"], **state["set"]}  # --set wins over the file
    ctx.default_map = {**state["base"], **{name: value for name, (value, _) in merged.items()}}
    state["origins"] = {name: origin for name, (_, origin) in merged.items()}


def _on_config(ctx: Any, param: Any, value: Any) -> Any:
    """``--config FILE``: read the file's options into the command's defaults."""
    if value is None or ctx.resilient_parsing:
        return value
    from rlaif.yamlfile import load_yaml_file

    path = Path(value)
    doc = load_yaml_file(path, what="--config")
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else "a single value"
        raise DataFileError(
            f"a --config file must be a mapping of option names to values (e.g. 'limit: 5'), but this one holds {kind}",
            path=str(path),
            line=1,
            hint=f"this command's options: {', '.join(_shown_names(ctx.command)) or 'none'}",
        )

    def where(key: Any) -> Problem:
        return doc.problem((key,), "")

    state = _state(ctx)
    state["file"] = _entries(ctx, doc.data, where)
    _refresh(ctx, state)
    return value


def _on_set(ctx: Any, param: Any, value: Any) -> Any:
    """``--set NAME=VALUE`` (repeatable): single options, over the file's."""
    if not value or ctx.resilient_parsing:
        return value
    from rlaif.overrides import parse_override

    data: dict[str, Any] = {}
    for item in value:
        path, parsed = parse_override(item, what="--set", field="--set", hint="e.g. --set limit=5")
        if len(path) > 1:
            raise DataFileError(
                f"--set {item!r}: {'.'.join(path)!r} is not an option name (this command's --set sets its options, "
                "not nested fields)",
                field="--set",
                hint=f"this command's options: {', '.join(_shown_names(ctx.command)) or 'none'}",
            )
        data[path[0]] = parsed

    def where(key: Any) -> Problem:
        return Problem("", "--set", None, field=str(key))

    state = _state(ctx)
    state["set"] = _entries(ctx, data, where)
    _refresh(ctx, state)
    return value


def make_configurable(app: typer.Typer) -> None:
    """Give every command of ``app`` and of its sub-apps, that has no class of its own, :class:`ConfigurableCommand`."""
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:
            info.cls = ConfigurableCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            make_configurable(group.typer_instance)


__all__ = ["CONFIG_PARAM", "SET_PARAM", "ConfigurableCommand", "make_configurable", "option_names"]
