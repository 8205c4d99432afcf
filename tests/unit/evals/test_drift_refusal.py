"""Drift monitors and the refusal detector, with values worked out by hand."""

from __future__ import annotations

import pytest

from rlaif.evals.drift import (
    drift_report,
    histogram,
    histogram_edges,
    length_summary,
    loops,
    over_represented,
    repeated_ngram_share,
)
from rlaif.evals.refusal import detect_refusal, is_refusal, refusal_rate

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot provide medical advice.",
    "As an AI language model, I cannot browse the web.",
    "I won't be able to write that review.",
    "Sorry, I can't.",
    "I must respectfully decline.",
    "I am unable to assist with this request.",
    "That goes against my guidelines.",
    "I\u2019m not able to help with that.",  # typographic apostrophe
]
NOT_REFUSALS = [
    "I can't recommend this book enough!",
    "Sure: put a paper towel over the wax and press with a warm iron.",
    "I'm sorry to hear that. Here are three things to try.",
    "Canberra.",
    "You cannot mix bleach and vinegar: it releases chlorine gas.",
    "Step 1 is long. " * 30 + "I cannot stress this enough.",  # past the window
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals_are_detected(text: str) -> None:
    match = detect_refusal(text)
    assert match is not None, text
    assert match.phrase in text.lower().replace("\u2019", "'")


@pytest.mark.parametrize("text", NOT_REFUSALS)
def test_helpful_answers_are_not_refusals(text: str) -> None:
    assert not is_refusal(text), detect_refusal(text)


def test_refusal_rate() -> None:
    rate = refusal_rate([*REFUSALS[:2], *NOT_REFUSALS[:2]])
    assert rate.value == 0.5
    assert rate.n == 4


def test_length_summary_by_hand() -> None:
    texts = ["one", "one two", "one two three", "a b c d e f g h i j"]
    s = length_summary(texts, finish_reasons=["stop", "stop", "stop", "length"])
    assert s.mean.value == pytest.approx((1 + 2 + 3 + 10) / 4)
    assert s.median == pytest.approx(2.5)
    assert s.max == 10
    assert s.truncated == 0.25
    assert sum(s.counts) == 4
    assert histogram([0, 1, 5, 99], [0, 2, 4, 6]) == (2, 0, 2)
    assert histogram_edges([0, 19]) == tuple(float(2 * i) for i in range(11))


def test_repetition() -> None:
    assert repeated_ngram_share("the cat sat on the mat") == 0.0
    # 9 tokens -> 7 trigrams, 3 distinct (a b c / b c a / c a b)
    assert repeated_ngram_share("a b c a b c a b c") == pytest.approx(1 - 3 / 7)
    assert loops("a b c a b c a b c") and not loops("a b c a b c")
    assert repeated_ngram_share("too short") == 0.0


def test_over_represented_finds_the_added_phrase() -> None:
    base = [f"Answer number {i} about topic {i}." for i in range(20)]
    policy = [f"Answer number {i} about topic {i}. I hope this helps!" for i in range(20)]
    phrases = over_represented(policy, base, top=5)
    assert phrases, "the phrase the policy added should be found"
    assert all(p.base_count == 0 and p.policy_count == 20 for p in phrases)
    assert any("hope this helps" in p.phrase for p in phrases)
    assert all("answer number" not in p.phrase for p in phrases)  # shared by both: not over-represented
    assert over_represented(base, base) == []


def test_drift_report_shares_bins() -> None:
    d = drift_report(["a b c d", "I'm sorry, but I can't help with that."], ["a b", "c d"])
    assert d.length_policy.edges == d.length_base.edges
    assert d.refusal_policy.value == 0.5 and d.refusal_base.value == 0.0
    with pytest.raises(ValueError):
        drift_report([], ["x"])
