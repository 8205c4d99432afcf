"""What each principle of a constitution does to the labels: ``rlaif inspect LABELS_DIR``.

Per principle (over the pairs it was drawn for):

* **drawn**: the share of pairs it was sampled for;
* **decisive**: the share of its judgements with |2p − 1| above ``threshold`` (it took a side);
* **agrees with the ensemble**: its judgement is on the same side as the mean of the *other* principles drawn for
  that pair (leave-one-out, so a principle is not credited for agreeing with itself; with k = 1 the other
  principles are absent and this is not measured);
* **agrees with its rule**: where the principle has a declarative rule that passes exactly one response, the
  critic's judgement prefers that response;
* **position bias**: the share of its critic judgements that picked the same *letter* in both orders. That happens
  exactly when the position effect ``(p_ab − p_ba) / 2`` outweighs the content effect ``p − 0.5``, so a principle
  whose rate is above one half (lower bound of its interval) has labels that are **mostly position bias**.

Across principles, over the pairs both were drawn for:

* an **agreement matrix** (same side; high agreement over many pairs = overlap, possibly redundant);
* **conflicts**: both decisive, on opposite sides.

A tie (p exactly 0.5) counts as half an agreement. Every rate has a 95% interval: one outcome per pair gives a Wilson
interval; rates over all judgements (several per pair) use the clustered Wilson interval with the pair as the
unit, and the mean label confidence a cluster bootstrap over pairs. Everything is computed with whole-array numpy
operations: 1,000 labels take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlaif.stats import Estimate, cluster_bootstrap_ci, clustered_proportion_ci, wilson_ci
from rlaif.workbench.labels import LabelTable

#: |2p − 1| above this makes a judgement decisive
DEFAULT_THRESHOLD = 0.2
#: two principles whose agreement's lower bound reaches this (over at least MIN_OVERLAP_PAIRS pairs) overlap
REDUNDANT_AGREEMENT = 0.8
MIN_OVERLAP_PAIRS = 10


def _est(e: Estimate | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"value": round(e.value, 6), "low": round(e.low, 6), "high": round(e.high, 6), "n": e.n}


def _wilson(successes: float, n: int) -> Estimate | None:
    return wilson_ci(float(successes), int(n)) if n > 0 else None


def fmt(e: Estimate | dict[str, Any] | None, digits: int = 1) -> str:
    """``41.0% [35.2, 47.1]`` for a rate with its interval; ``n/a`` when it was not measured."""
    if e is None:
        return "n/a"
    v, lo, hi = (e.value, e.low, e.high) if isinstance(e, Estimate) else (e["value"], e["low"], e["high"])
    return f"{100 * v:.{digits}f}% [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"


@dataclass(frozen=True)
class PrincipleStats:
    """One principle's behaviour in a labels dataset (each rate with a 95% interval over pairs)."""

    principle: str
    drawn: int
    drawn_rate: Estimate
    decisive: Estimate | None
    agrees_with_ensemble: Estimate | None
    agrees_with_rule: Estimate | None
    position_bias: Estimate | None

    @property
    def mostly_position_bias(self) -> bool:
        """More than half of its critic judgements chose the same letter in both orders (the interval's lower
        bound is above one half, so a handful of judgements never earns the flag)."""
        return self.position_bias is not None and self.position_bias.low > 0.5

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (estimates as ``{value, low, high, n}``)."""
        return {
            "principle": self.principle,
            "drawn": self.drawn,
            "drawn_rate": _est(self.drawn_rate),
            "decisive": _est(self.decisive),
            "agrees_with_ensemble": _est(self.agrees_with_ensemble),
            "agrees_with_rule": _est(self.agrees_with_rule),
            "position_bias": _est(self.position_bias),
            "mostly_position_bias": self.mostly_position_bias,
        }


@dataclass(frozen=True)
class PrinciplePairStats:
    """Two principles over the pairs both were drawn for."""

    first: str
    second: str
    together: int
    agreement: Estimate | None
    conflict: Estimate | None
    conflict_examples: tuple[str, ...] = ()

    @property
    def redundant(self) -> bool:
        """They agree so reliably (lower bound ≥ 0.8 over ≥ 10 pairs) that one may be enough."""
        return (
            self.agreement is not None
            and self.together >= MIN_OVERLAP_PAIRS
            and self.agreement.low >= REDUNDANT_AGREEMENT
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "first": self.first,
            "second": self.second,
            "together": self.together,
            "agreement": _est(self.agreement),
            "conflict": _est(self.conflict),
            "conflict_examples": list(self.conflict_examples),
            "redundant": self.redundant,
        }


@dataclass(frozen=True)
class InspectResult:
    """Everything ``rlaif inspect`` shows."""

    source: str
    pairs: int
    judgements: int
    threshold: float
    principles: tuple[PrincipleStats, ...]
    matrix: tuple[PrinciplePairStats, ...]
    overall: dict[str, Estimate | None] = field(default_factory=dict)

    @property
    def conflicts(self) -> list[PrinciplePairStats]:
        """Principle pairs that confidently disagreed at least once, most conflicting first."""
        found = [s for s in self.matrix if s.conflict is not None and s.conflict.value > 0]
        return sorted(found, key=lambda s: (-s.conflict.value if s.conflict else 0.0, s.first, s.second))

    @property
    def redundant(self) -> list[PrinciplePairStats]:
        """Principle pairs that overlap so much that one may be enough."""
        return [s for s in self.matrix if s.redundant]

    @property
    def position_biased(self) -> list[PrincipleStats]:
        """Principles whose labels are mostly position bias."""
        return [s for s in self.principles if s.mostly_position_bias]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (deterministic: the same labels give the same JSON)."""
        return {
            "source": self.source,
            "pairs": self.pairs,
            "judgements": self.judgements,
            "threshold": self.threshold,
            "overall": {k: _est(v) for k, v in self.overall.items()},
            "principles": [s.to_dict() for s in self.principles],
            "matrix": [s.to_dict() for s in self.matrix],
            "conflicts": [f"{s.first} vs {s.second}" for s in self.conflicts],
            "redundant": [f"{s.first} ~ {s.second}" for s in self.redundant],
            "position_biased": [s.principle for s in self.position_biased],
        }

    def to_markdown(self, *, heading: str = "#") -> str:
        """The report as markdown (tables of every measure with its interval)."""
        return "\n".join(markdown_lines(self, heading=heading)) + "\n"


