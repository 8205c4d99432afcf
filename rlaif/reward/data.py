"""Reading labelled preference pairs for reward-model training and evaluation, with row-level checks.

A labels file is what ``rlaif label`` writes (a folder holding ``data.parquet``) or any .parquet/.jsonl/.json file with
TRL's ``prompt``/``chosen``/``rejected`` columns (plain or conversational), ``p_chosen`` (probability that ``chosen`` is
better, in [0, 1]) and ``principles`` (a list of ``"id@version"`` or ``"id"`` of the constitution). Problems name the
file, the row and the column; every bad row is reported at once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError, Problem

REQUIRED_COLUMNS: tuple[str, ...] = ("prompt", "chosen", "rejected", "p_chosen", "principles")


@dataclass(frozen=True)
class RewardPair:
    """One labelled comparison: after ``conversation``, ``chosen`` beats ``rejected`` with probability ``p_chosen``
    under ``principles``. ``row`` is the 1-based row (or line) in the file."""

    row: int
    pair_id: str
    prompt_id: str
    conversation: tuple[ChatMessage, ...]
    chosen: str
    rejected: str
    p_chosen: float
    principles: tuple[Principle, ...]
    margin: float = 0.0
    weight: float = 1.0


def data_file(path: str | Path) -> Path:
    """The file behind a labels path (a dataset folder means its ``data.parquet``)."""
    p = Path(path)
    return p / "data.parquet" if p.is_dir() else p


def file_hash(path: str | Path) -> str:
    """sha256 (hex) of the labels file's bytes (recorded with the trained model)."""
    digest = hashlib.sha256()
    with data_file(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_records(
    path: Path, *, what: str = "labels file", hint: str = "run `rlaif label` first, or check the path"
) -> tuple[set[str] | None, Iterator[tuple[int, Any]]]:
    """(columns when the format has a schema, iterator of (row number, record)); ``what`` and ``hint`` word the
    error when the file is missing."""
    if not path.exists():
        raise DataFileError(f"{what} not found", path=path, hint=hint)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise DataFileError(f"cannot read parquet: {e}", path=path) from e
        return set(table.column_names), enumerate(table.to_pylist(), start=1)
    if suffix in (".jsonl", ".ndjson", ".json"):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DataFileError(f"not valid UTF-8 (byte {e.start})", path=path) from e
        if suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataFileError(f"invalid JSON: {e.msg}", path=path, line=e.lineno, column=e.colno) from e
            if not isinstance(data, list):
                raise DataFileError("expected a JSON list of objects", path=path)
            return None, enumerate(data, start=1)

        def lines() -> Iterator[tuple[int, Any]]:
            for n, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as e:
                        yield n, ValueError(f"invalid JSON: {e.msg} (column {e.colno})")

        return None, lines()
    raise DataFileError(
        f"unsupported labels file type '{suffix}'",
        path=path,
        hint="pass a dataset folder written by `rlaif label`, or a .parquet/.jsonl/.json file",
    )


def _conversation(value: Any) -> tuple[ChatMessage, ...]:
    from rlaif.feedback.inputs import parse_conversation as parse

    return parse(value, "prompt")


def _response(value: Any, column: str) -> str:
    from rlaif.feedback.inputs import response_text

    text = response_text(value, column)
    if not text.strip():
        raise ValueError("is empty")
    return text


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # CSV-like strings
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {value!r}") from None
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"must be finite, got {x}")
    return x


def resolve_principles(refs: Any, constitution: Constitution) -> tuple[Principle, ...]:
    """``["concise@1", "no_filler"]`` (or its JSON text) → the constitution's principles; ValueError if any is unknown,
    has another version, or the list is empty."""
    if isinstance(refs, str):
        try:
            refs = json.loads(refs)
        except json.JSONDecodeError:
            refs = [refs]
    if not isinstance(refs, list | tuple):
        raise ValueError(f"must be a list of principle ids, got {type(refs).__name__}")
    if not refs:
        raise ValueError("empty principles list: each row needs the principles it was labelled under")
    out: list[Principle] = []
    for ref in refs:
        if not isinstance(ref, str):
            raise ValueError(f"principle {ref!r} is not a string")
        pid, _, version = ref.partition("@")
        try:
            principle = constitution.get(pid)
        except KeyError:
            known = ", ".join(constitution.principle_ids)
            raise ValueError(
                f"unknown principle '{pid}' (constitution {constitution.name!r} has: {known})"
            ) from None
        if version and version != str(principle.version):
            raise ValueError(
                f"labelled under {ref} but the constitution has {principle.ref}: the principle changed since "
                "labelling (relabel, or use the constitution the labels were made with)"
            )
        out.append(principle)
    return tuple(out)


