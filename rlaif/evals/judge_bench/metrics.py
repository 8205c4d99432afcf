"""The published judge-benchmark metrics, each with an interval, beside chance and length baselines.

Inputs are :class:`Verdict` objects (what a critic or reward model said about one :class:`BenchItem`); every
definition is in ``docs/critics.md``. Proportions get Wilson intervals (one outcome per pair), judgements nested in a
pair (two orders) a clustered Wilson interval, and Brier/ECE/differences a cluster bootstrap over pairs — all from
:mod:`rlaif.stats`. The independent unit is always the pair (row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rlaif.evals.judge_bench.formats import BenchItem
from rlaif.stats import (
    Estimate,
    cluster_bootstrap_ci,
    clustered_proportion_ci,
    expected_calibration_error,
    wilson_ci,
)

#: |p − 0.5| at or below this is a tie
TIE = 1e-9


@dataclass(frozen=True)
class Verdict:
    """What one judge said about one item.

    Pairwise items: ``p_ab`` is p(responses[0] ≻ responses[1]) read with responses[0] shown first, ``p_ba``
    the same read with it shown second (a reward model, which has no order, gives the same value twice).
    Best-of-n items: ``p_vs`` holds p(chosen ≻ rejected_j) for every rejected response (1, ½ or 0 for a reward
    model's score comparison). ``unlabeled`` is the reason there is no verdict (the item is then left out and
    counted under coverage).
    """

    item_id: str
    p_ab: float | None = None
    p_ba: float | None = None
    p_vs: tuple[float, ...] = ()
    unlabeled: str | None = None
    has_order: bool = True

    @property
    def p(self) -> float | None:
        """p(responses[0] ≻ responses[1]), the mean of both orders."""
        if self.p_ab is None or self.p_ba is None:
            return None
        return 0.5 * (self.p_ab + self.p_ba)


def _credit(p: float) -> float:
    """1 for a win (p > .5), ½ for an exact tie, 0 for a loss."""
    return 0.5 if abs(p - 0.5) <= TIE else (1.0 if p > 0.5 else 0.0)


def _pick(p: float) -> int | None:
    """Which response a probability picks: 0, 1, or None on a tie."""
    return None if abs(p - 0.5) <= TIE else (0 if p > 0.5 else 1)


def _p(p: float | None) -> float:
    """A probability that may be missing (0.0 is a real value: not ``p or 0.5``)."""
    return 0.5 if p is None else p


def best_of_n_credit(p_vs: Sequence[float]) -> float:
    """1 when the chosen response beats every other, 0 when any beats it, else 1/#tied (itself included)."""
    if any(_pick(p) == 1 for p in p_vs):
        return 0.0
    ties = sum(_pick(p) is None for p in p_vs)
    return 1.0 / (1 + ties)


@dataclass(frozen=True)
class Baselines:
    """Chance and the length heuristics on the same items as a metric."""

    chance: Estimate
    longer: Estimate
    shorter: Estimate


@dataclass(frozen=True)
class MetricRow:
    """One metric: its estimate, baselines on the same items (None where they mean nothing) and its definition."""

    name: str
    estimate: Estimate | None
    baselines: Baselines | None
    definition: str


@dataclass(frozen=True)
class Metrics:
    """Every metric of one judge on one benchmark file."""

    n_items: int
    n_labeled: int
    n_human_ties: int
    rows: tuple[MetricRow, ...]
    length_gap: Estimate | None  # judge accuracy − best length heuristic's, paired over pairs
    length_verdict: str
    chance_verdict: str
    position_first_share: float | None
    unlabeled: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> Estimate | None:
        """A metric's estimate by name (None when absent or unmeasurable)."""
        return next((r.estimate for r in self.rows if r.name == name), None)


def _wilson(values: Sequence[float], confidence: float) -> Estimate | None:
    return wilson_ci(float(sum(values)), len(values), confidence=confidence) if values else None


def _length_pick(item: BenchItem, longer: bool) -> float:
    """The credit a length heuristic earns on an item (pairwise: vs the winner; best-of-n: the chosen)."""
    lengths = [len(r) for r in item.responses]
    target = max(lengths) if longer else min(lengths)
    picked = [i for i, n in enumerate(lengths) if n == target]
    if item.winner is None:
        return 0.0
    return 1.0 / len(picked) if item.winner in picked else 0.0


