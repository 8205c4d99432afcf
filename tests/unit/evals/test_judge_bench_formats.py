"""Judge-benchmark layouts: detection, the human verdict each one carries, and errors naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.errors import DataFileError
from rlaif.evals.judge_bench.formats import detect_format, load_bench

DATA = Path(__file__).resolve().parents[2] / "data" / "judge_bench"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("trl", "trl"),
        ("transcript", "transcript"),
        ("llmbar", "llmbar"),
        ("judgebench", "judgebench"),
        ("pandalm", "pandalm"),
        ("mtbench", "mtbench"),
        ("rewardbench", "rewardbench"),
    ],
)
def test_each_layout_is_detected(name: str, fmt: str) -> None:
    got, items = load_bench(DATA / f"{name}.jsonl")
    assert got == fmt
    assert items and all(len(i.responses) >= 2 for i in items)
    assert all(i.conversation[-1].role == "user" for i in items)


def test_verdicts_of_each_layout() -> None:
    _, llmbar = load_bench(DATA / "llmbar.jsonl")
    assert [i.winner for i in llmbar] == [0, 1, 0]
    _, jb = load_bench(DATA / "judgebench.jsonl")
    assert [(i.id, i.winner) for i in jb] == [("jb1", 0), ("jb2", 1), ("jb3", 0)]
    _, panda = load_bench(DATA / "pandalm.jsonl")
    # votes 1,1,1 -> 1.0; 2,0,1 -> (0 + .5 + 1)/3 = .5 (a tie); 2,2,0 -> (0 + 0 + .5)/3
    assert [i.soft for i in panda] == [1.0, 0.5, pytest.approx(1 / 6)]
    assert [i.winner for i in panda] == [0, None, 1]
    assert all(i.annotators == 3 for i in panda)
    _, mt = load_bench(DATA / "mtbench.jsonl")
    assert [i.winner for i in mt] == [0, None, 1]
    assert (
        mt[0].responses[1] == "Rain is wet." and mt[0].conversation[0].content == "Write a haiku about rain."
    )
    _, rb = load_bench(DATA / "rewardbench.jsonl")
    assert [len(i.responses) for i in rb] == [4, 3] and all(i.best_of_n and i.winner == 0 for i in rb)
    assert rb[0].responses[0] == "Tokyo."


def test_forced_format_and_unknown_layout(tmp_path: Path) -> None:
    fmt, items = load_bench(DATA / "trl.jsonl", "trl")
    assert fmt == "trl" and len(items) == 2
    with pytest.raises(ValueError, match="cannot tell the layout"):
        detect_format({"question": "q", "answer": "a"})
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    with pytest.raises(DataFileError, match="cannot tell the layout") as e:
        load_bench(f)
    assert e.value.problem.line == 1


def test_bad_rows_name_their_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "jb.jsonl"
    rows = [
        {"pair_id": "a", "question": "q", "response_A": "x", "response_B": "y", "label": "A>B"},
        {"pair_id": "b", "question": "q", "response_A": "x", "response_B": "y", "label": "A>>>B"},
        {"pair_id": "c", "question": "q", "response_A": "", "response_B": "y", "label": "B>A"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataFileError) as e:
        load_bench(f)
    found = {(p.line, p.message.split(" ")[0]) for p in e.value.problems}
    assert (2, "'label'") in found and (3, "'response_A'") in found
    fmt, items = load_bench(f, skip_bad_rows=True)
    assert fmt == "judgebench" and [i.id for i in items] == ["a"]


def test_duplicate_ids_and_pandalm_votes(tmp_path: Path) -> None:
    f = tmp_path / "dup.jsonl"
    row = {"id": "same", "prompt": "p", "chosen": "c", "rejected": "r"}
    f.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataFileError, match="duplicate row id 'same'") as e:
        load_bench(f)
    assert e.value.problem.line == 2
    g = tmp_path / "p.jsonl"
    g.write_text(json.dumps({"instruction": "i", "response1": "a", "response2": "b", "annotator1": 3}) + "\n")
    with pytest.raises(DataFileError, match="annotator1"):
        load_bench(g)


def test_shipped_gold_set_is_length_balanced() -> None:
    root = Path(__file__).resolve().parents[3]
    fmt, items = load_bench(root / "data" / "gold" / "pairs.jsonl")
    assert fmt == "trl" and 40 <= len(items) <= 60
    longer_chosen = sum(len(i.responses[0]) > len(i.responses[1]) for i in items)
    assert longer_chosen == len(items) // 2