def load_reward_pairs(
    path: str | Path,
    constitution: Constitution,
    *,
    hard_labels: bool = False,
    margin_column: str | None = None,
    weight_column: str | None = None,
    limit: int | None = None,
) -> list[RewardPair]:
    """Read and check a labels file (see the module docstring).

    With ``hard_labels`` the label is rounded to 0/1 (a file without ``p_chosen`` then means p = 1). Raises
    :class:`DataFileError` listing every bad row (file, row, column) and any column missing from the file.
    """
    file = data_file(path)
    columns, records = read_records(file)
    required = [c for c in REQUIRED_COLUMNS if not (hard_labels and c == "p_chosen")]
    required += [c for c in (margin_column, weight_column) if c is not None]
    if columns is not None:
        missing = [c for c in required if c not in columns]
        if missing:
            raise DataFileError(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
                f"(the file has: {', '.join(sorted(columns))})",
                path=file,
                field=missing[0],
                hint="a labels dataset needs prompt, chosen, rejected, p_chosen and principles (as `rlaif label` "
                "writes them)",
            )
    pairs: list[RewardPair] = []
    problems: list[Problem] = []
    for number, record in records:
        if limit is not None and len(pairs) >= limit:
            break
        column: str | None = None
        try:
            if isinstance(record, Exception):
                raise record
            if not isinstance(record, Mapping):
                raise ValueError("each row must be an object")
            for c in required:
                if c not in record:
                    column = c
                    raise ValueError(f"missing column '{c}'")
            column = "prompt"
            conversation = _conversation(record["prompt"])
            column = "chosen"
            chosen = _response(record["chosen"], "chosen")
            column = "rejected"
            rejected = _response(record["rejected"], "rejected")
            column = "p_chosen"
            if "p_chosen" in record and record["p_chosen"] is not None:
                p = _number(record["p_chosen"], "p_chosen")
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"{p:g} is outside [0, 1]: a label is a probability")
            elif hard_labels:
                p = 1.0
            else:
                raise ValueError("is empty")
            if hard_labels:
                p = 1.0 if p >= 0.5 else 0.0
            column = "principles"
            principles = resolve_principles(record["principles"], constitution)
            margin = weight = None
            if margin_column is not None:
                column = margin_column
                margin = _number(record[margin_column], margin_column)
            if weight_column is not None:
                column = weight_column
                weight = _number(record[weight_column], weight_column)
                if weight < 0:
                    raise ValueError(f"a loss weight must be >= 0, got {weight:g}")
            column = None
            pairs.append(
                RewardPair(
                    row=number,
                    pair_id=str(record.get("pair_id") or f"row-{number}"),
                    prompt_id=str(record.get("prompt_id") or record.get("pair_id") or f"row-{number}"),
                    conversation=conversation,
                    chosen=chosen,
                    rejected=rejected,
                    p_chosen=p,
                    principles=principles,
                    margin=0.0 if margin is None else margin,
                    weight=1.0 if weight is None else weight,
                )
            )
        except (ValueError, TypeError, AttributeError) as e:
            where = f"row {number}" + (f", column '{column}'" if column else "")
            problems.append(Problem(f"{where}: {e}", path=str(file), line=number, field=column))
    if problems:
        shown = problems[:20]
        if len(problems) > 20:
            shown.append(Problem(f"... and {len(problems) - 20} more bad rows", path=str(file)))
        raise DataFileError(
            "", problems=shown, hint="fix or drop these rows (row = line in JSONL, 1-based row in parquet)"
        )
    if not pairs:
        raise DataFileError("no labelled pairs found", path=file)
    return pairs


def split_pairs(
    pairs: Sequence[RewardPair], val_fraction: float, *, seed: int
) -> tuple[list[RewardPair], list[RewardPair]]:
    """(train, validation): whole prompts go to validation (no prompt is in both), chosen by a seeded hash.

    At least one prompt is held out when ``val_fraction > 0`` and there are two prompts or more.
    """
    if val_fraction <= 0:
        return list(pairs), []
    prompts = sorted(
        {p.prompt_id for p in pairs},
        key=lambda pid: hashlib.sha256(f"{seed}\0{pid}".encode()).hexdigest(),
    )
    if len(prompts) < 2:
        return list(pairs), []
    n_val = min(len(prompts) - 1, max(1, round(val_fraction * len(prompts))))
    held = set(prompts[:n_val])
    return [p for p in pairs if p.prompt_id not in held], [p for p in pairs if p.prompt_id in held]
