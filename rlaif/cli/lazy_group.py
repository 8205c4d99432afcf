"""Command groups whose subcommands load when used: ``rlaif --help`` imports no subcommand module.

Each subcommand lives in its own module under :mod:`rlaif.cli` (exposing ``command``, a typer command function, or
``app``, a group). A group made by :func:`lazy_group_class` knows the modules by name and imports one only when its
command runs or shows its own help; ``rlaif --help`` lists every command with the first line of its docstring, read
from the module's source (so the list cannot drift from ``rlaif <command> --help``) instead of importing it.

This is click's documented pattern for large command-line tools (a group that overrides how it lists and finds its
commands); typer has no lazy loading of its own, so the group builds a loaded module's command the way typer would
have at registration.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo

from rlaif.cli.config_file import ConfigurableCommand, make_configurable

#: the package holding the subcommand modules
PACKAGE = "rlaif.cli"


def load_command(name: str, module_name: str) -> Any:
    """The click command of subcommand ``name``, from module ``rlaif.cli.<module_name>``; every command of it takes
    ``--config``/``--set`` (:class:`~rlaif.cli.config_file.ConfigurableCommand`)."""
    module = importlib.import_module(f"{PACKAGE}.{module_name}")
    group = getattr(module, "app", None)
    if isinstance(group, typer.Typer):
        make_configurable(group)
        command: Any = typer.main.get_group(group)
    else:
        info = CommandInfo(name=name, callback=module.command, cls=ConfigurableCommand)
        command = typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)
    command.name = name
    return command


def source_help(module_name: str) -> str:
    """The help of a subcommand module without importing it: its ``command`` function's docstring, or the help
    given to ``command_group`` for its ``app``."""
    spec = importlib.util.find_spec(f"{PACKAGE}.{module_name}")
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "command":
            return ast.get_docstring(node) or ""
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.value.args) == 2:
            call, target = node.value, node.targets[0]
            if isinstance(target, ast.Name) and target.id == "app" and isinstance(call.args[1], ast.Constant):
                return str(call.args[1].value)
    return ""


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands: those registered on it, then those of ``table`` (name → module), each loaded on first
    lookup. Listing the names loads nothing."""

    def __init__(self, loaded: Mapping[str, Any], table: Mapping[str, str]) -> None:
        self.loaded: dict[str, Any] = dict(loaded)
        self.table = dict(table)

    def is_loaded(self, name: str) -> bool:
        """Whether ``name``'s command is built already (a registered one, or a module looked up before)."""
        return name in self.loaded

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            if name not in self.table:
                raise KeyError(name)
            self.loaded[name] = load_command(name, self.table[name])
        return self.loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self.loaded.pop(name, None)
        self.table.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self.loaded
        yield from (name for name in self.table if name not in self.loaded)

    def __len__(self) -> int:
        return len(set(self.loaded) | set(self.table))


def lazy_group_class(table: Mapping[str, str]) -> type[TyperGroup]:
    """A typer group class whose commands are the registered ones, then ``table``'s (name → module under
    :mod:`rlaif.cli`), each module imported when its command is used."""

    class LazyGroup(TyperGroup):
        def __init__(self, *, commands: Any = None, **attrs: Any) -> None:
            registered = (
                {c.name: c for c in commands} if isinstance(commands, list | tuple) else commands or {}
            )
            # a mapping that loads on lookup stands where typer keeps its dict of commands
            super().__init__(commands=LazyCommands(registered, table), **attrs)  # type: ignore[arg-type]

        def list_commands(self, ctx: Any) -> list[str]:
            return list(self.commands)

        def format_commands(self, ctx: Any, formatter: Any) -> None:
            commands: LazyCommands = self.commands  # type: ignore[assignment]
            names = list(commands)
            if not names:
                return
            limit = formatter.width - 6 - max(len(name) for name in names)
            rows = []
            for name in names:
                if commands.is_loaded(name):
                    command = commands[name]
                    if command.hidden:
                        continue
                else:
                    command = TyperCommand(name=name, callback=None, help=source_help(table[name]))
                rows.append((name, command.get_short_help_str(limit)))
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    return LazyGroup


def command_callbacks(
    app: typer.Typer, table: Mapping[str, str], prefix: str = ""
) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every command of ``app`` and of its lazy ``table`` as ``(name, the function typer calls)``, groups walked
    (``eval agreement``); imports every module. For tests and tools that inspect all commands."""
    for info in app.registered_commands:
        assert info.callback is not None
        yield prefix + (info.name or info.callback.__name__.replace("_", "-")), info.callback
    for name, module_name in table.items():
        module = importlib.import_module(f"{PACKAGE}.{module_name}")
        group = getattr(module, "app", None)
        if isinstance(group, typer.Typer):
            yield from command_callbacks(group, getattr(module, "SUBCOMMANDS", {}), f"{prefix}{name} ")
        else:
            yield prefix + name, module.command
