"""Stable content hashes of principles and constitutions.

A hash is the sha256 of a canonical JSON form of the validated model: keys sorted, no insignificant whitespace,
UTF-8 without escaping, and fields left at their default value omitted. So the hash

* does not depend on the YAML's formatting, comments, key order, quoting style, or on spelling a default out
  (``weight: 1.0`` and no ``weight`` are the same principle), nor on Python's hash randomisation;
* changes when any field changes meaning: texts, weight, tags, negation, rule, version, id;
* stays the same when a later rlaif release adds a new optional field, since its default is omitted.

Principle order is part of a constitution's hash (it decides what a seeded sample draws).
Labels record the hash of the constitution and ``id@version`` of each principle used; the call cache keys on the
rendered prompt, so editing one principle recomputes only the rows that used it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from rlaif.constitution.schema import Constitution, Principle

#: Hex digits shown where a full hash would be noise (tables, log lines).
SHORT_HASH_LENGTH = 12


def canonical_json(model: BaseModel) -> str:
    """The canonical JSON text a hash is computed over (see module docs)."""
    data: Any = model.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def model_hash(model: BaseModel) -> str:
    """sha256 (64 hex digits) of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(model).encode("utf-8")).hexdigest()


def short_hash(full_hash: str) -> str:
    """The display form of a hash: its first :data:`SHORT_HASH_LENGTH` hex digits (the one display helper)."""
    return full_hash[:SHORT_HASH_LENGTH]


#: the former name of :func:`short_hash`
short = short_hash


def principle_hash(principle: Principle) -> str:
    """Content hash of one principle (64 hex digits)."""
    return model_hash(principle)


def constitution_hash(constitution: Constitution) -> str:
    """Content hash of a whole constitution: name, version, description, principles in order, examples."""
    return model_hash(constitution)


__all__ = [
    "SHORT_HASH_LENGTH",
    "canonical_json",
    "constitution_hash",
    "model_hash",
    "principle_hash",
    "short",
    "short_hash",
]
