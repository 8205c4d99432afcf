"""Compatibility path: rule compliance lives in :mod:`rlaif.constitution.compliance` (below policy and evals)."""

from rlaif.constitution.compliance import ALL, ComplianceReport, compliance_gain, rule_compliance

__all__ = ["ALL", "ComplianceReport", "compliance_gain", "rule_compliance"]
