"""judge_pairs on the scripted mock: labels worked out by hand from scripted log-probabilities."""

from __future__ import annotations

import math

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution.schema import Principle
from rlaif.errors import BackendError
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, Unlabeled, judge_pairs
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet

P1 = Principle(id="p1", compare="Which is kinder (Q-ONE)?", critique="c", revision="r")
P2 = Principle(id="p2", version=3, compare="Which is clearer (Q-TWO)?", critique="c", revision="r")
CONV = (ChatMessage("user", "Say hello."),)


def _script(mock: MockBackend, q: str, first: str, lp_a: float, lp_b: float) -> None:
    """Score "A"/"B" for prompts asking question ``q`` with response ``first`` shown first."""
    pattern = rf"(?s)<response_a>\n{first}\n</response_a>.*\({q}\)"
    mock.add_score(pattern, "A", lp_a, regex=True).add_score(pattern, "B", lp_b, regex=True)


@pytest.fixture
def templates() -> TemplateSet:
    return TemplateSet.load()


@pytest.fixture
def mock() -> MockBackend:
    m = MockBackend()
    # p1: order ab P(A)=.6, P(B)=.2 -> p_ab = .75; order ba (ALPHA second) P(A)=.3, P(B)=.5 -> p_ba = .625
    _script(m, "Q-ONE", "ALPHA", math.log(0.6), math.log(0.2))
    _script(m, "Q-ONE", "BETA", math.log(0.3), math.log(0.5))
    # p2: order ab .1/.4 -> p_ab = .2; order ba .5/.5 -> p_ba = .5
    _script(m, "Q-TWO", "ALPHA", math.log(0.1), math.log(0.4))
    _script(m, "Q-TWO", "BETA", math.log(0.5), math.log(0.5))
    return m


def pair(pid: str = "x:0-1", principles: tuple[Principle, ...] = (P1, P2)) -> Comparison:
    return Comparison(pid, CONV, "ALPHA", "BETA", principles)


def test_both_orders_and_ensemble_by_hand(mock: MockBackend, templates: TemplateSet) -> None:
    [label] = judge_pairs(mock, templates, [pair()], progress=False)
    assert isinstance(label, SoftLabel)
    j1, j2 = label.judgements
    assert (j1.principle_id, j1.principle_version) == ("p1", 1)
    assert (j2.principle_id, j2.principle_version) == ("p2", 3)
    assert j1.p_ab == pytest.approx(0.75) and j1.p_ba == pytest.approx(0.625)
    assert j2.p_ab == pytest.approx(0.2) and j2.p_ba == pytest.approx(0.5)
    assert label.p == pytest.approx(((0.75 + 0.625) / 2 + (0.2 + 0.5) / 2) / 2)  # 0.51875
    assert j1.consistent and not j2.consistent and not label.order_consistent
    assert label.decisive_principle == "p1"


def test_one_score_call_for_all_pairs_principles_and_orders(
    mock: MockBackend, templates: TemplateSet
) -> None:
    judge_pairs(mock, templates, [pair("a:0-1"), pair("b:0-1"), pair("c:0-1")], progress=False)
    assert [c.kind for c in mock.calls] == ["score"]
    requests = mock.score_requests
    assert len(requests) == 3 * 2 * 2
    assert all(r.continuations == ("A", "B") for r in requests)
    assert all(r.prompt.endswith("Answer: (") for r in requests)
    # grouped pair by pair, order by order, principle last: the k principles of one order share a prefix
    first, second = requests[0].prompt, requests[1].prompt
    shared = first.split("Question:")[0]
    assert second.startswith(shared) and "Q-ONE" in first and "Q-TWO" in second


def test_single_principle_and_one_order(mock: MockBackend, templates: TemplateSet) -> None:
    [label] = judge_pairs(
        mock, templates, [pair(principles=(P1,))], JudgeConfig(both_orders=False), progress=False
    )
    assert isinstance(label, SoftLabel)
    assert label.p == pytest.approx(0.75)
    assert len(mock.score_requests) == 1


