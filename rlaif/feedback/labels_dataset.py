"""A labels dataset, read one way by everyone who reads it: DPO/SFT, the reward model and the workbench.

A labels dataset is what ``rlaif label`` (or ``rlaif revise``) writes with :mod:`rlaif.feedback.dataset_io` — a
folder holding ``data.parquet`` — or any .parquet/.jsonl/.json/.csv file in TRL's preference format. Reading one used
to be copied into each consumer, each with its own missing-file message, hash and row checks; here it is done once:

* :func:`labels_file` finds the data file (a folder means its ``data.parquet``) and :func:`labels_sha256` hashes it
  (the sha256 of the file's bytes, recorded with every model trained on it);
* :func:`label_records` iterates its records with their 1-based row (or line) numbers, a line that is not JSON
  coming as a :class:`~rlaif.feedback.inputs.BadRow`;
* :func:`parse_label_row` parses the columns every consumer shares — ``prompt`` (text or messages), ``chosen`` and
  ``rejected`` (text, or messages ending with the assistant's turn) and ``p_chosen`` — into a :class:`LabelRow`,
  or raises a :class:`RowProblem` naming the column; :func:`row_problem` and :func:`raise_row_problems` turn those
  into one :class:`~rlaif.errors.DataFileError` naming file, row and column of every bad row.

Columns only one consumer reads (the reward model's principles, the workbench's judgements) stay with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rlaif.errors import DataFileError, Problem
from rlaif.feedback.dataset_io import data_file, data_sha256
from rlaif.feedback.inputs import Conversation, file_columns, parse_conversation, raw_rows, response_text

T = TypeVar("T")

#: what to do when a labels path names nothing usable
LABELS_HINT = "run `rlaif label` first and pass its output folder, or a .parquet/.jsonl file"
#: how many bad rows one error lists
MAX_PROBLEMS = 20


def labels_file(path: str | Path, *, hint: str = LABELS_HINT) -> Path:
    """The data file of a labels dataset: ``<folder>/data.parquet`` for a folder, else the path itself.

    Raises:
        DataFileError: ``this folder holds no data.parquet``, or ``labels dataset not found``.
    """
    return data_file(path, what="labels dataset", hint=hint)


def labels_sha256(path: str | Path) -> str:
    """sha256 (hex) of the bytes of a labels dataset's data file (what a trained model records as its data hash)."""
    return data_sha256(labels_file(path))


def label_columns(file: Path) -> set[str] | None:
    """The columns of a labels data file when its format has a schema (parquet), else None."""
    return file_columns(file)


def require_columns(file: Path, required: Sequence[str], present: Iterable[Any], *, hint: str) -> None:
    """The one error for a labels dataset that lacks required columns: names them, the file and what it has."""
    present = list(present)
    missing = [c for c in required if c not in present]
    if missing:
        raise DataFileError(
            f"the labels dataset lacks the column(s) {', '.join(repr(c) for c in missing)} "
            f"(it has: {', '.join(sorted(map(str, present))) or 'none'})",
            path=file,
            field=missing[0],
            hint=hint,
        )


def label_records(file: Path) -> Iterator[tuple[int, Any]]:
    """(1-based row or line number, raw record) for every record of a labels data file (see :func:`labels_file`)."""
    return raw_rows(file)


def read_label_columns(
    path: str | Path, columns: Sequence[str], *, hint: str = LABELS_HINT
) -> tuple[Path, list[dict[str, Any]]]:
    """(the data file, its rows restricted to ``columns``) — parquet reads only those columns.

    Raises:
        DataFileError: the file is missing or unreadable, a parquet file lacks one of ``columns``, a line is not
            JSON or a record is not an object (naming its row), or there are no rows.
    """
    file = labels_file(path, hint=hint)
    present = label_columns(file)
    if present is not None:
        require_columns(file, columns, present, hint=hint)
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(file, columns=list(columns)).to_pylist()
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise DataFileError(f"cannot read the labels dataset: {e}", path=file) from None
    else:
        rows = []
        for number, record in label_records(file):
            if not isinstance(record, Mapping):
                reason = str(record) if isinstance(record, ValueError) else "each row must be an object"
                raise DataFileError(f"row {number}: {reason}", path=file, line=number)
            rows.append({c: record[c] for c in columns if c in record})
    if not rows:
        raise DataFileError("the labels dataset has no rows", path=file)
    return file, rows


