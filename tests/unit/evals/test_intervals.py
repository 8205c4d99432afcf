"""Wilson and cluster-bootstrap intervals, checked against values worked out by hand."""

from __future__ import annotations

import pytest

from rlaif.stats import (
    bootstrap_ci,
    cluster_bootstrap_ci,
    clustered_proportion_ci,
    proportion_ci,
    wilson_ci,
)


def test_wilson_matches_hand_computed_values() -> None:
    # z = 1.959964; 5/10: centre 0.5, half = z*sqrt(0.025 + z^2/400)/(1 + z^2/10) = 0.26335
    e = wilson_ci(5, 10)
    assert e.value == 0.5
    assert e.low == pytest.approx(0.23659, abs=1e-4)
    assert e.high == pytest.approx(0.76341, abs=1e-4)
    # all successes: the interval does not collapse to [1, 1] (lower bound n/(n + z^2) = 20/23.8415)
    full = wilson_ci(20, 20)
    assert full.high == 1.0
    assert full.low == pytest.approx(20 / (20 + 1.959964**2), abs=1e-5)
    zero = wilson_ci(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(1 - 10 / (10 + 1.959964**2), abs=1e-5)


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson_ci(3, 0)
    with pytest.raises(ValueError):
        wilson_ci(4, 3)


def test_proportion_ci_is_wilson_of_the_sum() -> None:
    assert proportion_ci([1, 0, 1, 1]) == wilson_ci(3, 4)


def test_percentile_bootstrap_collapses_where_wilson_does_not() -> None:
    ones = [1.0] * 20
    assert (bootstrap_ci(ones).low, bootstrap_ci(ones).high) == (1.0, 1.0)
    assert proportion_ci(ones).low < 0.85


def test_cluster_bootstrap_counts_clusters_and_is_wider_than_itemwise() -> None:
    # 10 prompts, each judged 10 times with identical outcomes: only 10 independent units, not 100
    values = [float(i % 2) for i in range(10) for _ in range(10)]
    clusters = [i for i in range(10) for _ in range(10)]
    clustered = cluster_bootstrap_ci(values, clusters, seed=1)
    itemwise = bootstrap_ci(values, seed=1)
    assert clustered.n == 10 and itemwise.n == 100
    assert clustered.value == itemwise.value == 0.5
    assert (clustered.high - clustered.low) > 2 * (itemwise.high - itemwise.low)


def test_cluster_bootstrap_with_singleton_clusters_is_the_plain_bootstrap() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 1.0]
    assert cluster_bootstrap_ci(values, list(range(5)), seed=3) == bootstrap_ci(values, seed=3)


def test_cluster_bootstrap_checks_lengths() -> None:
    with pytest.raises(ValueError):
        cluster_bootstrap_ci([1.0, 0.0], [1])


def test_clustered_proportion_with_one_outcome_per_cluster_is_wilson() -> None:
    outcomes = [1, 0, 1, 1, 0, 1, 1, 1]
    e = clustered_proportion_ci(outcomes, list(range(8)))
    w = wilson_ci(6, 8)
    assert (e.value, e.low, e.high, e.n) == (w.value, w.low, w.high, w.n)


def test_clustered_proportion_with_identical_outcomes_in_a_cluster_is_wilson_over_clusters() -> None:
    # 10 prompts judged 4 times each, all 4 judgements the same: 6 of 10 prompts "yes"
    outcomes = [1.0] * 24 + [0.0] * 16
    clusters = [i // 4 for i in range(40)]
    e = clustered_proportion_ci(outcomes, clusters)
    w = wilson_ci(6, 10)
    assert e.n == 10 and e.value == 0.6
    assert e.low == pytest.approx(w.low, abs=1e-12) and e.high == pytest.approx(w.high, abs=1e-12)


def test_clustered_proportion_with_independent_looking_clusters_keeps_the_full_sample() -> None:
    # every cluster is half yes, half no: no between-cluster variance, design effect clamps at 1 -> Wilson on n = 40
    outcomes = [1.0, 0.0] * 20
    clusters = [i // 2 for i in range(40)]
    e = clustered_proportion_ci(outcomes, clusters)
    w = wilson_ci(20, 40)
    assert e.low == pytest.approx(w.low) and e.high == pytest.approx(w.high)


def test_clustered_proportion_at_the_extremes_uses_one_unit_per_cluster() -> None:
    e = clustered_proportion_ci([1.0] * 30, [i // 3 for i in range(30)])
    assert e.high == 1.0 and e.low == pytest.approx(wilson_ci(10, 10).low)
