"""Evaluations with honest uncertainty: critic agreement with human labels, policy win rates, rule compliance,
drift and reward-hacking monitors, and the statistics behind them.

>>> from rlaif.evals import AgreementConfig, evaluate_agreement, bootstrap_ci
>>> from rlaif.evals import PolicyEvalConfig, evaluate_policy
>>> from rlaif.evals import InjectionConfig, InjectionJob, run_injection
"""

from rlaif.lazy import lazy_exports

#: module -> the public names it gives; each loads on first use (PEP 562), so importing this package stays light
_LAZY: dict[str, tuple[str, ...]] = {
    "rlaif.constitution.compliance": ("ComplianceReport", "compliance_gain", "rule_compliance"),
    "rlaif.evals.agreement": (
        "AgreementConfig",
        "AgreementJob",
        "AgreementReport",
        "PairResult",
        "PrincipleAgreement",
        "ReliabilityBin",
        "RuleAgreement",
        "evaluate_agreement",
        "run_agreement",
        "write_report",
    ),
    "rlaif.evals.drift": ("DriftReport", "drift_report", "over_represented"),
    "rlaif.evals.gate": ("CriticGateError", "GateResult", "GateSettings", "run_gate"),
    "rlaif.evals.injection": ("InjectionConfig", "InjectionReport"),
    "rlaif.evals.injection_job": ("InjectionJob", "InjectionResult", "run_injection"),
    "rlaif.evals.judge_bench": ("BenchConfig", "BenchItem", "compute_metrics", "load_bench"),
    "rlaif.evals.policy_eval": ("PolicyEvalConfig", "PolicyEvalResult", "evaluate_policy"),
    "rlaif.evals.refusal": ("detect_refusal", "is_refusal", "refusal_rate"),
    "rlaif.evals.winrate": ("PairVerdict", "WinRate", "judge_policy_pairs", "win_rates"),
    "rlaif.stats": ("Estimate", "bootstrap_ci", "brier", "expected_calibration_error"),
}

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)

__all__ = sorted(name for names in _LAZY.values() for name in names)
