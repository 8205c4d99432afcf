"""A training progress bar (tqdm: rate and ETA), shown on the main process only."""

from __future__ import annotations

from typing import Any


def progress_bar(total: int, *, desc: str, unit: str = "step", enabled: bool = True, initial: int = 0) -> Any:
    """A tqdm bar over ``total`` units starting at ``initial`` (resumed runs)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)
