"""Prompt and preference files in every supported layout, and their bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.errors import DataFileError
from rlaif.feedback.inputs import load_preferences, load_prompts, parse_transcript


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_prompts_plain_and_chat(tmp_path: Path) -> None:
    f = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "a", "prompt": "Hi there", "split": "heldout", "category": "x"},
            {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}]},
        ],
    )
    rows = load_prompts(f)
    assert rows[0].id == "a" and rows[0].split == "heldout" and rows[0].meta == {"category": "x"}
    assert rows[0].conversation == (ChatMessage("user", "Hi there"),)
    assert rows[1].id == "p-2" and rows[1].split == "train" and rows[1].text == "Why?"
    assert rows[1].conversation[0] == ChatMessage("system", "Be brief.")


def test_field_mapping_csv_json_and_parquet(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("qid,question\nq1,What is 2+2?\nq2,Name a colour.\n")
    rows = load_prompts(tmp_path / "p.csv", field_map={"prompt": "question", "id": "qid"})
    assert [(r.id, r.text) for r in rows] == [("q1", "What is 2+2?"), ("q2", "Name a colour.")]
    (tmp_path / "p.json").write_text(json.dumps({"data": [{"prompt": "x"}]}))
    assert load_prompts(tmp_path / "p.json")[0].text == "x"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt": ["one", "two"], "id": ["i1", "i2"]}), tmp_path / "p.parquet")
    assert [r.id for r in load_prompts(tmp_path / "p.parquet")] == ["i1", "i2"]


def test_local_hf_dataset_folder(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"prompt": ["a", "b"]}).save_to_disk(str(tmp_path / "ds"))
    assert [r.text for r in load_prompts(tmp_path / "ds")] == ["a", "b"]


def test_bad_rows_named_by_line_or_skipped(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text(
        '{"prompt": "ok"}\n\n{"prompt": \n{"text": "no prompt"}\n{"prompt": ""}\n{"prompt": "fine", "id": "p-1"}\n'
    )
    with pytest.raises(DataFileError) as e:
        load_prompts(f)
    msg = e.value.format()
    assert f"{f}:3: invalid JSON" in msg
    assert f"{f}:4: missing field 'prompt'" in msg
    assert f"{f}:5: 'prompt' is empty" in msg
    assert f"{f}:6: duplicate id 'p-1'" in msg
    assert "--skip-bad-rows" in msg
    assert [r.text for r in load_prompts(f, skip_bad_rows=True)] == ["ok"]


def test_empty_missing_folder_and_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataFileError, match="no prompts found"):
        load_prompts(tmp_path / "empty.jsonl")
    with pytest.raises(DataFileError, match="file not found"):
        load_prompts(tmp_path / "nope.jsonl")
    with pytest.raises(DataFileError, match="is a folder"):
        load_prompts(tmp_path)
    (tmp_path / "bin.jsonl").write_bytes(b'{"prompt": "ok"}\n{"prompt": "\xff"}\n')
    with pytest.raises(DataFileError) as e:
        load_prompts(tmp_path / "bin.jsonl")
    assert e.value.problem.line == 2 and "UTF-8" in e.value.problem.message
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataFileError, match="unsupported file type"):
        load_prompts(tmp_path / "x.txt")


def test_transcript_parsing_and_preferences(tmp_path: Path) -> None:
    conv = parse_transcript(
        "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tax tips?\n\nAssistant: Keep receipts."
    )
    assert [m.role for m in conv] == ["user", "assistant", "user", "assistant"]
    assert conv[-1].content == "Keep receipts."
    prefix = "\n\nHuman: Is it safe to mix bleach and ammonia?\n\nAssistant:"
    f = write_jsonl(
        tmp_path / "h.jsonl",
        [
            {"chosen": prefix + " No, it releases toxic gas.", "rejected": prefix + " Sure, go ahead."},
            {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
            {
                "prompt": [{"role": "user", "content": "Hi"}],
                "chosen": [{"role": "assistant", "content": "Hello."}],
                "rejected": [{"role": "assistant", "content": "Go away."}],
            },
            {"chosen": prefix + " a", "rejected": "\n\nHuman: other\n\nAssistant: b"},
        ],
    )
    with pytest.raises(DataFileError, match="share every turn but the last"):
        load_preferences(f)
    pairs = load_preferences(f, skip_bad_rows=True)
    assert [(p.chosen, p.rejected) for p in pairs] == [
        ("No, it releases toxic gas.", "Sure, go ahead."),
        ("4", "5"),
        ("Hello.", "Go away."),
    ]
    assert pairs[0].conversation == (ChatMessage("user", "Is it safe to mix bleach and ammonia?"),)
