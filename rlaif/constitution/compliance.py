"""Rule compliance: the model-free ground truth of whether a policy follows the rule-carrying principles.

For each principle with a declarative ``rule``, the fraction of responses that pass it, with a 95% bootstrap
interval, plus ``all`` (a response passes every rule) and, given a baseline, the before/after difference with its
own paired interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rlaif.constitution.rules import check_rule
from rlaif.constitution.schema import Principle
from rlaif.stats import Estimate, bootstrap_ci, proportion_ci

ALL = "all"


@dataclass(frozen=True)
class ComplianceReport:
    """Per-principle pass rates (keyed by principle id, plus ``"all"``) over ``n`` responses."""

    rates: dict[str, Estimate]
    passed: dict[str, list[bool]]
    n: int

    def rate(self, principle_id: str = ALL) -> float:
        """The pass rate of one principle (or of all rules together)."""
        return self.rates[principle_id].value


def _rule_principles(principles: Sequence[Principle]) -> list[Principle]:
    ruled = [p for p in principles if p.rule is not None]
    if not ruled:
        raise ValueError("none of the given principles carries a rule; compliance needs at least one")
    return ruled


def rule_compliance(
    principles: Sequence[Principle], responses: Sequence[str], *, seed: int = 0
) -> ComplianceReport:
    """Check every response against every rule-carrying principle; pass rates with Wilson intervals."""
    if not responses:
        raise ValueError("no responses to check")
    ruled = _rule_principles(principles)
    passed: dict[str, list[bool]] = {p.id: [] for p in ruled}
    passed[ALL] = []
    for text in responses:
        ok_all = True
        for p in ruled:
            assert p.rule is not None
            ok = check_rule(p.rule, text).passed
            passed[p.id].append(ok)
            ok_all = ok_all and ok
        passed[ALL].append(ok_all)
    rates = {
        k: proportion_ci([float(x) for x in v]) for k, v in passed.items()
    }  # one response per prompt: Wilson
    return ComplianceReport(rates=rates, passed=passed, n=len(responses))


def compliance_gain(
    before: ComplianceReport, after: ComplianceReport, principle_id: str = ALL, *, seed: int = 0
) -> Estimate:
    """Paired difference after − before of one principle's pass rate (same prompts, same order), with interval."""
    a, b = before.passed[principle_id], after.passed[principle_id]
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same prompts: {len(a)} vs {len(b)} responses")
    return bootstrap_ci([float(y) - float(x) for x, y in zip(a, b, strict=True)], seed=seed)
