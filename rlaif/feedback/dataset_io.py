"""Writing feedback datasets: parquet (via ``datasets``/pyarrow) in TRL's preference format plus provenance columns,
with a dataset card.

The layout of a dataset folder::

    <out>/data.parquet   the rows
    <out>/README.md      the dataset card: what made it, label statistics, the constitution that judged it

Writes are atomic and deterministic: the same rows give byte-identical files, so a resumed run can be compared with
an uninterrupted one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlaif.atomic import atomic_write_bytes, atomic_write_text
from rlaif.errors import DataFileError

DATA_FILE = "data.parquet"
CARD_FILE = "README.md"


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


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read a dataset folder (or a parquet file) back as a list of dicts."""
    import pyarrow.parquet as pq

    p = Path(path)
    file = p / DATA_FILE if p.is_dir() else p
    if not file.exists():
        raise DataFileError("dataset not found", path=file, hint="run the stage that writes it first")
    try:
        return list(pq.read_table(file).to_pylist())
    except Exception as e:
        raise DataFileError(f"cannot read the dataset: {e}", path=file) from e


def write_card(out_dir: str | Path, text: str) -> Path:
    """Write the dataset card ``README.md`` atomically."""
    path = Path(out_dir) / CARD_FILE
    atomic_write_text(path, text)
    return path
