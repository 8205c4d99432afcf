"""Agreement statistics: bootstrap intervals over pairs, calibration (Brier, ECE, reliability table), per-principle
and rule-vs-critic tables, and :func:`summarize`, which turns per-pair results into the report."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rlaif.constitution import constitution_hash
from rlaif.constitution.schema import Constitution
from rlaif.evals.agreement_report import (
    TIE_TOLERANCE,
    AgreementConfig,
    AgreementReport,
    JudgementResult,
    PairResult,
    PrincipleAgreement,
    ReliabilityBin,
    RuleAgreement,
    _score,
)
from rlaif.seeds import crc32_seed
from rlaif.stats import Estimate, brier, clustered_proportion_ci, expected_calibration_error, wilson_ci


def _resample_indices(n: int, config: AgreementConfig, salt: str) -> Any:
    """A (resamples, n) matrix of bootstrap indices, seeded by the config's seed and what is being estimated.

    numpy (always present: torch and datasets need it) keeps a 2000-resample interval over a few hundred pairs in
    milliseconds; the percentile rule is the one of :func:`rlaif.stats.bootstrap_ci`.
    """
    import numpy as np

    rng = np.random.default_rng(crc32_seed(config.seed, salt))
    return rng.integers(0, n, size=(config.bootstrap_resamples, n))


def _interval(value: float, samples: Any, n: int, config: AgreementConfig) -> Estimate:
    import numpy as np

    ordered = np.sort(np.asarray(samples, dtype=float))
    alpha = (1.0 - config.confidence) / 2.0
    last = len(ordered) - 1
    low, high = float(ordered[int(alpha * last)]), float(ordered[int((1.0 - alpha) * last)])
    return Estimate(float(value), low, high, n, config.confidence)


def _mean_estimate(items: Sequence[float], config: AgreementConfig, salt: str) -> Estimate:
    """The share of per-pair outcomes (0, ½ or 1, one per pair) with a Wilson interval: it does not collapse to
    [1, 1] when every pair agrees. ``salt`` is kept for the bootstrap-based estimates' signature."""
    del salt
    if not items:
        raise ValueError("cannot estimate from zero items")
    return wilson_ci(float(sum(items)), len(items), confidence=config.confidence)


def _ratio_estimate(
    numerators: Sequence[float], denominators: Sequence[float], config: AgreementConfig, salt: str
) -> Estimate | None:
    """sum(num)/sum(den) over judgements nested in pairs: a clustered Wilson interval with the pair as the unit.

    ``n`` of the estimate is the number of judgements (as before); the interval's effective size is the pairs'.
    """
    del salt
    total = sum(denominators)
    if not total:
        return None
    outcomes: list[float] = []
    clusters: list[int] = []
    for i, (k, d) in enumerate(zip(numerators, denominators, strict=True)):
        hits = round(k)
        outcomes += [1.0] * hits + [0.0] * (round(d) - hits)
        clusters += [i] * round(d)
    e = clustered_proportion_ci(outcomes, clusters, confidence=config.confidence)
    return Estimate(e.value, e.low, e.high, int(total), config.confidence)


def symmetric_calibration_set(p_chosen: Sequence[float]) -> tuple[list[float], list[int]]:
    """Each pair as two predictions: p(chosen) with outcome 1 and 1 − p(chosen) with outcome 0.

    Probabilities are rounded to 12 decimals so that float noise (1 − 0.9 = 0.09999999999999998) does not move a
    value across a bin edge.
    """
    probs = [round(q, 12) for q in (*p_chosen, *(1.0 - p for p in p_chosen))]
    outcomes = [1] * len(p_chosen) + [0] * len(p_chosen)
    return probs, outcomes


