"""Seeds derived from a run seed and a key: the one place that turns (seed, ids...) into a seed.

The two seed forms hash with sha256, so a derived seed is the same on every platform, process and Python hash seed,
and the draw for one item never depends on the others. :func:`crc32_seed` is the lighter crc32 form that the mock
backend, the agreement evaluation, the judge benchmark and the principle extractor draw with. Their exact bytes are
part of what a run reproduces (the principles a pair is judged by, a prompt's sampled responses, which response of
a pair is shown first), so no form may change.
"""

from __future__ import annotations

import hashlib
import json
import zlib

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


def crc32_seed(*parts: object) -> int:
    """A 32-bit integer from the parts' text joined by ``:`` (crc32), the same in every process (Python's ``hash()``
    is salted per process)."""
    return zlib.crc32(":".join(str(p) for p in parts).encode("utf-8", "surrogatepass"))


__all__ = ["crc32_seed", "derive_seed", "item_seed63"]
