"""Seeded, weighted sampling of principles without replacement.

Labels are made under k principles drawn per comparison (as in Constitutional AI, where one principle is drawn per
label). Draws are sequential: each draw picks one of the remaining principles with probability proportional to its
weight. The draw uses :class:`random.Random` seeded with an int, which is deterministic across processes and
platforms and independent of ``PYTHONHASHSEED``; principles are taken in file order, never from a set.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import RlaifError


def filter_principles(
    principles: Constitution | Sequence[Principle], tags: Iterable[str] | None = None
) -> list[Principle]:
    """The principles (in order) carrying at least one of ``tags``; all of them when ``tags`` is ``None``."""
    items = list(principles.principles if isinstance(principles, Constitution) else principles)
    if tags is None:
        return items
    wanted = {tags} if isinstance(tags, str) else set(tags)
    return [p for p in items if wanted.intersection(p.tags)]


def principles_by_id(constitution: Constitution, ids: Sequence[str]) -> list[Principle]:
    """The principles named by ``ids``, in the order of ``ids``.

    Raises:
        RlaifError: an id names no principle of ``constitution`` (field ``principles``; the hint lists the ids).
    """
    known = {p.id: p for p in constitution.principles}
    missing = [i for i in ids if i not in known]
    if missing:
        raise RlaifError(
            f"no principle {', '.join(map(repr, missing))} in constitution '{constitution.name}'",
            field="principles",
            hint=f"principle ids: {', '.join(known)}",
        )
    return [known[i] for i in ids]


def sample_principles(
    constitution: Constitution | Sequence[Principle],
    k: int,
    *,
    seed: int | random.Random,
    tags: Iterable[str] | None = None,
) -> list[Principle]:
    """Draw ``k`` distinct principles, each draw weighted by ``weight`` among those not yet drawn.

    Args:
        constitution: a constitution, or a sequence of principles.
        k: how many to draw (0 ≤ k ≤ number of eligible principles).
        seed: an int (same seed → same principles, in the same order) or a :class:`random.Random` to draw from
            (advanced by the draw).
        tags: only principles carrying at least one of these tags are eligible.

    Returns:
        The drawn principles, in draw order.

    Raises:
        RlaifError: ``k`` is negative or larger than the number of eligible principles.
    """
    tag_set = None if tags is None else ({tags} if isinstance(tags, str) else set(tags))
    pool = filter_principles(constitution, tag_set)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise RlaifError(f"the number of principles to sample must be a non-negative integer, got {k!r}")
    if k > len(pool):
        what = f"with any of the tags {sorted(tag_set)}" if tag_set is not None else "in all"
        raise RlaifError(
            f"cannot sample {k} distinct principles: only {len(pool)} principle(s) {what}",
            hint="lower k (principles per label) or add principles",
        )
    if isinstance(seed, random.Random):
        rng = seed
    elif isinstance(seed, int) and not isinstance(seed, bool):
        rng = random.Random(seed)
    else:
        raise RlaifError(f"seed must be an int or a random.Random, got {type(seed).__name__}")

    remaining = list(pool)
    drawn: list[Principle] = []
    for _ in range(k):
        total = sum(p.weight for p in remaining)
        target = rng.random() * total
        index = len(remaining) - 1  # guards against float round-off leaving target just above the last sum
        acc = 0.0
        for i, p in enumerate(remaining):
            acc += p.weight
            if target < acc:
                index = i
                break
        drawn.append(remaining.pop(index))
    return drawn


def inclusion_probabilities(
    constitution: Constitution | Sequence[Principle], k: int, *, tags: Iterable[str] | None = None
) -> dict[str, float]:
    """Exact probability that each principle is among ``k`` sequential weighted draws (for tests and reports).

    Enumerates draw sequences, so it is meant for small constitutions (≲ 12 principles).
    """
    pool = filter_principles(constitution, tags)
    if not 0 <= k <= len(pool):
        raise RlaifError(f"k={k} is out of range for {len(pool)} principle(s)")
    probs = {p.id: 0.0 for p in pool}

    def walk(remaining: list[Principle], depth: int, prob: float, chosen: list[str]) -> None:
        if depth == k:
            for pid in chosen:
                probs[pid] += prob
            return
        total = sum(p.weight for p in remaining)
        for i, p in enumerate(remaining):
            walk(remaining[:i] + remaining[i + 1 :], depth + 1, prob * p.weight / total, [*chosen, p.id])

    walk(pool, 0, 1.0, [])
    return probs


__all__ = ["filter_principles", "inclusion_probabilities", "principles_by_id", "sample_principles"]
