"""Wording sensitivity: rewordings from the critic or a file, stability per principle, fragile flags."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.cli.main import main
from rlaif.constitution import dump_constitution_yaml
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.pairs import make_pairs
from rlaif.feedback.responses import ResponseSet, write_responses
from rlaif.prompting import TemplateSet
from rlaif.stats import clustered_proportion_ci
from rlaif.workbench.sensitivity import load_variants, paraphrase, sensitivity, sensitivity_document

SHORT, LONG = "Hi there.", "Hello, it is very nice to meet you today."
CONST = Constitution(
    name="c",
    principles=(
        Principle(id="length", compare="Which one is longer (Q-LONG)?", critique="c", revision="r"),
        Principle(id="kind", compare="Which one is kinder (Q-KIND)?", critique="c", revision="r"),
    ),
)


def critic() -> MockBackend:
    """Q-LONG/Q-KIND prefer the long response, Q-SHORT the short one; rewordings scripted per principle."""
    m = MockBackend()
    m.add_response(
        "(Q-LONG)?", ["Which reply is lengthier (Q-LONG)?", "Question: Which is more long (Q-LONG)?"]
    )
    # the second rewording of "kind" changes its meaning: it asks for the short response
    m.add_response("(Q-KIND)?", ["Which reply is nicer (Q-KIND)?", "Which reply is briefer (Q-SHORT)?"])
    for q, good in (("Q-LONG", LONG), ("Q-KIND", LONG), ("Q-SHORT", SHORT)):
        first = rf"(?s)<response_a>\n{good}\n</response_a>.*\({q}\)"
        second = rf"(?s)<response_b>\n{good}\n</response_b>.*\({q}\)"
        m.add_score(first, "A", math.log(0.8), regex=True).add_score(first, "B", math.log(0.2), regex=True)
        m.add_score(second, "A", math.log(0.2), regex=True).add_score(second, "B", math.log(0.8), regex=True)
    return m


def sets(n: int = 6) -> list[ResponseSet]:
    return [
        ResponseSet(
            PromptRow(f"q{i}", (ChatMessage("user", f"Greet me {i}."),)),
            (SHORT, LONG) if i % 2 else (LONG, SHORT),
            ("stop", "stop"),
            1,
            "policy",
            "1",
        )
        for i in range(n)
    ]


def test_paraphrases_are_cleaned_and_deduplicated() -> None:
    mock = critic()
    texts = paraphrase(mock, CONST.principles[0], 3, seed=5)
    assert texts == ["Which reply is lengthier (Q-LONG)?", "Which is more long (Q-LONG)?"]
    assert [r.params.seed for r in mock.generate_requests] == [5, 6, 7]


def test_stability_and_fragile_flag() -> None:
    mock = critic()
    texts = {p.id: paraphrase(mock, p, 2) for p in CONST.principles}
    pairs, _ = make_pairs(sets(), "first_two")
    results = sensitivity(pairs, CONST, mock, TemplateSet.load(), texts)
    by = {r.principle: r for r in results}
    assert by["length@1"].stability == clustered_proportion_ci(
        [1.0] * 12, [p.pair_id for p in pairs for _ in (0, 1)]
    )
    assert not by["length@1"].fragile
    # kind: the first rewording agrees on every pair, the second never does -> stability 1/2, fragile
    kind = by["kind@1"]
    assert kind.stability is not None and kind.stability.value == 0.5 and kind.fragile
    assert [e.value for e in kind.per_variant if e] == [1.0, 0.0]
    md = sensitivity_document(results, "t").markdown()
    assert "FRAGILE" in md and "Q-SHORT" in md


def test_variants_file(tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text("kind:\n  - Which one is gentler (Q-KIND)?\n")
    assert load_variants(f, CONST) == {"kind": ["Which one is gentler (Q-KIND)?"]}
    f.write_text("nope:\n  - Which?\n")
    with pytest.raises(DataFileError, match="no principle 'nope'"):
        load_variants(f, CONST)
    f.write_text("kind: just text\n")
    with pytest.raises(DataFileError, match="non-empty list"):
        load_variants(f, CONST)


def test_cli_sensitivity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_responses(tmp_path / "responses", sets(4))
    (tmp_path / "c.yaml").write_text(dump_constitution_yaml(CONST))
    (tmp_path / "v.yaml").write_text("kind:\n  - Which one is gentler?\n  - Which one is friendlier?\n")
    base = [
        "diff-constitution",
        str(tmp_path / "c.yaml"),
        "-r",
        str(tmp_path / "responses"),
        "--backend",
        "mock",
    ]
    rc = main([*base, "--variants", str(tmp_path / "v.yaml"), "-o", str(tmp_path / "s"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "s" / "sensitivity.json").read_text())
    assert [p["principle"] for p in data["principles"]] == ["kind@1"] and data["pairs"] == 4
    assert len(data["principles"][0]["variants"]) == 2
    assert (tmp_path / "s" / "sensitivity.html").is_file()
    rc = main(
        [*base, "--paraphrases", "2", "--principle", "length", "-o", str(tmp_path / "p"), "--no-progress"]
    )
    assert rc == 0
    rc = main([*base, "--paraphrases", "2", "--principle", "missing", "-o", str(tmp_path / "p")])
    assert rc == 1 and "missing" in capsys.readouterr().err
