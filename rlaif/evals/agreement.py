"""How good is the AI labeler? Agreement of a critic's pairwise labels with human preference labels.

Run it from the command line (``rlaif eval agreement --help``) or from Python::

    from rlaif.evals import AgreementConfig, AgreementRun, run_agreement
    report = run_agreement(AgreementRun(human="data/human_labels/trl_format.jsonl",
                                        constitution="principles/hhh.yaml", critic="smollm2",
                                        out="out/agreement", agreement=AgreementConfig(k=4)))
    print(report.to_markdown())

What is measured, for each human pair (``chosen`` ≻ ``rejected``):

* **Which response is shown first is randomised**, seeded and balanced: exactly half of the pairs (rounded up)
  show the human-chosen response as A. Without this, a critic that always answers "A" would look perfect on a file
  that always lists the chosen response first — position bias masquerading as accuracy.
* ``k`` principles are sampled per pair (or all of them, or a named subset) and the critic judges every
  (pair, principle) in both orders, in ONE :func:`~rlaif.feedback.labeler.judge_pairs_detailed` call.
* **accuracy**: the label (both orders, k principles averaged) puts p(human-chosen) above 0.5. An exact tie
  (|p − 0.5| ≤ 1e-9) counts as half right by default (``ties="half"``: a coin flip would break it) or as wrong
  (``ties="wrong"``, the stricter reading). Unlabeled pairs are left out and counted separately (``coverage``).
* **single-order accuracy**: the same, from order ab alone (what a labeler that asks once would get): the gap to
  accuracy is what asking in both orders buys.
* **position bias**: the share of (pair, principle) judgements where the critic chose the same *letter* in both
  orders (so it contradicted itself); **order consistency**: the share where both orders prefer the same response.
* **calibration** of p(human-chosen): Brier score and expected calibration error (ECE) with a reliability table.
  Each pair contributes p(chosen) with outcome 1 *and* p(rejected) = 1 − p(chosen) with outcome 0, so the numbers do
  not depend on which response happened to be shown first and a critic that says 0.5 to everything is calibrated
  (ECE 0) though useless (accuracy 0.5, Brier 0.25): calibration and accuracy are separate questions.
* all of it **per principle** (that principle's judgement alone), and for principles with a declarative rule,
  **rule-vs-critic agreement** on the judgements where the rule passes one response and fails the other.

Intervals are 95% percentile-bootstrap intervals over pairs (seeded). Judgement-level rates (position bias,
consistency, rule agreement) resample whole pairs, since the k judgements of one pair are not independent.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlaif.backends.base import Backend
from rlaif.constitution import check_rule, constitution_hash, sample_principles
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError, RlaifError
from rlaif.evals.stats import Estimate, brier, expected_calibration_error
from rlaif.feedback.inputs import PreferencePair
from rlaif.feedback.labeler import JudgeConfig, PairToJudge, Unlabeled, judge_pairs_detailed
from rlaif.feedback.soft_labels import PrincipleJudgement, SoftLabel
from rlaif.prompting import TemplateSet

log = logging.getLogger(__name__)

TiePolicy = Literal["half", "wrong"]
#: |p − 0.5| at or below this is a tie: averaging 0.7 and 0.3 gives 0.49999999999999994, not 0.5
TIE_TOLERANCE = 1e-9

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PAIRS_DIR = "pairs"


@dataclass(frozen=True)
class AgreementConfig:
    """How the critic is evaluated against human labels (each field is a ``rlaif eval agreement`` option).

    Attributes:
        k: principles sampled per pair (weighted by the principles' weights, seeded per pair).
        all_principles: judge every pair under every (selected) principle instead of sampling ``k``.
        principles: restrict to these principle ids (sample ``k`` among them, or all of them).
        chain_of_thought: the critic writes its reasoning first (template ``cot_template``), then is scored;
            probabilities are clamped into ``cot_clamp`` as in the constitutional AI paper.
        template: the scored comparison template.
        cot_template: the chain-of-thought comparison template.
        cot_clamp: clamp of each order's chain-of-thought probability.
        cot_max_new_tokens: length cap of the generated reasoning.
        min_choice_mass: a judgement with less next-token probability than this on the choices makes the pair
            unlabeled ("the critic did not answer").
        ties: an exact tie counts as half right (``"half"``) or as wrong (``"wrong"``).
        seed: seeds which response is shown first, the principle sample and the bootstrap.
        bootstrap_resamples: bootstrap resamples per interval.
        confidence: interval coverage.
        calibration_bins: equal-width bins of the reliability table and of ECE.
    """

    k: int = 4
    all_principles: bool = False
    principles: tuple[str, ...] = ()
    chain_of_thought: bool = False
    template: str = "compare"
    cot_template: str = "compare_cot"
    cot_clamp: tuple[float, float] = (0.4, 0.6)
    cot_max_new_tokens: int = 256
    min_choice_mass: float = 0.0
    ties: TiePolicy = "half"
    seed: int = 0
    bootstrap_resamples: int = 2000
    confidence: float = 0.95
    calibration_bins: int = 10
    judge_mode: str = "auto"  # see rlaif.feedback.judge_modes: check the critic in the mode it will label in

    def __post_init__(self) -> None:
        if not self.all_principles and self.k < 1:
            raise RlaifError(f"k must be at least 1, got {self.k}", field="k", hint="or use all principles")
        if self.ties not in ("half", "wrong"):
            raise RlaifError(f"ties must be 'half' or 'wrong', got {self.ties!r}", field="ties")
        if not 0.0 < self.confidence < 1.0:
            raise RlaifError(f"confidence must be in (0, 1), got {self.confidence}", field="confidence")
        if self.bootstrap_resamples < 10:
            raise RlaifError("bootstrap_resamples must be at least 10", field="bootstrap_resamples")
        if self.calibration_bins < 1:
            raise RlaifError("calibration_bins must be at least 1", field="calibration_bins")
        if not 0.0 <= self.min_choice_mass <= 1.0:
            raise RlaifError("min_choice_mass must be in [0, 1]", field="min_choice_mass")

    def judge_config(self) -> JudgeConfig:
        """The labeler's configuration (always both orders: single-order numbers are read from order ab)."""
        return JudgeConfig(
            template=self.template,
            chain_of_thought=self.chain_of_thought,
            cot_template=self.cot_template,
            cot_clamp=self.cot_clamp,
            cot_max_new_tokens=self.cot_max_new_tokens,
            both_orders=True,
            min_choice_mass=self.min_choice_mass,
            seed=self.seed,
            mode=self.judge_mode,
        )


# ---------------------------------------------------------------------------------------------------------------
# per-pair results


RuleVerdict = Literal["chosen", "rejected", "both_pass", "both_fail"]


@dataclass(frozen=True)
class JudgementResult:
    """One principle's judgement of one human pair, in the human's terms.

    ``p_ab`` / ``p_ba`` are the critic's p(A ≻ B) read from each order, where A is the response shown first in
    order ab (see ``PairResult.chosen_first``). ``same_letter`` is ``"first"`` or ``"second"`` when the critic chose
    the same position in both orders (position bias), else None. ``rule`` is the principle's rule verdict (which
    response passes it), None when the principle has no rule.
    """

    principle: str
    p_ab: float
    p_ba: float
    p_chosen: float
    p_chosen_ab: float
    consistent: bool
    same_letter: Literal["first", "second"] | None
    rule: RuleVerdict | None = None
    choice_mass: tuple[float, ...] = ()


@dataclass(frozen=True)
class PairResult:
    """The critic's verdict on one human pair (or why there is none)."""

    pair_id: str
    chosen_first: bool
    principles: tuple[str, ...]
    p_chosen: float | None = None
    p_chosen_ab: float | None = None
    score: float | None = None
    score_ab: float | None = None
    order_consistent: bool | None = None
    decisive_principle: str | None = None
    judgements: tuple[JudgementResult, ...] = ()
    unlabeled_reason: str | None = None

    @property
    def labeled(self) -> bool:
        """Whether the critic gave a label."""
        return self.unlabeled_reason is None


# ---------------------------------------------------------------------------------------------------------------
# the report


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of the reliability table: predicted p(preferred) vs how often that response was the human's choice."""

    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None


@dataclass(frozen=True)
class PrincipleAgreement:
    """Agreement of one principle's judgements alone (on the pairs it was sampled for)."""

    principle: str
    n: int
    accuracy: Estimate
    single_order_accuracy: Estimate
    position_bias: Estimate
    order_consistency: Estimate
    brier: Estimate
    ece: Estimate
    ties: int


@dataclass(frozen=True)
class RuleAgreement:
    """A principle with a declarative rule: the rule's verdicts against the critic's and the human's.

    ``n_decisive`` counts judgements where the rule passes exactly one response; the other two counts are where it
    abstains. ``critic_agrees``: the critic's judgement under this principle prefers the rule-passing response.
    ``human_agrees``: the rule-passing response is the human-chosen one.
    """

    principle: str
    n_judged: int
    n_decisive: int
    n_both_pass: int
    n_both_fail: int
    critic_agrees: Estimate | None
    human_agrees: Estimate | None


@dataclass(frozen=True)
class AgreementReport:
    """Everything ``rlaif eval agreement`` measured. Estimates are None when nothing could be measured."""

    critic_model: str
    critic_revision: str
    constitution_name: str
    constitution_hash: str
    template_hash: str
    config: AgreementConfig
    n_pairs: int
    n_labeled: int
    unlabeled_reasons: dict[str, int]
    accuracy: Estimate | None
    single_order_accuracy: Estimate | None
    ties: int
    ties_order_ab: int
    position_bias: Estimate | None
    position_bias_first: float | None
    order_consistency: Estimate | None
    pair_order_consistency: Estimate | None
    brier: Estimate | None
    ece: Estimate | None
    reliability: tuple[ReliabilityBin, ...]
    per_principle: tuple[PrincipleAgreement, ...]
    rules: tuple[RuleAgreement, ...]
    pairs: tuple[PairResult, ...] = field(repr=False, default=())
    source: str | None = None

    @property
    def n_unlabeled(self) -> int:
        """Pairs the critic did not label."""
        return self.n_pairs - self.n_labeled

    @property
    def coverage(self) -> float:
        """Share of pairs labeled."""
        return self.n_labeled / self.n_pairs if self.n_pairs else 0.0

    def to_dict(self, *, include_pairs: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (per-pair details only when asked: they go to the parquet file)."""
        d = asdict(self)
        d["config"] = asdict(self.config)
        d["n_unlabeled"] = self.n_unlabeled
        d["coverage"] = self.coverage
        if not include_pairs:
            d.pop("pairs")
        return d

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"

    def to_markdown(self) -> str:
        """A readable report: headline numbers, per principle, calibration, rules, unlabeled reasons."""
        return _markdown(self)


# ---------------------------------------------------------------------------------------------------------------
# evaluation


def _stable_int(*parts: object) -> int:
    """A process-independent integer from parts (Python's hash() is salted per process)."""
    return zlib.crc32(":".join(str(p) for p in parts).encode("utf-8", "surrogatepass"))


def chosen_first_assignment(pair_ids: Sequence[str], seed: int) -> list[bool]:
    """Which pairs show the human-chosen response first: a seeded, balanced assignment.

    Pairs are ranked by a seeded hash of their id and every other one (in rank order) shows the chosen response
    first, so exactly ``len(pair_ids) // 2`` pairs do (one more for an odd count) and a pair's position depends on its
    id, not on where it sits in the file.
    """
    ranked = sorted(range(len(pair_ids)), key=lambda i: (_stable_int(seed, "order", pair_ids[i]), i))
    out = [False] * len(pair_ids)
    for rank, i in enumerate(ranked):
        out[i] = rank % 2 == 0
    return out


def _select_pool(constitution: Constitution, config: AgreementConfig) -> list[Principle]:
    if not config.principles:
        return list(constitution.principles)
    known = {p.id: p for p in constitution.principles}
    missing = [pid for pid in config.principles if pid not in known]
    if missing:
        raise RlaifError(
            f"no principle {', '.join(repr(m) for m in missing)} in constitution '{constitution.name}'",
            field="principles",
            hint=f"principle ids: {', '.join(known)}",
        )
    wanted = set(config.principles)
    return [p for p in constitution.principles if p.id in wanted]


def principles_for_pairs(
    pairs: Sequence[PreferencePair], constitution: Constitution, config: AgreementConfig
) -> list[tuple[Principle, ...]]:
    """The principles each pair is judged under: all selected ones, or ``k`` sampled per pair (seeded by id)."""
    pool = _select_pool(constitution, config)
    if config.all_principles:
        return [tuple(pool) for _ in pairs]
    return [
        tuple(sample_principles(pool, config.k, seed=_stable_int(config.seed, "principles", pair.id)))
        for pair in pairs
    ]


def _score(p_chosen: float, ties: TiePolicy) -> float:
    """1 when p(chosen) > 0.5, 0 when below, a tie 0.5 or 0 by policy."""
    if abs(p_chosen - 0.5) <= TIE_TOLERANCE:
        return 0.5 if ties == "half" else 0.0
    return 1.0 if p_chosen > 0.5 else 0.0


def _same_letter(j: PrincipleJudgement) -> Literal["first", "second"] | None:
    # p_ab > .5: the first-shown response was chosen in order ab; p_ba < .5: the first-shown (B) in order ba too
    if j.p_ab > 0.5 + TIE_TOLERANCE and j.p_ba < 0.5 - TIE_TOLERANCE:
        return "first"
    if j.p_ab < 0.5 - TIE_TOLERANCE and j.p_ba > 0.5 + TIE_TOLERANCE:
        return "second"
    return None


def _rule_verdict(principle: Principle, chosen: str, rejected: str) -> RuleVerdict | None:
    if principle.rule is None:
        return None
    c, r = check_rule(principle.rule, chosen).passed, check_rule(principle.rule, rejected).passed
    if c and not r:
        return "chosen"
    if r and not c:
        return "rejected"
    return "both_pass" if c else "both_fail"


def _pair_result(
    pair: PreferencePair,
    chosen_first: bool,
    principles: tuple[Principle, ...],
    result: SoftLabel | Unlabeled,
    masses: Sequence[Sequence[float]],
    ties: TiePolicy,
) -> PairResult:
    refs = tuple(p.ref for p in principles)
    if isinstance(result, Unlabeled):
        return PairResult(pair.id, chosen_first, refs, unlabeled_reason=result.reason)

    def to_chosen(p_a: float) -> float:
        return p_a if chosen_first else 1.0 - p_a

    by_id = {p.id: p for p in principles}
    judgements = []
    for i, j in enumerate(result.judgements):
        principle = by_id[j.principle_id]
        judgements.append(
            JudgementResult(
                principle=principle.ref,
                p_ab=j.p_ab,
                p_ba=j.p_ba,
                p_chosen=to_chosen(j.p),
                p_chosen_ab=to_chosen(j.p_ab),
                consistent=j.consistent,
                same_letter=_same_letter(j),
                rule=_rule_verdict(principle, pair.chosen, pair.rejected),
                choice_mass=tuple(masses[i]) if i < len(masses) else (),
            )
        )
    p_chosen = to_chosen(result.p)
    p_chosen_ab = sum(j.p_chosen_ab for j in judgements) / len(judgements)
    decisive = by_id[result.decisive_principle].ref if result.decisive_principle in by_id else None
    return PairResult(
        pair_id=pair.id,
        chosen_first=chosen_first,
        principles=refs,
        p_chosen=p_chosen,
        p_chosen_ab=p_chosen_ab,
        score=_score(p_chosen, ties),
        score_ab=_score(p_chosen_ab, ties),
        order_consistent=result.order_consistent,
        decisive_principle=decisive,
        judgements=tuple(judgements),
    )


def evaluate_agreement(
    critic: Backend,
    templates: TemplateSet,
    pairs: Sequence[PreferencePair],
    constitution: Constitution,
    config: AgreementConfig = AgreementConfig(),
    *,
    progress: bool = True,
    source: str | None = None,
) -> AgreementReport:
    """Judge human-labelled pairs with the critic and measure how often, and how reliably, it agrees.

    The critic is called once (one ``judge_pairs`` call over every pair, principle and order). ``source`` names
    the human file in the report. Raises :class:`~rlaif.errors.DataFileError` for an empty input or duplicate ids.
    """
    if not pairs:
        raise DataFileError("no human preference pairs to evaluate", path=source)
    seen: set[str] = set()
    for pair in pairs:
        if pair.id in seen:
            raise DataFileError(
                f"duplicate pair id '{pair.id}'",
                path=source,
                field="id",
                hint="give every row a unique id (or none: rows without an id are numbered by line)",
            )
        seen.add(pair.id)
    chosen_first = chosen_first_assignment([p.id for p in pairs], config.seed)
    principles = principles_for_pairs(pairs, constitution, config)
    to_judge = [
        PairToJudge(
            pair_id=pair.id,
            conversation=pair.conversation,
            response_a=pair.chosen if first else pair.rejected,
            response_b=pair.rejected if first else pair.chosen,
            principles=ps,
        )
        for pair, first, ps in zip(pairs, chosen_first, principles, strict=True)
    ]
    log.info(
        "agreement: %d human pair(s) × %s principle(s) × 2 orders on critic %s",
        len(pairs),
        "all" if config.all_principles else config.k,
        critic.model_id,
    )
    judged = judge_pairs_detailed(critic, templates, to_judge, config.judge_config(), progress=progress)
    results = [
        _pair_result(pair, first, ps, j.result, j.choice_mass, config.ties)
        for pair, first, ps, j in zip(pairs, chosen_first, principles, judged, strict=True)
    ]
    template_name = config.cot_template if config.chain_of_thought else config.template
    template_hash = next((j.template_hash for j in judged if j.template_hash), "") or templates.template_hash(
        template_name
    )
    return summarize(
        results,
        config,
        critic_model=critic.model_id,
        critic_revision=critic.model_revision,
        constitution=constitution,
        template_hash=template_hash,
        source=source,
    )


# ---------------------------------------------------------------------------------------------------------------
# statistics


def _resample_indices(n: int, config: AgreementConfig, salt: str) -> Any:
    """A (resamples, n) matrix of bootstrap indices, seeded by the config's seed and what is being estimated.

    numpy (always present: torch and datasets need it) keeps a 2000-resample interval over a few hundred pairs in
    milliseconds; the percentile rule is the one of :func:`rlaif.evals.stats.bootstrap_ci`.
    """
    import numpy as np

    rng = np.random.default_rng(_stable_int(config.seed, salt))
    return rng.integers(0, n, size=(config.bootstrap_resamples, n))


def _interval(value: float, samples: Any, n: int, config: AgreementConfig) -> Estimate:
    import numpy as np

    ordered = np.sort(np.asarray(samples, dtype=float))
    alpha = (1.0 - config.confidence) / 2.0
    last = len(ordered) - 1
    low, high = float(ordered[int(alpha * last)]), float(ordered[int((1.0 - alpha) * last)])
    return Estimate(float(value), low, high, n, config.confidence)


def _mean_estimate(items: Sequence[float], config: AgreementConfig, salt: str) -> Estimate:
    """The mean of per-pair values with a bootstrap interval over pairs."""
    import numpy as np

    if not items:
        raise ValueError("cannot estimate from zero items")
    values = np.asarray(items, dtype=float)
    idx = _resample_indices(len(values), config, salt)
    return _interval(sum(items) / len(items), values[idx].mean(axis=1), len(items), config)


def _ratio_estimate(
    numerators: Sequence[float], denominators: Sequence[float], config: AgreementConfig, salt: str
) -> Estimate | None:
    """sum(num)/sum(den) with a bootstrap over clusters (pairs): each cluster keeps all its judgements together."""
    import numpy as np

    total = sum(denominators)
    if not total:
        return None
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    idx = _resample_indices(len(num), config, salt)
    # every pair has at least one judgement, so no resample has a zero denominator
    samples = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return _interval(sum(numerators) / total, samples, int(total), config)


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

    The same binning as :func:`~rlaif.evals.stats.expected_calibration_error`: bin = min(floor(p · bins), bins − 1).
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


# ---------------------------------------------------------------------------------------------------------------
# output


def _fmt(e: Estimate | None, pct: bool = True) -> str:
    if e is None:
        return "n/a"
    if pct:
        return f"{100 * e.value:.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}]"
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def _markdown(r: AgreementReport) -> str:
    c = r.config
    how = "all principles" if c.all_principles else f"k={c.k} sampled principles"
    if c.principles:
        how += f" among {', '.join(c.principles)}"
    lines = [
        "# Critic agreement with human labels",
        "",
        f"- human labels: `{r.source or '(in memory)'}` ({r.n_pairs} pairs)",
        f"- critic: `{r.critic_model}` (revision `{r.critic_revision}`)",
        f"- constitution: {r.constitution_name} (hash `{r.constitution_hash[:12]}`), {how}, both orders"
        + (", chain of thought" if c.chain_of_thought else ""),
        f"- template hash: `{r.template_hash[:12]}`; seed {c.seed}; ties count as "
        + ("half right" if c.ties == "half" else "wrong"),
        f"- labeled: {r.n_labeled} of {r.n_pairs} ({100 * r.coverage:.0f}%)",
        "",
    ]
    if r.accuracy is None:
        lines += ["**No pair was labeled**, so there is nothing to measure. Reasons:", ""]
        lines += [f"- {reason}: {n}" for reason, n in r.unlabeled_reasons.items()]
        return "\n".join(lines) + "\n"
    lines += [
        f"Intervals are {100 * c.confidence:.0f}% bootstrap intervals ({c.bootstrap_resamples} resamples over pairs).",
        "",
        "| metric | value | what it means |",
        "|---|---|---|",
        f"| accuracy (both orders) | {_fmt(r.accuracy)} | label prefers the human-chosen response |",
        f"| accuracy (order ab only) | {_fmt(r.single_order_accuracy)} | what asking once would give |",
        f"| position bias | {_fmt(r.position_bias)} | same letter in both orders (per judgement) |",
        f"| order consistency | {_fmt(r.order_consistency)} | both orders prefer the same response |",
        f"| pairs consistent under every principle | {_fmt(r.pair_order_consistency)} | |",
        f"| Brier | {_fmt(r.brier, pct=False)} | 0 = perfect, 0.25 = always 0.5 |",
        f"| ECE | {_fmt(r.ece, pct=False)} | mean gap between stated and observed probability |",
        f"| ties (p = 0.5) | {r.ties} (order ab: {r.ties_order_ab}) | |",
        "",
    ]
    if r.position_bias_first is not None:
        first = 100 * r.position_bias_first
        lines += [
            f"Of the position-biased judgements, {first:.0f}% picked the first-shown response in both orders and "
            f"{100 - first:.0f}% the second-shown one.",
            "",
        ]
    lines += [
        "## Per principle",
        "",
        "| principle | n | accuracy | order ab only | position bias | consistency | Brier | ECE |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    for p in r.per_principle:
        lines.append(
            f"| {p.principle} | {p.n} | {_fmt(p.accuracy)} | {_fmt(p.single_order_accuracy)} | "
            f"{_fmt(p.position_bias)} | {_fmt(p.order_consistency)} | {_fmt(p.brier, False)} | {_fmt(p.ece, False)} |"
        )
    lines += [
        "",
        "## Calibration of p(human-chosen)",
        "",
        "Each pair counts twice: p(chosen) with outcome 1 and p(rejected) with outcome 0.",
        "",
        "| predicted | n | mean predicted | observed |",
        "|---|---:|---:|---:|",
    ]
    for b in r.reliability:
        if b.count:
            lines.append(
                f"| {b.low:.1f}–{b.high:.1f} | {b.count} | {b.mean_predicted:.3f} | {b.observed:.3f} |"
            )
    if r.rules:
        lines += [
            "",
            "## Rules vs critic",
            "",
            "Judgements under a principle with a rule, where the rule passes one response and fails the other.",
            "",
            "| principle | judged | rule decisive | critic agrees with rule | rule agrees with human | both pass | both fail |",
            "|---|---:|---:|---|---|---:|---:|",
        ]
        for ra in r.rules:
            lines.append(
                f"| {ra.principle} | {ra.n_judged} | {ra.n_decisive} | {_fmt(ra.critic_agrees)} | "
                f"{_fmt(ra.human_agrees)} | {ra.n_both_pass} | {ra.n_both_fail} |"
            )
    if r.unlabeled_reasons:
        lines += ["", "## Unlabeled pairs", ""]
        lines += [f"- {reason}: {n}" for reason, n in r.unlabeled_reasons.items()]
    wrong = [p.pair_id for p in r.pairs if p.score is not None and p.score < 1.0]
    if wrong:
        shown = ", ".join(wrong[:30]) + (f" … ({len(wrong) - 30} more)" if len(wrong) > 30 else "")
        lines += ["", f"Pairs not (fully) agreeing with the human label: {shown}"]
    return "\n".join(lines) + "\n"


def _prompt_column(pairs: Sequence[PreferencePair]) -> list[Any]:
    """TRL's layout: plain strings unless some conversation has several turns or a system turn (then all lists)."""
    conversational = any(len(p.conversation) > 1 or p.conversation[0].role != "user" for p in pairs)
    if conversational:
        return [[{"role": m.role, "content": m.content} for m in p.conversation] for p in pairs]
    return [p.conversation[0].content for p in pairs]


def pair_rows(report: AgreementReport, pairs: Sequence[PreferencePair]) -> list[dict[str, Any]]:
    """Per-pair details as dataset rows: TRL columns, what the critic said, and whether it agreed."""
    by_id = {r.pair_id: r for r in report.pairs}
    prompts = _prompt_column(pairs)
    rows = []
    for pair, prompt in zip(pairs, prompts, strict=True):
        r = by_id[pair.id]
        rows.append(
            {
                "pair_id": pair.id,
                "prompt": prompt,
                "chosen": pair.chosen,
                "rejected": pair.rejected,
                "shown_first": "chosen" if r.chosen_first else "rejected",
                "p_chosen": r.p_chosen,
                "p_chosen_order_ab": r.p_chosen_ab,
                "agreement": r.score,
                "agreement_order_ab": r.score_ab,
                "order_consistent": r.order_consistent,
                "decisive_principle": r.decisive_principle,
                "principles": list(r.principles),
                "judgements": [asdict(j) for j in r.judgements],
                "unlabeled_reason": r.unlabeled_reason,
                "critic_model": report.critic_model,
                "critic_revision": report.critic_revision,
                "constitution_hash": report.constitution_hash,
                "template_hash": report.template_hash,
                "seed": report.config.seed,
            }
        )
    return rows


def write_report(
    report: AgreementReport, pairs: Sequence[PreferencePair], out_dir: str | Path
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``pairs/data.parquet`` (per-pair details) under ``out_dir``."""
    from rlaif.atomic import atomic_write_text
    from rlaif.feedback.dataset_io import write_rows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / REPORT_JSON, "markdown": out / REPORT_MD}
    atomic_write_text(paths["json"], report.to_json())
    atomic_write_text(paths["markdown"], report.to_markdown())
    paths["pairs"] = write_rows(out / PAIRS_DIR, pair_rows(report, pairs), json_columns=("judgements",))
    return paths


# ---------------------------------------------------------------------------------------------------------------
# the whole stage: files in, report out


@dataclass(frozen=True)
class AgreementRun:
    """Everything ``rlaif eval agreement`` needs: input files, critic, output folder and the evaluation config.

    Attributes:
        human: the human preference file (TRL plain/conversational or transcript format; jsonl/json/csv/parquet).
        constitution: the constitution YAML whose principles the critic judges by.
        critic: the critic model (alias such as ``smollm2``, hub id or local folder).
        out: output folder for report.json, report.md and pairs/.
        backend: backend name (``transformers``, ``vllm``, ``openai``, ``mock``).
        backend_options: extra keyword options for the backend's constructor.
        templates: a template folder searched before the shipped prompts/.
        cache: the call cache (SQLite); default ``<out>/../.rlaif-cache.sqlite``; None with ``use_cache=False``.
        use_cache: cache critic calls (a rerun, or a run with one principle edited, recomputes only what changed).
        limit: evaluate only the first ``limit`` pairs of the file.
        skip_bad_rows: skip malformed rows (logged) instead of stopping.
        agreement: how the critic is evaluated.
    """

    human: Path
    constitution: Path
    critic: str = "smollm2"
    out: Path = Path("out/agreement")
    backend: str = "transformers"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    templates: Path | None = None
    cache: Path | None = None
    use_cache: bool = True
    limit: int | None = None
    skip_bad_rows: bool = False
    agreement: AgreementConfig = field(default_factory=AgreementConfig)


def run_agreement(run: AgreementRun, *, progress: bool = True) -> tuple[AgreementReport, dict[str, Path]]:
    """Load the human file and the constitution, judge with the critic, write the report; returns it and its paths.

    Recipe: load inputs (every user error names its file and line) → build the critic behind the call cache →
    :func:`evaluate_agreement` → :func:`write_report`.
    """
    from rlaif.constitution import load_constitution
    from rlaif.feedback.call_cache import CachedBackend, default_cache_path, open_backend
    from rlaif.feedback.inputs import load_preferences

    if run.limit is not None and run.limit < 1:
        raise RlaifError(f"limit must be at least 1, got {run.limit}", field="limit")
    pairs = load_preferences(run.human, skip_bad_rows=run.skip_bad_rows)
    if run.limit is not None:
        pairs = pairs[: run.limit]
    constitution = load_constitution(run.constitution)
    templates = TemplateSet.load(run.templates)
    # fail on a bad principle subset or k before the (slow) model load
    principles_for_pairs(pairs[:1], constitution, run.agreement)

    cache_file = (run.cache or default_cache_path(run.out)) if run.use_cache else None
    critic = open_backend(run.backend, run.critic, options=dict(run.backend_options), cache=cache_file)
    try:
        report = evaluate_agreement(
            critic, templates, pairs, constitution, run.agreement, progress=progress, source=str(run.human)
        )
    finally:
        critic.close()
        if isinstance(critic, CachedBackend):
            critic.cache.close()
    paths = write_report(report, pairs, run.out)
    log.info("agreement report written to %s (%s, %s, %s)", run.out, *(p.name for p in paths.values()))
    return report, paths


__all__ = [
    "AgreementConfig",
    "AgreementReport",
    "AgreementRun",
    "JudgementResult",
    "PairResult",
    "PrincipleAgreement",
    "ReliabilityBin",
    "RuleAgreement",
    "chosen_first_assignment",
    "evaluate_agreement",
    "pair_rows",
    "principles_for_pairs",
    "reliability_table",
    "run_agreement",
    "summarize",
    "symmetric_calibration_set",
    "write_report",
]
