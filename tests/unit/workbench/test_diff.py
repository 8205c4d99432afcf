"""rlaif diff-constitution: flips, their causes, and the critic calls an edit costs (scripted mock critic)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.cli.main import main
from rlaif.constitution import dump_constitution_yaml, sample_principles
from rlaif.constitution.schema import Constitution, Principle
from rlaif.feedback.call_cache import CachedBackend, CallCache
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.labeler import LabelConfig, principle_seed
from rlaif.feedback.responses import ResponseSet, write_responses
from rlaif.prompting import TemplateSet
from rlaif.workbench.diff import diff_constitutions, diff_document, principle_changes

SHORT, LONG = "Hi there.", "Hello, it is very nice to meet you today."


def p(pid: str, q: str, weight: float = 1.0) -> Principle:
    return Principle(id=pid, compare=f"Which one is better ({q})?", critique="c", revision="r", weight=weight)


def critic() -> MockBackend:
    """Q-LONG and Q-KIND prefer the long response (0.8, 0.7); Q-SHORT prefers the short one (0.9)."""
    m = MockBackend()
    for q, good, prob in (("Q-LONG", LONG, 0.8), ("Q-KIND", LONG, 0.7), ("Q-SHORT", SHORT, 0.9)):
        first = rf"(?s)<response_a>\n{good}\n</response_a>.*\({q}\)"
        second = rf"(?s)<response_b>\n{good}\n</response_b>.*\({q}\)"
        m.add_score(first, "A", math.log(prob), regex=True).add_score(
            first, "B", math.log(1 - prob), regex=True
        )
        m.add_score(second, "A", math.log(1 - prob), regex=True).add_score(
            second, "B", math.log(prob), regex=True
        )
    return m


def responses(n: int = 12) -> list[ResponseSet]:
    return [
        ResponseSet(
            PromptRow(f"q{i}", (ChatMessage("user", f"Greet me, number {i}."),)),
            (SHORT, LONG) if i % 2 else (LONG, SHORT),
            ("stop", "stop"),
            1,
            "policy",
            "1",
        )
        for i in range(n)
    ]


OLD = Constitution(name="c", principles=(p("length", "Q-LONG"), p("kind", "Q-KIND"), p("tone", "Q-KIND")))
# one edit: "length" now asks for the short response; "tone" gets a new critique (no label change)
NEW = Constitution(
    name="c",
    version="2",
    principles=(
        p("length", "Q-SHORT"),
        p("kind", "Q-KIND"),
        p("tone", "Q-KIND").model_copy(update={"critique": "Say what is rude."}),
    ),
)


def test_principle_changes() -> None:
    kinds = {c.id: c.kind for c in principle_changes(OLD, NEW)}
    assert kinds == {"length": "compare", "kind": "unchanged", "tone": "text"}
    extra = Constitution(name="c", principles=(p("kind", "Q-KIND", weight=2.0), p("new", "Q-SHORT")))
    kinds = {c.id: c.kind for c in principle_changes(OLD, extra)}
    assert kinds == {"length": "removed", "kind": "weight", "tone": "removed", "new": "added"}
    assert "-Which one is better (Q-LONG)?" in principle_changes(OLD, NEW)[0].text_diff()


def test_one_edit_rejudges_only_that_principle(tmp_path: Path) -> None:
    mock = critic()
    cached = CachedBackend(mock, CallCache(tmp_path / "cache.sqlite"))
    config = LabelConfig(k=2, progress=False)
    sets = responses()
    diff = diff_constitutions(sets, OLD, NEW, cached, TemplateSet.load(), config)
    # the pairs "length" is drawn for (seeded by pair id, independent of texts)
    with_length = [
        rs.prompt.id
        for rs in sets
        if "length"
        in [
            x.id
            for x in sample_principles(list(OLD.principles), 2, seed=principle_seed(0, f"{rs.prompt.id}:0-1"))
        ]
    ]
    assert 0 < len(with_length) < len(sets)
    assert diff.calls_old == len(sets) * 2 * 2  # every pair, k=2 principles, both orders
    # the new version computed only the edited principle's prompts: 2 orders per pair it is drawn for
    assert diff.calls_new == 2 * len(with_length)
    new_prompts = [r.prompt for c in mock.calls[-1:] for r in c.requests]  # type: ignore[union-attr]
    assert len(new_prompts) == 2 * len(with_length) and all("(Q-SHORT)" in x for x in new_prompts)
    # length's judgement flipped side on every pair it judged; labels flip where it outweighs the other principle
    assert diff.judgement_flips["length"].value == 1.0
    assert diff.flips and {f.cause for f in diff.flips} == {"length"}
    assert {f.cause_kind for f in diff.flips} == {"compare"}
    for f in diff.flips:
        assert (f.p_old - 0.5) * (f.p_new - 0.5) < 0
    # kind (0.7 for LONG) + old length (0.8 LONG) -> 0.75 LONG; with new length (0.9 SHORT) -> 0.4 LONG: flips
    assert len(diff.flips) == len(with_length)
    # a second diff: everything from the cache
    again = diff_constitutions(sets, OLD, NEW, cached, TemplateSet.load(), config)
    assert (again.calls_old, again.calls_new) == (0, 0)
    doc = diff_document(diff)
    assert "length" in doc.markdown() and "<table>" in doc.html()


def test_cli_diff_writes_markdown_html_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_responses(tmp_path / "responses", responses(6))
    (tmp_path / "old.yaml").write_text(dump_constitution_yaml(OLD))
    (tmp_path / "new.yaml").write_text(dump_constitution_yaml(NEW))
    args = ["diff-constitution", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")]
    opts = ["--responses", str(tmp_path / "responses"), "--backend", "mock", "--critic", "x", "-k", "2"]
    rc = main([*args, *opts, "-o", str(tmp_path / "diff"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "diff" / "diff.json").read_text())
    assert [c["kind"] for c in data["changes"]] == ["compare", "unchanged", "text"]
    assert data["critic_calls"]["new"] <= data["critic_calls"]["old"]
    assert (tmp_path / "diff" / "diff.html").read_text().startswith("<!DOCTYPE html>")
    assert "# Constitution diff" in (tmp_path / "diff" / "diff.md").read_text()


def test_cli_diff_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.yaml").write_text("name: x\nprinciples: []\n")
    write_responses(tmp_path / "responses", responses(2))
    rc = main(
        ["diff-constitution", str(tmp_path / "old.yaml"), str(tmp_path / "old.yaml"), "--responses",
         str(tmp_path / "responses"), "--backend", "mock", "-o", str(tmp_path / "d")]
    )  # fmt: skip
    assert rc == 1
    err = capsys.readouterr().err
    assert "old.yaml" in err and "principles" in err and "Traceback" not in err
    rc = main(
        [
            "diff-constitution",
            str(tmp_path / "old.yaml"),
            "--responses",
            str(tmp_path / "r"),
            "-o",
            str(tmp_path / "d"),
        ]
    )
    assert rc == 1
    assert "NEW" in capsys.readouterr().err


def test_document_escapes_untrusted_text() -> None:
    from rlaif.workbench.document import Document

    doc = Document("t <b>")
    doc.table(["a"], [["<script>alert(1)</script>"]])
    doc.pre("-<old>\n+<new>", diff=True)
    html = doc.html()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert '<span class="del">-&lt;old&gt;</span>' in html and "```diff" in doc.markdown()