def _baselines(items: Sequence[BenchItem], confidence: float) -> Baselines:
    n = len(items)
    chance = sum(1.0 / len(i.responses) for i in items)
    return Baselines(
        chance=wilson_ci(chance, n, confidence=confidence),
        longer=wilson_ci(sum(_length_pick(i, True) for i in items), n, confidence=confidence),
        shorter=wilson_ci(sum(_length_pick(i, False) for i in items), n, confidence=confidence),
    )


def _bootstrap(
    values: Sequence[float],
    ids: Sequence[str],
    stat: Callable[[Sequence[float]], float],
    seed: int,
    conf: float,
) -> Estimate | None:
    if not values:
        return None
    return cluster_bootstrap_ci(values, ids, stat, resamples=1000, confidence=conf, seed=seed)


def compute_metrics(
    items: Sequence[BenchItem], verdicts: Sequence[Verdict], *, confidence: float = 0.95, seed: int = 0
) -> Metrics:
    """Every metric of ``verdicts`` (one per item, same order) with intervals and baselines (see the docs)."""
    by_id = {v.item_id: v for v in verdicts}
    labeled = [(i, by_id[i.id]) for i in items if i.id in by_id and by_id[i.id].unlabeled is None]
    unlabeled: dict[str, int] = {}
    for v in verdicts:
        if v.unlabeled is not None:
            unlabeled[v.unlabeled] = unlabeled.get(v.unlabeled, 0) + 1
    pair = [(i, v) for i, v in labeled if not i.best_of_n and v.p is not None]
    decided = [(i, v) for i, v in pair if i.winner is not None]
    rows: list[MetricRow] = []
    has_order = any(v.has_order for _, v in pair)

    def add(name: str, est: Estimate | None, base: Sequence[BenchItem] | None, definition: str) -> None:
        rows.append(MetricRow(name, est, _baselines(base, confidence) if base else None, definition))

    def p_win(i: BenchItem, p: float) -> float:
        return p if i.winner == 0 else 1.0 - p

    dec_items = [i for i, _ in decided]
    acc = [_credit(p_win(i, v.p)) for i, v in decided if v.p is not None]
    if acc:
        add(
            "accuracy",
            _wilson(acc, confidence),
            dec_items,
            "label (both orders averaged) prefers the human's choice",
        )
    if has_order and decided:
        per_order = [_credit(p_win(i, p)) for i, v in decided for p in (v.p_ab, v.p_ba) if p is not None]
        ids = [i.id for i, _ in decided for _ in range(2)]
        add(
            "accuracy over both orders",
            clustered_proportion_ci(per_order, ids, confidence=confidence),
            dec_items,
            "each order's own verdict scored separately (2 per pair, interval clustered by pair)",
        )
        consistent_acc = []
        for i, v in decided:
            picks = {_pick(p_win(i, p)) for p in (v.p_ab, v.p_ba) if p is not None} - {None}
            consistent_acc.append(1.0 if picks == {0} else 0.0)
        add(
            "order-consistent accuracy",
            _wilson(consistent_acc, confidence),
            dec_items,
            "JudgeBench: right in both orders (a tie in one order defers to the other); inconsistent = wrong",
        )
    first_share: float | None = None
    if has_order and pair:
        same_resp, same_pos, first = [], [], 0
        for _, v in pair:
            a = _pick(_p(v.p_ab))
            b = _pick(_p(v.p_ba))
            same_resp.append(1.0 if a is not None and a == b else 0.0)
            biased = a is not None and b is not None and a != b
            same_pos.append(1.0 if biased else 0.0)
            first += int(biased and a == 0)
        add(
            "positional agreement", _wilson(same_resp, confidence), None, "both orders pick the same response"
        )
        add("position bias", _wilson(same_pos, confidence), None, "both orders pick the same position")
        first_share = first / sum(same_pos) if sum(same_pos) else None

        # MT-Bench: the judge's verdict is a tie when its two orders disagree
        def judge_says(v: Verdict) -> int | None:
            a, b = _pick(_p(v.p_ab)), _pick(_p(v.p_ba))
            return a if a == b else None

        with_ties = [1.0 if judge_says(v) == i.winner else 0.0 for i, v in pair]
        without = [
            1.0 if judge_says(v) == i.winner else 0.0
            for i, v in pair
            if i.winner is not None and judge_says(v) is not None
        ]
        add(
            "agreement with ties",
            _wilson(with_ties, confidence),
            None,
            "MT-Bench: 3 classes, judge tie = orders disagree",
        )
        add(
            "agreement without ties",
            _wilson(without, confidence),
            None,
            "MT-Bench: pairs where neither side says tie",
        )
    soft = [(i, v) for i, v in pair if i.soft is not None]
    if soft:
        ids = [i.id for i, _ in soft]
        ps = [_p(v.p) for _, v in soft]
        ss = [i.soft or 0.0 for i, _ in soft]
        sq = [(p - s) ** 2 for p, s in zip(ps, ss, strict=True)]
        add("Brier vs soft label", _bootstrap(sq, ids, lambda xs: sum(xs) / len(xs), seed, confidence), None,
            "mean (p_judge − share of annotators preferring response 1)²")  # fmt: skip
        idx = list(range(len(soft)))
        ece = _bootstrap(
            [float(k) for k in idx], ids,
            lambda ks: expected_calibration_error([ps[int(k)] for k in ks], [ss[int(k)] for k in ks]),
            seed, confidence,
        )  # fmt: skip
        add("ECE vs soft label", ece, None, "10 bins of p_judge: |mean soft label − mean p_judge|, weighted")
        agree = [
            s if _pick(p) == 0 else (1.0 - s if _pick(p) == 1 else 0.5) for p, s in zip(ps, ss, strict=True)
        ]
        add(
            "agreement vs soft label",
            _wilson(agree, confidence),
            None,
            "chance a random annotator agrees with the judge",
        )
    bon = [(i, v) for i, v in labeled if i.best_of_n]
    if bon:
        credit = [best_of_n_credit(v.p_vs) for _, v in bon]
        add("best-of-n accuracy", _wilson(credit, confidence), [i for i, _ in bon],
            "chosen beats every rejected response; ties credited 1/#tied")  # fmt: skip
    # length: paired difference of the headline accuracy against the better length heuristic
    head = [(i, _credit(p_win(i, _p(v.p)))) for i, v in decided] + [
        (i, best_of_n_credit(v.p_vs)) for i, v in bon
    ]
    gap, verdict, chance_verdict = None, "", ""
    if head:
        its = [i for i, _ in head]
        longer = [_length_pick(i, True) for i in its]
        shorter = [_length_pick(i, False) for i in its]
        best = longer if sum(longer) >= sum(shorter) else shorter
        which = "pick-the-longer" if best is longer else "pick-the-shorter"
        diffs = [c - b for (_, c), b in zip(head, best, strict=True)]
        gap = _bootstrap(diffs, [i.id for i in its], lambda xs: sum(xs) / len(xs), seed, confidence)
        main = _wilson([c for _, c in head], confidence)
        best_rate = sum(best) / len(best)
        assert gap is not None and main is not None
        # conservative: the paired gap must exclude 0 AND the judge's own interval must clear the heuristic's rate
        if gap.low <= 0.0 or main.low <= best_rate:
            verdict = (
                f"LENGTH DETECTOR: the judge is not shown better than {which} ({100 * best_rate:.1f}%) on these "
                f"pairs (accuracy gap {100 * gap.value:+.1f} points, {100 * confidence:.0f}% interval "
                f"[{100 * gap.low:+.1f}, {100 * gap.high:+.1f}])"
            )
        else:
            verdict = f"better than {which}: gap {100 * gap.value:+.1f} points [{100 * gap.low:+.1f}, {100 * gap.high:+.1f}]"
        chance = sum(1.0 / len(i.responses) for i in its) / len(its)
        shown = (
            ""
            if main is None
            else f"accuracy {100 * main.value:.1f}% [{100 * main.low:.1f}, {100 * main.high:.1f}]"
        )
        if main is not None and main.high < chance:
            chance_verdict = f"BELOW CHANCE: {shown} is worse than a coin ({100 * chance:.1f}%)"
        elif main is not None and main.low <= chance:
            chance_verdict = f"AT CHANCE: {shown} does not exclude chance ({100 * chance:.1f}%)"
    return Metrics(
        n_items=len(items),
        n_labeled=len(labeled),
        n_human_ties=sum(i.winner is None for i in items),
        rows=tuple(rows),
        length_gap=gap,
        length_verdict=verdict,
        chance_verdict=chance_verdict,
        position_first_share=first_share,
        unlabeled=unlabeled,
    )


__all__ = ["Baselines", "MetricRow", "Metrics", "Verdict", "best_of_n_credit", "compute_metrics"]
