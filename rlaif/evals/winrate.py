"""Win rate of a policy against a baseline, judged by the critic in both orders, per principle and overall.

For each held-out prompt the policy's response (A) and the baseline's response (B), a
:class:`~rlaif.feedback.comparison.Comparison` whose ``pair_id`` is the prompt id, are judged by the critic under
every selected principle, in both orders, with the labeler's own judging path
(:func:`rlaif.feedback.judge.judge_pairs_detailed`: one prefix-sharing ``score`` call per batch of pairs). Each
(principle, order) gives p(policy ≻ baseline).

* **Outcome of a prompt under one principle**: a *win* when both orders prefer the policy, a *loss* when both prefer
  the baseline, and a *tie* when the two orders disagree (the verdict flips with the position, so the critic did not
  really decide) — the conservative reading used by pairwise LLM judges. Identical responses are a tie without
  asking the critic.
* **Under the whole constitution**: the same rule on the per-order means over all selected principles (the
  labeler's ensemble, kept separate by order).
* **win rate** = (wins + ties / 2) / n with a 95% Wilson interval over prompts (it does not collapse to [1, 1] when
  every prompt is won); the counts of wins, ties and losses are reported with it, and the **soft win rate** (mean p
  over both orders, percentile bootstrap over prompts) as a second view.
* **critic reliability** (position bias, order consistency, rule agreement) pools every (prompt, principle)
  judgement, but the judgements of one prompt are not independent: their intervals are clustered by prompt
  (:func:`rlaif.stats.clustered_proportion_ci`), so ``n`` is the number of prompts.

Pairs the critic could not judge (see the labeler's unlabeled reasons) are left out and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rlaif.backends.base import Backend
from rlaif.constitution.rules import check_rule
from rlaif.constitution.schema import Principle
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, Unlabeled, judge_pairs_detailed
from rlaif.prompting import TemplateSet
from rlaif.stats import Estimate, bootstrap_ci, clustered_proportion_ci, proportion_ci

log = logging.getLogger(__name__)

Outcome = Literal["win", "tie", "loss"]
#: the key of the whole-constitution win rate next to the principle refs
CONSTITUTION = "constitution"
#: |p − 0.5| at or below this counts as no preference in that order
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Verdict:
    """p(policy ≻ baseline) from each order (policy shown first: ``p_ab``; shown second: ``p_ba``)."""

    p_ab: float
    p_ba: float
    outcome: Outcome

    @property
    def p(self) -> float:
        """Position-debiased p(policy ≻ baseline)."""
        return 0.5 * (self.p_ab + self.p_ba)


@dataclass(frozen=True)
class PairVerdict:
    """The critic's verdicts on one prompt: per principle ref, and under the whole constitution.

    ``identical``: the two responses are the same text (a tie, the critic was not asked). ``unlabeled_reason``: the
    critic could not judge the pair (then there are no verdicts).
    """

    prompt_id: str
    identical: bool = False
    unlabeled_reason: str | None = None
    overall: Verdict | None = None
    per_principle: dict[str, Verdict] = field(default_factory=dict)

    @property
    def labeled(self) -> bool:
        """Whether the pair has a verdict."""
        return self.overall is not None


def outcome_of(p_ab: float, p_ba: float, tolerance: float = TOLERANCE) -> Outcome:
    """Win when both orders prefer the policy, loss when both prefer the baseline, tie otherwise."""
    if p_ab > 0.5 + tolerance and p_ba > 0.5 + tolerance:
        return "win"
    if p_ab < 0.5 - tolerance and p_ba < 0.5 - tolerance:
        return "loss"
    return "tie"


def _verdict(p_ab: float, p_ba: float) -> Verdict:
    return Verdict(p_ab, p_ba, outcome_of(p_ab, p_ba))


_TIE = Verdict(0.5, 0.5, "tie")


def judge_policy_pairs(
    critic: Backend,
    templates: TemplateSet,
    pairs: Sequence[Comparison],
    principles: Sequence[Principle],
    judge: JudgeConfig = JudgeConfig(),
    *,
    batch_pairs: int = 8,
    progress: bool = True,
) -> list[PairVerdict]:
    """Judge every (policy, baseline) pair under every principle in both orders; one verdict per pair, in order.

    Each pair is a comparison with the policy's response as A, the baseline's as B and the prompt id as
    ``pair_id``; its own principles are ignored (every pair is judged under ``principles``). Pairs are sent ``batch_pairs`` at a time (the unit of progress and of call-cache commits). Identical responses
    are not sent.
    """
    if not principles:
        raise ValueError("no principles to judge by")
    if not judge.both_orders:
        raise ValueError("a win rate needs both orders (position bias would decide it otherwise)")
    refs = [p.ref for p in principles]
    verdicts: dict[int, PairVerdict] = {}
    to_judge = [i for i, p in enumerate(pairs) if p.response_a.strip() != p.response_b.strip()]
    for i, p in enumerate(pairs):
        if p.response_a.strip() == p.response_b.strip():
            verdicts[i] = PairVerdict(
                p.pair_id, identical=True, overall=_TIE, per_principle=dict.fromkeys(refs, _TIE)
            )
    from tqdm.auto import tqdm

    bar = tqdm(total=len(to_judge), unit="pair", desc="judging", disable=not progress)
    try:
        for start in range(0, len(to_judge), batch_pairs):
            chunk = to_judge[start : start + batch_pairs]
            batch = [pairs[i].under(principles) for i in chunk]
            for i, judged in zip(
                chunk, judge_pairs_detailed(critic, templates, batch, judge, progress=False), strict=True
            ):
                result = judged.result
                if isinstance(result, Unlabeled):
                    verdicts[i] = PairVerdict(pairs[i].pair_id, unlabeled_reason=result.reason)
                    continue
                per = {ref: _verdict(j.p_ab, j.p_ba) for ref, j in zip(refs, result.judgements, strict=True)}
                k = len(result.judgements)
                overall = _verdict(
                    sum(j.p_ab for j in result.judgements) / k, sum(j.p_ba for j in result.judgements) / k
                )
                verdicts[i] = PairVerdict(pairs[i].pair_id, overall=overall, per_principle=per)
            bar.update(len(chunk))
    finally:
        bar.close()
    return [verdicts[i] for i in range(len(pairs))]


@dataclass(frozen=True)
class WinRate:
    """Wins, ties and losses of the policy over ``n`` judged prompts, with the win rate's interval."""

    n: int
    wins: int
    ties: int
    losses: int
    win_rate: Estimate  # (wins + ties / 2) / n
    soft: Estimate  # mean p(policy ≻ baseline)

    @property
    def tie_rate(self) -> float:
        """Share of ties."""
        return self.ties / self.n if self.n else 0.0


