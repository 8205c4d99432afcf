"""How good is the AI labeler? Agreement of a critic's pairwise labels with human preference labels.

Run it from the command line (``rlaif eval agreement --help``) or from Python::

    from rlaif.evals import AgreementConfig, AgreementJob, run_agreement
    report, paths = run_agreement(AgreementJob(human="data/human_labels/trl_format.jsonl",
                                               constitution="principles/hhh.yaml", critic={"model": "smollm2"},
                                               out="out/agreement", agreement=AgreementConfig(k=4)))
    from rlaif.evals.agreement_render import markdown
    print(markdown(report))

What is measured, for each human pair (``chosen`` ≻ ``rejected``):

* **Which response is shown first is randomised**, seeded and balanced: exactly half of the pairs (rounded up)
  show the human-chosen response as A. Without this, a critic that always answers "A" would look perfect on a file
  that always lists the chosen response first — position bias masquerading as accuracy.
* ``k`` principles are sampled per pair (or all of them, or a named subset) and the critic judges every
  (pair, principle) in both orders, in ONE :func:`~rlaif.feedback.judge.judge_pairs_detailed` call.
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

Rates get 95% Wilson intervals with the pair as the unit: judgement-level rates (position bias, consistency) a
clustered Wilson interval, since the k judgements of one pair are not independent. Brier and ECE get seeded
percentile-bootstrap intervals over pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from rlaif.backends.base import Backend
from rlaif.backends.spec import ModelSpec
from rlaif.constitution import check_rule, principles_by_id, sample_principles
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError
from rlaif.evals.agreement_metrics import (
    _ece_rows,
    reliability_table,
    summarize,
    symmetric_calibration_set,
)
from rlaif.evals.agreement_render import pair_rows, write_report
from rlaif.evals.agreement_report import (
    PAIRS_DIR,
    REPORT_JSON,
    REPORT_MD,
    TIE_TOLERANCE,
    AgreementConfig,
    AgreementReport,
    JudgementResult,
    PairResult,
    PrincipleAgreement,
    ReliabilityBin,
    RuleAgreement,
    RuleVerdict,
    TiePolicy,
    _score,
)
from rlaif.feedback.inputs import PreferencePair
from rlaif.feedback.judge import Unlabeled, judge_pairs_detailed
from rlaif.feedback.soft_labels import PrincipleJudgement, SoftLabel
from rlaif.fields import ConstitutionFile, Limit, SharedCacheFile, SkipBadRows, TemplatesDir, UseCache
from rlaif.prompting import TemplateSet
from rlaif.seeds import crc32_seed
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------------
# evaluation


def chosen_first_assignment(pair_ids: Sequence[str], seed: int) -> list[bool]:
    """Which pairs show the human-chosen response first: a seeded, balanced assignment.

    Pairs are ranked by a seeded hash of their id and every other one (in rank order) shows the chosen response
    first, so exactly ``len(pair_ids) // 2`` pairs do (one more for an odd count) and a pair's position depends on its
    id, not on where it sits in the file.
    """
    ranked = sorted(range(len(pair_ids)), key=lambda i: (crc32_seed(seed, "order", pair_ids[i]), i))
    out = [False] * len(pair_ids)
    for rank, i in enumerate(ranked):
        out[i] = rank % 2 == 0
    return out


def _select_pool(constitution: Constitution, config: AgreementConfig) -> list[Principle]:
    if not config.principles:
        return list(constitution.principles)
    wanted = {p.id for p in principles_by_id(constitution, config.principles)}
    return [p for p in constitution.principles if p.id in wanted]


def principles_for_pairs(
    pairs: Sequence[PreferencePair], constitution: Constitution, config: AgreementConfig
) -> list[tuple[Principle, ...]]:
    """The principles each pair is judged under: all selected ones, or ``k`` sampled per pair (seeded by id)."""
    pool = _select_pool(constitution, config)
    if config.all_principles:
        return [tuple(pool) for _ in pairs]
    return [
        tuple(sample_principles(pool, config.k, seed=crc32_seed(config.seed, "principles", pair.id)))
        for pair in pairs
    ]


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

    def to_chosen(p: float) -> float:  # p(A ≻ B) -> p(chosen ≻ rejected)
        return p if chosen_first else 1.0 - p

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
        pair.comparison(first, ps) for pair, first, ps in zip(pairs, chosen_first, principles, strict=True)
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
# the whole stage: files in, report out


class AgreementJob(StrictConfig):
    """Everything ``rlaif eval agreement`` needs: input files, critic, output folder and the evaluation config."""

    human: Path = Field(
        description="the human preference file (TRL plain/conversational or transcript rows; jsonl/json/csv/parquet)"
    )
    constitution: ConstitutionFile
    critic: ModelSpec = Field(default=ModelSpec(model="smollm2"), description="the critic under evaluation")
    out: Path = Field(
        default=Path("out/agreement"), description="output folder: report.json, report.md, pairs/"
    )
    templates: TemplatesDir = None
    cache: SharedCacheFile = None
    use_cache: UseCache = True
    limit: Limit = None
    skip_bad_rows: SkipBadRows = False
    agreement: AgreementConfig = Field(
        default_factory=AgreementConfig, description="how the critic is evaluated"
    )


def run_agreement(run: AgreementJob, *, progress: bool = True) -> tuple[AgreementReport, dict[str, Path]]:
    """Load the human file and the constitution, judge with the critic, write the report; returns it and its paths.

    Recipe: load inputs (every user error names its file and line) → build the critic behind the call cache →
    :func:`evaluate_agreement` → :func:`write_report`.
    """
    from rlaif.constitution import load_constitution
    from rlaif.feedback.call_cache import CachedBackend, default_cache_path, open_backend
    from rlaif.feedback.inputs import load_preferences

    pairs = load_preferences(run.human, skip_bad_rows=run.skip_bad_rows)
    if run.limit is not None:
        pairs = pairs[: run.limit]
    constitution = load_constitution(run.constitution)
    templates = TemplateSet.load(run.templates)
    # fail on a bad principle subset or k before the (slow) model load
    principles_for_pairs(pairs[:1], constitution, run.agreement)

    cache_file = (run.cache or default_cache_path(run.out)) if run.use_cache else None
    critic = open_backend(
        run.critic.engine, run.critic.model, options=run.critic.backend_options("critic"), cache=cache_file
    )
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
    "PAIRS_DIR",
    "REPORT_JSON",
    "REPORT_MD",
    "TIE_TOLERANCE",
    "AgreementConfig",
    "AgreementJob",
    "AgreementReport",
    "JudgementResult",
    "PairResult",
    "PrincipleAgreement",
    "ReliabilityBin",
    "RuleAgreement",
    "RuleVerdict",
    "TiePolicy",
    "_ece_rows",
    "_score",
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
