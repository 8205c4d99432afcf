"""Feedback datasets: deterministic bytes, TRL-loadable layout, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.errors import DataFileError
from rlaif.feedback.dataset_io import read_rows, write_card, write_rows

ROWS = [
    {
        "prompt": [{"role": "user", "content": "Hi"}],
        "chosen": [{"role": "assistant", "content": "Hello."}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
        "p": 0.75,
        "judgements": [{"principle": "honesty@1", "p_ab": 0.8, "p_ba": 0.7}],
    }
]


def test_same_rows_same_bytes_and_round_trip(tmp_path: Path) -> None:
    a = write_rows(tmp_path / "a", ROWS, json_columns=["judgements"])
    b = write_rows(tmp_path / "b", ROWS, json_columns=["judgements"])
    assert a.read_bytes() == b.read_bytes()
    back = read_rows(tmp_path / "a")
    assert back[0]["chosen"] == ROWS[0]["chosen"] and back[0]["p"] == 0.75
    assert back[0]["judgements"] == '[{"p_ab": 0.8, "p_ba": 0.7, "principle": "honesty@1"}]'


def test_loads_in_datasets_with_trl_columns(tmp_path: Path) -> None:
    import datasets

    path = write_rows(tmp_path / "d", ROWS, json_columns=["judgements"])
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)
    assert ds[0]["prompt"][0]["content"] == "Hi"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="empty dataset"):
        write_rows(tmp_path / "e", [])
    with pytest.raises(DataFileError, match="dataset not found"):
        read_rows(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "data.parquet").write_bytes(b"garbage")
    with pytest.raises(DataFileError, match="cannot read the dataset"):
        read_rows(tmp_path / "bad")
    assert write_card(tmp_path / "c", "# card\n").read_text() == "# card\n"
