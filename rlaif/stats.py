"""Statistics with honest uncertainty: bootstrap intervals, calibration (ECE, Brier)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


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


def estimate_json(e: Estimate | None) -> dict[str, Any] | None:
    """An estimate as reports write it (value, low, high, n); None stays None."""
    return None if e is None else {"value": e.value, "low": e.low, "high": e.high, "n": e.n}


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


def expected_calibration_error(probs: Sequence[float], outcomes: Sequence[float], *, bins: int = 10) -> float:
    """ECE with equal-width bins over [0, 1]: the weighted mean |accuracy − confidence| per bin.

    Uses the probability of the outcome "1" directly (binary reliability diagram), so a critic that says 0.7 should
    be right 70% of the time. Outcomes are 0/1, or soft labels in [0, 1] (then each bin compares its mean label
    with its mean probability).
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


def _normal_quantile(confidence: float) -> float:
    """Two-sided standard-normal quantile z with P(|Z| ≤ z) = confidence (stdlib, no scipy)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_ci(successes: float, n: int, *, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for a proportion ``successes / n``.

    Unlike the percentile bootstrap it does not collapse to ``[1, 1]`` when every trial succeeded: 20 of 20 gives
    about [0.839, 1.0]. ``successes`` may be fractional (ties credited 1/2), in which case it is the usual
    continuous extension of the same formula.
    """
    if n <= 0:
        raise ValueError("cannot estimate a proportion from zero trials")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    p = successes / n
    low, high = _wilson_from(p, float(n), confidence)
    return Estimate(value=p, low=low, high=high, n=n, confidence=confidence)


def cluster_bootstrap_ci(
    values: Sequence[float],
    clusters: Sequence[object],
    statistic: Callable[[Sequence[float]], float] | None = None,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap that resamples whole clusters (prompts or pairs), not the judgements inside them.

    ``values[i]`` belongs to cluster ``clusters[i]``; each resample draws as many clusters as there are, with
    replacement, and keeps every value of each drawn cluster. Judgements nested in one prompt are correlated, so
    resampling them one by one makes the interval too narrow. ``n`` of the result is the number of clusters.
    """
    if len(values) != len(clusters):
        raise ValueError(f"need one cluster per value, got {len(values)} values and {len(clusters)} clusters")
    if not values:
        raise ValueError("cannot estimate from zero items")
    stat = statistic or (lambda xs: sum(xs) / len(xs))
    groups: dict[object, list[float]] = {}
    for v, c in zip(values, clusters, strict=True):
        groups.setdefault(c, []).append(v)
    members = list(groups.values())
    m = len(members)
    rng = random.Random(seed)
    samples = []
    for _ in range(resamples):
        drawn: list[float] = []
        for _ in range(m):
            drawn.extend(members[rng.randrange(m)])
        samples.append(stat(drawn))
    samples.sort()
    alpha = (1.0 - confidence) / 2.0
    low = samples[int(alpha * (resamples - 1))]
    high = samples[int((1.0 - alpha) * (resamples - 1))]
    return Estimate(value=stat(list(values)), low=low, high=high, n=m, confidence=confidence)


def proportion_ci(outcomes: Sequence[float], *, confidence: float = 0.95) -> Estimate:
    """Wilson interval for the mean of 0/1 (or 0/½/1) outcomes, one outcome per independent unit."""
    return wilson_ci(float(sum(outcomes)), len(outcomes), confidence=confidence)


def clustered_proportion_ci(
    outcomes: Sequence[float], clusters: Sequence[object], *, confidence: float = 0.95
) -> Estimate:
    """Interval for a proportion whose outcomes are nested in clusters (judgements within prompts or pairs).

    A Wilson interval on the *effective* sample size n / deff, where the design effect deff compares the
    cluster-robust (linearised ratio-estimator) variance of the proportion with the binomial one, and is kept within
    [1, n / clusters]. With one outcome per cluster this is the plain Wilson interval; with perfectly correlated
    outcomes inside each cluster it is Wilson over the clusters. At p = 0 or 1 the variance carries no information, so
    the conservative end (one unit per cluster) is used. Like Wilson, it never collapses to ``[1, 1]``.
    ``n`` of the result is the number of clusters, the independent unit.
    """
    if len(outcomes) != len(clusters):
        raise ValueError(
            f"need one cluster per outcome, got {len(outcomes)} outcomes and {len(clusters)} clusters"
        )
    if not outcomes:
        raise ValueError("cannot estimate a proportion from zero outcomes")
    n = len(outcomes)
    sums: dict[object, list[float]] = {}
    for y, c in zip(outcomes, clusters, strict=True):
        s = sums.setdefault(c, [0.0, 0.0])
        s[0] += float(y)
        s[1] += 1.0
    m = len(sums)
    p = sum(float(y) for y in outcomes) / n
    binomial = p * (1.0 - p) / n
    if m == n:
        n_eff = float(n)
    elif binomial <= 0.0 or m < 2:
        n_eff = float(m)
    else:
        robust = m / (m - 1) * sum((y - p * k) ** 2 for y, k in sums.values()) / (n * n)
        deff = min(max(robust / binomial, 1.0), n / m)
        n_eff = n / deff
    w = _wilson_from(p, n_eff, confidence)
    return Estimate(value=p, low=w[0], high=w[1], n=m, confidence=confidence)


def _wilson_from(p: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson bounds for proportion ``p`` observed over a (possibly fractional, effective) sample size ``n``."""
    z = _normal_quantile(confidence)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / denom
    low = 0.0 if p <= 0.0 else max(0.0, centre - half)
    high = 1.0 if p >= 1.0 else min(1.0, centre + half)
    return low, high