def _ece_rows(p_chosen: Any, bins: int) -> Any:
    """ECE of the symmetric calibration set of each row of a (resamples, n) matrix of p(chosen).

    The same binning as :func:`~rlaif.stats.expected_calibration_error`: bin = min(floor(p · bins), bins − 1).
    """
    import numpy as np

    p1 = np.round(p_chosen, 12)
    p0 = np.round(1.0 - p_chosen, 12)
    b1 = np.minimum((p1 * bins).astype(int), bins - 1)
    b0 = np.minimum((p0 * bins).astype(int), bins - 1)
    rows, n = p_chosen.shape
    # one bincount over (row, bin) cells: Σ outcomes − Σ predictions per cell (outcome 1 only on the chosen side)
    row_base = (np.arange(rows) * bins)[:, None]
    cells = rows * bins
    outcomes = np.bincount((row_base + b1).ravel(), minlength=cells)
    predicted = np.bincount((row_base + b1).ravel(), weights=p1.ravel(), minlength=cells) + np.bincount(
        (row_base + b0).ravel(), weights=p0.ravel(), minlength=cells
    )
    gap = (outcomes - predicted).reshape(rows, bins)
    return np.abs(gap).sum(axis=1) / (2 * n)


def _calibration(ps: Sequence[float], config: AgreementConfig, salt: str) -> tuple[Estimate, Estimate]:
    """Brier and ECE of p(human-chosen) (symmetric set), with bootstrap intervals over pairs."""
    import numpy as np

    values = np.asarray(ps, dtype=float)
    resampled = values[_resample_indices(len(ps), config, salt)]
    # symmetric Brier: (1 − p)² on the chosen side equals p(rejected)² on the rejected side, so it is one mean
    brier_samples = ((1.0 - resampled) ** 2).mean(axis=1)
    sym = symmetric_calibration_set(ps)
    return (
        _interval(brier(*sym), brier_samples, len(ps), config),
        _interval(
            expected_calibration_error(*sym, bins=config.calibration_bins),
            _ece_rows(resampled, config.calibration_bins),
            len(ps),
            config,
        ),
    )


