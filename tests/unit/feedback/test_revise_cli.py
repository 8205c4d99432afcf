"""``rlaif revise`` on the mock backend: happy paths (prompts and responses), resume, and bad input."""

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
SMOKE = ROOT / "data/prompts/smoke.jsonl"


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
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def scripted_backends(monkeypatch: pytest.MonkeyPatch, made: list[MockBackend]) -> None:
    """Make every backend the CLI opens a scripted mock: revisions preferred in both orders."""

    def make(name: str, model: str | None = None, **options: Any) -> MockBackend:
        mock = MockBackend(model)
        mock.add_response("Critique request:", "Critique: it is vague.")
        mock.add_response("Revision request:", "Revision: REVISED reply.")
        mock.add_response("", "ORIGINAL reply.")
        first_is_revision = r"<response_a>\nREVISED"
        mock.add_score(first_is_revision, "A", math.log(0.9), regex=True)
        mock.add_score(first_is_revision, "B", math.log(0.1), regex=True)
        mock.add_score("Answer: (", "A", math.log(0.2)).add_score("Answer: (", "B", math.log(0.8))
        made.append(mock)
        return mock

    monkeypatch.setattr("rlaif.backends.registry.make_backend", make)


def test_happy_path_from_prompts(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[MockBackend] = []
    scripted_backends(monkeypatch, made)
    out = tmp_path / "rev"
    args = [
        "revise",
        "--prompts",
        SMOKE,
        "-c",
        HHH,
        "--policy",
        "smollm2",
        "--critic",
        "smollm2",
        "--rounds",
        "1",
    ]
    r = cli(*args, "-o", out, "--backend", "mock", "-n", "3")
    assert r.code == 0, r.err
    assert len(made) == 1  # the same model for policy and critic: loaded once
    assert "preferred in both orders: 3/3" in r.out and "preference pairs" in r.out
    pairs = read_rows(out / "pairs")
    assert [p["prompt_id"] for p in pairs] == ["smoke-001", "smoke-002", "smoke-003"]
    assert pairs[0]["chosen"] == "REVISED reply." and pairs[0]["rejected"] == "ORIGINAL reply."
    assert pairs[0]["p_chosen"] == pytest.approx(0.85)  # (0.9 + 0.8) / 2
    assert json.loads(pairs[0]["params"])["accept"] == "both_orders"
    sft = read_rows(out / "sft")
    assert sft[0]["messages"][-1] == {"role": "assistant", "content": "REVISED reply."}
    assert (out.parent / ".rlaif-cache.sqlite").exists() and (out / "pairs" / "README.md").exists()
    # a rerun answers every call from the cache and writes the same bytes
    before = (out / "pairs" / "data.parquet").read_bytes()
    made.clear()
    assert cli(*args, "-o", out, "--backend", "mock", "-n", "3").code == 0
    assert made[0].calls == [] and (out / "pairs" / "data.parquet").read_bytes() == before


def test_happy_path_from_a_responses_dataset(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rlaif.feedback.responses import ResponseSet, write_responses

    made: list[MockBackend] = []
    scripted_backends(monkeypatch, made)
    sets = [
        ResponseSet(
            PromptRow(f"q{i}", (ChatMessage("user", f"Question {i}?"),)),
            ("ORIGINAL reply.", "Another reply."),
            ("stop", "stop"),
            seed=i,
            policy_model="gen-model",
            policy_revision="r1",
        )
        for i in range(2)
    ]
    write_responses(tmp_path / "responses", sets)
    out = tmp_path / "rev"
    r = cli(
        "revise",
        "--responses",
        tmp_path / "responses",
        "-c",
        HHH,
        "--backend",
        "mock",
        "-o",
        out,
        "--accept",
        "always",
        "--no-cache",
    )
    assert r.code == 0, r.err
    rows = read_rows(out / "pairs")
    assert [(x["prompt_id"], x["rejected"], x["response_source"]) for x in rows] == [
        ("q0", "ORIGINAL reply.", "given"),
        ("q1", "ORIGINAL reply.", "given"),
    ]
    # nothing was generated for the initial responses: only critiques and revisions
    generated = [made[0].prompt_text(g.prompt) for g in made[0].generate_requests]
    assert len(generated) == 4 and all("request:" in g for g in generated)
    assert not (out.parent / ".rlaif-cache.sqlite").exists()
    r = cli(
        "revise",
        "--responses",
        tmp_path / "responses",
        "-c",
        HHH,
        "--backend",
        "mock",
        "-o",
        out,
        "--response-index",
        "2",
    )
    assert r.code == 1 and "no response 2" in r.err


def test_real_mock_backend_end_to_end(cli: Callable[..., Result], tmp_path: Path) -> None:
    # the unscripted mock language model: junk text, but every stage runs and writes loadable datasets
    out = tmp_path / "rev"
    r = cli(
        "revise",
        "--prompts",
        SMOKE,
        "-c",
        HHH,
        "--backend",
        "mock",
        "-o",
        out,
        "-n",
        "2",
        "--response-max-new-tokens",
        "20",
        "--critique-max-new-tokens",
        "20",
        "--revision-max-new-tokens",
        "30",
        "--keep-truncated",
        "--accept",
        "always",
    )
    assert r.code == 0, r.err
    assert len(read_rows(out / "sft")) == 2 and len(read_rows(out / "pairs")) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prompts", "missing.jsonl"], "file not found"),
        (["--responses", "missing-folder"], "dataset not found"),
        ([], "give either --prompts"),
        (["--prompts", SMOKE, "--responses", SMOKE], "give either --prompts"),
        (
            ["--prompts", SMOKE, "--rounds", "0"],
            "'--rounds': Input should be greater than or equal to 1 (got 0)",
        ),
        (["--prompts", SMOKE, "--judge-mode", "psychic"], "'--judge-mode': Input should be 'auto'"),
        (["--prompts", SMOKE, "--min-choice-mass", "2"], "'--min-choice-mass'"),
        (["--prompts", SMOKE, "--backend", "nope"], "unknown backend"),
        (["--prompts", SMOKE, "--backend-option", "oops"], "not key=value"),
    ],
)
def test_bad_input_exits_1_without_traceback(
    cli: Callable[..., Result], tmp_path: Path, extra: list[object], message: str
) -> None:
    r = cli("revise", "-c", HHH, "--backend", "mock", "-o", tmp_path / "o", *extra)
    assert r.code == 1 and message in r.err and "Traceback" not in r.err


def test_bad_prompt_file_names_the_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "fine"}\n{"id": "b"}\n', encoding="utf-8")
    r = cli("revise", "-c", HHH, "--backend", "mock", "-o", tmp_path / "o", "--prompts", bad)
    assert r.code == 1 and "bad.jsonl:2" in r.err
    missing_constitution = cli(
        "revise", "-c", tmp_path / "none.yaml", "--prompts", SMOKE, "--backend", "mock"
    )
    assert missing_constitution.code == 1 and "none.yaml" in missing_constitution.err
