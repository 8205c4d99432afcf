"""How a responses dataset is labelled: :class:`LabelConfig`, the one config of the label stage.

The same model is ``rlaif label``'s options, a pipeline's ``label:`` section and what Python passes to
:func:`~rlaif.feedback.labeler.label_dataset` (or, with paths and a critic, to :func:`rlaif.jobs.label.run_label`),
so adding a label option means adding one field here (and, when the command line should set it, one flag). The
critic is asked through a :class:`~rlaif.feedback.judge.JudgeConfig` that :meth:`LabelConfig.judge_config` derives
from the flat judge fields; contrastive (RLCD) labels through the :class:`~rlaif.feedback.contrastive.ContrastConfig`
of :meth:`LabelConfig.contrast_config`; the critic gate's settings are :class:`GateSettings`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from rlaif.feedback.contrastive import ContrastConfig, DropBelow, PChosen
from rlaif.feedback.judge import JudgeConfig, JudgeMode, TopLogprobs, VerdictSamples, VerdictTemperature
from rlaif.feedback.pairs import PairingMode, RankBy
from rlaif.feedback.remedies import parse_markers
from rlaif.fields import (
    BatchCalibration,
    BatchPairs,
    ChainOfThought,
    CotClamp,
    MinChoiceMass,
    PrinciplesK,
    PrincipleTags,
    Probability,
    Progress,
    Seed,
    TokenCap,
)
from rlaif.strict import StrictConfig

LabelSource = Literal["critic", "rules", "hybrid", "contrastive", "contrastive+critic"]
#: the sources :func:`~rlaif.feedback.labeler.label_dataset` labels (the contrastive ones label by construction)
LABEL_SOURCES: tuple[str, ...] = ("critic", "rules", "hybrid")
DatasetFormat = Literal["conversational", "plain", "auto"]


class GateSettings(StrictConfig):
    """The critic gate: before labelling, the critic judges a gold set of clear-cut pairs (see
    :mod:`rlaif.evals.gate`); below the accuracy bar the run stops."""

    enabled: bool = Field(
        default=True, description="judge the gold set before labeling; false turns the gate off"
    )
    min_accuracy: Probability = Field(
        default=0.6, description="lowest acceptable lower 95% bound of gold-set accuracy"
    )
    gold: str | None = Field(
        default=None, description="gold pairs file (default: the shipped data/gold/pairs.jsonl)"
    )
    k: PrinciplesK = Field(default=2, description="principles sampled per gold pair")


class LabelConfig(StrictConfig):
    """How a responses dataset is labelled (``rlaif label``'s options and a pipeline's ``label:`` section)."""

    k: PrinciplesK = Field(
        default=4,
        description="principles sampled per pair (weighted, without replacement); labels average them",
    )
    seed: Seed = Field(
        default=0,
        description="run seed: each pair's principles are drawn from (seed, pair id), so one pair's draw never "
        "depends on the others; a pipeline sets it to its seed + the round",
    )
    tags: PrincipleTags = None
    pairing: PairingMode = Field(
        default="first_two",
        description="which responses of a prompt are compared: first_two, all_pairs or best_worst",
    )
    best_worst_by: RankBy = Field(
        default="critic",
        description="the ranking best_worst uses: the critic's expected pointwise score, or rule passes",
    )
    label_source: LabelSource = Field(
        default="critic",
        description="critic (the critic's soft label); rules (only principles with a rule: 1, 0 or 0.5 from which "
        "response passes); hybrid (a principle's rule decides when exactly one response passes it, the critic "
        "otherwise); contrastive (RLCD pairs: a pipeline's generate stage answers under a follow / oppose system "
        "prompt, the label comes from that); contrastive+critic (those pairs rescored by the critic)",
    )
    min_confidence: Probability = Field(
        default=0.0, description="rows whose label confidence |2p - 1| is below this are left out"
    )
    batch_pairs: BatchPairs = 32
    # -- how the critic is asked (judge_config) ------------------------------------------------------------------
    chain_of_thought: ChainOfThought = False
    cot_clamp: CotClamp = (0.4, 0.6)
    cot_max_new_tokens: TokenCap = Field(default=256, description="length cap of the critic's reasoning")
    both_orders: bool = Field(
        default=True,
        description="ask in both orders and average (position debiasing); false only to measure position bias",
    )
    min_choice_mass: MinChoiceMass = 0.0
    judge_mode: JudgeMode = Field(
        default="auto", description="how the critic gives its judgement; auto = the best its backend supports"
    )
    top_logprobs: TopLogprobs = 20
    verdict_samples: VerdictSamples = 5
    verdict_temperature: VerdictTemperature = 1.0
    markers: str | None = Field(
        default=None,
        description="swapped answer markers: 'random' (drawn with the seed) or two letters like 'K,Q'; "
        "null: (A)/(B)",
    )
    batch_calibration: BatchCalibration = False
    # -- contrastive pairs (contrast_config) ---------------------------------------------------------------------
    p_chosen: PChosen = Field(
        default=1.0, description="contrastive: the label by construction, p(positive > negative)"
    )
    contrast_select: Literal["paired", "logratio"] = Field(
        default="paired",
        description="contrastive, n > 1: paired = sample j vs sample j; logratio = per prompt the positive answer "
        "the system prompt pulled hardest toward vs the negative one it pulled hardest away from (policy "
        "log-ratio)",
    )
    drop_below: DropBelow = Field(
        default=0.3, description="contrastive+critic: drop pairs the critic reverses below this p"
    )
    # -- the critic gate, the written dataset ----------------------------------------------------------------------
    gate: GateSettings = Field(
        default_factory=GateSettings,
        description="the critic gate, judged on a gold set before labelling (a pipeline's label stage)",
    )
    dataset_format: DatasetFormat = Field(
        default="conversational",
        description="conversational (TRL messages), plain (strings; single-turn prompts only) or auto",
    )
    keep_ties: bool = Field(
        default=False,
        description="keep pairs labeled exactly p = 0.5 (dropped by default: they teach nothing)",
    )
    push_to_hub: str | None = Field(
        default=None, description="a hub dataset repo to push the result to (checked for reachability first)"
    )
    push_private: bool = Field(default=False, description="create the push_to_hub dataset repo private")
    progress: Progress = True

    @field_validator("markers")
    @classmethod
    def _known_markers(cls, value: str | None) -> str | None:
        parse_markers(value)  # a ValueError names the field
        return value

    @property
    def contrastive(self) -> bool:
        """Whether the labels are contrastive (RLCD) pairs, labelled by construction."""
        return self.label_source.startswith("contrastive")

    @property
    def needs_critic(self) -> bool:
        """Whether labelling opens the critic: it judges pairs, rescores contrastive ones, or ranks best_worst."""
        if self.contrastive:
            return self.label_source == "contrastive+critic"
        return self.label_source != "rules" or (
            self.pairing == "best_worst" and self.best_worst_by == "critic"
        )

    def judge_config(self) -> JudgeConfig:
        """How the critic is asked (``markers: random`` draws its letters with :attr:`seed`)."""
        return JudgeConfig.from_shared(
            self, mode=self.judge_mode, markers=parse_markers(self.markers, self.seed)
        )

    def contrast_config(self) -> ContrastConfig:
        """How contrastive pairs are made and labelled (``label_source`` contrastive or contrastive+critic)."""
        return ContrastConfig.from_shared(self, select=self.contrast_select)

    def params_record(self) -> dict[str, Any]:
        """The parameters recorded in every row's ``params`` column."""
        judge = self.judge_config()
        record: dict[str, Any] = {
            "k": self.k,
            "seed": self.seed,
            "tags": list(self.tags) if self.tags is not None else None,
            "pairing": self.pairing,
            "label_source": self.label_source,
            "min_confidence": self.min_confidence,
            "template": judge.cot_template if self.chain_of_thought else judge.template,
            "chain_of_thought": self.chain_of_thought,
            "both_orders": self.both_orders,
            "min_choice_mass": self.min_choice_mass,
            "judge_mode": self.judge_mode,
        }
        if self.judge_mode == "top-logprobs":
            record["top_logprobs"] = self.top_logprobs
        if self.judge_mode == "verdict":
            record["verdict_samples"] = self.verdict_samples
            record["verdict_temperature"] = self.verdict_temperature
        if self.pairing == "best_worst":
            record["best_worst_by"] = self.best_worst_by
        if self.chain_of_thought:
            record["cot_clamp"] = list(self.cot_clamp)
            record["cot_max_new_tokens"] = self.cot_max_new_tokens
        return record


__all__ = ["LABEL_SOURCES", "DatasetFormat", "GateSettings", "LabelConfig", "LabelSource"]
