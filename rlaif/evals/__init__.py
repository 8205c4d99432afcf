"""Evaluations with honest uncertainty: critic agreement with human labels, policy win rates, rule compliance,
drift and reward-hacking monitors, and the statistics behind them.

>>> from rlaif.evals import AgreementConfig, evaluate_agreement, bootstrap_ci
>>> from rlaif.evals import PolicyEvalConfig, evaluate_policy
>>> from rlaif.evals import InjectionConfig, InjectionJob, run_injection
"""

from rlaif.constitution.compliance import ComplianceReport, compliance_gain, rule_compliance
from rlaif.evals.agreement import (
    AgreementConfig,
    AgreementJob,
    AgreementReport,
    PairResult,
    PrincipleAgreement,
    ReliabilityBin,
    RuleAgreement,
    evaluate_agreement,
    run_agreement,
    write_report,
)
from rlaif.evals.drift import DriftReport, drift_report, over_represented
from rlaif.evals.gate import CriticGateError, GateResult, GateSettings, run_gate
from rlaif.evals.injection import InjectionConfig, InjectionReport
from rlaif.evals.injection_job import InjectionJob, InjectionResult, run_injection
from rlaif.evals.judge_bench import BenchConfig, BenchItem, compute_metrics, load_bench
from rlaif.evals.policy_eval import PolicyEvalConfig, PolicyEvalResult, evaluate_policy
from rlaif.evals.refusal import detect_refusal, is_refusal, refusal_rate
from rlaif.evals.winrate import PairVerdict, WinRate, judge_policy_pairs, win_rates
from rlaif.stats import Estimate, bootstrap_ci, brier, expected_calibration_error

__all__ = [
    "AgreementConfig",
    "AgreementJob",
    "AgreementReport",
    "BenchConfig",
    "BenchItem",
    "ComplianceReport",
    "CriticGateError",
    "DriftReport",
    "Estimate",
    "GateResult",
    "GateSettings",
    "InjectionConfig",
    "InjectionJob",
    "InjectionReport",
    "InjectionResult",
    "PairResult",
    "PairVerdict",
    "PolicyEvalConfig",
    "PolicyEvalResult",
    "PrincipleAgreement",
    "ReliabilityBin",
    "RuleAgreement",
    "WinRate",
    "bootstrap_ci",
    "brier",
    "compliance_gain",
    "compute_metrics",
    "detect_refusal",
    "drift_report",
    "evaluate_agreement",
    "evaluate_policy",
    "expected_calibration_error",
    "is_refusal",
    "judge_policy_pairs",
    "load_bench",
    "over_represented",
    "refusal_rate",
    "rule_compliance",
    "run_agreement",
    "run_gate",
    "run_injection",
    "win_rates",
    "write_report",
]
