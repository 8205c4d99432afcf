"""Statistics with honest uncertainty: bootstrap intervals, calibration (ECE, Brier)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval."""

    value: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def bootstrap_ci(
    items: Sequence[float],
    statistic: Callable[[Sequence[float]], float] | None = None,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) over ``items``. Seeded, so reproducible."""
    if not items:
        raise ValueError("cannot estimate from zero items")
    stat = statistic or (lambda xs: sum(xs) / len(xs))
    rng = random.Random(seed)
    n = len(items)
    values = sorted(stat([items[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples))
    alpha = (1.0 - confidence) / 2.0
    low = values[int(alpha * (resamples - 1))]
    high = values[int((1.0 - alpha) * (resamples - 1))]
    return Estimate(value=stat(items), low=low, high=high, n=n, confidence=confidence)


def brier(probs: Sequence[float], outcomes: Sequence[int]) -> float:
    """Mean squared error between predicted probabilities and 0/1 outcomes (lower is better; 0.25 = coin flip)."""
    if len(probs) != len(outcomes) or not probs:
        raise ValueError("need one outcome per probability, and at least one")
    return sum((p - y) ** 2 for p, y in zip(probs, outcomes, strict=True)) / len(probs)


def expected_calibration_error(probs: Sequence[float], outcomes: Sequence[int], *, bins: int = 10) -> float:
    """ECE with equal-width bins over [0, 1]: the weighted mean |accuracy − confidence| per bin.

    Uses the probability of the outcome "1" directly (binary reliability diagram), so a critic that says 0.7 should
    be right 70% of the time.
    """
    if len(probs) != len(outcomes) or not probs:
        raise ValueError("need one outcome per probability, and at least one")
    totals = [0] * bins
    sum_p = [0.0] * bins
    sum_y = [0.0] * bins
    for p, y in zip(probs, outcomes, strict=True):
        b = min(int(p * bins), bins - 1)
        totals[b] += 1
        sum_p[b] += p
        sum_y[b] += y
    n = len(probs)
    return sum(abs(sum_y[b] - sum_p[b]) / n for b in range(bins) if totals[b])
