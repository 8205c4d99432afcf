"""Drift and reward-hacking monitors: how the policy's responses changed, independent of any judge.

A policy optimised against an AI judge finds the judge's blind spots: answers grow longer (judges like length),
phrases the judge rewards get repeated ("I hope this helps!"), generation degenerates into loops, or the policy
learns to refuse. These monitors measure each on the same held-out prompts for the policy and the base model:

* **length**: words per response (whitespace-separated, so comparable across tokenizers): mean with interval,
  quantiles, histogram, and the share of responses cut at ``max_new_tokens``.
* **repetition**: per response, the share of its word n-grams that repeat an earlier n-gram of the same response
  (0 for fresh text, close to 1 for a loop), and the share of responses where some n-gram occurs 3+ times.
* **over-represented phrases**: word n-grams (1 to ``max_n``) used more by the policy than by the base model, ranked
  by the z-score of their log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn, 2008,
  "Fightin' words"): frequent and strongly shifted phrases rank first, rare noise does not.
* **refusal rate** with :mod:`rlaif.evals.refusal`.

The KL to the reference model is measured with the models themselves (see :mod:`rlaif.evals.policy_eval`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rlaif.evals.refusal import detect_refusal
from rlaif.stats import Estimate, bootstrap_ci, proportion_ci

_WORD = re.compile(r"[A-Za-z0-9']+|[^\sA-Za-z0-9']")


def words(text: str) -> list[str]:
    """Whitespace-separated words (the unit of the length monitor)."""
    return text.split()


def tokens_for_ngrams(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (so "helps!" and "helps." share "helps")."""
    return [t.lower() for t in _WORD.findall(text)]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous n-grams of ``tokens``."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


@dataclass(frozen=True)
class LengthSummary:
    """Words per response: mean with interval, quantiles, histogram over shared ``edges``, share truncated."""

    mean: Estimate
    median: float
    p10: float
    p90: float
    max: int
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    truncated: float | None = None


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def histogram_edges(values: Sequence[float], bins: int = 10) -> tuple[float, ...]:
    """``bins`` equal-width bins from 0 to the largest value (rounded up), shared by series compared together."""
    top = max([1.0, *values])
    step = math.ceil(top / bins)
    return tuple(float(i * step) for i in range(bins + 1))


def histogram(values: Sequence[float], edges: Sequence[float]) -> tuple[int, ...]:
    """Counts per bin; the last bin includes its upper edge, values above it go to the last bin."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        i = 0
        while i < len(counts) - 1 and v >= edges[i + 1]:
            i += 1
        counts[i] += 1
    return tuple(counts)


def length_summary(
    texts: Sequence[str],
    *,
    edges: Sequence[float] | None = None,
    finish_reasons: Sequence[str] | None = None,
    seed: int = 0,
) -> LengthSummary:
    """Words per response of ``texts`` (see :class:`LengthSummary`)."""
    if not texts:
        raise ValueError("no responses to measure")
    lengths = [float(len(words(t))) for t in texts]
    ordered = sorted(lengths)
    edges = tuple(edges) if edges is not None else histogram_edges(lengths)
    truncated = None
    if finish_reasons is not None and len(finish_reasons) == len(texts):
        truncated = sum(r == "length" for r in finish_reasons) / len(texts)
    return LengthSummary(
        mean=bootstrap_ci(lengths, seed=seed),
        median=_quantile(ordered, 0.5),
        p10=_quantile(ordered, 0.1),
        p90=_quantile(ordered, 0.9),
        max=int(ordered[-1]),
        edges=tuple(float(e) for e in edges),
        counts=histogram(lengths, edges),
        truncated=truncated,
    )


def repeated_ngram_share(text: str, n: int = 3) -> float:
    """Share of the response's n-grams that repeat an earlier n-gram of the same response (0 when it has none)."""
    grams = ngrams(tokens_for_ngrams(text), n)
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def loops(text: str, n: int = 3, times: int = 3) -> bool:
    """Whether some n-gram occurs ``times`` or more in the response (a generation loop)."""
    counts = Counter(ngrams(tokens_for_ngrams(text), n))
    return bool(counts) and max(counts.values()) >= times


@dataclass(frozen=True)
class RepetitionSummary:
    """Mean repeated-n-gram share per response (with interval) and the share of looping responses."""

    n: int
    repeated_share: Estimate
    looping: Estimate


