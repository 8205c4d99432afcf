"""Win rates: outcomes worked out by hand, a scripted critic in both orders, ties, position bias, reliability."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution import load_constitution
from rlaif.evals.winrate import (
    CONSTITUTION,
    Verdict,
    critic_reliability,
    judge_policy_pairs,
    outcome_of,
    win_rate,
    win_rates,
)
from rlaif.feedback.comparison import Comparison
from rlaif.prompting import TemplateSet
from rlaif.testing import MockBackend

ROOT = Path(__file__).resolve().parents[3]
HHH = load_constitution(ROOT / "principles/hhh.yaml")
STYLE = load_constitution(ROOT / "principles/style.yaml")
P_STRONG = 1.0 / (1.0 + math.exp(-2.2))  # softmax of log-probs -0.1 vs -2.3


def _critic_preferring(word: str) -> MockBackend:
    """A consistent critic: the response containing ``word`` wins in either position."""
    m = MockBackend()
    first = rf"{word}[\s\S]*Response (?:A|B)[\s\S]*OTHER|{word}[\s\S]*OTHER"
    m.add_score(first, "A", -0.1, regex=True).add_score(first, "B", -2.3, regex=True)
    m.add_score(r"OTHER[\s\S]*" + word, "A", -2.3, regex=True).add_score(
        r"OTHER[\s\S]*" + word, "B", -0.1, regex=True
    )
    return m


def _pair(pid: str, policy: str, baseline: str) -> Comparison:
    return Comparison(pid, (ChatMessage("user", "Tell me something."),), policy, baseline)


def test_outcome_rule() -> None:
    assert outcome_of(0.7, 0.6) == "win"
    assert outcome_of(0.3, 0.2) == "loss"
    assert outcome_of(0.9, 0.1) == "tie"  # the verdict followed the position
    assert outcome_of(0.5, 0.9) == "tie"


def test_win_rate_counts_ties_as_half() -> None:
    verdicts = (
        [Verdict(0.8, 0.7, "win")] * 3 + [Verdict(0.9, 0.2, "tie")] * 2 + [Verdict(0.2, 0.3, "loss")] * 1
    )
    wr = win_rate(verdicts, resamples=200)
    assert (wr.n, wr.wins, wr.ties, wr.losses) == (6, 3, 2, 1)
    assert wr.win_rate.value == pytest.approx((3 + 1) / 6)
    assert wr.soft.value == pytest.approx((3 * 0.75 + 2 * 0.55 + 0.25) / 6)
    assert wr.win_rate.low <= wr.win_rate.value <= wr.win_rate.high
    assert wr.tie_rate == pytest.approx(2 / 6)


def test_consistent_critic_gives_wins_and_losses() -> None:
    critic = _critic_preferring("GOODWORD")
    principles = list(HHH.principles[:2])
    pairs = [
        _pair("p1", "GOODWORD answer", "OTHER answer"),
        _pair("p2", "OTHER answer", "GOODWORD answer"),
        _pair("p3", "same text", "same text"),
    ]
    verdicts = judge_policy_pairs(critic, TemplateSet.load(), pairs, principles, progress=False)
    assert verdicts[0].overall is not None and verdicts[0].overall.outcome == "win"
    assert verdicts[0].overall.p_ab == pytest.approx(P_STRONG)
    assert verdicts[0].overall.p_ba == pytest.approx(P_STRONG)
    assert verdicts[1].overall is not None and verdicts[1].overall.outcome == "loss"
    assert verdicts[2].identical and verdicts[2].overall is not None and verdicts[2].overall.outcome == "tie"
    # 2 judged pairs x 2 principles x 2 orders; the identical pair was never sent
    assert len(critic.score_requests) == 8
    rates = win_rates(verdicts, resamples=200)
    assert set(rates) == {CONSTITUTION, *(p.ref for p in principles)}
    c = rates[CONSTITUTION]
    assert (c.wins, c.ties, c.losses) == (1, 1, 1)
    assert c.win_rate.value == pytest.approx(0.5)


def test_position_biased_critic_gives_ties() -> None:
    critic = MockBackend().add_score("Answer", "A", -0.1).add_score("Answer", "B", -2.3)
    principles = list(HHH.principles[:1])
    pairs = [_pair("p1", "one answer", "another answer")]
    [v] = judge_policy_pairs(critic, TemplateSet.load(), pairs, principles, progress=False)
    assert v.overall is not None
    assert v.overall.outcome == "tie"
    assert v.overall.p_ab == pytest.approx(P_STRONG)
    assert v.overall.p_ba == pytest.approx(1 - P_STRONG)
    rel = critic_reliability([v], pairs, principles)
    assert rel.judgements == 1
    assert rel.position_bias is not None and rel.position_bias.value == 1.0
    assert rel.order_consistency is not None and rel.order_consistency.value == 0.0


def test_unlabeled_pairs_are_left_out() -> None:
    critic = MockBackend().add_garbage("BROKEN")
    critic.add_score("Answer", "A", -0.1).add_score("Answer", "B", -2.3)
    pairs = [_pair("p1", "BROKEN", "fine"), _pair("p2", "x", "y")]
    verdicts = judge_policy_pairs(critic, TemplateSet.load(), pairs, list(HHH.principles[:1]), progress=False)
    assert verdicts[0].unlabeled_reason is not None and "non-finite" in verdicts[0].unlabeled_reason
    assert win_rates(verdicts, resamples=50)[CONSTITUTION].n == 1


def test_rule_agreement_counts_only_decisive_pairs() -> None:
    critic = _critic_preferring("GOODWORD")
    no_excl = [p for p in STYLE.principles if p.id == "no_exclamations"]
    pairs = [
        _pair("p1", "GOODWORD calm answer.", "OTHER shouting answer!!!"),  # rule decides, critic agrees
        _pair("p2", "GOODWORD yelling!!!", "OTHER calm."),  # rule decides, critic disagrees
        _pair("p3", "GOODWORD calm.", "OTHER calm too."),  # rule does not decide
    ]
    verdicts = judge_policy_pairs(critic, TemplateSet.load(), pairs, no_excl, progress=False)
    rel = critic_reliability(verdicts, pairs, no_excl)
    assert rel.rule_decisive == {"no_exclamations@1": 2}
    agreement = rel.rule_agreement["no_exclamations@1"]
    assert agreement is not None and agreement.value == 0.5


def test_win_rate_needs_both_orders() -> None:
    from rlaif.feedback.judge import JudgeConfig

    with pytest.raises(ValueError, match="both orders"):
        judge_policy_pairs(
            MockBackend(), TemplateSet.load(), [_pair("p", "a", "b")], list(HHH.principles[:1]),
            JudgeConfig(both_orders=False), progress=False,
        )  # fmt: skip
