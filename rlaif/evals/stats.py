"""Compatibility path: the statistics live in :mod:`rlaif.stats` (a bottom layer every package may use)."""

from rlaif.stats import (
    Estimate,
    bootstrap_ci,
    brier,
    cluster_bootstrap_ci,
    clustered_proportion_ci,
    expected_calibration_error,
    proportion_ci,
    wilson_ci,
)

__all__ = [
    "Estimate",
    "bootstrap_ci",
    "brier",
    "cluster_bootstrap_ci",
    "clustered_proportion_ci",
    "expected_calibration_error",
    "proportion_ci",
    "wilson_ci",
]
