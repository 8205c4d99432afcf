"""``rlaif score-responses`` on the mock backend: happy path, garbage critic output, bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.feedback.dataset_io import read_rows
from rlaif.feedback.inputs import PromptRow

ROOT = Path(__file__).resolve().parents[3]
HHH = ROOT / "principles/hhh.yaml"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    from rlaif.cli.main import main

    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main(["score-responses", *(str(a) for a in args)])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def responses(tmp_path: Path) -> Path:
    from rlaif.feedback.responses import ResponseSet, write_responses

    sets = [
        ResponseSet(
            PromptRow(f"q{i}", (ChatMessage("user", f"Question {i}?"),)),
            ("GOOD reply.", "BAD reply."),
            ("stop", "stop"),
            seed=i,
            policy_model="gen",
            policy_revision="1",
        )
        for i in range(2)
    ]
    write_responses(tmp_path / "responses", sets)
    return tmp_path / "responses"


def scripted(monkeypatch: pytest.MonkeyPatch, garbage: bool = False) -> None:
    def make(name: str, model: str | None = None, **options: Any) -> MockBackend:
        mock = MockBackend(model)
        if garbage:
            mock.add_garbage("Score: [[")
        for n in range(1, 11):
            good = math.log(1.0) if n == 9 else -math.inf
            bad = math.log(0.5) if n in (2, 3) else -math.inf
            mock.add_score("GOOD reply.", f"{n}]]", good).add_score("BAD reply.", f"{n}]]", bad)
        return mock

    monkeypatch.setattr("rlaif.backends.registry.make_backend", make)


def test_happy_path(
    cli: Callable[..., Result], responses: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(monkeypatch)
    out = tmp_path / "scores"
    r = cli(
        "--responses", responses, "-c", HHH, "--critic", "smollm2", "-k", "2", "-o", out, "--backend", "mock"
    )
    assert r.code == 0, r.err
    assert "scored 4 of 4" in r.out
    rows = read_rows(out)
    assert [x["item_id"] for x in rows] == ["q0:0", "q0:1", "q1:0", "q1:1"]
    assert [x["score"] for x in rows] == pytest.approx([9.0, 2.5, 9.0, 2.5])
    assert rows[1]["score_normalized"] == pytest.approx(1.5 / 9) and rows[1]["score_range"] == [1.0, 10.0]
    assert json.loads(rows[1]["distribution"])["3"] == pytest.approx(0.5)
    assert len(rows[0]["principles"]) == 2 and len(json.loads(rows[0]["per_principle"])) == 2
    assert rows[0]["response"] == "GOOD reply." and rows[0]["prompt"] == [
        {"role": "user", "content": "Question 0?"}
    ]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "4 scored, 0 left unscored" in card and "```yaml" in card


def test_real_mock_backend(cli: Callable[..., Result], responses: Path, tmp_path: Path) -> None:
    r = cli("--responses", responses, "-c", HHH, "-o", tmp_path / "s", "--backend", "mock", "--no-cache")
    assert r.code == 0, r.err
    assert all(1.0 <= x["score"] <= 10.0 for x in read_rows(tmp_path / "s"))


def test_garbage_critic_output_is_unscored_and_counted(
    cli: Callable[..., Result], responses: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(monkeypatch, garbage=True)
    r = cli("--responses", responses, "-c", HHH, "-o", tmp_path / "s", "--backend", "mock")
    assert r.code == 1
    assert "unscored: 4 response(s): critic returned non-finite log-probabilities" in r.out
    assert "scored none of the 4" in r.err
    assert not (tmp_path / "s" / "data.parquet").exists()
    assert "4 left unscored" in (tmp_path / "s" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--responses", "missing-folder"], "dataset not found"),
        (["-k", "0"], "field '--k': Input should be greater than or equal to 1 (got 0)"),
        (["-k", "99"], "cannot sample 99"),
        (["--template", "critique"], "declares no choices"),
    ],
)
def test_bad_input(
    cli: Callable[..., Result], responses: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    r = cli("--responses", responses, "-c", HHH, "-o", tmp_path / "s", "--backend", "mock", *extra)
    assert r.code == 1 and message in r.err and "Traceback" not in r.err
