"""rlaif extract-constitution: a scripted critic recovers the two principles planted in the preference data."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import ChatMessage, ScoreRequest, ScoreResult
from rlaif.backends.mock import MockBackend, MockCall
from rlaif.cli.main import main
from rlaif.constitution import load_constitution
from rlaif.feedback.inputs import PreferencePair
from rlaif.prompting import TemplateSet
from rlaif.workbench.extract import (
    ExtractConfig,
    cluster_candidates,
    extract_constitution,
    extraction_document,
    parse_candidates,
    split_pairs,
)

CONCISE = "Which response is more concise?"
APOLOGY = "Which response avoids needless apologies?"


def planted_pairs(n: int = 40) -> list[PreferencePair]:
    """Half the pairs prefer the much shorter reply, half the reply that does not open with an apology."""
    out = []
    for i in range(n):
        topic = f"topic {i}"
        if i % 2 == 0:
            chosen = f"The answer about {topic} is seven."
            rejected = (
                f"Well, there is a great deal one could say about {topic}, and many people have written "
                f"about it at length over the years, but in the end the answer is seven."
            )
        else:
            chosen = f"The answer about {topic} is seven, as measured."
            rejected = f"Sorry, I think the answer about {topic} is seven."
        out.append(
            PreferencePair(
                f"pair-{i:02d}", (ChatMessage("user", f"Tell me about {topic}."),), chosen, rejected
            )
        )
    return out


def _between(tag: str, text: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1) if m else ""


class PlantedCritic(MockBackend):
    """Proposes the planted principles (two wordings of one) plus noise; judges each principle by its meaning."""

    def __init__(self) -> None:
        super().__init__("planted")
        self.add_response("preferred_response", self._propose)

    @staticmethod
    def _propose(prompt: str) -> str:
        good, bad = _between("preferred_response", prompt), _between("rejected_response", prompt)
        lines = ["1. Which response is more polite?"]
        if 1.3 * len(good) < len(bad):
            lines.append("2. " + (CONCISE if len(good) % 2 else "Which response is more concise and brief?"))
            lines.append("3. Which response mentions the weather")
        if "sorry" in bad.lower() and "sorry" not in good.lower():
            lines.append(f"- {APOLOGY}")
        return "\n".join(lines)

    @staticmethod
    def _p_first(question: str, a: str, b: str) -> float:
        if "concise" in question:
            if 1.3 * len(a) < len(b):
                return 0.85
            return 0.15 if 1.3 * len(b) < len(a) else 0.5
        if "apolog" in question:
            sa, sb = "sorry" in a.lower(), "sorry" in b.lower()
            return 0.5 if sa == sb else (0.15 if sa else 0.85)
        if "weather" in question:  # prefers the longer reply: wrong about the planted preferences
            return 0.8 if len(a) > len(b) else 0.2
        return 0.5

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        self.calls.append(MockCall("score", tuple(requests)))
        out = []
        for r in requests:
            q = re.search(r"Question: (.*)", r.prompt)
            p = self._p_first(
                q.group(1) if q else "", _between("response_a", r.prompt), _between("response_b", r.prompt)
            )
            out.append(ScoreResult((math.log(p), math.log(1 - p)), (1, 1)))
        return out


def test_parse_and_cluster() -> None:
    text = "1. Which response is more concise?\n- avoids needless apologies.\nok\n* Which response is clearer"
    assert parse_candidates(text, 5) == [
        CONCISE,
        "Which response better follows this principle: avoids needless apologies?",
        "Which response is clearer?",
    ]
    clusters = cluster_candidates(
        [
            [CONCISE, "Which response is more polite?"],
            [CONCISE],
            ["Which response is more concise and brief?"],
        ],
        0.6,
    )
    assert [(c.text, c.support) for c in clusters] == [(CONCISE, 3), ("Which response is more polite?", 1)]


def test_split_is_by_id_and_complete() -> None:
    pairs = planted_pairs(10)
    prop, held, test = split_pairs(pairs, ExtractConfig(held_out=0.4, test=0.2))
    assert (len(prop), len(held), len(test)) == (4, 4, 2)
    assert sorted(p.id for p in prop + held + test) == sorted(p.id for p in pairs)
    again = split_pairs(list(reversed(pairs)), ExtractConfig(held_out=0.4, test=0.2))
    assert [p.id for p in again[1]] == [p.id for p in held]


def test_recovers_the_planted_principles(tmp_path: Path) -> None:
    critic = PlantedCritic()
    result = extract_constitution(planted_pairs(), critic, TemplateSet.load(), ExtractConfig())
    by = {c.text: c for c in result.candidates}
    assert set(by) == {
        CONCISE,
        APOLOGY,
        "Which response is more polite?",
        "Which response mentions the weather?",
    }
    assert [c.compare for c in result.constitution.principles] == [CONCISE, APOLOGY] or [
        c.compare for c in result.constitution.principles
    ] == [APOLOGY, CONCISE]
    assert {p.id for p in result.constitution.principles} == {"concise", "avoids-needless-apologies"}
    # each planted principle decides about half the held-out pairs, always for the preferred reply
    for text in (CONCISE, APOLOGY):
        c = by[text]
        assert c.agreement_when_relevant is not None and c.agreement_when_relevant.value == 1.0
        assert c.relevance is not None and 0.2 < c.relevance.value < 0.8
    assert by["Which response is more polite?"].relevance.value == 0.0  # type: ignore[union-attr]
    assert by["Which response mentions the weather?"].agreement.value < 0.5  # type: ignore[union-attr]
    # together they reconstruct every test pair
    assert result.test_agreement is not None and result.test_agreement.value == 1.0
    # the YAML loads with rlaif's loader and carries the metrics as comments
    path = tmp_path / "c.yaml"
    path.write_text(result.yaml_text)
    loaded = load_constitution(path)
    assert loaded == result.constitution and "reconstruction agreement" in result.yaml_text
    assert "kept" in extraction_document(result).markdown() or "yes" in extraction_document(result).markdown()


def _write_pairs(path: Path, pairs: list[PreferencePair]) -> None:
    rows = [
        {"id": p.id, "prompt": p.conversation[0].content, "chosen": p.chosen, "rejected": p.rejected}
        for p in pairs
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_cli_extract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import rlaif.feedback.call_cache as call_cache

    def fake_open(*args: Any, **kwargs: Any) -> PlantedCritic:
        return PlantedCritic()

    monkeypatch.setattr(call_cache, "open_backend", fake_open)
    _write_pairs(tmp_path / "pairs.jsonl", planted_pairs())
    rc = main(
        [
            "extract-constitution",
            "--pairs",
            str(tmp_path / "pairs.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--backend",
            "mock",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    const = load_constitution(tmp_path / "x" / "constitution.yaml")
    assert {p.id for p in const.principles} == {"concise", "avoids-needless-apologies"}
    data = json.loads((tmp_path / "x" / "extract.json").read_text())
    assert sorted(data["selected"]) == ["avoids-needless-apologies", "concise"]
    assert (tmp_path / "x" / "extract.html").is_file()
    # refuses to overwrite without --force
    rc = main(
        [
            "extract-constitution",
            "--pairs",
            str(tmp_path / "pairs.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--backend",
            "mock",
        ]
    )
    assert rc == 1 and "--force" in capsys.readouterr().err


def test_cli_extract_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "extract-constitution",
            "--pairs",
            str(tmp_path / "none.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--backend",
            "mock",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "none.jsonl" in err and "Traceback" not in err
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x", "chosen": "a", "rejected": "b"}\n{"prompt": "y"}\n')
    rc = main(
        [
            "extract-constitution",
            "--pairs",
            str(tmp_path / "bad.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--backend",
            "mock",
        ]
    )
    assert rc == 1 and "bad.jsonl:2" in capsys.readouterr().err
    _write_pairs(tmp_path / "two.jsonl", planted_pairs(1))
    rc = main(
        [
            "extract-constitution",
            "--pairs",
            str(tmp_path / "two.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--backend",
            "mock",
        ]
    )
    assert rc == 1 and "too few" in capsys.readouterr().err
    rc = main(
        [
            "extract-constitution",
            "--pairs",
            str(tmp_path / "two.jsonl"),
            "--held-out",
            "1.5",
            "--backend",
            "mock",
        ]
    )
    said = capsys.readouterr().err
    assert (
        rc == 1
        and "field '--held-out': Input should be less than 1 (got 1.5)" in said
        and "Traceback" not in said
    )


def test_cli_extract_nothing_passes_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The unscripted mock writes gibberish principles: none reconstructs anything, so exit 1, reports written."""
    _write_pairs(tmp_path / "pairs.jsonl", planted_pairs(8))
    rc = main(
        [
            "extract-constitution",
            "--pairs",
            str(tmp_path / "pairs.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--backend",
            "mock",
            "--no-cache",
        ]
    )
    assert rc == 1
    assert "no candidate principle" in capsys.readouterr().err
    assert (tmp_path / "x" / "extract.md").is_file() and not (tmp_path / "x" / "constitution.yaml").exists()


def test_above_chance_keeps_only_significant_candidates() -> None:
    result = extract_constitution(
        planted_pairs(), PlantedCritic(), TemplateSet.load(), ExtractConfig(above_chance=True)
    )
    kept = [c for c in result.candidates if c.selected]
    assert kept and all(c.agreement is not None and c.agreement.low > 0.5 for c in kept)
    loose = extract_constitution(planted_pairs(), PlantedCritic(), TemplateSet.load(), ExtractConfig())
    assert {c.id for c in kept} <= {c.id for c in loose.candidates if c.selected}
