"""Reading labelled preference pairs for reward-model training and evaluation, with row-level checks.

A labels file is what ``rlaif label`` writes (a folder holding ``data.parquet``) or any .parquet/.jsonl/.json file with
TRL's ``prompt``/``chosen``/``rejected`` columns (plain or conversational), ``p_chosen`` (probability that ``chosen`` is
better, in [0, 1]) and ``principles`` (a list of ``"id@version"`` or ``"id"`` of the constitution). The shared columns
are read by :mod:`rlaif.feedback.labels_dataset`; problems name the file, the row and the column; every bad row is
reported at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError, Problem
from rlaif.feedback.labels_dataset import (
    RowProblem,
    column_value,
    label_columns,
    label_records,
    labels_file,
    parse_label_row,
    parse_number,
    raise_row_problems,
    require_columns,
    row_problem,
)

REQUIRED_COLUMNS: tuple[str, ...] = ("prompt", "chosen", "rejected", "p_chosen", "principles")


@dataclass(frozen=True)
class RewardRow:
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
) -> list[RewardRow]:
    """Read and check a labels file (see the module docstring).

    With ``hard_labels`` the label is rounded to 0/1 (a file without ``p_chosen`` then means p = 1). Raises
    :class:`DataFileError` listing every bad row (file, row, column) and any column missing from the file.
    """
    file = labels_file(path)
    columns = label_columns(file)
    required = [c for c in REQUIRED_COLUMNS if not (hard_labels and c == "p_chosen")]
    required += [c for c in (margin_column, weight_column) if c is not None]
    if columns is not None:
        require_columns(
            file,
            required,
            columns,
            hint="a labels dataset needs prompt, chosen, rejected, p_chosen and principles (as `rlaif label` "
            "writes them)",
        )
    pairs: list[RewardRow] = []
    problems: list[Problem] = []
    for number, record in label_records(file):
        if limit is not None and len(pairs) >= limit:
            break
        try:
            if isinstance(record, Mapping):
                for c in required:
                    if c not in record:
                        raise RowProblem(c, f"missing column '{c}'")
            row = parse_label_row(number, record, nonempty=("chosen", "rejected"))
            if row.p_chosen is not None:
                p = row.p_chosen
            elif hard_labels:
                p = 1.0
            else:
                raise RowProblem("p_chosen", "is empty")
            if hard_labels:
                p = 1.0 if p >= 0.5 else 0.0
            principles = column_value(row.record, "principles", lambda v: resolve_principles(v, constitution))
            margin = 0.0 if margin_column is None else column_value(row.record, margin_column, parse_number)
            weight = 1.0 if weight_column is None else column_value(row.record, weight_column, _weight)
            pairs.append(
                RewardRow(
                    row=number,
                    pair_id=row.pair_id,
                    prompt_id=row.prompt_id,
                    conversation=row.conversation,
                    chosen=row.chosen,
                    rejected=row.rejected,
                    p_chosen=p,
                    principles=principles,
                    margin=margin,
                    weight=weight,
                )
            )
        except RowProblem as e:
            problems.append(row_problem(file, number, e))
    raise_row_problems(
        file, problems, hint="fix or drop these rows (row = line in JSONL, 1-based row in parquet)"
    )
    if not pairs:
        raise DataFileError("no labelled pairs found", path=file)
    return pairs


def _weight(value: Any) -> float:
    weight = parse_number(value)
    if weight < 0:
        raise ValueError(f"a loss weight must be >= 0, got {weight:g}")
    return weight


def split_pairs(
    pairs: Sequence[RewardRow], val_fraction: float, *, seed: int
) -> tuple[list[RewardRow], list[RewardRow]]:
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
