"""Judge-benchmark metrics on hand-built verdicts: every number worked out by hand."""

from __future__ import annotations

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.evals.judge_bench.formats import BenchItem
from rlaif.evals.judge_bench.metrics import Verdict, best_of_n_credit, compute_metrics
from rlaif.stats import wilson_ci

Q = (ChatMessage("user", "q"),)


def item(i: int, winner: int | None, a: str = "aa", b: str = "b", soft: float | None = None) -> BenchItem:
    return BenchItem(f"i{i}", Q, (a, b), winner, soft=soft)


def test_pairwise_metrics_by_hand() -> None:
    items = [item(0, 0), item(1, 0), item(2, 1), item(3, 0)]
    verdicts = [
        Verdict("i0", p_ab=0.9, p_ba=0.8),  # right in both orders
        Verdict("i1", p_ab=0.9, p_ba=0.2),  # first-shown both times: inconsistent, averaged 0.55 right
        Verdict("i2", p_ab=0.3, p_ba=0.6),  # second-shown both times; averaged 0.45 -> picks 1: right
        Verdict("i3", p_ab=0.4, p_ba=0.3),  # wrong in both orders
    ]
    m = compute_metrics(items, verdicts)
    acc = m.get("accuracy")
    assert acc is not None and acc.value == 0.75 and acc.n == 4
    assert (acc.low, acc.high) == pytest.approx((wilson_ci(3, 4).low, wilson_ci(3, 4).high))
    both = m.get("accuracy over both orders")
    # per order: i0 1,1; i1 1,0; i2 0,1; i3 0,0 -> 4 of 8
    assert both is not None and both.value == 0.5 and both.n == 4
    oc = m.get("order-consistent accuracy")
    assert oc is not None and oc.value == 0.25
    pa = m.get("positional agreement")
    pb = m.get("position bias")
    assert pa is not None and pa.value == 0.5 and pb is not None and pb.value == 0.5
    assert m.position_first_share == 0.5  # i1 first-shown, i2 second-shown
    # MT-Bench: judge verdicts i0 -> 0, i1 tie, i2 tie, i3 -> 1; humans 0, 0, 1, 0
    wt = m.get("agreement with ties")
    wo = m.get("agreement without ties")
    assert wt is not None and wt.value == 0.25 and wo is not None and wo.value == 0.5 and wo.n == 2
    rows = {r.name: r for r in m.rows}
    base = rows["accuracy"].baselines
    assert base is not None and base.chance.value == 0.5
    # responses "aa" (index 0) vs "b": the longer is index 0, the human winner 3 times of 4
    assert base.longer.value == 0.75 and base.shorter.value == 0.25
    assert m.length_verdict.startswith("LENGTH DETECTOR")  # 0.75 vs pick-the-longer's 0.75
    assert m.chance_verdict.startswith("AT CHANCE")  # 3 of 4: the interval includes 0.5


def test_a_judge_better_than_length_is_not_called_a_length_detector() -> None:
    items = []
    for i in range(40):  # the winner alternates position, and is the longer response in half of the pairs
        win, lose = ("long answer", "x") if (i // 2) % 2 == 0 else ("y", "long answer")
        items.append(item(i, i % 2, a=win if i % 2 == 0 else lose, b=lose if i % 2 == 0 else win))
    verdicts = [
        Verdict(f"i{i}", p_ab=0.9 if i % 2 == 0 else 0.1, p_ba=0.8 if i % 2 == 0 else 0.2) for i in range(40)
    ]
    m = compute_metrics(items, verdicts)
    acc = m.get("accuracy")
    assert acc is not None and acc.value == 1.0 and acc.high == 1.0 and acc.low > 0.9
    assert m.length_verdict.startswith("better than") and m.chance_verdict == ""


def test_soft_labels_brier_ece_agreement() -> None:
    items = [item(0, 0, soft=1.0), item(1, None, soft=0.5), item(2, 1, soft=0.25)]
    verdicts = [
        Verdict("i0", p_ab=0.8, p_ba=0.8),
        Verdict("i1", p_ab=0.5, p_ba=0.5),
        Verdict("i2", p_ab=0.6, p_ba=0.6),
    ]
    m = compute_metrics(items, verdicts)
    brier = m.get("Brier vs soft label")
    assert brier is not None and brier.value == pytest.approx((0.04 + 0 + 0.1225) / 3)
    agree = m.get("agreement vs soft label")
    # i0 picks 0: soft 1.0 agrees; i1 tie: 0.5; i2 picks 0: 1 - 0.25 of annotators agree
    assert agree is not None and agree.value == pytest.approx((1.0 + 0.5 + 0.25) / 3)
    ece = m.get("ECE vs soft label")
    # bins: .8 (soft 1.0) gap .2; .5 (soft .5) gap 0; .6 (soft .25) gap .35
    assert ece is not None and ece.value == pytest.approx((0.2 + 0.0 + 0.35) / 3)


def test_best_of_n_ties_are_credited_one_over_tied() -> None:
    assert best_of_n_credit([0.9, 0.8, 0.7]) == 1.0
    assert best_of_n_credit([0.9, 0.5, 0.7]) == 0.5
    assert best_of_n_credit([0.5, 0.5, 0.7]) == pytest.approx(1 / 3)
    assert best_of_n_credit([0.5, 0.2]) == 0.0
    items = [BenchItem("b0", Q, ("c", "r1", "r2"), 0), BenchItem("b1", Q, ("chosen!", "r", "rr", "rrr"), 0)]
    verdicts = [Verdict("b0", p_vs=(0.9, 0.5)), Verdict("b1", p_vs=(0.7, 0.8, 0.6))]
    m = compute_metrics(items, verdicts)
    bon = m.get("best-of-n accuracy")
    assert bon is not None and bon.value == pytest.approx((0.5 + 1.0) / 2)
    base = next(r for r in m.rows if r.name == "best-of-n accuracy").baselines
    assert base is not None and base.chance.value == pytest.approx((1 / 3 + 1 / 4) / 2)
    # b0: all length 1 or 2 -> longest r1/r2 tie (chosen not among them); b1: "chosen!" longest
    assert base.longer.value == 0.5
    assert m.get("accuracy") is None


def test_unlabeled_items_are_counted_not_scored() -> None:
    items = [item(0, 0), item(1, 0)]
    m = compute_metrics(items, [Verdict("i0", p_ab=0.9, p_ba=0.9), Verdict("i1", unlabeled="no answer")])
    assert m.n_labeled == 1 and m.unlabeled == {"no answer": 1}
    acc = m.get("accuracy")
    assert acc is not None and acc.n == 1


def test_reward_model_verdicts_have_no_order_metrics() -> None:
    from rlaif.evals.judge_bench.run import verdicts_from_scores

    items = [item(0, 0), BenchItem("b", Q, ("c", "r1", "r2"), 0)]
    vs = verdicts_from_scores(items, [[2.0, 1.0], [1.0, 1.0, 0.0]])
    assert vs[0].p is not None and vs[0].p > 0.7 and vs[1].p_vs == (0.5, 1.0)
    m = compute_metrics(items, vs)
    assert m.get("position bias") is None and m.get("accuracy") is not None
    bon = m.get("best-of-n accuracy")
    assert bon is not None and bon.value == 0.5


def test_certain_verdicts_of_exactly_zero_are_not_ties() -> None:
    m = compute_metrics([item(0, 1)], [Verdict("i0", p_ab=0.0, p_ba=0.0)])
    acc = m.get("accuracy")
    pa = m.get("positional agreement")
    assert acc is not None and acc.value == 1.0 and pa is not None and pa.value == 1.0