def reliability_table(p_chosen: Sequence[float], bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width bins of the symmetric calibration set: mean predicted probability vs observed frequency."""
    probs, outcomes = symmetric_calibration_set(p_chosen)
    count = [0] * bins
    sum_p = [0.0] * bins
    sum_y = [0.0] * bins
    for p, y in zip(probs, outcomes, strict=True):
        b = min(int(p * bins), bins - 1)  # the same binning as expected_calibration_error
        count[b] += 1
        sum_p[b] += p
        sum_y[b] += y
    return [
        ReliabilityBin(
            low=b / bins,
            high=(b + 1) / bins,
            count=count[b],
            mean_predicted=sum_p[b] / count[b] if count[b] else None,
            observed=sum_y[b] / count[b] if count[b] else None,
        )
        for b in range(bins)
    ]


def _per_principle(labeled: Sequence[PairResult], config: AgreementConfig) -> list[PrincipleAgreement]:
    groups: dict[str, list[JudgementResult]] = {}
    for r in labeled:
        for j in r.judgements:
            groups.setdefault(j.principle, []).append(j)
    out = []
    for ref, js in groups.items():  # first-seen order; sorted below by id for a stable table
        scores = [_score(j.p_chosen, config.ties) for j in js]
        ps = [j.p_chosen for j in js]
        b, e = _calibration(ps, config, f"cal:{ref}")
        out.append(
            PrincipleAgreement(
                principle=ref,
                n=len(js),
                accuracy=_mean_estimate(scores, config, f"acc:{ref}"),
                single_order_accuracy=_mean_estimate(
                    [_score(j.p_chosen_ab, config.ties) for j in js], config, f"acc1:{ref}"
                ),
                position_bias=_mean_estimate(
                    [float(j.same_letter is not None) for j in js], config, f"bias:{ref}"
                ),
                order_consistency=_mean_estimate([float(j.consistent) for j in js], config, f"cons:{ref}"),
                brier=b,
                ece=e,
                ties=sum(abs(p - 0.5) <= TIE_TOLERANCE for p in ps),
            )
        )
    return sorted(out, key=lambda a: a.principle)


def _rules(labeled: Sequence[PairResult], config: AgreementConfig) -> list[RuleAgreement]:
    refs = sorted({j.principle for r in labeled for j in r.judgements if j.rule is not None})
    out = []
    for ref in refs:
        # per pair (a principle is judged at most once per pair): 0/1 items, None where the rule abstains
        critic: list[float] = []
        human: list[float] = []
        n_judged = both_pass = both_fail = 0
        for r in labeled:
            for j in r.judgements:
                if j.principle != ref or j.rule is None:
                    continue
                n_judged += 1
                if j.rule == "both_pass":
                    both_pass += 1
                elif j.rule == "both_fail":
                    both_fail += 1
                else:
                    p_rule_side = j.p_chosen if j.rule == "chosen" else 1.0 - j.p_chosen
                    critic.append(_score(p_rule_side, config.ties))
                    human.append(float(j.rule == "chosen"))
        out.append(
            RuleAgreement(
                principle=ref,
                n_judged=n_judged,
                n_decisive=len(critic),
                n_both_pass=both_pass,
                n_both_fail=both_fail,
                critic_agrees=_mean_estimate(critic, config, f"rule:{ref}") if critic else None,
                human_agrees=_mean_estimate(human, config, f"rulehuman:{ref}") if human else None,
            )
        )
    return out


def _reason_kind(reason: str) -> str:
    """Group reasons that differ only in numbers or the principle/order they name."""
    reason = re.sub(r"\((principle|template) [^)]*\)", "", reason)
    return re.sub(r"\d+(\.\d+)?", "N", reason).strip()


def summarize(
    results: Sequence[PairResult],
    config: AgreementConfig,
    *,
    critic_model: str = "",
    critic_revision: str = "",
    constitution: Constitution | None = None,
    template_hash: str = "",
    source: str | None = None,
) -> AgreementReport:
    """Turn per-pair results into the report (all estimates, intervals and tables)."""
    labeled = [r for r in results if r.labeled]
    reasons = Counter(_reason_kind(r.unlabeled_reason or "") for r in results if not r.labeled)
    c_name = constitution.name if constitution is not None else ""
    c_hash = constitution_hash(constitution) if constitution is not None else ""
    if not labeled:
        return AgreementReport(
            critic_model, critic_revision, c_name, c_hash, template_hash, config, len(results), 0,
            dict(reasons.most_common()), None, None, 0, 0, None, None, None, None, None, None, (), (), (),
            tuple(results), source,
        )  # fmt: skip
    scores = [r.score for r in labeled if r.score is not None]
    scores_ab = [r.score_ab for r in labeled if r.score_ab is not None]
    ps = [r.p_chosen for r in labeled if r.p_chosen is not None]
    ps_ab = [r.p_chosen_ab for r in labeled if r.p_chosen_ab is not None]
    biased = [float(sum(j.same_letter is not None for j in r.judgements)) for r in labeled]
    biased_first = sum(j.same_letter == "first" for r in labeled for j in r.judgements)
    consistent = [float(sum(j.consistent for j in r.judgements)) for r in labeled]
    n_judgements = [float(len(r.judgements)) for r in labeled]
    b, e = _calibration(ps, config, "cal")
    return AgreementReport(
        critic_model=critic_model,
        critic_revision=critic_revision,
        constitution_name=c_name,
        constitution_hash=c_hash,
        template_hash=template_hash,
        config=config,
        n_pairs=len(results),
        n_labeled=len(labeled),
        unlabeled_reasons=dict(reasons.most_common()),
        accuracy=_mean_estimate(scores, config, "acc"),
        single_order_accuracy=_mean_estimate(scores_ab, config, "acc1"),
        ties=sum(abs(p - 0.5) <= TIE_TOLERANCE for p in ps),
        ties_order_ab=sum(abs(p - 0.5) <= TIE_TOLERANCE for p in ps_ab),
        position_bias=_ratio_estimate(biased, n_judgements, config, "bias"),
        position_bias_first=biased_first / sum(biased) if sum(biased) else None,
        order_consistency=_ratio_estimate(consistent, n_judgements, config, "cons"),
        pair_order_consistency=_mean_estimate(
            [float(bool(r.order_consistent)) for r in labeled], config, "paircons"
        ),
        brier=b,
        ece=e,
        reliability=tuple(reliability_table(ps, config.calibration_bins)),
        per_principle=tuple(_per_principle(labeled, config)),
        rules=tuple(_rules(labeled, config)),
        pairs=tuple(results),
        source=source,
    )
