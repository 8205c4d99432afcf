"""Label statistics: one typed record (:class:`LabelStats`) for what a label run's ``stats.json`` holds, and the
accumulator that counts them while pairs are labelled.

The JSON keys are spelled here only: :meth:`LabelStats.to_json` writes them and :meth:`LabelStats.from_json` reads
them, so the dataset card, the CLI summary and the label stage all read the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rlaif.constitution.schema import Principle
from rlaif.feedback.label_combine import RuleCheck
from rlaif.feedback.soft_labels import SoftLabel

#: bins of the label-confidence histogram over [0, 1]
CONFIDENCE_BINS = 10


def _r(x: float) -> float:
    return round(x, 6)


@dataclass(frozen=True)
class CriticStats:
    """How the critic judged: position bias and order consistency over its (principle, pair) judgements."""

    pairs: int
    judgements: int
    position_bias_rate: float  # same letter in both orders
    first_letter_both_orders: float
    second_letter_both_orders: float
    order_consistency: float  # of judgements
    pairs_order_consistent: float  # pairs consistent under every principle

    def to_json(self) -> dict[str, Any]:
        """The ``critic`` object of ``stats.json``: the fields, by name."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CriticStats:
        """Read the ``critic`` object of ``stats.json``."""
        return cls(**{f.name: d[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class RuleStats:
    """Rule checks of the sampled principles, and how often the critic agrees with a rule that discriminates."""

    checks: int
    discriminating: int  # checks where exactly one response passes
    agreement_compared: int
    agreement_agree: int
    agreement_rate: float | None

    def to_json(self) -> dict[str, Any]:
        """The ``rules`` object of ``stats.json``."""
        return {
            "checks": self.checks,
            "discriminating": self.discriminating,
            "critic_agreement": {
                "compared": self.agreement_compared,
                "agree": self.agreement_agree,
                "rate": self.agreement_rate,
            },
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RuleStats:
        """Read the ``rules`` object of ``stats.json``."""
        agreement = d["critic_agreement"]
        return cls(
            checks=d["checks"],
            discriminating=d["discriminating"],
            agreement_compared=agreement["compared"],
            agreement_agree=agreement["agree"],
            agreement_rate=agreement["rate"],
        )


@dataclass(frozen=True)
class ConfidenceHistogram:
    """Counts of label confidence |2p − 1| in ``len(edges) - 1`` bins."""

    edges: list[float]
    counts: list[int]

    def to_json(self) -> dict[str, Any]:
        """The ``confidence_histogram`` object of ``stats.json``."""
        return {"edges": list(self.edges), "counts": list(self.counts)}


@dataclass
class LabelStats:
    """What ``stats.json`` of a label run holds (see :func:`rlaif.feedback.labeler.label_dataset`)."""

    pairs: int
    labeled: int
    rows: int
    filtered: int  # below min_confidence
    unlabeled: int
    unlabeled_by_reason: dict[str, int]
    label_source: str
    format: str  # conversational or plain
    mean_p_chosen: float | None
    confidence_histogram: ConfidenceHistogram
    critic: CriticStats | None
    rules: RuleStats
    principles: dict[str, dict[str, int]]  # principle ref -> {"sampled": n, "decisive": n}
    judge_mode: str | None = None
    ties_dropped: int = 0
    critic_usage: dict[str, Any] | None = None  # a served critic's requests, tokens and estimated cost
    critic_gate: dict[str, Any] | None = None  # the label stage's critic gate (rlaif.evals.gate), when it ran
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as read

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``stats.json`` (optional keys only when set)."""
        out: dict[str, Any] = {
            "pairs": self.pairs,
            "labeled": self.labeled,
            "rows": self.rows,
            "filtered": self.filtered,
            "unlabeled": self.unlabeled,
            "unlabeled_by_reason": dict(self.unlabeled_by_reason),
            "label_source": self.label_source,
            "format": self.format,
            "mean_p_chosen": self.mean_p_chosen,
            "confidence_histogram": self.confidence_histogram.to_json(),
            "critic": self.critic.to_json() if self.critic is not None else None,
            "rules": self.rules.to_json(),
            "principles": {ref: dict(counts) for ref, counts in self.principles.items()},
            "judge_mode": self.judge_mode,
        }
        if self.critic_usage is not None:
            out["critic_usage"] = self.critic_usage
        out["ties_dropped"] = self.ties_dropped
        if self.critic_gate is not None:
            out["critic_gate"] = self.critic_gate
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LabelStats:
        """Read a ``stats.json`` object (keys added after the first release default: no ties, no usage)."""
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        hist = d["confidence_histogram"]
        return cls(
            pairs=d["pairs"],
            labeled=d["labeled"],
            rows=d["rows"],
            filtered=d["filtered"],
            unlabeled=d["unlabeled"],
            unlabeled_by_reason=dict(d["unlabeled_by_reason"]),
            label_source=d["label_source"],
            format=d["format"],
            mean_p_chosen=d["mean_p_chosen"],
            confidence_histogram=ConfidenceHistogram(list(hist["edges"]), list(hist["counts"])),
            critic=CriticStats.from_json(d["critic"]) if d.get("critic") else None,
            rules=RuleStats.from_json(d["rules"]),
            principles={ref: dict(c) for ref, c in d.get("principles", {}).items()},
            judge_mode=d.get("judge_mode"),
            ties_dropped=d.get("ties_dropped", 0),
            critic_usage=d.get("critic_usage"),
            critic_gate=d.get("critic_gate") if isinstance(d.get("critic_gate"), dict) else None,
            extra={k: v for k, v in d.items() if k not in known},
        )


def reason_kind(reason: str) -> str:
    """A reason a pair is unlabeled, without its specifics, for counting."""
    for marker, kind in (
        ("backend error", "backend error"),
        ("of its probability on the choices", "critic put too little probability on the choices"),
        ("non-finite", "critic returned non-finite log-probabilities"),
        ("zero probability", "critic gave every choice zero probability"),
        ("verdict could not be parsed", "critic's verdict could not be parsed"),
        ("neither choice is among", "neither choice among the critic's top log-probabilities"),
    ):
        if marker in reason:
            return kind
    return reason.split(" (")[0]


class StatsAccumulator:
    """Counts label statistics while pairs are labelled (deterministic: the same labels give the same JSON)."""

    BINS = CONFIDENCE_BINS

    def __init__(self) -> None:
        self.confidences: list[float] = []
        self.p_chosen: list[float] = []
        self.judgements = 0
        self.consistent = 0
        self.first_both = 0
        self.second_both = 0
        self.pairs_consistent = 0
        self.critic_pairs = 0
        self.rule_checks = 0
        self.rule_discriminating = 0
        self.agree_compared = 0
        self.agree = 0
        self.sampled: dict[str, int] = {}
        self.decisive: dict[str, int] = {}

    def add_critic(self, label: SoftLabel, checks: Mapping[str, RuleCheck]) -> None:
        """Count the critic's own label of a pair (before rules are combined in)."""
        self.critic_pairs += 1
        self.pairs_consistent += label.order_consistent
        for j in label.judgements:
            self.judgements += 1
            self.consistent += j.consistent
            self.first_both += j.p_ab > 0.5 and j.p_ba < 0.5
            self.second_both += j.p_ab < 0.5 and j.p_ba > 0.5
            check = checks.get(j.principle_id)
            if check is not None and check.discriminates:
                self.agree_compared += 1
                self.agree += (j.p - 0.5) * (check.p - 0.5) > 0

    def add_label(
        self, label: SoftLabel, principles: Sequence[Principle], checks: Mapping[str, RuleCheck]
    ) -> None:
        """Count a pair's final label, its sampled principles and its rule checks."""
        self.confidences.append(label.confidence)
        self.p_chosen.append(max(label.p, 1.0 - label.p))
        for p in principles:
            self.sampled[p.ref] = self.sampled.get(p.ref, 0) + 1
        decisive = next(p.ref for p in principles if p.id == label.decisive_principle)
        self.decisive[decisive] = self.decisive.get(decisive, 0) + 1
        for check in checks.values():
            self.rule_checks += 1
            self.rule_discriminating += check.discriminates

    def finish(
        self,
        *,
        pairs: int,
        rows: int,
        unlabeled: Sequence[Mapping[str, Any]],
        label_source: str,
        conversational: bool,
        judge_mode: str | None,
        critic_usage: dict[str, Any] | None,
        ties_dropped: int,
    ) -> LabelStats:
        """The statistics of the whole run."""
        counts = [0] * self.BINS
        for c in self.confidences:
            counts[min(int(c * self.BINS), self.BINS - 1)] += 1
        by_reason: dict[str, int] = {}
        for u in unlabeled:
            if u["status"] == "unlabeled":
                kind = reason_kind(u["reason"])
                by_reason[kind] = by_reason.get(kind, 0) + 1
        n = self.judgements
        critic = None
        if n:
            critic = CriticStats(
                pairs=self.critic_pairs,
                judgements=n,
                position_bias_rate=_r((self.first_both + self.second_both) / n),
                first_letter_both_orders=_r(self.first_both / n),
                second_letter_both_orders=_r(self.second_both / n),
                order_consistency=_r(self.consistent / n),
                pairs_order_consistent=_r(self.pairs_consistent / self.critic_pairs),
            )
        return LabelStats(
            pairs=pairs,
            labeled=len(self.confidences),
            rows=rows,
            filtered=sum(1 for u in unlabeled if u["status"] == "filtered"),
            unlabeled=sum(1 for u in unlabeled if u["status"] == "unlabeled"),
            unlabeled_by_reason=dict(sorted(by_reason.items())),
            label_source=label_source,
            format="conversational" if conversational else "plain",
            mean_p_chosen=_r(sum(self.p_chosen) / len(self.p_chosen)) if self.p_chosen else None,
            confidence_histogram=ConfidenceHistogram(
                [_r(i / self.BINS) for i in range(self.BINS + 1)], counts
            ),
            critic=critic,
            rules=RuleStats(
                checks=self.rule_checks,
                discriminating=self.rule_discriminating,
                agreement_compared=self.agree_compared,
                agreement_agree=self.agree,
                agreement_rate=_r(self.agree / self.agree_compared) if self.agree_compared else None,
            ),
            principles={
                ref: {"sampled": self.sampled[ref], "decisive": self.decisive.get(ref, 0)}
                for ref in sorted(self.sampled)
            },
            judge_mode=judge_mode,
            ties_dropped=ties_dropped,
            critic_usage=critic_usage,
        )


__all__ = [
    "CONFIDENCE_BINS",
    "ConfidenceHistogram",
    "CriticStats",
    "LabelStats",
    "RuleStats",
    "StatsAccumulator",
    "reason_kind",
]
