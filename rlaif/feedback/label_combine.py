"""One pair's label from its sources: the rule checks of its sampled principles, the critic's judgement, or both
(``hybrid``), and the per-principle records kept in the row's ``judgements`` column."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlaif.constitution.rules import RuleResult, check_rule
from rlaif.constitution.schema import Principle
from rlaif.feedback.judge import JudgeResult, Unlabeled
from rlaif.feedback.soft_labels import PrincipleJudgement, SoftLabel, ensemble


@dataclass(frozen=True)
class RuleCheck:
    """A principle's rule checked on both responses of a pair."""

    principle: Principle
    a: RuleResult
    b: RuleResult

    @property
    def p(self) -> float:
        """1 when only A passes, 0 when only B passes, 0.5 otherwise."""
        if self.a.passed == self.b.passed:
            return 0.5
        return 1.0 if self.a.passed else 0.0

    @property
    def discriminates(self) -> bool:
        """Whether exactly one response passes."""
        return self.a.passed != self.b.passed

    def record(self) -> dict[str, Any]:
        """The check as stored in a row's ``rules`` column."""
        return {
            "principle": self.principle.ref,
            "a_passed": self.a.passed,
            "b_passed": self.b.passed,
            "a_failures": list(self.a.failures),
            "b_failures": list(self.b.failures),
        }


def check_rules(principles: Sequence[Principle], response_a: str, response_b: str) -> dict[str, RuleCheck]:
    """principle id -> its rule checked on both responses, for every sampled principle that has a rule."""
    return {
        p.id: RuleCheck(p, check_rule(p.rule, response_a), check_rule(p.rule, response_b))
        for p in principles
        if p.rule is not None
    }


def combine(
    source: str,
    principles: Sequence[Principle],
    checks: Mapping[str, RuleCheck],
    jp: JudgeResult | None,
) -> tuple[SoftLabel | None, list[str], str]:
    """The label from the chosen source, which source decided each principle, or the reason there is none."""
    if source == "rules":
        from_rules = [PrincipleJudgement(p.id, p.version, checks[p.id].p, checks[p.id].p) for p in principles]
        return ensemble(from_rules), ["rule"] * len(principles), ""
    assert jp is not None
    critic_label = jp.result if isinstance(jp.result, SoftLabel) else None
    if source == "critic":
        if critic_label is None:
            assert isinstance(jp.result, Unlabeled)
            return None, [], jp.result.reason
        return critic_label, ["critic"] * len(principles), ""
    # hybrid: a rule that tells the two apart decides its principle; the critic judges the rest
    judgements: list[PrincipleJudgement] = []
    sources: list[str] = []
    by_id = {j.principle_id: j for j in critic_label.judgements} if critic_label is not None else {}
    for p in principles:
        check = checks.get(p.id)
        if check is not None and check.discriminates:
            judgements.append(PrincipleJudgement(p.id, p.version, check.p, check.p))
            sources.append("rule")
        elif p.id in by_id:
            judgements.append(by_id[p.id])
            sources.append("critic")
        else:
            assert isinstance(jp.result, Unlabeled)
            return None, [], jp.result.reason
    return ensemble(judgements), sources, ""


def judgement_records(
    principles: Sequence[Principle],
    label: SoftLabel,
    sources: Sequence[str],
    checks: Mapping[str, RuleCheck],
    jp: JudgeResult | None,
) -> list[dict[str, Any]]:
    """Per sampled principle: both orders' probabilities, the deciding source, the critic's own opinion where a
    rule decided, choice masses, reasoning (chain of thought) and the rule's verdict."""
    critic_label = jp.result if jp is not None and isinstance(jp.result, SoftLabel) else None
    critic_by_id = {j.principle_id: j for j in critic_label.judgements} if critic_label is not None else {}
    records = []
    for ki, (p, j, src) in enumerate(zip(principles, label.judgements, sources, strict=True)):
        record: dict[str, Any] = {
            "principle": p.ref,
            "p_ab": j.p_ab,
            "p_ba": j.p_ba,
            "consistent": j.consistent,
            "source": src,
        }
        cj = critic_by_id.get(p.id)
        if cj is not None:
            if src != "critic":  # the critic's own opinion, kept next to the rule's verdict
                record["critic_p_ab"] = cj.p_ab
                record["critic_p_ba"] = cj.p_ba
            if jp is not None and jp.choice_mass:
                masses = jp.choice_mass[ki]
                record["mass_ab"] = masses[0]
                if len(masses) > 1:
                    record["mass_ba"] = masses[1]
            if jp is not None and jp.reasoning and any(jp.reasoning[ki]):
                record["reasoning_ab"] = jp.reasoning[ki][0]
                if len(jp.reasoning[ki]) > 1:
                    record["reasoning_ba"] = jp.reasoning[ki][1]
        if p.id in checks:
            record["rule"] = {"a_passed": checks[p.id].a.passed, "b_passed": checks[p.id].b.passed}
        records.append(record)
    return records


__all__ = ["RuleCheck", "check_rules", "combine", "judgement_records"]