def repetition_summary(texts: Sequence[str], *, n: int = 3, seed: int = 0) -> RepetitionSummary:
    """Repetition monitors over ``texts`` (see :class:`RepetitionSummary`)."""
    if not texts:
        raise ValueError("no responses to measure")
    return RepetitionSummary(
        n=n,
        repeated_share=bootstrap_ci([repeated_ngram_share(t, n) for t in texts], seed=seed),
        looping=proportion_ci([float(loops(t, n)) for t in texts]),
    )


@dataclass(frozen=True)
class Phrase:
    """An n-gram the policy uses more than the base model: counts in each, and its log-odds z-score."""

    phrase: str
    policy_count: int
    base_count: int
    z: float


def _counts(texts: Sequence[str], max_n: int) -> Counter[str]:
    c: Counter[str] = Counter()
    for t in texts:
        toks = tokens_for_ngrams(t)
        for n in range(1, max_n + 1):
            c.update(" ".join(g) for g in ngrams(toks, n))
    return c


def over_represented(
    policy: Sequence[str],
    base: Sequence[str],
    *,
    max_n: int = 3,
    top: int = 10,
    min_count: int = 2,
    prior_scale: float = 0.1,
) -> list[Phrase]:
    """The ``top`` n-grams most over-represented in ``policy`` vs ``base`` (log-odds z-score, Dirichlet prior).

    The prior is the pooled frequency of each n-gram, scaled so its total weight is ``prior_scale`` times the pooled
    count. Only n-grams the policy uses at least ``min_count`` times and with z > 1.96 are returned; a phrase that is
    a piece of a listed longer phrase with the same policy count is left out as redundant.
    """
    if not policy or not base:
        return []
    cp, cb = _counts(policy, max_n), _counts(base, max_n)
    pooled = cp + cb
    n_p, n_b = sum(cp.values()), sum(cb.values())
    total = n_p + n_b
    a0 = prior_scale * total
    scored: list[Phrase] = []
    for gram, yp in cp.items():
        if yp < min_count:
            continue
        yb = cb.get(gram, 0)
        a = a0 * pooled[gram] / total
        lp = math.log((yp + a) / (n_p + a0 - yp - a))
        lb = math.log((yb + a) / (n_b + a0 - yb - a))
        var = 1.0 / (yp + a) + 1.0 / (yb + a)
        z = (lp - lb) / math.sqrt(var)
        if z > 1.96:
            scored.append(Phrase(gram, yp, yb, round(z, 4)))
    scored.sort(key=lambda p: (-p.z, p.phrase))
    kept: list[Phrase] = []
    for p in scored:
        if any(p.phrase in k.phrase and p.policy_count == k.policy_count for k in kept):
            continue
        kept = [k for k in kept if not (k.phrase in p.phrase and k.policy_count == p.policy_count)]
        kept.append(p)
        if len(kept) >= top:
            break
    return kept


@dataclass(frozen=True)
class DriftReport:
    """Every drift monitor for one set of responses next to the base model's responses to the same prompts."""

    length_policy: LengthSummary
    length_base: LengthSummary
    repetition_policy: RepetitionSummary
    repetition_base: RepetitionSummary
    refusal_policy: Estimate
    refusal_base: Estimate
    over_represented: tuple[Phrase, ...]


def drift_report(
    policy: Sequence[str],
    base: Sequence[str],
    *,
    policy_finish: Sequence[str] | None = None,
    base_finish: Sequence[str] | None = None,
    ngram: int = 3,
    top_phrases: int = 10,
    seed: int = 0,
) -> DriftReport:
    """All monitors, with the length histograms of both on the same bins."""
    if not policy or not base:
        raise ValueError("drift needs the policy's and the base model's responses")
    edges = histogram_edges([float(len(words(t))) for t in [*policy, *base]])
    return DriftReport(
        length_policy=length_summary(policy, edges=edges, finish_reasons=policy_finish, seed=seed),
        length_base=length_summary(base, edges=edges, finish_reasons=base_finish, seed=seed),
        repetition_policy=repetition_summary(policy, n=ngram, seed=seed),
        repetition_base=repetition_summary(base, n=ngram, seed=seed),
        refusal_policy=proportion_ci([float(detect_refusal(t) is not None) for t in policy]),
        refusal_base=proportion_ci([float(detect_refusal(t) is not None) for t in base]),
        over_represented=tuple(over_represented(policy, base, max_n=ngram, top=top_phrases)),
    )


__all__ = [
    "DriftReport",
    "LengthSummary",
    "Phrase",
    "RepetitionSummary",
    "drift_report",
    "histogram",
    "histogram_edges",
    "length_summary",
    "loops",
    "ngrams",
    "over_represented",
    "repeated_ngram_share",
    "repetition_summary",
    "tokens_for_ngrams",
    "words",
]
