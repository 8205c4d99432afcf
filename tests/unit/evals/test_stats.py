"""Bootstrap, Brier and ECE against values worked out by hand."""

from __future__ import annotations

import pytest

from rlaif.evals.stats import bootstrap_ci, brier, expected_calibration_error


def test_brier_by_hand() -> None:
    assert brier([0.8, 0.3], [1, 0]) == pytest.approx((0.04 + 0.09) / 2)
    assert brier([0.5] * 4, [1, 0, 1, 0]) == 0.25


def test_ece_by_hand() -> None:
    # bin 0.7-0.8: two predictions of 0.75, one right -> |0.5 - 0.75| weighted 2/4
    # bin 0.2-0.3: two predictions of 0.25, none right -> |0 - 0.25| weighted 2/4
    assert expected_calibration_error([0.75, 0.75, 0.25, 0.25], [1, 0, 0, 0]) == pytest.approx(0.125 + 0.125)
    # perfectly calibrated in every bin
    assert expected_calibration_error([1.0, 1.0, 0.0], [1, 1, 0]) == 0.0


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_n() -> None:
    small = bootstrap_ci([1.0, 0.0] * 10, seed=1)
    large = bootstrap_ci([1.0, 0.0] * 500, seed=1)
    assert small.value == large.value == 0.5
    assert small.low < 0.5 < small.high
    assert (large.high - large.low) < (small.high - small.low) / 4
    # a 95% interval for a proportion of 0.5 with n=1000 is about +-0.031
    assert large.high - large.low == pytest.approx(0.062, abs=0.01)
    assert bootstrap_ci([1.0, 0.0] * 10, seed=1) == small  # seeded
    with pytest.raises(ValueError):
        bootstrap_ci([])
