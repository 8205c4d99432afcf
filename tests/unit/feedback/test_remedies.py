"""Weak-critic remedies worked by hand: batch calibration, the order-consistency filter, swapped markers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import pytest

from rlaif.constitution import load_constitution
from rlaif.feedback.remedies import (
    batch_calibrate,
    marker_templates,
    order_consistent,
    pick_markers,
    position_priors,
)
from rlaif.feedback.soft_labels import PrincipleJudgement
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[3]


def j(p_ab: float, p_ba: float) -> PrincipleJudgement:
    return PrincipleJudgement("p", 1, p_ab, p_ba)


def test_batch_calibration_removes_a_constant_first_position_prior() -> None:
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # a critic that adds +2 log-odds to whatever is shown first, on top of a true preference of ±1 for A
    truth = [1.0, -1.0] * 4
    batch = [[j(sig(t + 2.0), 1 - sig(-t + 2.0))] for t in truth]
    prior_ab, prior_ba = position_priors([x for xs in batch for x in xs])
    assert prior_ab == pytest.approx(2.0) and prior_ba == pytest.approx(2.0)
    fixed = batch_calibrate(batch)
    for t, (c,) in zip(truth, fixed, strict=True):
        assert logit(c.p_ab) == pytest.approx(t) and logit(c.p_ba) == pytest.approx(t)
        assert c.consistent


def test_batch_calibration_leaves_small_batches_alone() -> None:
    batch = [[j(0.9, 0.2)]] * 3
    assert batch_calibrate(batch) == [[j(0.9, 0.2)]] * 3


def test_order_consistency_filter() -> None:
    assert order_consistent([j(0.8, 0.7)]) and order_consistent([j(0.2, 0.4)])
    assert not order_consistent([j(0.8, 0.3)])
    # averaged over principles: (0.9 + 0.3)/2 = 0.6 and (0.7 + 0.6)/2 = 0.65
    assert order_consistent([j(0.9, 0.7), j(0.3, 0.6)])
    assert not order_consistent([])


def test_marker_templates_ask_for_other_letters(tmp_path: Path) -> None:
    first, second = pick_markers(0)
    assert pick_markers(0) == (first, second) and {first, second}.isdisjoint({"A", "B"})
    ts = TemplateSet.load(marker_templates(tmp_path, ("K", "Q")))
    assert ts.metadata("compare").choices == ("K", "Q")
    assert ts.metadata("compare_cot").choices == ("K", "Q")
    principle = load_constitution(ROOT / "principles/hhh.yaml").principles[0]
    text = ts.render(
        "compare",
        conversation=[{"role": "user", "content": "hi"}],
        response_a="x",
        response_b="y",
        principle=principle,
    ).text
    assert "(K) or (Q)" in text and "(A)" not in text
    with pytest.raises(ValueError, match="other than A and B"):
        marker_templates(tmp_path, ("A", "Q"))


def test_judge_config_switches_reach_the_labeler() -> None:
    from rlaif.backends.base import ChatMessage, ScoreRequest, ScoreResult
    from rlaif.backends.mock import MockBackend
    from rlaif.feedback.comparison import Comparison
    from rlaif.feedback.judge import JudgeConfig, judge_pairs_detailed
    from rlaif.feedback.soft_labels import SoftLabel

    class FirstHeavy(MockBackend):
        """Prefers the first-shown response, more strongly when it contains GOOD; records the choices asked."""

        seen: ClassVar[list[tuple[str, ...]]] = []

        def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:  # type: ignore[override]
            out = []
            for r in requests:
                self.seen.append(r.continuations)
                first = r.prompt.split("<response_a>\n")[1].split("</response_a>")[0]
                out.append(ScoreResult((-0.1, -3.0) if "GOOD" in first else (-0.5, -1.5), (1, 1)))
            return out

    principle = load_constitution(ROOT / "principles/hhh.yaml").principles[0]
    pairs = [
        Comparison(
            f"p{i}",
            (ChatMessage("user", "q"),),
            "GOOD" if i % 2 else "meh",
            "meh" if i % 2 else "GOOD",
            (principle,),
        )
        for i in range(8)
    ]
    critic = FirstHeavy()
    plain = judge_pairs_detailed(critic, TemplateSet.load(), pairs, JudgeConfig(), progress=False)
    assert all(isinstance(j.result, SoftLabel) and not j.result.order_consistent for j in plain)
    critic.seen.clear()
    fixed = judge_pairs_detailed(
        critic,
        TemplateSet.load(),
        pairs,
        JudgeConfig(markers=("K", "Q"), batch_calibration=True),
        progress=False,
    )
    assert set(critic.seen) == {("K", "Q")}
    for i, j in enumerate(fixed):
        assert isinstance(j.result, SoftLabel) and j.result.order_consistent
        assert (j.result.p > 0.5) == (i % 2 == 1)  # GOOD is response A in odd pairs
