"""Reading labels: clear errors naming row and column, principle resolution, splitting by prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.constitution import load_constitution
from rlaif.errors import DataFileError
from rlaif.reward import load_reward_pairs, split_pairs

from .conftest import write_labels


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(**kw: object) -> dict:
    base = {
        "prompt": "Hi?",
        "chosen": "Hello.",
        "rejected": "HELLO!",
        "p_chosen": 0.8,
        "principles": ["no_exclamations"],
    }
    base.update(kw)
    return base


def test_reads_rows_and_resolves_principles(tmp_path: Path, style_path: Path) -> None:
    style = load_constitution(style_path)
    pairs = load_reward_pairs(write_labels(tmp_path / "l.jsonl", 5), style)
    assert len(pairs) == 5
    assert pairs[0].principles == (style.get("no_exclamations"),)
    assert pairs[0].p_chosen == 0.9 and pairs[0].row == 1 and pairs[0].prompt_id == "q0"
    assert pairs[0].conversation[0].content == "Question number 0?"


def test_probability_outside_unit_interval_names_row_and_column(tmp_path: Path, style_path: Path) -> None:
    f = _write(tmp_path / "l.jsonl", [_row(), _row(), _row(p_chosen=1.3)])
    with pytest.raises(DataFileError) as e:
        load_reward_pairs(f, load_constitution(style_path))
    problem = e.value.problems[0]
    assert problem.line == 3 and problem.field == "p_chosen"
    assert "row 3" in problem.message and "outside [0, 1]" in problem.message


def test_missing_column_in_parquet_names_it(tmp_path: Path, style_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_row() for _ in range(3)]
    for r in rows:
        del r["p_chosen"]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "l.parquet")
    with pytest.raises(DataFileError) as e:
        load_reward_pairs(tmp_path / "l.parquet", load_constitution(style_path))
    assert e.value.problem.field == "p_chosen"
    assert "lacks the column(s) 'p_chosen'" in e.value.problem.message
    # hard labels need no p_chosen: every row then means chosen wins
    pairs = load_reward_pairs(tmp_path / "l.parquet", load_constitution(style_path), hard_labels=True)
    assert [p.p_chosen for p in pairs] == [1.0, 1.0, 1.0]


def test_missing_column_in_jsonl_row(tmp_path: Path, style_path: Path) -> None:
    bad = _row()
    del bad["rejected"]
    with pytest.raises(DataFileError) as e:
        load_reward_pairs(_write(tmp_path / "l.jsonl", [_row(), bad]), load_constitution(style_path))
    assert e.value.problem.line == 2 and e.value.problem.field == "rejected"


@pytest.mark.parametrize(
    ("principles", "message"),
    [
        ([], "empty principles list"),
        (["nope"], "unknown principle 'nope'"),
        (["concise@7"], "labelled under concise@7"),
    ],
)
def test_bad_principles(tmp_path: Path, style_path: Path, principles: list, message: str) -> None:
    with pytest.raises(DataFileError) as e:
        load_reward_pairs(
            _write(tmp_path / "l.jsonl", [_row(principles=principles)]), load_constitution(style_path)
        )
    assert e.value.problem.field == "principles" and message in e.value.problem.message


def test_every_bad_row_is_reported(tmp_path: Path, style_path: Path) -> None:
    f = _write(
        tmp_path / "l.jsonl", [_row(p_chosen="x", weight=1), _row(chosen="", weight=1), _row(weight=-1)]
    )
    with pytest.raises(DataFileError) as e:
        load_reward_pairs(f, load_constitution(style_path), weight_column="weight")
    assert [(p.line, p.field) for p in e.value.problems] == [(1, "p_chosen"), (2, "chosen"), (3, "weight")]


def test_hard_labels_round_and_margins_weights_read(tmp_path: Path, style_path: Path) -> None:
    f = _write(tmp_path / "l.jsonl", [_row(p_chosen=0.3, m=0.5, w=2.0)])
    [pair] = load_reward_pairs(
        f, load_constitution(style_path), hard_labels=True, margin_column="m", weight_column="w"
    )
    assert (pair.p_chosen, pair.margin, pair.weight) == (0.0, 0.5, 2.0)


def test_split_keeps_prompts_apart(tmp_path: Path, style_path: Path) -> None:
    pairs = load_reward_pairs(write_labels(tmp_path / "l.jsonl", 20), load_constitution(style_path))
    train, val = split_pairs(pairs, 0.25, seed=0)
    assert len(val) == 5 and len(train) == 15
    assert not {p.prompt_id for p in train} & {p.prompt_id for p in val}
    assert split_pairs(pairs, 0.25, seed=0) == (train, val)
    assert split_pairs(pairs, 0.0, seed=0) == (pairs, [])


def test_dpo_and_the_reward_model_read_one_labels_dataset_alike(tmp_path: Path, style_path: Path) -> None:
    """Same file, same hash (sha256 of its bytes) and the same words for the same bad row."""
    import hashlib

    from rlaif.feedback.labels_dataset import labels_sha256
    from rlaif.policy import read_preferences

    good = _write(tmp_path / "good.jsonl", [_row(pair_id="a"), _row(pair_id="b", p_chosen=0.6)])
    expected = hashlib.sha256(good.read_bytes()).hexdigest()
    data = read_preferences(good)
    pairs = load_reward_pairs(good, load_constitution(style_path))
    assert data.sha256 == labels_sha256(good) == expected
    assert [r.pair_id for r in data.rows] == [p.pair_id for p in pairs] == ["a", "b"]
    assert [r.p_chosen for r in data.rows] == [p.p_chosen for p in pairs] == [0.8, 0.6]
    bad = _write(tmp_path / "bad.jsonl", [_row(), _row(p_chosen=2)])
    with pytest.raises(DataFileError) as dpo:
        read_preferences(bad)
    with pytest.raises(DataFileError) as rm:
        load_reward_pairs(bad, load_constitution(style_path))
    assert dpo.value.problem == rm.value.problem
    assert (dpo.value.problem.line, dpo.value.problem.field) == (2, "p_chosen")
    assert (
        dpo.value.problem.message == "row 2, column 'p_chosen': 2 is outside [0, 1]: a label is a probability"
    )
    (tmp_path / "empty").mkdir()
    for read in (read_preferences, lambda p: load_reward_pairs(p, load_constitution(style_path))):
        with pytest.raises(DataFileError, match=r"this folder holds no data\.parquet"):
            read(tmp_path / "empty")