def test_chain_of_thought_generates_then_scores_and_clamps(mock: MockBackend, templates: TemplateSet) -> None:
    mock.add_response("Think it through", "Response A greets warmly.")
    [label] = judge_pairs(
        mock, templates, [pair()], JudgeConfig(chain_of_thought=True, cot_max_new_tokens=32), progress=False
    )
    assert isinstance(label, SoftLabel)
    assert [c.kind for c in mock.calls] == ["generate", "score"]
    gen = mock.generate_requests
    assert len(gen) == 4 and all(r.params.temperature == 0 and r.params.max_new_tokens == 32 for r in gen)
    assert all(
        r.prompt.endswith("Response A greets warmly.\nTherefore, the better response is (")
        for r in mock.score_requests
    )
    j1, j2 = label.judgements
    # clamped to [0.4, 0.6]: .75 -> .6, .625 -> .6, .2 -> .4, .5 stays
    assert (j1.p_ab, j1.p_ba, j2.p_ab, j2.p_ba) == pytest.approx((0.6, 0.6, 0.4, 0.5))
    assert label.p == pytest.approx((0.6 + 0.45) / 2)


def test_garbage_scores_are_unlabeled_never_defaulted(mock: MockBackend, templates: TemplateSet) -> None:
    mock.add_garbage("GARBLED")
    bad = Comparison("bad:0-1", CONV, "GARBLED", "BETA", (P1,))
    results = judge_pairs(mock, templates, [pair(), bad], progress=False)
    assert isinstance(results[0], SoftLabel)
    assert isinstance(results[1], Unlabeled)
    assert results[1].pair_id == "bad:0-1"
    assert "non-finite" in results[1].reason and "p1@1" in results[1].reason


def test_tiny_choice_mass_is_unlabeled(templates: TemplateSet) -> None:
    m = MockBackend()
    for first in ("ALPHA", "BETA"):
        _script(m, "Q-ONE", first, math.log(0.001), math.log(0.001))
    [r] = judge_pairs(
        m, templates, [pair(principles=(P1,))], JudgeConfig(min_choice_mass=0.05), progress=False
    )
    assert isinstance(r, Unlabeled)
    assert "0.2% of its probability on the choices" in r.reason
    # without the threshold the same scores are a (coin-flip) label
    [r2] = judge_pairs(m, templates, [pair(principles=(P1,))], progress=False)
    assert isinstance(r2, SoftLabel) and r2.p == pytest.approx(0.5)


def test_backend_error_stops_the_run_without_partial_failure(
    mock: MockBackend, templates: TemplateSet
) -> None:
    mock.add_failure("EXPLODE", "engine died")
    boom = Comparison("boom:0-1", CONV, "EXPLODE", "BETA", (P1,))
    with pytest.raises(BackendError, match="engine died"):
        judge_pairs(mock, templates, [pair(), boom], progress=False)


def test_backend_error_marks_only_failing_pairs_with_partial_failure(
    mock: MockBackend, templates: TemplateSet
) -> None:
    mock.add_failure("EXPLODE", "engine refused")
    mock.supports_partial_failure = True  # type: ignore[attr-defined]
    boom = Comparison("boom:0-1", CONV, "EXPLODE", "BETA", (P1,))
    good, bad = judge_pairs(mock, templates, [pair(), boom], progress=False)
    assert isinstance(good, SoftLabel) and good.p == pytest.approx(0.51875)
    assert (
        isinstance(bad, Unlabeled)
        and bad.reason.startswith("backend error:")
        and "engine refused" in bad.reason
    )


def test_pair_without_principles_is_a_programming_error(mock: MockBackend, templates: TemplateSet) -> None:
    with pytest.raises(ValueError, match="no principles"):
        judge_pairs(mock, templates, [pair(principles=())], progress=False)
