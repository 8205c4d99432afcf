"""`rlaif --help` lists every command without importing it; a command's module loads when the command is used."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

from rlaif.cli.lazy_group import source_help
from rlaif.cli.main import SUBCOMMANDS, app, main


def test_top_level_help_imports_no_subcommand_module() -> None:
    probe = (
        "import sys\nfrom rlaif.cli.main import main\nassert main(['--help']) == 0\n"
        "print('LOADED:' + ','.join(m for m in sys.modules if m.startswith('rlaif.cli.') and m.split('.')[-1] in "
        f"{sorted(set(SUBCOMMANDS.values()))!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("LOADED:"))
    assert line == "LOADED:"
    for name in SUBCOMMANDS:
        assert f"\n  {name} " in out.stdout, name


def test_listed_help_is_the_loaded_commands_help() -> None:
    root = typer.main.get_command(app)
    ctx = root.context_class(root)
    for name, module_name in SUBCOMMANDS.items():
        command = root.get_command(ctx, name)
        assert command is not None, name
        listed = typer.core.TyperCommand(name=name, callback=None, help=source_help(module_name))
        assert listed.get_short_help_str(60) == command.get_short_help_str(60), name
        assert listed.get_short_help_str(60), name


def test_a_mistyped_command_suggests_one_not_loaded_yet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lable"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'lable'" in err and "'label'" in err


def test_eval_group_lists_its_lazy_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("agreement", "rm", "policy", "judge", "injection"):
        assert f"\n  {name} " in out, name
