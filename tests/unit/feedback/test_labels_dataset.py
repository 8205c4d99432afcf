"""One labels-dataset reader: locating the data file, its hash, records with row numbers, the shared columns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlaif.errors import DataFileError
from rlaif.feedback.dataset_io import write_rows
from rlaif.feedback.inputs import BadRow
from rlaif.feedback.labels_dataset import (
    RowProblem,
    label_columns,
    label_records,
    labels_file,
    labels_sha256,
    parse_label_row,
    raise_row_problems,
    read_label_columns,
    row_problem,
)

ROWS = [
    {"pair_id": "p0", "prompt": "Hi?", "chosen": "Hello.", "rejected": "HELLO!", "p_chosen": 0.8},
    {
        "pair_id": "p1",
        "prompt_id": "q1",
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Colour?"}],
        "chosen": [{"role": "assistant", "content": "Blue."}],
        "rejected": [{"role": "assistant", "content": "Well, blue, I think."}],
        "p_chosen": 1.0,
    },
]

#: ROWS mix plain and conversational values, which one parquet column cannot hold as they are
JSON_COLUMNS = ("prompt", "chosen", "rejected")


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_folder_means_its_data_parquet_and_a_file_is_itself(tmp_path: Path) -> None:
    written = write_rows(tmp_path / "labels", ROWS, json_columns=JSON_COLUMNS)
    assert labels_file(tmp_path / "labels") == written == tmp_path / "labels" / "data.parquet"
    assert labels_file(written) == written
    jsonl = _jsonl(tmp_path / "l.jsonl", [json.dumps(r) for r in ROWS])
    assert labels_file(str(jsonl)) == jsonl


def test_missing_path_and_folder_without_data_parquet_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataFileError) as e:
        labels_file(tmp_path / "nowhere")
    assert e.value.problem.path == str(tmp_path / "nowhere")
    assert "labels dataset not found" in e.value.problem.message and "data.parquet" in e.value.problem.message
    assert "rlaif label" in (e.value.hint or "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match=r"this folder holds no data\.parquet") as e:
        labels_file(tmp_path / "empty")
    assert e.value.problem.path == str(tmp_path / "empty")


def test_hash_is_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    written = write_rows(tmp_path / "labels", ROWS, json_columns=JSON_COLUMNS)
    expected = hashlib.sha256(written.read_bytes()).hexdigest()
    assert labels_sha256(tmp_path / "labels") == labels_sha256(written) == expected
    jsonl = _jsonl(tmp_path / "l.jsonl", [json.dumps(ROWS[0])])
    assert labels_sha256(jsonl) == hashlib.sha256(jsonl.read_bytes()).hexdigest()


def test_parquet_and_jsonl_give_the_same_rows(tmp_path: Path) -> None:
    conversational = ROWS[1]
    plain = ROWS[0]
    pq.write_table(pa.Table.from_pylist([plain]), tmp_path / "plain.parquet")
    pq.write_table(pa.Table.from_pylist([conversational]), tmp_path / "chat.parquet")
    jsonl = _jsonl(tmp_path / "l.jsonl", [json.dumps(r) for r in ROWS])
    [(_, p0)] = list(label_records(tmp_path / "plain.parquet"))
    [(_, p1)] = list(label_records(tmp_path / "chat.parquet"))
    from_parquet = [parse_label_row(1, p0), parse_label_row(2, p1)]
    from_jsonl = [parse_label_row(n, r) for n, r in label_records(jsonl)]
    assert from_parquet == from_jsonl
    first, second = from_jsonl
    assert (first.row, first.pair_id, first.prompt_id, first.prompt) == (1, "p0", "p0", "Hi?")
    assert first.conversation[0].role == "user" and first.conversation[0].content == "Hi?"
    assert (first.chosen, first.rejected, first.p_chosen) == ("Hello.", "HELLO!", 0.8)
    assert (second.row, second.pair_id, second.prompt_id) == (2, "p1", "q1")
    assert [m.role for m in second.conversation] == ["system", "user"]
    assert second.prompt == second.conversation  # messages stay a conversation
    assert (second.chosen, second.rejected, second.p_chosen) == ("Blue.", "Well, blue, I think.", 1.0)
    assert label_columns(tmp_path / "chat.parquet") == set(conversational)
    assert label_columns(jsonl) is None


def test_bad_rows_keep_their_row_numbers_and_columns(tmp_path: Path) -> None:
    good = json.dumps(ROWS[0])
    lines = [
        good,
        "",  # blank lines are skipped but still counted
        "{not json",
        json.dumps({**ROWS[0], "p_chosen": 1.5}),
        json.dumps({**ROWS[0], "chosen": "  "}),
        json.dumps({k: v for k, v in ROWS[0].items() if k != "rejected"}),
        json.dumps([1, 2]),
        json.dumps({**ROWS[0], "p_chosen": "x"}),
    ]
    file = _jsonl(tmp_path / "bad.jsonl", lines)
    problems = []
    parsed = []
    for number, record in label_records(file):
        try:
            parsed.append(parse_label_row(number, record))
        except RowProblem as err:
            problems.append(row_problem(file, number, err))
    assert [r.row for r in parsed] == [1]
    assert [(p.line, p.field) for p in problems] == [
        (3, None),
        (4, "p_chosen"),
        (5, "chosen"),
        (6, "rejected"),
        (7, None),
        (8, "p_chosen"),
    ]
    assert problems[0].message.startswith("row 3: invalid JSON")
    assert problems[1].message == "row 4, column 'p_chosen': 1.5 is outside [0, 1]: a label is a probability"
    assert problems[2].message == "row 5, column 'chosen': is empty"
    assert problems[3].message == "row 6, column 'rejected': missing column 'rejected'"
    assert problems[4].message == "row 7: each row must be an object"
    assert all(p.path == str(file) for p in problems)
    with pytest.raises(DataFileError) as e:
        raise_row_problems(file, problems, hint="fix these rows")
    assert e.value.problems == problems and e.value.hint == "fix these rows"
    raise_row_problems(file, [], hint="nothing to fix")  # no problem, no error


def test_sft_rows_need_no_rejected_and_empty_rejected_is_allowed_unless_asked(tmp_path: Path) -> None:
    row = parse_label_row(1, {"prompt": "q", "chosen": "a"}, need_rejected=False)
    assert (row.chosen, row.rejected, row.p_chosen) == ("a", "", None)
    assert parse_label_row(1, {"prompt": "q", "chosen": "a", "rejected": ""}).rejected == ""
    with pytest.raises(RowProblem) as e:
        parse_label_row(1, {"prompt": "q", "chosen": "a", "rejected": ""}, nonempty=("chosen", "rejected"))
    assert e.value.column == "rejected"
    assert isinstance(BadRow("x"), ValueError) and BadRow("x").reason == "x"


def test_read_label_columns_reads_only_what_is_asked(tmp_path: Path) -> None:
    write_rows(tmp_path / "labels", ROWS, json_columns=JSON_COLUMNS)
    file, rows = read_label_columns(tmp_path / "labels", ["pair_id", "p_chosen"])
    assert file == tmp_path / "labels" / "data.parquet"
    assert rows == [{"pair_id": "p0", "p_chosen": 0.8}, {"pair_id": "p1", "p_chosen": 1.0}]
    with pytest.raises(DataFileError, match=r"lacks the column.*'judgements'") as e:
        read_label_columns(tmp_path / "labels", ["pair_id", "judgements"])
    assert e.value.problem.field == "judgements"
    jsonl = _jsonl(tmp_path / "l.jsonl", [json.dumps(ROWS[0]), "{oops"])
    with pytest.raises(DataFileError, match="row 2: invalid JSON") as e:
        read_label_columns(jsonl, ["pair_id"])
    assert e.value.problem.line == 2
    _jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(DataFileError, match="no rows"):
        read_label_columns(tmp_path / "empty.jsonl", ["pair_id"])
