"""The CLI commands of this module: validate, ls, import-constitution — including every kind of bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rlaif.constitution import load_constitution

from .conftest import VALID, CliResult

Run = Callable[..., CliResult]

_P = "  - id: a\n    compare: Which?\n    critique: Critique.\n    revision: Revise.\n"

# (file name, bytes, expected line, expected field (or None), expected message fragment)
BAD_FILES: list[tuple[str, bytes, int, str | None, str]] = [
    ("malformed.yaml", b"name: x\nprinciples: [\n  - a\n", 3, None, "invalid YAML"),
    ("tabs.yaml", b"name: x\nprinciples:\n\t- id: a\n", 3, None, "not tabs"),
    ("indent.yaml", b"name: x\nprinciples:\n  - id: a\n   compare: c\n", 4, None, "indentation"),
    ("dupkey.yaml", ("name: x\nname: y\nprinciples:\n" + _P).encode(), 2, None, "duplicate key 'name'"),
    (
        "unknown.yaml",
        ("name: x\nprinciples:\n" + _P + "    wieght: 2\n").encode(),
        7,
        "principles[0].wieght",
        "did you mean 'weight'",
    ),
    (
        "missing.yaml",
        b"name: x\nprinciples:\n  - id: a\n    compare: c\n    critique: c\n",
        3,
        "principles[0].revision",
        "missing required field 'revision'",
    ),
    (
        "dupid.yaml",
        ("name: x\nprinciples:\n" + _P + _P).encode(),
        7,
        "principles[1].id",
        "duplicate principle id 'a'",
    ),
    (
        "weight.yaml",
        ("name: x\nprinciples:\n" + _P + "    weight: 0\n").encode(),
        7,
        "principles[0].weight",
        "greater than 0",
    ),
    (
        "regex.yaml",
        ("name: x\nprinciples:\n" + _P + "    rule:\n      must_not_match: ['(oops']\n").encode(),
        8,
        "principles[0].rule.must_not_match[0]",
        "invalid regular expression",
    ),
    (
        "redos.yaml",
        (
            "name: x\nprinciples:\n"
            + _P
            + "    rule:\n      must_match:\n        - ok\n        - '(\\w+\\s?)+$'\n"
        ).encode(),
        10,
        "principles[0].rule.must_match[1]",
        "catastrophic backtracking",
    ),
    ("noprinciples.yaml", b"name: x\nprinciples: []\n", 2, "principles", "needs at least 1 entry, got none"),
    ("nonutf8.yaml", b"name: caf\xe9\nprinciples: []\n", 1, None, "not valid UTF-8"),
]


@pytest.mark.parametrize(
    ("name", "content", "line", "field", "fragment"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_validate_bad_file(
    run_cli: Run, tmp_path: Path, name: str, content: bytes, line: int, field: str | None, fragment: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = run_cli("validate", path)
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{path}:{line}" in result.output, result.output
    if field:
        assert f"field '{field}'" in result.output, result.output
    assert fragment in result.output, result.output
    assert "0 files OK, 1 file with" in result.output


def test_validate_empty_file(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    result = run_cli("validate", path)
    assert result.code == 1
    assert f"{path}: " in result.output and "file is empty" in result.output
    assert "Traceback" not in result.output


def test_validate_reports_every_problem_of_every_file(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(VALID)
    (tmp_path / "b1.yaml").write_text("name: x\nprinciples:\n" + _P + "    weight: -1\n    tags: ['a b']\n")
    (tmp_path / "b2.yaml").write_text("name: [\n")
    (tmp_path / "README.md").write_text("ignored")
    (tmp_path / "pipe.yaml").write_text("rounds: 2\n")
    result = run_cli("validate", tmp_path)
    assert result.code == 1
    assert "principles[0].weight" in result.output and "principles[0].tags[0]" in result.output
    assert "b2.yaml:" in result.output
    assert "README" not in result.output
    assert "pipeline file" in result.output
    assert result.output.strip().splitlines()[-1] == "1 file OK, 2 files with 3 problems, 1 skipped"


def test_validate_shipped_ok(run_cli: Run) -> None:
    result = run_cli("validate", "principles")
    assert result.code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "4 files OK"  # hhh, plain, safety, style


def test_validate_unrecognised_yaml_and_missing_path(run_cli: Run, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("foo: 1\n")
    result = run_cli("validate", other, tmp_path / "nope.yaml")
    assert result.code == 1
    assert "not a recognised rlaif file" in result.output
    assert f"{tmp_path / 'nope.yaml'}: no such file or directory" in result.output


def test_validate_templates(run_cli: Run, tmp_path: Path) -> None:
    pytest.importorskip("rlaif.prompting")
    good = tmp_path / "t.j2"
    good.write_text("Hello {{ name }}\n")
    bad = tmp_path / "bad.j2"
    bad.write_text("Hello {{ name \n")
    result = run_cli("validate", good, bad)
    assert result.code == 1
    assert f"{bad}:" in result.output
    assert "1 file OK, 1 file with" in result.output


def test_ls_principles(run_cli: Run) -> None:
    result = run_cli("ls", "principles")
    assert result.code == 0, result.output
    hhh = load_constitution(Path("principles/hhh.yaml"))
    assert hhh.short_hash() in result.output
    assert hhh.get("honesty").short_hash() in result.output
    assert "no_filler" in result.output and "mass_harm" in result.output


def test_ls_principles_bad_file(run_cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nprinciples: []\n")
    result = run_cli("ls", "principles", bad)
    assert result.code == 1
    assert f"{bad}:2" in result.output and "Traceback" not in result.output


def test_ls_templates(run_cli: Run) -> None:
    pytest.importorskip("rlaif.prompting")
    result = run_cli("ls", "templates")
    assert result.code == 0, result.output
    assert "compare.j2" in result.output and "principle" in result.output


def test_import_constitution_writes_and_validates(run_cli: Run, tmp_path: Path, fixtures_dir: Path) -> None:
    out = tmp_path / "imported.yaml"
    result = run_cli("import-constitution", fixtures_dir / "hf_small.json", "--name", "kids", "-o", out)
    assert result.code == 0, result.output
    c = load_constitution(out)
    assert c.name == "kids" and len(c.examples) == 1
    text = out.read_text()
    assert text.startswith("# Imported by `rlaif import-constitution`")
    assert "generated" in text
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file
    # refuses to overwrite without --force
    again = run_cli("import-constitution", fixtures_dir / "anthropic_small.json", "-o", out)
    assert again.code == 1 and "exists already" in again.output and "--force" in again.output
    assert load_constitution(out).name == "kids"
    forced = run_cli("import-constitution", fixtures_dir / "anthropic_small.json", "-o", out, "--force")
    assert forced.code == 0
    assert load_constitution(out).name == "anthropic_small"


def test_import_constitution_explicit_format_and_stdout(run_cli: Run, fixtures_dir: Path) -> None:
    result = run_cli("import-constitution", fixtures_dir / "anthropic_small.json", "--format", "anthropic")
    assert result.code == 0
    assert "id: honest-accurate" in result.out
    wrong = run_cli("import-constitution", fixtures_dir / "anthropic_small.json", "--format", "hf")
    assert wrong.code == 1 and "constitutions" in wrong.output
    bogus = run_cli("import-constitution", fixtures_dir / "anthropic_small.json", "--format", "xml")
    assert bogus.code == 1 and "unknown --format" in bogus.output


def test_import_constitution_directory_input(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("import-constitution", tmp_path, "-o", tmp_path / "out.yaml")
    assert result.code == 1
    assert f"{tmp_path}: " in result.output and "directory" in result.output
    assert "Traceback" not in result.output


def test_import_constitution_directory_output(run_cli: Run, tmp_path: Path, fixtures_dir: Path) -> None:
    result = run_cli("import-constitution", fixtures_dir / "hf_small.json", "-o", tmp_path)
    assert result.code == 1 and "output path is a directory" in result.output


def test_import_constitution_bad_inputs(run_cli: Run, tmp_path: Path) -> None:
    missing = run_cli("import-constitution", tmp_path / "none.json")
    assert missing.code == 1 and "not found" in missing.output
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"a": "caf\xe9"}')
    r = run_cli("import-constitution", latin)
    assert r.code == 1 and f"{latin}:1:" in r.output and "UTF-8" in r.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"a":\n  }')
    r2 = run_cli("import-constitution", broken)
    assert r2.code == 1 and f"{broken}:2:" in r2.output and "invalid JSON" in r2.output
    for r_ in (missing, r, r2):
        assert "Traceback" not in r_.output
