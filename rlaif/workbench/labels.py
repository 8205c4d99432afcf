"""A labels dataset (``rlaif label`` output) as per-principle arrays, for vectorised analysis.

Every row of ``data.parquet`` is one labelled pair; its ``judgements`` column lists, for each principle sampled for
that pair, the probabilities the label used (``p_ab``, ``p_ba``), where the verdict came from (``source``: the
critic or a rule), the critic's own probabilities when a rule decided (``critic_p_ab``, ``critic_p_ba``) and, for
principles with a rule, which response passed it. This module turns those rows into ``pairs × principles`` arrays
(``NaN`` where a principle was not drawn for a pair), so every statistic is a few numpy operations.

Conventions: ``p`` is p(A ≻ B) in the pair's own A/B terms (A = the first response of the pair, whichever was
chosen); ``label_p`` is the ensemble label p(A ≻ B) reconstructed from ``p_chosen`` and ``a_is_chosen``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlaif.errors import DataFileError
from rlaif.feedback.labels_dataset import read_label_columns

#: the columns read from a labels dataset
REQUIRED_COLUMNS: tuple[str, ...] = ("pair_id", "judgements", "p_chosen", "a_is_chosen")
_HINT = "pass the output folder of `rlaif label` (or a run's round-N/label folder)"


@dataclass(frozen=True)
class LabelTable:
    """Per-principle judgements of a labels dataset as ``(pairs, principles)`` float arrays.

    Attributes:
        path: the dataset file read.
        pair_ids: one id per row (the independent unit every interval resamples).
        principles: principle refs (``id@version``), sorted; column ``j`` of every array is ``principles[j]``.
        p: p(A ≻ B) each principle's judgement contributed to the label (both orders averaged); NaN = not drawn.
        critic_ab, critic_ba: the critic's own p(A ≻ B) in order ab and ba (NaN where the critic did not judge).
        rule: +1 where the principle's rule passes only A, −1 only B, 0 otherwise (both/neither, or no rule).
        label_p: the ensemble label p(A ≻ B) of each pair.
    """

    path: Path
    pair_ids: tuple[str, ...]
    principles: tuple[str, ...]
    p: np.ndarray
    critic_ab: np.ndarray
    critic_ba: np.ndarray
    rule: np.ndarray
    label_p: np.ndarray

    @property
    def drawn(self) -> np.ndarray:
        """Boolean ``(pairs, principles)``: the principle was sampled for the pair."""
        return ~np.isnan(self.p)

    @property
    def critic_judged(self) -> np.ndarray:
        """Boolean ``(pairs, principles)``: the critic judged the pair under the principle (both orders known)."""
        return ~np.isnan(self.critic_ab) & ~np.isnan(self.critic_ba)

    @property
    def critic_p(self) -> np.ndarray:
        """The critic's position-debiased p(A ≻ B) (NaN where it did not judge)."""
        return 0.5 * (self.critic_ab + self.critic_ba)


def _float(value: Any, where: str, file: Path, row: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataFileError(
            f"{where} must be a number, got {value!r}", path=file, line=row, field="judgements"
        )
    x = float(value)
    if not 0.0 <= x <= 1.0:
        raise DataFileError(f"{where} must be a probability in [0, 1], got {x}", path=file, line=row)
    return x


def table_from_rows(rows: Sequence[Mapping[str, Any]], path: Path | str = "<rows>") -> LabelTable:
    """Build a :class:`LabelTable` from label rows (dicts with at least :data:`REQUIRED_COLUMNS`).

    Raises:
        DataFileError: naming the row (1-based, as ``line``) and field of the first malformed value.
    """
    file = Path(path)
    parsed: list[list[dict[str, Any]]] = []
    refs: set[str] = set()
    for i, row in enumerate(rows, start=1):
        for name in REQUIRED_COLUMNS:
            if name not in row:
                raise DataFileError(f"row has no '{name}' column", path=file, line=i, field=name)
        raw = row["judgements"]
        try:
            records = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as e:
            raise DataFileError(f"not JSON: {e}", path=file, line=i, field="judgements") from None
        if not isinstance(records, list) or not records:
            raise DataFileError(
                "must be a non-empty list of judgements", path=file, line=i, field="judgements"
            )
        for r in records:
            if not isinstance(r, Mapping) or not isinstance(r.get("principle"), str):
                raise DataFileError(
                    "every judgement needs a 'principle' (id@version)", path=file, line=i, field="judgements"
                )
            refs.add(r["principle"])
        parsed.append(records)
    principles = tuple(sorted(refs))
    col = {ref: j for j, ref in enumerate(principles)}
    n, m = len(parsed), len(principles)
    p = np.full((n, m), np.nan)
    cab = np.full((n, m), np.nan)
    cba = np.full((n, m), np.nan)
    rule = np.zeros((n, m), dtype=np.int8)
    label_p = np.empty(n)
    pair_ids: list[str] = []
    for i, (row, records) in enumerate(zip(rows, parsed, strict=True)):
        line = i + 1
        pair_ids.append(str(row["pair_id"]))
        pc = _float(row["p_chosen"], "p_chosen", file, line)
        label_p[i] = pc if bool(row["a_is_chosen"]) else 1.0 - pc
        for r in records:
            j = col[r["principle"]]
            ref = r["principle"]
            p_ab = _float(r.get("p_ab"), f"p_ab of {ref}", file, line)
            p_ba = _float(r.get("p_ba"), f"p_ba of {ref}", file, line)
            p[i, j] = 0.5 * (p_ab + p_ba)
            source = r.get("source", "critic")
            if source == "critic":
                cab[i, j], cba[i, j] = p_ab, p_ba
            elif "critic_p_ab" in r and "critic_p_ba" in r:
                cab[i, j] = _float(r["critic_p_ab"], f"critic_p_ab of {ref}", file, line)
                cba[i, j] = _float(r["critic_p_ba"], f"critic_p_ba of {ref}", file, line)
            verdict = r.get("rule")
            if isinstance(verdict, Mapping):
                a, b = bool(verdict.get("a_passed")), bool(verdict.get("b_passed"))
                rule[i, j] = 0 if a == b else (1 if a else -1)
    if len(set(pair_ids)) != len(pair_ids):
        raise DataFileError("pair ids repeat: this is not one labels dataset", path=file, field="pair_id")
    return LabelTable(file, tuple(pair_ids), principles, p, cab, cba, rule, label_p)


def read_label_table(path: str | Path) -> LabelTable:
    """Read a labels dataset folder (or its data file) into a :class:`LabelTable` (only the columns it needs).

    Raises:
        DataFileError: the file is missing, unreadable, lacks a column, or a row holds a malformed judgement.
    """
    file, rows = read_label_columns(path, REQUIRED_COLUMNS, hint=_HINT)
    return table_from_rows(rows, file)


__all__ = ["REQUIRED_COLUMNS", "LabelTable", "read_label_table", "table_from_rows"]
