"""The judge modes on the scripted mock: verdict parsing, top-logprobs arithmetic, votes, and mode choice."""

from __future__ import annotations

import math

import pytest

from rlaif.backends.base import Capabilities, ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution.schema import Principle
from rlaif.errors import RlaifError
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, Unlabeled, judge_pairs, judge_pairs_detailed
from rlaif.feedback.judge_modes import (
    choice_logprobs_from_top,
    parse_verdict,
    resolve_judge_mode,
    vote_probability,
)
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet

P1 = Principle(id="p1", compare="Which is kinder (Q-ONE)?", critique="c", revision="r")
CONV = (ChatMessage("user", "Say hello."),)


@pytest.fixture
def templates() -> TemplateSet:
    return TemplateSet.load()


def _pair() -> Comparison:
    return Comparison("x:0-1", CONV, "ALPHA", "BETA", (P1,))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("(A)", 0),
        ("B", 1),
        ("**A**", 0),
        ("Let me think. (A) is short, but (B) is kind. Therefore, the better response is (B)", 1),
        ('{"winner": "A"}', 0),
        ('Reasoning... {"reason": "x", "winner": "Response B"}', 1),
        ("Response B is better because it is kind.", 1),
        ("Response A is clearer than Response B, so Response A is better.", 0),
        ("The better response is A.", 0),
        ("Winner: B", 1),
        ("I prefer Response A.", 0),
        ("Only Response B says hello.", 1),
        ("A\n\nThe better respons", 0),
        ("B.\nBecause it is kind.", 1),
        ("Both are fine.", None),
        ("Response A and Response B are equally good.", None),
        ("", None),
    ],
)
def test_parse_verdict(text: str, want: int | None) -> None:
    assert parse_verdict(text) == want


def test_vote_probability_by_hand() -> None:
    assert vote_probability(5, 5) == pytest.approx(6 / 7)
    assert vote_probability(0, 5) == pytest.approx(1 / 7)
    assert vote_probability(1, 1) == pytest.approx(2 / 3)
    assert vote_probability(0, 0) == pytest.approx(0.5)


def test_top_logprobs_renormalised_and_bounded() -> None:
    top = [(("A", math.log(0.6)), ("B", math.log(0.2)), ("C", math.log(0.1)))]
    lps, _ = choice_logprobs_from_top(top, ("A", "B"))
    assert lps is not None
    pa, pb = (math.exp(x) for x in lps)
    assert pa / (pa + pb) == pytest.approx(0.75)
    # B missing: bounded by the smallest listed probability (0.1)
    lps, _ = choice_logprobs_from_top([(("A", math.log(0.6)), ("C", math.log(0.1)))], ("A", "B"))
    assert lps is not None and math.exp(lps[1]) == pytest.approx(0.1)
    # neither: a reason, no numbers
    lps, reason = choice_logprobs_from_top([(("C", -1.0), ("D", -2.0))], ("A", "B"))
    assert lps is None and "neither choice" in reason
    # without a prefill the first position that lists a choice is read; " B" is a loose match for "B"
    lps, _ = choice_logprobs_from_top(
        [(("(", -0.01), ("Answer", -5.0)), ((" A", math.log(0.2)), (" B", math.log(0.6)))],
        ("A", "B"),
        prefilled=False,
    )
    assert lps is not None and math.exp(lps[1]) == pytest.approx(0.6)


def test_top_logprobs_mode_equals_choice_logprobs_on_scripted_critic(templates: TemplateSet) -> None:
    mock = MockBackend()
    pattern = r"(?s)<response_a>\nALPHA\n</response_a>.*\(Q-ONE\)"
    mock.add_score(pattern, "A", math.log(0.6), regex=True).add_score(pattern, "B", math.log(0.2), regex=True)
    swapped = pattern.replace("ALPHA", "BETA")
    mock.add_score(swapped, "A", math.log(0.3), regex=True).add_score(swapped, "B", math.log(0.5), regex=True)
    by_score = judge_pairs(mock, templates, [_pair()], JudgeConfig(mode="choice-logprobs"), progress=False)
    by_top = judge_pairs(mock, templates, [_pair()], JudgeConfig(mode="top-logprobs"), progress=False)
    assert isinstance(by_score[0], SoftLabel) and isinstance(by_top[0], SoftLabel)
    assert by_top[0].judgements[0].p_ab == pytest.approx(0.75)
    assert by_top[0].judgements[0].p_ba == pytest.approx(0.625)
    assert by_top[0].p == pytest.approx(by_score[0].p, abs=1e-3)
    assert any(c.kind == "top_logprobs" for c in mock.calls)


def test_verdict_mode_votes_both_orders(templates: TemplateSet) -> None:
    mock = MockBackend()
    # the critic always prefers the response saying ALPHA, whichever letter it has
    mock.add_response(r"(?s)<response_a>\nALPHA", "Therefore, the better response is (A)", regex=True)
    mock.add_response(r"(?s)<response_a>\nBETA", '{"winner": "B"}', regex=True)
    config = JudgeConfig(
        mode="verdict", verdict_samples=3, verdict_temperature=0.7, verdict_max_new_tokens=64
    )
    [jp] = judge_pairs_detailed(mock, templates, [_pair()], config, progress=False)
    assert isinstance(jp.result, SoftLabel)
    j = jp.result.judgements[0]
    assert j.p_ab == pytest.approx(4 / 5) and j.p_ba == pytest.approx(4 / 5)
    assert jp.result.p == pytest.approx(0.8)
    assert jp.reasoning[0][0] == "Therefore, the better response is (A)"
    reqs = mock.generate_requests
    assert len(reqs) == 2 and all(r.params.n == 3 and r.params.temperature == 0.7 for r in reqs)
    assert all(isinstance(r.prompt, tuple) for r in reqs)  # a chat, not a locally formatted text


def test_verdict_unparseable_is_retried_once_then_unlabeled_with_raw_text(templates: TemplateSet) -> None:
    mock = MockBackend(default_response="I cannot decide.")
    [jp] = judge_pairs_detailed(
        mock, templates, [_pair()], JudgeConfig(mode="verdict", verdict_samples=2), progress=False
    )
    assert isinstance(jp.result, Unlabeled)
    assert "could not be parsed" in jp.result.reason and "I cannot decide." in jp.result.raw
    # first try (one request per order), then one retry of each
    assert len(mock.generate_requests) == 4


def test_verdict_retry_recovers(templates: TemplateSet) -> None:
    mock = MockBackend()
    mock.add_response("<response_a>", ["hmm", "(A)"])
    [jp] = judge_pairs_detailed(
        mock, templates, [_pair()], JudgeConfig(mode="verdict", verdict_samples=1), progress=False
    )
    assert isinstance(jp.result, SoftLabel)


class _NoLogprobs(MockBackend):
    def capabilities(self) -> Capabilities:
        return Capabilities(choice_logprobs=False, top_logprobs=False, local_chat_format=False)


def test_modes_that_cannot_work_fail_at_once_naming_one_that_does() -> None:
    critic = _NoLogprobs()
    assert resolve_judge_mode(critic, "auto") == "verdict"
    for mode in ("choice-logprobs", "top-logprobs"):
        with pytest.raises(RlaifError, match=mode) as info:
            resolve_judge_mode(critic, mode)
        assert "--judge-mode verdict" in str(info.value)
    with pytest.raises(RlaifError, match="unknown judge mode"):
        resolve_judge_mode(critic, "telepathy")
    assert resolve_judge_mode(MockBackend(), "auto") == "choice-logprobs"
