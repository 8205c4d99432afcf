"""Pointwise scores on a scripted critic: expected values worked out by hand, unlabeled reasons, one score call."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution import Constitution, load_constitution
from rlaif.errors import RlaifError, TemplateError
from rlaif.feedback.judge import Unlabeled
from rlaif.feedback.scores import (
    PointwiseScore,
    ScoreConfig,
    ScoreItem,
    choice_values,
    sample_item_principles,
    score_responses,
)
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[3]
CHOICES = [f"{n}]]" for n in range(1, 11)]


@pytest.fixture(scope="module")
def hhh() -> Constitution:
    return load_constitution(ROOT / "principles/hhh.yaml")


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load()


def script(mock: MockBackend, pattern: str, probs: dict[int, float], rest: float = 0.0) -> None:
    """Score choice N as log(probs[N]) after prompts matching ``pattern``; unlisted choices get ``rest``."""
    for n in range(1, 11):
        p = probs.get(n, rest)
        mock.add_score(pattern, f"{n}]]", math.log(p) if p > 0 else -math.inf)


def item(i: int, response: str = "Boil it.") -> ScoreItem:
    return ScoreItem(f"r{i}", (ChatMessage("user", f"Question {i}?"),), response)


def test_expected_score_by_hand(hhh: Constitution, templates: TemplateSet) -> None:
    mock = MockBackend("critic")
    script(mock, "Question 1?", {7: 0.5, 8: 0.25, 3: 0.25})
    (result,) = score_responses(mock, [item(1)], [hhh.get("honesty")], templates)
    assert isinstance(result, PointwiseScore)
    # 0.5 * 7 + 0.25 * 8 + 0.25 * 3
    assert result.score == pytest.approx(6.25)
    assert result.normalized == pytest.approx((6.25 - 1) / 9)
    assert (result.low, result.high) == (1.0, 10.0)
    assert result.values == tuple(float(n) for n in range(1, 11))
    assert result.distribution[6] == pytest.approx(0.5) and result.distribution[2] == pytest.approx(0.25)
    assert sum(result.distribution) == pytest.approx(1.0)
    (ps,) = result.per_principle
    assert ps.principle == "honesty@1" and ps.choice_mass == pytest.approx(1.0)
    assert result.template_hash == templates.template_hash("score")


def test_renormalised_over_choices_and_averaged_over_principles(
    hhh: Constitution, templates: TemplateSet
) -> None:
    mock = MockBackend("critic")
    honesty, harmless = hhh.get("honesty"), hhh.get("harmlessness")
    # under honesty only 40% of the mass is on the choices: renormalised, 2 and 4 with 0.5 each -> 3
    script(mock, honesty.compare.strip(), {2: 0.2, 4: 0.2})
    script(mock, harmless.compare.strip(), {9: 1.0})
    (result,) = score_responses(mock, [item(1)], [honesty, harmless], templates)
    assert isinstance(result, PointwiseScore)
    assert [p.score for p in result.per_principle] == pytest.approx([3.0, 9.0])
    assert result.score == pytest.approx(6.0)
    assert result.per_principle[0].choice_mass == pytest.approx(0.4)
    assert result.choice_mass == pytest.approx(0.4)
    assert result.distribution[1] == pytest.approx(0.25) and result.distribution[8] == pytest.approx(0.5)


def test_one_score_call_for_all_items_and_principles(hhh: Constitution, templates: TemplateSet) -> None:
    mock = MockBackend("critic")
    script(mock, "Question", {5: 1.0})
    items = [item(i) for i in range(3)]
    results = score_responses(mock, items, list(hhh.principles[:2]), templates)
    assert [c.kind for c in mock.calls] == ["score"]
    assert len(mock.score_requests) == 6
    assert all(r.continuations == tuple(CHOICES) for r in mock.score_requests)
    assert all(r.prompt.endswith("Score: [[") for r in mock.score_requests)
    assert [r.score for r in results] == pytest.approx([5.0, 5.0, 5.0])  # type: ignore[union-attr]


def test_low_mass_and_garbage_are_unlabeled_never_a_default(
    hhh: Constitution, templates: TemplateSet
) -> None:
    mock = MockBackend("critic")
    script(mock, "Question 1?", {6: 0.05, 7: 0.05})  # 10% on the choices
    mock.add_garbage("Question 2?")
    script(mock, "Question 3?", {})  # every choice impossible
    script(mock, "Question 4?", {8: 1.0})
    config = ScoreConfig(min_choice_mass=0.2)
    results = score_responses(mock, [item(i) for i in (1, 2, 3, 4)], [hhh.get("honesty")], templates, config)
    assert [type(r).__name__ for r in results] == ["Unlabeled", "Unlabeled", "Unlabeled", "PointwiseScore"]
    assert isinstance(results[0], Unlabeled) and "10.0%" in results[0].reason and results[0].pair_id == "r1"
    assert "non-finite" in results[1].reason  # type: ignore[union-attr]
    assert "zero probability" in results[2].reason  # type: ignore[union-attr]
    assert results[3].score == pytest.approx(8.0)  # type: ignore[union-attr]
    # without a threshold the low-mass item is scored (renormalised: 6.5)
    relaxed = score_responses(mock, [item(1)], [hhh.get("honesty")], templates)
    assert relaxed[0].score == pytest.approx(6.5)  # type: ignore[union-attr]


def test_choice_values_come_from_the_template(tmp_path: Path, hhh: Constitution) -> None:
    assert choice_values(CHOICES) == tuple(float(n) for n in range(1, 11))
    with pytest.raises(TemplateError, match="does not start with a number"):
        choice_values(["good]]", "bad]]"])
    source = (ROOT / "prompts/score.j2").read_text(encoding="utf-8")
    five = source.replace(
        '{% set choices = ["1]]", "2]]", "3]]", "4]]", "5]]", "6]]", "7]]", "8]]", "9]]", "10]]"] %}',
        '{% set choices = ["1]]", "2]]", "3]]", "4]]", "5]]"] %}',
    )
    assert five != source
    (tmp_path / "score.j2").write_text(five, encoding="utf-8")
    mock = MockBackend("critic")
    for n in range(1, 6):
        mock.add_score("Question", f"{n}]]", math.log(0.5) if n in (4, 5) else -math.inf)
    (result,) = score_responses(mock, [item(1)], [hhh.get("honesty")], TemplateSet.load(tmp_path))
    assert result.score == pytest.approx(4.5) and result.normalized == pytest.approx(3.5 / 4)  # type: ignore[union-attr]


def test_principle_sampling_per_item(hhh: Constitution) -> None:
    items = sample_item_principles(hhh, [item(1), item(2)], ScoreConfig(k=2, seed=3))
    assert all(len(i.principles) == 2 for i in items)
    again = sample_item_principles(hhh, [item(2)], ScoreConfig(k=2, seed=3))
    assert again[0].principles == items[1].principles  # an item's principles do not depend on the others


def test_bad_inputs(hhh: Constitution, templates: TemplateSet) -> None:
    assert score_responses(MockBackend(), [], [hhh.get("honesty")], templates) == []
    with pytest.raises(RlaifError, match="no principles"):
        score_responses(MockBackend(), [item(1)], [], templates)
    with pytest.raises(RlaifError, match="greater than or equal to 1") as bad_k:
        ScoreConfig(k=0)
    assert bad_k.value.problem.field == "k"
    with pytest.raises(TemplateError):
        score_responses(
            MockBackend(), [item(1)], [hhh.get("honesty")], templates, ScoreConfig(template="critique")
        )
