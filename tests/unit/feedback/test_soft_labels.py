"""Soft labels worked out by hand."""

from __future__ import annotations

import math

import pytest

from rlaif.feedback.soft_labels import (
    clamp,
    ensemble,
    expected_score,
    judgement_from_logprobs,
    normalise_choices,
    passes_threshold,
)


def lp(*ps: float) -> list[float]:
    return [math.log(p) for p in ps]


def test_normalise_renormalises_two_choices() -> None:
    # P(" A") = 0.3, P(" B") = 0.1 of the full vocabulary -> 0.75 / 0.25 between the two
    assert normalise_choices(lp(0.3, 0.1)) == pytest.approx([0.75, 0.25])
    with pytest.raises(ValueError):
        normalise_choices([-math.inf, -math.inf])


def test_orders_are_debiased() -> None:
    # order ab: critic says (A) with 0.8 -> p(A>B)=0.8; order ba: A is shown second, critic says (A) with 0.6,
    # i.e. picks the second-shown (our A) with 0.4 -> p(A>B)=0.4. Mean 0.6, inconsistent (same letter twice).
    j = judgement_from_logprobs("honesty", 2, lp(0.8, 0.2), lp(0.6, 0.4))
    assert (j.p_ab, j.p_ba) == (pytest.approx(0.8), pytest.approx(0.4))
    assert j.p == pytest.approx(0.6)
    assert not j.consistent and j.first_position_chosen_both

    k = judgement_from_logprobs("harm", 1, lp(0.7, 0.3), lp(0.1, 0.9))
    assert k.p == pytest.approx(0.8) and k.consistent and not k.first_position_chosen_both


def test_chain_of_thought_clamp() -> None:
    j = judgement_from_logprobs("x", 1, lp(0.99, 0.01), lp(0.02, 0.98), clamp_to=(0.4, 0.6))
    assert (j.p_ab, j.p_ba, j.p) == (0.6, 0.6, pytest.approx(0.6))
    assert clamp(0.1, (0.4, 0.6)) == 0.4 and clamp(0.5, None) == 0.5


def test_ensemble_average_consistency_and_decisive_principle() -> None:
    judgements = [
        judgement_from_logprobs("a", 1, lp(0.9, 0.1), lp(0.1, 0.9)),  # p = 0.9, consistent
        judgement_from_logprobs("b", 1, lp(0.6, 0.4), lp(0.6, 0.4)),  # p = 0.5, inconsistent
        judgement_from_logprobs("c", 1, lp(0.3, 0.7), lp(0.5, 0.5)),  # p = 0.4, tie in ba -> inconsistent
    ]
    label = ensemble(judgements)
    assert label.p == pytest.approx((0.9 + 0.5 + 0.4) / 3)
    assert label.preferred == "a"
    assert label.decisive_principle == "a"
    assert not label.order_consistent and label.consistency_rate == pytest.approx(1 / 3)
    assert label.confidence == pytest.approx(0.2)
    assert passes_threshold(label, 0.2 - 1e-9) and not passes_threshold(label, 0.25)
    # toward B, the decisive principle is the one most in favour of B
    flipped = ensemble([judgements[1], judgements[2]])
    assert flipped.preferred == "b" and flipped.decisive_principle == "c"
    with pytest.raises(ValueError):
        ensemble([])


def test_expected_score_is_probability_weighted_mean() -> None:
    # half the mass on "8", a quarter each on "2" and "10" (other tokens renormalised away)
    logprobs = [-math.inf] * 10
    logprobs[1], logprobs[7], logprobs[9] = math.log(0.25), math.log(0.5), math.log(0.25)
    assert expected_score(logprobs, list(range(1, 11))) == pytest.approx(0.25 * 2 + 0.5 * 8 + 0.25 * 10)
    with pytest.raises(ValueError):
        expected_score([0.0], [1, 2])
