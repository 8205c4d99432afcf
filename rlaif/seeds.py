"""Seeds derived from a run seed and a key: the one place that turns (seed, ids...) into a seed.

Both forms hash with sha256, so a derived seed is the same on every platform, process and Python hash seed, and
the draw for one item never depends on the others. Their exact bytes are part of what a run reproduces (the
principles a pair is judged by, a prompt's sampled responses), so neither form may change.
"""

from __future__ import annotations

import hashlib
import json

_MASK_31 = 0x7FFFFFFF
_MASK_63 = (1 << 63) - 1


def derive_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed from ``seed`` and a key of any parts (ids, round numbers, a purpose such as ``"score"``).

    The parts are compared as text (``2`` and ``"2"`` give the same seed).
    """
    blob = json.dumps([seed, *[str(p) for p in parts]], separators=(",", ":")).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & _MASK_31


def item_seed63(seed: int, item_id: str) -> int:
    """A 63-bit seed for one item (a prompt, a pair) from ``seed`` and the item's id."""
    digest = hashlib.sha256(f"{seed}\0{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & _MASK_63


__all__ = ["derive_seed", "item_seed63"]
