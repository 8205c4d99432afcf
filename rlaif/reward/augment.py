"""Training-time augmentations of labelled pairs (each opt-in, see :class:`~rlaif.reward.config.AugmentSettings`).

* **principle subset**: show a random non-empty subset of the row's principles (the label stays);
* **negation** (SALMON-style steering data): replace every shown principle by its ``negation`` text and flip the label
  p → 1 − p, so the model must read the principles to rank responses;
* **negation pairs** (contrastive): every pair is also shown, in the same micro-batch, under the negations of its
  shown principles with the label flipped (:func:`with_negation_pairs`);
* **label noise**: flip the label p → 1 − p with a small probability.

The draws depend only on (seed, epoch, row), never on the order batches are visited, so a resumed run sees exactly
the augmentations of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from rlaif.constitution.schema import Principle
from rlaif.reward.config import AugmentSettings
from rlaif.reward.data import RewardRow
from rlaif.reward.inputs import negate_principle


@dataclass(frozen=True)
class AugmentedRow:
    """A pair as shown in one epoch: the principles in its input and the label it is trained toward."""

    pair: RewardRow
    principles: tuple[Principle, ...]
    p_chosen: float
    negated: bool = False
    noised: bool = False


def _rng(seed: int, epoch: int, row: int) -> random.Random:
    digest = hashlib.sha256(f"augment\0{seed}\0{epoch}\0{row}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def augment_pair(pair: RewardRow, settings: AugmentSettings, *, seed: int, epoch: int) -> AugmentedRow:
    """The augmented view of ``pair`` in ``epoch`` (unchanged when every augmentation is off)."""
    rng = _rng(seed, epoch, pair.row)
    principles = pair.principles
    p = pair.p_chosen
    # Fixed order of draws, each made whether or not its augmentation is on, so turning one on does not move the
    # draws of the others.
    u_subset, u_negate, u_noise = rng.random(), rng.random(), rng.random()
    if settings.principle_subset and len(principles) > 1:
        k = 1 + int(u_subset * len(principles))
        keep = sorted(rng.sample(range(len(principles)), k))
        principles = tuple(principles[i] for i in keep)
    negated = False
    if u_negate < settings.negation_prob and all(q.negation is not None for q in principles):
        principles = tuple(negate_principle(q) for q in principles)
        p = 1.0 - p
        negated = True
    noised = u_noise < settings.label_noise
    if noised:
        p = 1.0 - p
    return AugmentedRow(pair=pair, principles=principles, p_chosen=p, negated=negated, noised=noised)


def with_negation_pairs(items: list[AugmentedRow]) -> list[AugmentedRow]:
    """``items`` followed by the negated view of each one whose shown principles all have a negation.

    The counterpart shows the negation of every principle of the item's view (or, when the item is itself negated,
    the original principles) with the label p -> 1 - p; label noise stays as drawn for the item.
    """
    out = list(items)
    for a in items:
        base = a.pair.principles if a.negated else a.principles
        if a.negated:
            # the view shows negations of a subset of the row's principles: undo them by id
            shown = {q.id for q in a.principles}
            principles = tuple(q for q in base if q.id in shown)
        elif all(q.negation is not None for q in a.principles):
            principles = tuple(negate_principle(q) for q in a.principles)
        else:
            continue
        out.append(
            AugmentedRow(
                pair=a.pair,
                principles=principles,
                p_chosen=1.0 - a.p_chosen,
                negated=not a.negated,
                noised=a.noised,
            )
        )
    return out
