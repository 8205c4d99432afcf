"""Wilson and cluster-bootstrap intervals, checked against values worked out by hand."""

from __future__ import annotations

import pytest

from rlaif.evals.stats import bootstrap_ci, cluster_bootstrap_ci, proportion_ci, wilson_ci


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
