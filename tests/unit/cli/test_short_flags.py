"""Every CLI short flag means the same long option in every command (docs/glossary.md lists them)."""

from __future__ import annotations

from typing import Any

import typer.main

from rlaif.cli.main import app

#: short flag -> the one long option it stands for, in every command that has it
SHORT_FLAGS: dict[str, str] = {
    "-a": "--adapter",
    "-b": "--backend",
    "-c": "--constitution",
    "-d": "--data",
    "-e": "--example",
    "-f": "--format",
    "-i": "--input",
    "-k": "--k",
    "-l": "--labels",
    "-m": "--model",
    "-n": "--limit",
    "-o": "--out",
    "-p": "--principle",
    "-q": "--quiet",
    "-r": "--responses",
    "-s": "--set",
    "-t": "--templates",
}


def _commands() -> dict[str, Any]:
    # duck-typed: typer may vendor its own copy of click
    root = typer.main.get_command(app)
    found: dict[str, Any] = {}

    def walk(prefix: str, command: Any) -> None:
        if hasattr(command, "list_commands"):
            ctx = command.context_class(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found[prefix] = command

    walk("", root)
    return found


def test_every_short_flag_maps_to_one_long_option() -> None:
    commands = _commands()
    assert {"label", "generate", "revise", "train-policy", "eval agreement"} <= set(commands)
    wrong: list[str] = []
    for name, command in commands.items():
        for param in command.params:
            if type(param).__name__ not in {"Option", "TyperOption"}:
                continue
            shorts = [o for o in param.opts + param.secondary_opts if len(o) == 2 and o[1] != "-"]
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            for short in shorts:
                expected = SHORT_FLAGS.get(short)
                if expected is None or expected not in longs:
                    wrong.append(f"{name}: {short} is {longs}, table says {expected}")
    assert wrong == []


def test_table_matches_the_glossary() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "docs" / "glossary.md").read_text(encoding="utf-8")
    for short, long in SHORT_FLAGS.items():
        assert f"| `{short}` | `{long}` |" in text
