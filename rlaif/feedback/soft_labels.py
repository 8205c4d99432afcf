"""From answer-token log-probabilities to calibrated soft preference labels.

The critic is asked "which response is better under this principle?" twice: once with response A shown first
(order ``ab``) and once with the two swapped (order ``ba``). In each order the log-probabilities of the two answer
choices (e.g. " A" and " B") are renormalised against each other, giving the probability that the critic prefers
response A. Averaging the two orders cancels position bias to first order; averaging over the k sampled principles
gives the ensemble label (as in the constitutional AI paper's multiple-principle labels).

Conventions used everywhere in rlaif:

* ``p_ab`` = P(critic picks the first-shown choice | order ab) = p(A ≻ B) read from order ab.
* ``p_ba`` = P(critic picks the second-shown choice | order ba) = p(A ≻ B) read from order ba (A was shown second).
* An order-consistent judgement has ``p_ab`` and ``p_ba`` on the same side of 0.5; an inconsistent one means the critic
  picked the same *letter* in both orders (position bias).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def normalise_choices(logprobs: Sequence[float]) -> list[float]:
    """Softmax over the choices' log-probabilities: the critic's distribution restricted to the allowed answers.

    Raises ValueError if every choice has probability zero (``-inf``): that judgement is unusable, not a tie.
    """
    if not logprobs:
        raise ValueError("no choices to normalise")
    top = max(logprobs)
    if top == -math.inf or math.isnan(top):
        raise ValueError("every answer choice has zero probability")
    exps = [math.exp(lp - top) for lp in logprobs]
    total = sum(exps)
    return [e / total for e in exps]


def clamp(p: float, bounds: tuple[float, float] | None) -> float:
    """Clamp a probability into ``bounds`` (used for chain-of-thought labels, which are over-confident)."""
    if bounds is None:
        return p
    lo, hi = bounds
    return min(max(p, lo), hi)


@dataclass(frozen=True)
class PrincipleJudgement:
    """The critic's verdict on one pair under one principle, in both orders."""

    principle_id: str
    principle_version: int
    p_ab: float  # p(A ≻ B) read from order ab (A shown first)
    p_ba: float  # p(A ≻ B) read from order ba (A shown second)

    @property
    def p(self) -> float:
        """Position-debiased p(A ≻ B): the mean of both orders."""
        return 0.5 * (self.p_ab + self.p_ba)

    @property
    def consistent(self) -> bool:
        """True when both orders prefer the same response (a tie in either order counts as inconsistent)."""
        return (self.p_ab - 0.5) * (self.p_ba - 0.5) > 0

    @property
    def first_position_chosen_both(self) -> bool:
        """True when the critic picked the first-shown response in both orders (the usual position bias)."""
        return self.p_ab > 0.5 and self.p_ba < 0.5


def judgement_from_logprobs(
    principle_id: str,
    principle_version: int,
    order_ab: Sequence[float],
    order_ba: Sequence[float],
    *,
    clamp_to: tuple[float, float] | None = None,
) -> PrincipleJudgement:
    """Build a judgement from the two choices' log-probs in each order.

    ``order_ab`` and ``order_ba`` are ``[logprob(first choice), logprob(second choice)]`` as scored in that order.
    ``clamp_to`` clamps each order's probability (chain-of-thought labels; the paper uses [0.4, 0.6]).
    """
    p_ab = clamp(normalise_choices(order_ab)[0], clamp_to)
    p_ba = clamp(normalise_choices(order_ba)[1], clamp_to)
    return PrincipleJudgement(principle_id, principle_version, p_ab, p_ba)


@dataclass(frozen=True)
class SoftLabel:
    """The ensemble label of one pair: p(A ≻ B) over k principles × 2 orders, with its evidence."""

    p: float
    judgements: tuple[PrincipleJudgement, ...]

    @property
    def confidence(self) -> float:
        """|2p − 1|: 0 for a coin flip, 1 for certainty."""
        return abs(2.0 * self.p - 1.0)

    @property
    def order_consistent(self) -> bool:
        """True when every principle's judgement is order-consistent."""
        return all(j.consistent for j in self.judgements)

    @property
    def consistency_rate(self) -> float:
        """Fraction of principles judged consistently in both orders."""
        return sum(j.consistent for j in self.judgements) / len(self.judgements)

    @property
    def decisive_principle(self) -> str:
        """The principle whose judgement pulled hardest toward the final label (ties: the first)."""
        direction = 1.0 if self.p >= 0.5 else -1.0
        best = max(self.judgements, key=lambda j: direction * (j.p - 0.5))
        return best.principle_id

    @property
    def preferred(self) -> str | None:
        """'a', 'b', or None for an exact tie."""
        if self.p > 0.5:
            return "a"
        if self.p < 0.5:
            return "b"
        return None


def ensemble(judgements: Sequence[PrincipleJudgement]) -> SoftLabel:
    """Average the position-debiased probabilities of several principles."""
    if not judgements:
        raise ValueError("a label needs at least one principle judgement")
    p = sum(j.p for j in judgements) / len(judgements)
    return SoftLabel(p=p, judgements=tuple(judgements))


def passes_threshold(label: SoftLabel, min_confidence: float) -> bool:
    """Keep a label only if it is at least this confident (filters ties and near-ties)."""
    return label.confidence >= min_confidence


def expected_score(logprobs: Sequence[float], values: Sequence[float]) -> float:
    """Probability-weighted mean of score values (e.g. 1..10) from the score tokens' log-probabilities."""
    if len(logprobs) != len(values):
        raise ValueError("one log-probability per score value is needed")
    probs = normalise_choices(logprobs)
    return sum(p * v for p, v in zip(probs, values, strict=True))