def win_rate(
    verdicts: Sequence[Verdict], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> WinRate:
    """Aggregate verdicts into a :class:`WinRate` (one verdict per prompt; Wilson interval for the win rate)."""
    if not verdicts:
        raise ValueError("no judged pairs to compute a win rate from")
    scores = [1.0 if v.outcome == "win" else 0.5 if v.outcome == "tie" else 0.0 for v in verdicts]
    return WinRate(
        n=len(verdicts),
        wins=sum(v.outcome == "win" for v in verdicts),
        ties=sum(v.outcome == "tie" for v in verdicts),
        losses=sum(v.outcome == "loss" for v in verdicts),
        win_rate=proportion_ci(scores, confidence=confidence),
        soft=bootstrap_ci([v.p for v in verdicts], resamples=resamples, confidence=confidence, seed=seed + 1),
    )


def win_rates(
    verdicts: Sequence[PairVerdict], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, WinRate]:
    """Win rate under the whole constitution (key :data:`CONSTITUTION`) and under each principle ref."""
    labeled = [v for v in verdicts if v.labeled]
    if not labeled:
        return {}
    out = {
        CONSTITUTION: win_rate(
            [v.overall for v in labeled if v.overall is not None],
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
    }
    for ref in labeled[0].per_principle:
        out[ref] = win_rate(
            [v.per_principle[ref] for v in labeled], resamples=resamples, confidence=confidence, seed=seed
        )
    return out


@dataclass(frozen=True)
class CriticReliability:
    """How trustworthy the critic's verdicts on these pairs are (no human labels needed).

    ``position_bias``: share of (prompt, principle) judgements where the critic picked the same position in both
    orders; ``order_consistency``: both orders prefer the same response. ``rule_agreement`` per rule-carrying
    principle: over the prompts where the rule passes exactly one of the two responses, the share where the critic's
    judgement under that principle prefers the passing one (None when the rule never decided).
    """

    judgements: int
    position_bias: Estimate | None
    order_consistency: Estimate | None
    rule_agreement: dict[str, Estimate | None]
    rule_decisive: dict[str, int]


def critic_reliability(
    verdicts: Sequence[PairVerdict],
    pairs: Sequence[Comparison],
    principles: Sequence[Principle],
    *,
    seed: int = 0,
) -> CriticReliability:
    """Position bias, order consistency and rule-vs-critic agreement on the judged (non-identical) pairs."""
    biased: list[float] = []
    consistent: list[float] = []
    owners: list[str] = []  # the prompt of each pooled judgement: the independent unit
    agree: dict[str, list[float]] = {p.ref: [] for p in principles if p.rule is not None}
    for v, pair in zip(verdicts, pairs, strict=True):
        if not v.labeled or v.identical:
            continue
        for principle in principles:
            j = v.per_principle[principle.ref]
            # the policy shown first in order 1, second in order 2: same position chosen twice = disagreeing p's
            biased.append(float((j.p_ab - 0.5) * (j.p_ba - 0.5) < 0))
            consistent.append(float(j.outcome != "tie"))
            owners.append(v.prompt_id)
            if principle.rule is not None:
                a = check_rule(principle.rule, pair.response_a).passed  # the policy's
                b = check_rule(principle.rule, pair.response_b).passed  # the baseline's
                if a != b:
                    agree[principle.ref].append(float((j.p > 0.5) == a))
    return CriticReliability(
        judgements=len(biased),
        position_bias=clustered_proportion_ci(biased, owners) if biased else None,
        order_consistency=clustered_proportion_ci(consistent, owners) if consistent else None,
        rule_agreement={ref: proportion_ci(xs) if xs else None for ref, xs in agree.items()},
        rule_decisive={ref: len(xs) for ref, xs in agree.items()},
    )


__all__ = [
    "CONSTITUTION",
    "CriticReliability",
    "Outcome",
    "PairVerdict",
    "Verdict",
    "WinRate",
    "critic_reliability",
    "judge_policy_pairs",
    "outcome_of",
    "win_rate",
    "win_rates",
]