def _side(p: np.ndarray) -> np.ndarray:
    """+1 prefers A, −1 prefers B, 0 tie (NaN → 0)."""
    return np.sign(np.nan_to_num(p - 0.5, nan=0.0)).astype(np.int8)


def _agree_sum(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per column: same strict side → 1, opposite → 0, any tie → ½, summed over the masked rows."""
    same = (a * b > 0) & mask
    tie = (a * b == 0) & mask
    return np.asarray(same.sum(axis=0) + 0.5 * tie.sum(axis=0), dtype=float)


def inspect_labels(
    table: LabelTable, *, threshold: float = DEFAULT_THRESHOLD, examples: int = 3
) -> InspectResult:
    """Compute every per-principle and cross-principle measure of a labels dataset (see the module doc)."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError("threshold must be in [0, 1)")
    n, m = table.p.shape
    drawn = table.drawn
    side = _side(table.p)
    decisive = drawn & (np.abs(2.0 * np.nan_to_num(table.p, nan=0.5) - 1.0) > threshold)
    k = drawn.sum(axis=1)
    n_drawn = drawn.sum(axis=0)

    # leave-one-out ensemble: the mean of the other principles drawn for the same pair
    p0 = np.nan_to_num(table.p, nan=0.0)
    others_n = k[:, None] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (p0.sum(axis=1, keepdims=True) - p0) / others_n
    loo_mask = drawn & (others_n > 0)
    ens_agree = _agree_sum(side, _side(loo), loo_mask)
    ens_n = loo_mask.sum(axis=0)

    judged = table.critic_judged
    cab, cba = table.critic_ab, table.critic_ba
    biased = judged & ((np.nan_to_num(cab, nan=0.5) - 0.5) * (np.nan_to_num(cba, nan=0.5) - 0.5) < 0)
    rule_mask = judged & (table.rule != 0)
    rule_agree = _agree_sum(_side(table.critic_p), table.rule, rule_mask)
    rule_n = rule_mask.sum(axis=0)

    stats = []
    for j, ref in enumerate(table.principles):
        stats.append(
            PrincipleStats(
                principle=ref,
                drawn=int(n_drawn[j]),
                drawn_rate=wilson_ci(float(n_drawn[j]), n),
                decisive=_wilson(decisive[:, j].sum(), n_drawn[j]),
                agrees_with_ensemble=_wilson(ens_agree[j], ens_n[j]),
                agrees_with_rule=_wilson(rule_agree[j], rule_n[j]),
                position_bias=_wilson(biased[:, j].sum(), judged[:, j].sum()),
            )
        )

    # principle x principle: co-drawn counts, agreement and confident conflicts as matrix products
    d = drawn.astype(np.int32)
    pos = ((side > 0) & drawn).astype(np.int32)
    neg = ((side < 0) & drawn).astype(np.int32)
    co = d.T @ d
    same = pos.T @ pos + neg.T @ neg
    opposite = pos.T @ neg + neg.T @ pos
    ties = co - same - opposite
    agree = same + 0.5 * ties
    dpos = (pos.astype(bool) & decisive).astype(np.int32)
    dneg = (neg.astype(bool) & decisive).astype(np.int32)
    conflict = dpos.T @ dneg + dneg.T @ dpos
    matrix = []
    ids = np.asarray(table.pair_ids, dtype=object)
    for a in range(m):
        for b in range(a + 1, m):
            together = int(co[a, b])
            shown: tuple[str, ...] = ()
            if conflict[a, b] > 0 and examples > 0:
                rows = np.flatnonzero(
                    (dpos[:, a].astype(bool) & dneg[:, b].astype(bool))
                    | (dneg[:, a].astype(bool) & dpos[:, b].astype(bool))
                )
                shown = tuple(str(x) for x in ids[rows[:examples]])
            matrix.append(
                PrinciplePairStats(
                    table.principles[a],
                    table.principles[b],
                    together,
                    _wilson(agree[a, b], together),
                    _wilson(conflict[a, b], together),
                    shown,
                )
            )

    # overall rates over every judgement, clustered by pair (several judgements per pair are not independent)
    rows_idx, _ = np.nonzero(drawn)
    overall: dict[str, Estimate | None] = {}
    if rows_idx.size:
        overall["decisive"] = clustered_proportion_ci(
            decisive[drawn].astype(float).tolist(), rows_idx.tolist()
        )
    j_rows, _ = np.nonzero(judged)
    overall["position_bias"] = (
        clustered_proportion_ci(biased[judged].astype(float).tolist(), j_rows.tolist())
        if j_rows.size
        else None
    )
    confidence = np.abs(2.0 * table.label_p - 1.0)
    overall["label_confidence"] = cluster_bootstrap_ci(
        confidence.tolist(), list(range(n)), resamples=1000, seed=0
    )
    return InspectResult(
        source=str(table.path),
        pairs=n,
        judgements=int(drawn.sum()),
        threshold=threshold,
        principles=tuple(stats),
        matrix=tuple(matrix),
        overall=overall,
    )


def _short(ref: str) -> str:
    return ref.split("@", 1)[0]


def matrix_rows(result: InspectResult) -> tuple[list[str], list[list[str]]]:
    """The agreement matrix as a table: headers, then one row per principle (``value% [low, high] (n)`` per cell)."""
    names = [s.principle for s in result.principles]
    cells: dict[tuple[str, str], PrinciplePairStats] = {}
    for s in result.matrix:
        cells[(s.first, s.second)] = s
        cells[(s.second, s.first)] = s
    headers = ["principle", *[_short(x) for x in names]]
    rows = []
    for a in names:
        row = [_short(a)]
        for b in names:
            if a == b:
                row.append("—")
                continue
            c = cells.get((a, b))
            if c is None or c.agreement is None:
                row.append("n/a (0)")
            else:
                e = c.agreement
                row.append(f"{100 * e.value:.0f}% [{100 * e.low:.0f}, {100 * e.high:.0f}] ({c.together})")
        rows.append(row)
    return headers, rows


def principle_rows(result: InspectResult) -> tuple[list[str], list[list[str]]]:
    """The per-principle table: headers and rows (each rate with its 95% interval)."""
    headers = [
        "principle",
        "drawn",
        f"decisive (|2p−1|>{result.threshold:g})",
        "agrees with the others",
        "agrees with its rule",
        "position bias",
    ]
    rows = []
    for s in result.principles:
        bias = fmt(s.position_bias) + (" — mostly position bias" if s.mostly_position_bias else "")
        rule = fmt(s.agrees_with_rule) + (f" (n={s.agrees_with_rule.n})" if s.agrees_with_rule else "")
        rows.append(
            [
                s.principle,
                f"{s.drawn} — {fmt(s.drawn_rate)}",
                fmt(s.decisive),
                fmt(s.agrees_with_ensemble),
                rule,
                bias,
            ]
        )
    return headers, rows


def conflict_rows(result: InspectResult, limit: int = 10) -> tuple[list[str], list[list[str]]]:
    """The most conflicting principle pairs (both decisive, opposite sides)."""
    headers = ["principles", "pairs together", "confident conflicts", "agreement", "e.g. pairs"]
    rows = [
        [
            f"{s.first} vs {s.second}",
            str(s.together),
            fmt(s.conflict),
            fmt(s.agreement),
            ", ".join(s.conflict_examples),
        ]
        for s in result.conflicts[:limit]
    ]
    return headers, rows


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(x: str) -> str:
        return x.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return [*out, ""]


def summary_lines(result: InspectResult) -> list[str]:
    """Plain sentences: the overall rates and every flag (conflicts, overlap, position bias)."""
    o = result.overall
    lines = [
        f"{result.pairs} labelled pairs, {result.judgements} principle judgements, "
        f"{len(result.principles)} principles. 95% intervals; the pair is the unit.",
        f"Decisive judgements: {fmt(o.get('decisive'))}; position-biased judgements: {fmt(o.get('position_bias'))}; "
        f"mean label confidence |2p−1|: {fmt(o.get('label_confidence'))}.",
    ]
    for s in result.position_biased:
        lines.append(
            f"{s.principle}: mostly position bias ({fmt(s.position_bias)} of its judgements chose the same letter "
            "in both orders): its labels say more about the order than about the responses."
        )
    for ps in result.redundant:
        lines.append(
            f"{ps.first} and {ps.second} agree on {fmt(ps.agreement)} of {ps.together} pairs: they overlap, one may "
            "be enough."
        )
    top = result.conflicts[:3]
    for ps in top:
        lines.append(
            f"{ps.first} and {ps.second} confidently disagree on {fmt(ps.conflict)} of the {ps.together} pairs "
            f"they share (e.g. {', '.join(ps.conflict_examples)})."
        )
    if not result.position_biased and not result.redundant and not top:
        lines.append("No principle is mostly position bias, no two overlap and none conflict.")
    return lines


def markdown_lines(result: InspectResult, *, heading: str = "#") -> list[str]:
    """Markdown for the whole result (``heading`` is the top level's ``#`` prefix)."""
    h = heading
    out = [f"{h} Principles in {result.source}", ""]
    out += [f"- {line}" for line in summary_lines(result)] + [""]
    out += [f"{h}# Per principle", "", *_md_table(*principle_rows(result))]
    out += [
        f"{h}# Agreement matrix",
        "",
        "Share of the pairs both principles were drawn for on which they prefer the same response, with its 95% "
        "Wilson interval and (in brackets) the number of those pairs.",
        "",
        *_md_table(*matrix_rows(result)),
    ]
    out += [f"{h}# Conflicts", ""]
    headers, rows = conflict_rows(result)
    out += _md_table(headers, rows) if rows else ["No two principles confidently disagreed on any pair.", ""]
    return out


__all__ = [
    "DEFAULT_THRESHOLD",
    "InspectResult",
    "PrinciplePairStats",
    "PrincipleStats",
    "conflict_rows",
    "fmt",
    "inspect_labels",
    "markdown_lines",
    "matrix_rows",
    "principle_rows",
    "summary_lines",
]
