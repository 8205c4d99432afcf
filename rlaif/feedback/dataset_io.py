"""Writing feedback datasets: parquet (via ``datasets``/pyarrow) in TRL's preference format plus provenance columns,
with a dataset card.

The layout of a dataset folder::

    <out>/data.parquet   the rows
    <out>/README.md      the dataset card: what made it, label statistics, the constitution that judged it

Writes are atomic and deterministic: the same rows give byte-identical files, so a resumed run can be compared with
an uninterrupted one. :func:`data_file` finds the rows of a folder (or takes a data file as it is) and
:func:`data_sha256` is the hash recorded with whatever is trained on them; reading a labels dataset row by row, with
per-row checks, is :mod:`rlaif.feedback.labels_dataset`'s business.

**Format.** ``prompt``/``chosen``/``rejected`` are written in TRL's *conversational* format by default (``prompt`` a
list of messages, ``chosen``/``rejected`` one assistant message each): rlaif generates every response under the chat
template, so a trainer must wrap them in it again. ``plain`` (strings) is written on request, for single-turn data
only; ``auto`` picks plain when every prompt is a single user turn (the behaviour of 0.1.0, see CHANGELOG.md).

**Margin and ties.** Every row carries ``margin`` = logit(p_chosen) = log(p / (1 − p)), the reward difference a
Bradley-Terry model gives to the soft label (TRL's reward trainer reads a ``margin`` column). A pair judged exactly
even (p = 0.5) says nothing about which response is better, yet a hard-label user (DPO on ``chosen``/``rejected``)
would learn from an arbitrary order: such ties are dropped from the dataset by default, listed in
``unlabeled.jsonl`` with status ``tie`` and counted in the statistics (``keep_ties`` keeps them).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rlaif.atomic import atomic_write_bytes, atomic_write_text
from rlaif.errors import DataFileError
from rlaif.models.resolve import file_sha256

DATA_FILE = "data.parquet"
CARD_FILE = "README.md"

DatasetFormat = Literal["conversational", "plain", "auto"]
DATASET_FORMATS: tuple[str, ...] = ("conversational", "plain", "auto")
#: |p − 0.5| at or below this is a tie
TIE_TOLERANCE = 1e-9
#: probabilities are clipped to [EPS, 1 − EPS] before the logit, so a certain label has a finite margin
MARGIN_EPS = 1e-6


def margin_of(p_chosen: float) -> float:
    """logit(p_chosen): the Bradley-Terry reward margin of a soft label (0 for a tie, > 0 otherwise)."""
    p = min(max(float(p_chosen), MARGIN_EPS), 1.0 - MARGIN_EPS)
    return math.log(p / (1.0 - p))


def is_tie(p_chosen: float) -> bool:
    """Whether a soft label is an exact tie (p = 0.5)."""
    return abs(float(p_chosen) - 0.5) <= TIE_TOLERANCE


def finalize_label_rows(
    rows: Sequence[dict[str, Any]], *, keep_ties: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Add the ``margin`` column and drop ties (unless ``keep_ties``).

    Returns (rows kept, one ``unlabeled.jsonl`` record per tie dropped, status ``tie``).
    """
    kept: list[dict[str, Any]] = []
    ties: list[dict[str, Any]] = []
    for row in rows:
        p = float(row["p_chosen"])
        if is_tie(p) and not keep_ties:
            ties.append(
                {
                    "pair_id": row.get("pair_id"),
                    "prompt_id": row.get("prompt_id"),
                    "status": "tie",
                    "reason": "tie: p = 0.5, dropped from the hard-label dataset (keep it with --keep-ties)",
                }
            )
            continue
        kept.append({**row, "margin": margin_of(p)})
    return kept, ties


def write_rows(
    out_dir: str | Path, rows: Sequence[Mapping[str, Any]], *, json_columns: Sequence[str] = ()
) -> Path:
    """Write rows as ``<out_dir>/data.parquet`` atomically. ``json_columns`` are stored as JSON strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        raise DataFileError("refusing to write an empty dataset", path=out_dir)
    prepared = [
        {
            k: (json.dumps(v, sort_keys=True, ensure_ascii=False) if k in json_columns else v)
            for k, v in r.items()
        }
        for r in rows
    ]
    table = pa.Table.from_pylist(prepared)
    buf = io.BytesIO()
    # no timestamps or writer-specific metadata beyond the schema: identical rows -> identical bytes
    pq.write_table(table, buf, compression="zstd", store_schema=True)
    path = Path(out_dir) / DATA_FILE
    atomic_write_bytes(path, buf.getvalue())
    return path


def data_file(
    path: str | Path, *, what: str = "dataset", hint: str = "run the stage that writes it first"
) -> Path:
    """The data file of a dataset: ``<folder>/data.parquet`` for a folder, else the path itself.

    Raises:
        DataFileError: the folder holds no ``data.parquet``, or the path does not exist (``"<what> not found …"``,
            with ``hint``).
    """
    p = Path(path)
    if p.is_dir():
        inner = p / DATA_FILE
        if not inner.is_file():
            raise DataFileError(f"this folder holds no {DATA_FILE}", path=p, hint=hint)
        return inner
    if not p.exists():
        raise DataFileError(
            f"{what} not found (no folder holding {DATA_FILE} nor data file here)", path=p, hint=hint
        )
    return p


def data_sha256(path: str | Path) -> str:
    """sha256 (hex) of the bytes of a dataset's data file (:func:`data_file`): the hash recorded with a model
    trained on it."""
    return file_sha256(data_file(path))


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read a dataset folder (or a parquet file) back as a list of dicts."""
    import pyarrow.parquet as pq

    file = data_file(path)
    try:
        return list(pq.read_table(file).to_pylist())
    except Exception as e:
        raise DataFileError(f"cannot read the dataset: {e}", path=file) from e


def card_appendix(params: Mapping[str, Any], constitution_yaml: str) -> list[str]:
    """The closing sections of a dataset card: the run's parameters (JSON) and its constitution (YAML)."""
    return [
        "## Parameters",
        "",
        "```json",
        json.dumps(params, indent=2, sort_keys=True),
        "```",
        "",
        "## Constitution",
        "",
        "```yaml",
        constitution_yaml.rstrip("\n"),
        "```",
        "",
    ]


def write_card(out_dir: str | Path, text: str) -> Path:
    """Write the dataset card ``README.md`` atomically."""
    path = Path(out_dir) / CARD_FILE
    atomic_write_text(path, text)
    return path
