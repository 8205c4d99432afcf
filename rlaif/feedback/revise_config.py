"""What the critique → revision stage is asked to do and what it records: :class:`ReviseConfig`, the per-prompt
:class:`RevisionRecord` (its rounds and the critic's check), the run's :class:`ReviseStats` and :class:`ReviseRun`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from rlaif.backends.base import ChatMessage
from rlaif.constitution import Principle
from rlaif.errors import RlaifError
from rlaif.feedback.judge import JudgeConfig, JudgeMode, Unlabeled
from rlaif.feedback.responses import ResponseSet
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.fields import MinChoiceMass, PrincipleTags, Seed, Temperature, TokenCap
from rlaif.strict import StrictConfig

AcceptMode = Literal["both_orders", "mean", "always"]
ACCEPT_MODES: tuple[str, ...] = ("both_orders", "mean", "always")


class ReviseConfig(StrictConfig):
    """How critiques and revisions are made and checked (every field maps onto a ``rlaif revise`` option, and a
    pipeline's ``revise:`` section onto these fields)."""

    rounds: int = Field(
        default=1,
        ge=1,
        description="critique -> revision rounds per prompt (the paper uses up to 4; 1 is the common open recipe)",
    )
    accept: AcceptMode = Field(
        default="both_orders",
        description="when a revision becomes 'chosen' over the original: the critic prefers it in both orders "
        "(both_orders), on average (mean), or always (the open-recipe assumption; still checked and reported)",
    )
    reviser: Literal["policy", "critic"] = Field(
        default="policy",
        description="who writes the revision: the policy (the paper: the model revises its own response) or the "
        "critic",
    )
    few_shot: bool = Field(
        default=True,
        description="prepend the constitution's examples to critique and revision requests as chat turns",
    )
    sft_filter: Literal["all", "accepted"] = Field(
        default="all",
        description="which revised prompts go to the SFT data: all (the paper) or only accepted ones",
    )
    critique_template: str = Field(default="critique", description="template of the critique request")
    revise_template: str = Field(default="revise", description="template of the revision request")
    judge_template: str = Field(
        default="compare", description="template of the critic's revision-vs-original judgement"
    )
    critique_temperature: Temperature = Field(
        default=0.0,
        description="critique sampling temperature; 0 is greedy, sampled calls are seeded per (seed, prompt id, "
        "round), so they are reproducible and cached",
    )
    critique_max_new_tokens: TokenCap = Field(default=256, description="length cap of each critique")
    revision_temperature: Temperature = Field(
        default=0.0, description="revision sampling temperature (0 is greedy; sampled calls are seeded)"
    )
    revision_max_new_tokens: TokenCap = Field(default=384, description="length cap of each revision")
    response_temperature: Temperature = Field(
        default=0.7,
        description="temperature of the initial responses (when prompts, not responses, are revised)",
    )
    response_max_new_tokens: TokenCap = Field(
        default=256, description="length cap of the initial responses (when prompts are revised)"
    )
    drop_truncated: bool = Field(
        default=True, description="stop (and discard) a revision cut at revision_max_new_tokens"
    )
    response_index: int = Field(
        default=0,
        ge=0,
        description="which of each prompt's responses to revise when reading a responses dataset",
    )
    min_choice_mass: MinChoiceMass = 0.0
    principle_tags: PrincipleTags = None
    seed: Seed = Field(default=0, description="drives principle sampling and sampled generation")
    cache: str | None = Field(
        default=None,
        description="SQLite call cache path; when set, both backends are wrapped in a CachedBackend",
    )
    judge_mode: JudgeMode = Field(
        default="auto",
        description="how the critic judges revision vs original; auto = the best its backend supports",
    )

    def judge_config(self) -> JudgeConfig:
        """The labeler configuration used to compare each revision with its original."""
        return JudgeConfig.from_shared(
            self, template=self.judge_template, both_orders=True, mode=self.judge_mode
        )

    def params(self) -> dict[str, Any]:
        """The configuration as recorded on every row (the cache path is where, not what: left out)."""
        out = self.model_dump()
        out.pop("cache")
        if (
            out["judge_mode"] == "auto"
        ):  # recorded when chosen, so rows written before modes existed still match
            out.pop("judge_mode")
        if out["principle_tags"] is not None:
            out["principle_tags"] = list(out["principle_tags"])
        return out


@dataclass(frozen=True)
class InitialResponse:
    """A response to revise: the conversation it answers, the text and where it came from."""

    id: str
    conversation: tuple[ChatMessage, ...]
    response: str
    source: Literal["generated", "given"] = "given"
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RevisionRound:
    """One critique → revision round.

    ``kept`` is False for the round that stopped the loop (``stop`` says why); its critique is still recorded.
    """

    round: int
    principle: str  # id@version
    critique: str
    revision: str
    kept: bool
    stop: str | None = None
    critique_truncated: bool = False


@dataclass
class RevisionRecord:
    """Everything that happened to one prompt."""

    item: InitialResponse
    rounds: list[RevisionRound] = field(default_factory=list)
    stop: str | None = None  # why the loop ended: "rounds", "empty_critique", "empty_revision", ...
    label: SoftLabel | Unlabeled | None = None
    choice_mass: tuple[tuple[float, ...], ...] = ()  # per principle used, per order (ab, ba)
    accepted: bool = False

    @property
    def final(self) -> str:
        """The last kept revision (the original when nothing was kept)."""
        kept = [r for r in self.rounds if r.kept]
        return kept[-1].revision if kept else self.item.response

    @property
    def revised(self) -> bool:
        """Whether at least one revision was kept."""
        return any(r.kept for r in self.rounds)

    def principles_used(self, by_ref: Mapping[str, Principle]) -> tuple[Principle, ...]:
        """The distinct principles of the kept rounds, in order of first use."""
        refs = list(dict.fromkeys(r.principle for r in self.rounds if r.kept))
        return tuple(by_ref[ref] for ref in refs)


@dataclass(frozen=True)
class ReviseStats:
    """Counts for the report and the dataset cards."""

    prompts: int
    revised: int
    accepted: int
    not_preferred: int  # revised, labelled, and failing ``not_preferred_test``
    not_preferred_test: str  # the acceptance mode's test ("mean" for mode "always")
    unlabeled: int
    preferred_both_orders: int
    preferred_mean: int
    stop_reasons: dict[str, int]
    unlabeled_reasons: dict[str, int]
    kept_rounds: dict[int, int]  # number of kept rounds -> prompts

    def summary(self) -> str:
        """A few readable lines."""
        lines = [
            f"prompts: {self.prompts}, revised: {self.revised}, accepted: {self.accepted}",
            f"revisions the critic did not prefer ({self.not_preferred_test} test): {self.not_preferred}",
            f"preferred in both orders: {self.preferred_both_orders}/{self.revised}, "
            f"preferred on average: {self.preferred_mean}/{self.revised}",
            f"unlabeled: {self.unlabeled}",
        ]
        if self.stop_reasons:
            lines.append(
                "loop stopped by: " + ", ".join(f"{k} {v}" for k, v in sorted(self.stop_reasons.items()))
            )
        for reason, n in sorted(self.unlabeled_reasons.items()):
            lines.append(f"  unlabeled ({n}): {reason}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ReviseRun:
    """The result of :func:`revise`: the rows of both datasets, the per-prompt records and the statistics."""

    sft_rows: list[dict[str, Any]]
    pair_rows: list[dict[str, Any]]
    records: list[RevisionRecord]
    stats: ReviseStats
    provenance: dict[str, Any]


def responses_to_revise(sets: Sequence[ResponseSet], index: int = 0) -> list[InitialResponse]:
    """Response ``index`` of each prompt of a responses dataset (:func:`rlaif.feedback.responses.read_responses`)."""
    items = []
    for s in sets:
        if index >= len(s.responses):
            raise RlaifError(
                f"prompt {s.prompt.id} has {len(s.responses)} response(s), so there is no response {index}",
                field="response_index",
                hint="lower --response-index",
            )
        meta = {
            "finish_reason": s.finish_reasons[index] if index < len(s.finish_reasons) else "stop",
            "response_index": index,
            "policy_model": s.policy_model,
        }
        items.append(InitialResponse(s.prompt.id, s.prompt.conversation, s.responses[index], "given", meta))
    return items


__all__ = [
    "ACCEPT_MODES",
    "AcceptMode",
    "InitialResponse",
    "ReviseConfig",
    "ReviseRun",
    "ReviseStats",
    "RevisionRecord",
    "RevisionRound",
    "responses_to_revise",
]