class RowProblem(ValueError):
    """What is wrong with one row; ``column`` names the column at fault (None: the row as a whole)."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column


def column_value(record: Mapping[str, Any], column: str, parse: Callable[[Any], T]) -> T:
    """``parse(record[column])``; a missing column or a ValueError/TypeError of ``parse`` becomes a
    :class:`RowProblem` naming ``column``."""
    if column not in record:
        raise RowProblem(column, f"missing column '{column}'")
    try:
        return parse(record[column])
    except RowProblem:
        raise
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise RowProblem(column, str(e)) from None


def parse_number(value: Any) -> float:
    """A finite number (numeric text, as CSV gives, is accepted; booleans are not). Raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {value!r}") from None
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"must be finite, got {x}")
    return x


def parse_probability(value: Any) -> float:
    """A soft label: a number in [0, 1]. Raises ValueError."""
    p = parse_number(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{p:g} is outside [0, 1]: a label is a probability")
    return p


def _response(column: str, nonempty: bool) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = response_text(value, column)
        if nonempty and not text.strip():
            raise ValueError("is empty")
        return text

    return parse


@dataclass(frozen=True)
class LabelRow:
    """The shared columns of one row of a labels dataset, parsed.

    Attributes:
        row: 1-based row (or line) number in the file.
        record: the raw record (for the columns only one consumer reads).
        prompt: the prompt as the file has it: text stays text, messages become a conversation.
        conversation: the prompt as a conversation (text is one user turn).
        chosen, rejected: the responses' text (``rejected`` is ``""`` when it was not asked for).
        p_chosen: p(chosen ≻ rejected); None when the column is absent or empty.
    """

    row: int
    record: Mapping[str, Any]
    prompt: str | Conversation
    conversation: Conversation
    chosen: str
    rejected: str
    p_chosen: float | None

    @property
    def pair_id(self) -> str:
        """The row's ``pair_id``, or ``row-<n>`` when it has none."""
        return str(self.record.get("pair_id") or f"row-{self.row}")

    @property
    def prompt_id(self) -> str:
        """The row's ``prompt_id`` (pairs of one prompt share it), else its pair id."""
        return str(self.record.get("prompt_id") or self.pair_id)


def parse_label_row(
    number: int, record: Any, *, need_rejected: bool = True, nonempty: Sequence[str] = ("chosen",)
) -> LabelRow:
    """Parse the shared columns of one record (from :func:`label_records`).

    ``need_rejected=False`` reads SFT rows (no ``rejected``); the responses named in ``nonempty`` must hold text.

    Raises:
        RowProblem: the record is not an object (or not JSON), or a column is missing or malformed.
    """
    if isinstance(record, ValueError):  # a line that is not JSON
        raise RowProblem(None, str(record))
    if not isinstance(record, Mapping):
        raise RowProblem(None, "each row must be an object")
    conversation = column_value(record, "prompt", lambda v: parse_conversation(v, "prompt"))
    raw_prompt = record["prompt"]
    chosen = column_value(record, "chosen", _response("chosen", "chosen" in nonempty))
    rejected = (
        column_value(record, "rejected", _response("rejected", "rejected" in nonempty))
        if need_rejected
        else ""
    )
    p_chosen = None
    if record.get("p_chosen") is not None:
        p_chosen = column_value(record, "p_chosen", parse_probability)
    return LabelRow(
        row=number,
        record=record,
        prompt=raw_prompt if isinstance(raw_prompt, str) else conversation,
        conversation=conversation,
        chosen=chosen,
        rejected=rejected,
        p_chosen=p_chosen,
    )


def row_problem(file: Path, number: int, error: Exception) -> Problem:
    """The :class:`Problem` of one bad row: ``row <n>, column '<c>': <why>``, with the file, line and field set."""
    column = error.column if isinstance(error, RowProblem) else None
    where = f"row {number}" + (f", column '{column}'" if column else "")
    return Problem(f"{where}: {error}", path=str(file), line=number, field=column)


def raise_row_problems(file: Path, problems: Sequence[Problem], *, hint: str) -> None:
    """Raise one :class:`DataFileError` listing the first :data:`MAX_PROBLEMS` bad rows (no-op when none)."""
    if not problems:
        return
    shown = list(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown.append(Problem(f"... and {len(problems) - MAX_PROBLEMS} more bad rows", path=str(file)))
    raise DataFileError("", problems=shown, hint=hint)


__all__ = [
    "LABELS_HINT",
    "LabelRow",
    "RowProblem",
    "column_value",
    "label_columns",
    "label_records",
    "labels_file",
    "labels_sha256",
    "parse_label_row",
    "parse_number",
    "parse_probability",
    "raise_row_problems",
    "read_label_columns",
    "require_columns",
    "row_problem",
]
