"""Evaluations with honest uncertainty: critic agreement with human labels, and the statistics behind them.

>>> from rlaif.evals import AgreementConfig, evaluate_agreement, bootstrap_ci
"""

from rlaif.evals.agreement import (
    AgreementConfig,
    AgreementReport,
    AgreementRun,
    PairResult,
    PrincipleAgreement,
    ReliabilityBin,
    RuleAgreement,
    evaluate_agreement,
    run_agreement,
    write_report,
)
from rlaif.evals.stats import Estimate, bootstrap_ci, brier, expected_calibration_error

__all__ = [
    "AgreementConfig",
    "AgreementReport",
    "AgreementRun",
    "Estimate",
    "PairResult",
    "PrincipleAgreement",
    "ReliabilityBin",
    "RuleAgreement",
    "bootstrap_ci",
    "brier",
    "evaluate_agreement",
    "expected_calibration_error",
    "run_agreement",
    "write_report",
]
