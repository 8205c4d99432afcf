"""Prompt sets and preference files named by a Hugging Face ``datasets`` hub id (``org/name``, optionally
``org/name:split``), read where the hub is reachable, with a fast, clear error where it is not.

A name is taken as a hub id only when no local file or folder has that name. Before ``datasets`` is asked (its own
retries can take minutes without a network), one bounded check looks at the hub: offline mode
(``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``) or an endpoint that does not answer within a few seconds fails at
once, naming the id, unless ``datasets`` already holds the dataset in its local cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from rlaif.errors import DataFileError

_HUB_DATASET = re.compile(r"^[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*(?::[\w.\-\[\]%:]+)?$")
_TRUE = ("1", "true", "yes", "on")


def is_hub_dataset_id(name: str) -> bool:
    """Whether ``name`` looks like ``org/name`` or ``org/name:split`` (and names no local path)."""
    from pathlib import Path

    return bool(_HUB_DATASET.match(name)) and not Path(name).expanduser().exists()


def split_id(name: str) -> tuple[str, str | None]:
    """``org/name:split`` → (``org/name``, ``split``); no split → None (every split is read)."""
    repo, _, split = name.partition(":")
    return repo, split or None


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def check_reachable(name: str) -> None:
    """Raise a clear error at once when the hub cannot be reached (offline mode, or no answer within seconds)."""
    from rlaif.models.resolve import HUB_CHECK_TIMEOUT_S, hub_endpoint, hub_reachable

    if _offline():
        raise DataFileError(
            f"{name!r} is not a local file, and as a hub dataset it cannot be fetched: offline mode is on",
            hint="unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE, or download the dataset and pass the local file",
        )
    endpoint = hub_endpoint()
    if not hub_reachable(endpoint, timeout=HUB_CHECK_TIMEOUT_S):
        raise DataFileError(
            f"{name!r} is not a local file, and the hub ({endpoint}) did not answer within "
            f"{HUB_CHECK_TIMEOUT_S:g} s",
            hint="check the network (or HF_ENDPOINT), or pass a local .jsonl/.json/.csv/.parquet file",
        )


def hub_rows(name: str) -> Iterator[tuple[int, Any]]:
    """(row number, record) of a hub dataset; every split with a ``split`` field unless one was named."""
    check_reachable(name)
    import datasets  # lazy

    repo, split = split_id(name)
    try:
        ds = datasets.load_dataset(repo, split=split)
    except Exception as e:  # missing repo, gated, bad split: the user's to fix
        raise DataFileError(f"cannot load the hub dataset {repo!r}: {e}", path=name) from None
    yield from dataset_rows(ds)


def dataset_rows(ds: Any) -> Iterator[tuple[int, Any]]:
    """(row number, record) of a loaded ``datasets`` dataset; a ``DatasetDict`` gives every split's rows, each with
    a ``split`` field naming its split (numbered from 1 within it)."""
    import datasets  # lazy

    if isinstance(ds, datasets.DatasetDict):
        for split_name, part in ds.items():
            for i, row in enumerate(part, start=1):
                yield i, {"split": split_name, **row}
        return
    yield from enumerate(ds, start=1)


__all__ = ["check_reachable", "dataset_rows", "hub_rows", "is_hub_dataset_id", "split_id"]
