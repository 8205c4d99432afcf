"""The agreement report's types: configuration, per-pair results and the report (see :mod:`rlaif.evals.agreement`).

Split from the evaluation by concern: the metrics live in :mod:`rlaif.evals.agreement_metrics`, the rendering in
:mod:`rlaif.evals.agreement_render` (``markdown(report)``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from rlaif.feedback.judge import JudgeConfig
from rlaif.fields import (
    BootstrapResamples,
    ChainOfThought,
    Confidence,
    CotClamp,
    JudgeModeName,
    MinChoiceMass,
    Seed,
    TokenCap,
)
from rlaif.stats import Estimate
from rlaif.strict import StrictConfig

TiePolicy = Literal["half", "wrong"]
#: |p − 0.5| at or below this is a tie: averaging 0.7 and 0.3 gives 0.49999999999999994, not 0.5
TIE_TOLERANCE = 1e-9

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PAIRS_DIR = "pairs"


class AgreementConfig(StrictConfig):
    """How the critic is evaluated against human labels (each field is a ``rlaif eval agreement`` option)."""

    k: int = Field(
        default=4,
        description="principles sampled per pair (weighted by the principles' weights, seeded per pair)",
    )
    all_principles: bool = Field(
        default=False, description="judge every pair under every (selected) principle instead of sampling k"
    )
    principles: tuple[str, ...] = Field(
        default=(), description="restrict to these principle ids (sample k among them, or all of them)"
    )
    chain_of_thought: ChainOfThought = False
    template: str = Field(default="compare", description="the scored comparison template")
    cot_template: str = Field(default="compare_cot", description="the chain-of-thought comparison template")
    cot_clamp: CotClamp = (0.4, 0.6)
    cot_max_new_tokens: TokenCap = Field(default=256, description="length cap of the critic's reasoning")
    min_choice_mass: MinChoiceMass = 0.0
    ties: TiePolicy = Field(default="half", description="an exact tie counts as half right or as wrong")
    seed: Seed = Field(
        default=0, description="seeds which response is shown first, the principle sample and the bootstrap"
    )
    bootstrap_resamples: BootstrapResamples = 2000
    confidence: Confidence = 0.95
    calibration_bins: int = Field(
        default=10, ge=1, description="equal-width bins of the reliability table and of ECE"
    )
    judge_mode: JudgeModeName = Field(
        default="auto",
        description="how the critic judges (rlaif.feedback.judge_modes): check it in the mode it will label in",
    )

    @model_validator(mode="after")
    def _k_or_all(self) -> AgreementConfig:
        if not self.all_principles and self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k} (or use all principles)")
        return self

    def judge_config(self) -> JudgeConfig:
        """The labeler's configuration (always both orders: single-order numbers are read from order ab)."""
        return JudgeConfig.from_shared(self, both_orders=True, mode=self.judge_mode)


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
        d["config"] = self.config.model_dump()
        d["n_unlabeled"] = self.n_unlabeled
        d["coverage"] = self.coverage
        if not include_pairs:
            d.pop("pairs")
        return d

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _score(p_chosen: float, ties: TiePolicy) -> float:
    """1 when p(chosen) > 0.5, 0 when below, a tie 0.5 or 0 by policy."""
    if abs(p_chosen - 0.5) <= TIE_TOLERANCE:
        return 0.5 if ties == "half" else 0.0
    return 1.0 if p_chosen > 0.5 else 0.0
