"""The workbench commands' configs, in a module of their own so that a command's options (built from them) load
without numpy or the workbench's analysis code: :class:`DiffConstitutionConfig` (``rlaif diff-constitution``) and
:class:`ExtractConfig` (``rlaif extract-constitution``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from rlaif.fields import Probability, Seed, TokenCap
from rlaif.strict import StrictConfig

#: stability under which a principle is fragile (its labels follow its wording)
DEFAULT_FRAGILE_BELOW = 0.8


class DiffConstitutionConfig(StrictConfig):
    """What ``rlaif diff-constitution`` reports besides the labels (whose ``k``, ``seed`` and ``progress`` are a
    :class:`~rlaif.feedback.labeler.LabelConfig`'s): the diff report's examples and the wording-sensitivity check."""

    examples: int = Field(default=10, ge=0, description="flipped pairs shown in the diff report")
    paraphrases: int = Field(
        default=0,
        ge=0,
        description="have the critic reword each principle this many ways and report stability",
    )
    principles: tuple[str, ...] = Field(
        default=(), description="check the wording sensitivity of these principle ids only (default: all)"
    )
    max_pairs: int = Field(default=50, ge=1, description="wording sensitivity: judge at most this many pairs")
    fragile_below: float = Field(
        default=DEFAULT_FRAGILE_BELOW,
        gt=0.0,
        le=1.0,
        description="stability under which a principle is fragile (its labels follow its wording)",
    )


class ExtractConfig(StrictConfig):
    """How principles are extracted (each field is an ``rlaif extract-constitution`` option)."""

    candidates_per_pair: int = Field(default=3, ge=1, description="principles the critic proposes per pair")
    held_out: float = Field(
        default=0.4,
        gt=0.0,
        lt=1.0,
        description="share of pairs that test the candidates (not used to propose)",
    )
    test: float = Field(
        default=0.2,
        ge=0.0,
        lt=1.0,
        description="share of pairs kept for the final test (held_out + test < 1)",
    )
    max_candidates: int = Field(default=20, ge=1, description="candidates tested after deduplication")
    max_principles: int = Field(default=8, ge=1, description="principles kept in the extracted constitution")
    min_agreement: Probability = Field(
        default=0.6, description="a candidate is kept when it agrees with this share of pairs"
    )
    similarity: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="content-word cosine similarity at which two candidates are one",
    )
    threshold: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="a judgement takes a side when |2p - 1| is above this"
    )
    seed: Seed = Field(default=0, description="seed of the split and the proposals")
    max_new_tokens: TokenCap = Field(default=160, description="length cap of each proposal")
    name: str = Field(default="extracted", description="name of the extracted constitution")
    above_chance: bool = Field(
        default=False, description="also require the agreement's interval to lie above one half"
    )

    @model_validator(mode="after")
    def _shares(self) -> ExtractConfig:
        if self.held_out + self.test >= 1.0:
            raise ValueError("held_out + test must be below 1")
        return self


__all__ = ["DEFAULT_FRAGILE_BELOW", "DiffConstitutionConfig", "ExtractConfig"]
