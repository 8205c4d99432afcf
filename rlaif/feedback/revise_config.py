"""What the critique → revision stage is asked to do and what it records: :class:`ReviseConfig`, the per-prompt
:class:`RevisionRecord` (its rounds and the critic's check), the run's :class:`ReviseStats` and :class:`ReviseRun`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rlaif.backends.base import ChatMessage
from rlaif.constitution import Principle
from rlaif.errors import RlaifError
from rlaif.feedback.judge import JudgeConfig, Unlabeled
from rlaif.feedback.responses import ResponseSet
from rlaif.feedback.soft_labels import SoftLabel

AcceptMode = Literal["both_orders", "mean", "always"]
ACCEPT_MODES: tuple[str, ...] = ("both_orders", "mean", "always")


@dataclass(frozen=True)
class ReviseConfig:
    """How critiques and revisions are made and checked (every field maps onto a ``rlaif revise`` option).

    Attributes:
        rounds: critique → revision rounds per prompt (the paper uses up to 4; 1 is the common open recipe).
        accept: when a revision becomes "chosen" over the original: ``both_orders``, ``mean`` or ``always``.
        reviser: who writes the revision: ``policy`` (the paper: the model revises its own response) or ``critic``.
        few_shot: prepend the constitution's ``examples`` to critique and revision requests as chat turns.
        sft_filter: ``all`` revised prompts go to the SFT data (the paper), or only ``accepted`` ones.
        critique_template / revise_template / judge_template: template names (see ``prompts/README.md``).
        critique_temperature / revision_temperature / response_temperature: 0 is greedy; sampled calls are seeded
            per (seed, prompt id, round), so they are reproducible and cached.
        critique_max_new_tokens / revision_max_new_tokens / response_max_new_tokens: length caps.
        drop_truncated: stop (and discard) a revision cut at ``revision_max_new_tokens``.
        response_index: which of each prompt's responses to revise when reading a responses dataset.
        min_choice_mass: the critic's judgement of revision vs original is Unlabeled below this choice mass.
        principle_tags: sample only principles carrying one of these tags (None: all).
        judge_mode: how the critic judges revision vs original (``auto``, ``choice-logprobs``, ``top-logprobs``,
            ``verdict``; see :mod:`rlaif.feedback.judge_modes`).
        seed: drives principle sampling and sampled generation.
        cache: SQLite call cache path; when set, both backends are wrapped in a CachedBackend.
    """

    rounds: int = 1
    accept: AcceptMode = "both_orders"
    reviser: Literal["policy", "critic"] = "policy"
    few_shot: bool = True
    sft_filter: Literal["all", "accepted"] = "all"
    critique_template: str = "critique"
    revise_template: str = "revise"
    judge_template: str = "compare"
    critique_temperature: float = 0.0
    critique_max_new_tokens: int = 256
    revision_temperature: float = 0.0
    revision_max_new_tokens: int = 384
    response_temperature: float = 0.7
    response_max_new_tokens: int = 256
    drop_truncated: bool = True
    response_index: int = 0
    min_choice_mass: float = 0.0
    principle_tags: tuple[str, ...] | None = None
    seed: int = 0
    cache: str | None = None
    judge_mode: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise RlaifError(f"rounds must be an integer >= 1, got {self.rounds!r}", field="rounds")
        if self.accept not in ACCEPT_MODES:
            raise RlaifError(
                f"unknown acceptance mode {self.accept!r}",
                field="accept",
                hint=f"choose one of: {', '.join(ACCEPT_MODES)}",
            )
        if self.reviser not in ("policy", "critic"):
            raise RlaifError(f"reviser must be 'policy' or 'critic', got {self.reviser!r}", field="reviser")
        if self.sft_filter not in ("all", "accepted"):
            raise RlaifError(
                f"sft_filter must be 'all' or 'accepted', got {self.sft_filter!r}", field="sft_filter"
            )
        for name in ("critique_max_new_tokens", "revision_max_new_tokens", "response_max_new_tokens"):
            if getattr(self, name) < 1:
                raise RlaifError(f"{name} must be >= 1", field=name)
        for name in ("critique_temperature", "revision_temperature", "response_temperature"):
            if getattr(self, name) < 0:
                raise RlaifError(f"{name} must be >= 0", field=name)
        if self.response_index < 0:
            raise RlaifError("response_index must be >= 0", field="response_index")
        if not 0.0 <= self.min_choice_mass <= 1.0:
            raise RlaifError("min_choice_mass must be in [0, 1]", field="min_choice_mass")

    def judge_config(self) -> JudgeConfig:
        """The labeler configuration used to compare each revision with its original."""
        return JudgeConfig(
            template=self.judge_template,
            both_orders=True,
            min_choice_mass=self.min_choice_mass,
            seed=self.seed,
            mode=self.judge_mode,
        )

    def params(self) -> dict[str, Any]:
        """The configuration as recorded on every row (the cache path is where, not what: left out)."""
        out = asdict(self)
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
