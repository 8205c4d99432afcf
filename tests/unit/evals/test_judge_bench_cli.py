"""``rlaif eval judge`` and ``rlaif eval injection`` on the mock backend: every layout, reports, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "judge_bench"
HHH = ROOT / "principles/hhh.yaml"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    from rlaif.cli.main import main

    def run(*args: object) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["eval", *(str(a) for a in args)])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


@pytest.mark.parametrize(
    "name", ["trl", "transcript", "llmbar", "judgebench", "pandalm", "mtbench", "rewardbench"]
)
def test_every_layout_gives_a_report(name: str, tmp_path: Path, cli: Callable[..., tuple[int, str]]) -> None:
    out = tmp_path / name
    code, text = cli(
        "judge", DATA / f"{name}.jsonl", "-c", HHH, "--backend", "mock", "--critic", "m", "-o", out
    )
    assert code == 0, text
    assert "| metric | judge | chance | pick-the-longer | pick-the-shorter | pairs |" in text
    report = json.loads((out / "report.json").read_text())
    names = {r["name"] for r in report["rows"]}
    if name == "rewardbench":
        assert names == {"best-of-n accuracy"}
    else:
        assert {"positional agreement", "position bias", "agreement with ties"} <= names
    if name == "pandalm":
        assert {"Brier vs soft label", "ECE vs soft label", "agreement vs soft label"} <= names
    assert (out / "report.md").read_text().startswith("# Judge benchmark")


def test_remedy_switches_are_reported(tmp_path: Path, cli: Callable[..., tuple[int, str]]) -> None:
    code, text = cli(
        "judge", DATA / "llmbar.jsonl", "-c", HHH, "--backend", "mock", "--critic", "m", "-o", tmp_path / "o",
        "--markers", "K,Q", "--batch-calibration", "--consistency-filter", "-k", "1",
    )  # fmt: skip
    assert "remedies: k=1, markers (K)/(Q), batch calibration, order-consistency filter" in text
    # the mock critic is position-biased on every pair: the filter leaves nothing, which is an error
    assert code != 0 and "labeled none of the 3 items" in text and "Traceback" not in text


def test_judge_mode_is_a_switch(tmp_path: Path, cli: Callable[..., tuple[int, str]]) -> None:
    # the mock critic writes no verdict the parser can read: verdict mode leaves every item unlabeled, with a reason
    code, text = cli(
        "judge", DATA / "llmbar.jsonl", "-c", HHH, "--backend", "mock", "--critic", "m", "-o", tmp_path / "v",
        "--judge-mode", "verdict", "-k", "1",
    )  # fmt: skip
    assert "judge mode verdict" in text and "Traceback" not in text
    assert code != 0 and "verdict could not be parsed (after one retry)" in text
    code, text = cli(
        "judge", DATA / "llmbar.jsonl", "-c", HHH, "--backend", "mock", "--critic", "m", "-o", tmp_path / "c",
        "--judge-mode", "choice-logprobs", "-k", "1",
    )  # fmt: skip
    assert code == 0 and "judge mode choice-logprobs" in text


def test_bad_input_is_a_clear_error(tmp_path: Path, cli: Callable[..., tuple[int, str]]) -> None:
    code, text = cli(
        "judge", tmp_path / "missing.jsonl", "-c", HHH, "--backend", "mock", "-o", tmp_path / "o"
    )
    assert code != 0 and "file not found" in text and "Traceback" not in text
    code, text = cli(
        "judge", DATA / "trl.jsonl", "--format", "arena", "--backend", "mock", "-o", tmp_path / "o"
    )
    assert code != 0 and "'--format'" in text and "'arena'" in text and "rewardbench" in text
    code, text = cli(
        "judge", DATA / "trl.jsonl", "--markers", "A,B", "--backend", "mock", "-o", tmp_path / "o"
    )
    assert code != 0 and "other than A and B" in text


def test_injection_command_writes_every_mitigation(
    tmp_path: Path, cli: Callable[..., tuple[int, str]]
) -> None:
    out = tmp_path / "inj"
    code, text = cli(
        "injection", "-c", HHH, "--backend", "mock", "--critic", "m", "-n", "3", "-o", out, "--no-cache"
    )
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    assert set(report["mitigations"]) == {"neutralize", "markers", "defang", "markers+defang"}
    for m in report["mitigations"].values():
        assert m["n_pairs"] == 3 and 0.0 <= m["flip_rate_with"]["low"] <= m["flip_rate_with"]["value"]
    code, text = cli("injection", "--backend", "mock", "--mitigation", "prayer", "-o", out)
    assert code != 0 and "'--mitigation': unknown mitigation 'prayer'" in text
