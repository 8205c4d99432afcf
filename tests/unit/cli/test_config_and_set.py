"""``--config FILE.yaml`` and ``--set NAME=VALUE`` on every command: precedence, errors, lists, ``rlaif run``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer.main

from rlaif.cli.main import app, main
from rlaif.resources import shipped_dir

STYLE = shipped_dir("principles") / "style.yaml"


def _render(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, dict[str, Any] | None, str]:
    """``rlaif render compare --json ...``: (exit code, the JSON printed, stderr)."""
    code = main(["render", "compare", *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_options_come_from_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path / "r.yaml", f"constitution: {STYLE}\nprinciple: [concise]\norder: ba\njson: true\n")
    code, out, err = _render(capsys, "--config", cfg)
    assert code == 0, err
    assert out is not None and out["order"] == "ba" and out["principles"] == ["concise@1"]
    assert out["constitution"]["path"] == str(STYLE)
    code, plain, err = _render(capsys, "-c", STYLE, "-p", "concise", "--order", "ba", "--json")
    assert code == 0 and plain == out  # the file means what the flags mean


def test_set_overrides_the_file_and_a_flag_overrides_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write(tmp_path / "r.yaml", f"constitution: {STYLE}\nprinciple: concise\norder: ba\njson: true\n")
    code, out, _ = _render(capsys, "--config", cfg, "--set", "order=ab")
    assert code == 0 and out is not None and out["order"] == "ab"
    code, out, _ = _render(capsys, "--order", "ba", "--config", cfg, "-s", "order=ab")
    assert code == 0 and out is not None and out["order"] == "ba"  # typed flag > --set > --config
    # --set alone, with flag-name spellings (dashes or underscores) and the last --set of a name winning
    code, out, _ = _render(capsys, "-s", f"constitution={STYLE}", "-s", "principle=[no_exclamations]", "-s", "json=true",
                           "-s", "no-chat-template=true", "-s", "order=ba", "-s", "order=ab")  # fmt: skip
    assert code == 0 and out is not None
    assert out["principles"] == ["no_exclamations@1"] and out["order"] == "ab"


def test_a_list_option_takes_a_yaml_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = _write(
        tmp_path / "r.yaml",
        f"constitution: {STYLE}\nprinciple:\n  - concise\n  - no_exclamations\njson: true\n",
    )
    assert main(["render", "rm_input", "--config", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["principles"] == ["concise@1", "no_exclamations@1"]
    # a flag given on the command line replaces the file's list, it does not add to it
    assert main(["render", "rm_input", "--config", str(cfg), "-p", "concise"]) == 0
    assert json.loads(capsys.readouterr().out)["principles"] == ["concise@1"]


def test_a_negated_flag_name_and_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path / "v.yaml", f"paths: [{STYLE}]\nquiet: true\n")
    assert main(["validate", "--config", str(cfg)]) == 0
    quiet = capsys.readouterr().out
    _write(cfg, f"paths: [{STYLE}]\nquiet: null\n")  # null: the option's default
    assert main(["validate", "--config", str(cfg)]) == 0
    loud = capsys.readouterr().out
    assert "1 file OK" in quiet and len(loud) > len(quiet)


def test_an_unknown_key_names_the_file_line_and_the_valid_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write(tmp_path / "bad.yaml", "order: ba\nordr: ab\nfoo: 1\n")
    code, _, err = _render(capsys, "--config", cfg)
    assert code == 1 and "Traceback" not in err
    assert f"{cfg}:2: field 'ordr': unknown option 'ordr' (did you mean 'order'?)" in err
    assert f"{cfg}:3: field 'foo': unknown option 'foo'" in err
    assert (
        "this command's options: constitution, example, json, model, no-chat-template, order, principle"
        in err
    )
    code, _, err = _render(capsys, "--set", "colour=red")
    assert code == 1 and "field 'colour': unknown option 'colour'" in err and "no-chat-template" in err
    code, _, err = _render(capsys, "--set", "order.x=1")
    assert code == 1 and "'order.x' is not an option name" in err
    code, _, err = _render(capsys, "--set", "order")
    assert code == 1 and "--set 'order' is not key=value" in err


def test_bad_values_and_files_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _write(tmp_path / "bad.yaml", "json: true\norder: zz\n")
    code, _, err = _render(capsys, "--config", cfg)
    assert code == 1 and "Traceback" not in err
    assert f"{cfg}:2: field 'order': bad value for option 'order'" in err and "'zz'" in err
    code, _, err = _render(capsys, "--set", "json=maybe")
    assert code == 1 and "--set: field 'json': bad value for option 'json'" in err
    _write(cfg, "order: [ab, ba]\n")
    code, _, err = _render(capsys, "--config", cfg)
    assert code == 1 and f"{cfg}:1: field 'order': option 'order' takes one value, not a list" in err
    _write(cfg, "order:\n  x: 1\n")
    code, _, err = _render(capsys, "--config", cfg)
    assert code == 1 and "option 'order' takes a value, not a mapping" in err
    _write(cfg, "- order\n")
    code, _, err = _render(capsys, "--config", cfg)
    assert (
        code == 1
        and f"{cfg}:1: a --config file must be a mapping of option names" in err
        and "holds a list" in err
    )
    _write(cfg, "order: ba\norder: ab\n")
    code, _, err = _render(capsys, "--config", cfg)
    assert code == 1 and f"{cfg}:2" in err and "duplicate key 'order'" in err
    code, _, err = _render(capsys, "--config", tmp_path / "missing.yaml")
    assert code == 1 and "missing.yaml: --config file not found" in err


def test_run_set_sets_pipeline_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smoke = shipped_dir("pipelines") / "smoke.yaml"
    runs = tmp_path / "runs"
    assert main(["run", "--config", str(smoke), "--set", "rounds=3", "--check", "--runs-dir", str(runs)]) == 0
    assert "is valid: 3 round(s)" in capsys.readouterr().err
    # the same parser as the KEY=VALUE arguments: a dotted path, validated against the pipeline at its line
    assert main(["run", str(smoke), "-s", "policy.method=sgd", "--check", "--runs-dir", str(runs)]) == 1
    err = capsys.readouterr().err
    assert f"{smoke}:23:3: field 'policy.method'" in err and "'sgd'" in err and "Traceback" not in err
    assert (
        main(
            ["run", "--config", str(smoke), "rounds=2", "-s", "rounds=4", "--check", "--runs-dir", str(runs)]
        )
        == 0
    )
    assert "is valid: 4 round(s)" in capsys.readouterr().err  # --set after the arguments
    assert main(["run", str(smoke), "--config", str(smoke)]) == 1
    assert "two pipeline files given" in capsys.readouterr().err
    assert main(["run"]) == 1
    assert "no pipeline file given" in capsys.readouterr().err


def _leaf_commands() -> dict[str, Any]:
    root = typer.main.get_command(app)
    found: dict[str, Any] = {}

    def walk(prefix: str, command: Any) -> None:
        if hasattr(command, "list_commands"):
            ctx = command.context_class(command)
            for name in command.list_commands(ctx):
                walk(f"{prefix} {name}".strip(), command.get_command(ctx, name))
        else:
            found[prefix] = command

    walk("", root)
    return found


def test_every_command_takes_config_and_set() -> None:
    commands = _leaf_commands()
    assert {
        "label",
        "generate",
        "run",
        "validate",
        "eval agreement",
        "eval rm",
        "ls principles",
        "version",
    } <= set(commands)
    missing = []
    for name, command in commands.items():
        opts = {o for p in command.params for o in getattr(p, "opts", ())}
        if not {"--config", "--set"} <= opts:
            missing.append(name)
    assert missing == []


def test_every_command_parses_config_and_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each command reads a --config file and --set before anything runs (here: --help stops it)."""
    empty_options = _write(tmp_path / "c.yaml", "{}\n")
    for name in _leaf_commands():
        code = main([*name.split(), "--config", str(empty_options), "--help"])
        out = capsys.readouterr().out
        assert code == 0 and "--config" in out and "--set" in out, name


def test_help_lists_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--config FILE.yaml" in out and "-s, --set NAME=VALUE" in out
