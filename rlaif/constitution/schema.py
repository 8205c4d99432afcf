"""The constitution file format: pydantic models with ``extra="forbid"``.

A constitution is data: a name, a version, a description and a list of principles. A principle says what the
critic compares by, how to ask for a critique and a revision, how much it weighs when principles are sampled, and
optionally how to negate it and a declarative rule a deterministic checker can verify. Nothing here runs code.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from rlaif.constitution import hashing
from rlaif.constitution.patterns import pattern_problem

#: Longest pattern accepted in a rule; long patterns are almost always a mistake and are slow to check.
MAX_PATTERN_LENGTH = 500

_ID_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")


def _check_id(v: str) -> str:
    if not _ID_RE.fullmatch(v):
        raise ValueError(
            f"{v!r} is not a valid id: use 1-64 lowercase letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return v


def _check_tag(v: str) -> str:
    if not _TAG_RE.fullmatch(v):
        raise ValueError(
            f"{v!r} is not a valid tag: use 1-64 letters, digits, '_', '-', '.', ':' or '/' (no spaces)"
        )
    return v


#: A principle id: lowercase, stable, recorded on every label as ``id@version``.
IdStr = Annotated[str, AfterValidator(_check_id)]


def _check_pattern(pattern: str) -> str:
    # Checked case-insensitively (the default): the stricter reading when deciding about overlap.
    problem = pattern_problem(pattern, max_length=MAX_PATTERN_LENGTH)
    if problem:
        raise ValueError(problem)
    return pattern


#: A rule pattern: a Python regular expression, bounded in length, not prone to catastrophic backtracking.
PatternStr = Annotated[str, AfterValidator(_check_pattern)]

#: A tag: a short label without spaces.
TagStr = Annotated[str, AfterValidator(_check_tag)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Rule(_Frozen):
    """A declarative check on a response. All given conditions must hold. Data only: no code, no callables.

    Patterns are Python regular expressions, matched with ``re.search`` against the response text and bounded
    in length; patterns prone to catastrophic backtracking are rejected when the constitution is loaded.
    """

    min_words: int | None = Field(default=None, ge=0, description="At least this many words.")
    max_words: int | None = Field(default=None, ge=1, description="At most this many words.")
    min_chars: int | None = Field(default=None, ge=0, description="At least this many characters.")
    max_chars: int | None = Field(default=None, ge=1, description="At most this many characters.")
    max_sentences: int | None = Field(default=None, ge=1, description="At most this many sentences.")
    must_match: tuple[PatternStr, ...] = Field(
        default=(), description="Each pattern must be found in the response."
    )
    must_not_match: tuple[PatternStr, ...] = Field(
        default=(), description="No pattern may be found in the response."
    )
    case_sensitive: bool = Field(default=False, description="Match patterns case-sensitively.")

    @field_validator("must_match", "must_not_match", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.min_words is not None and self.max_words is not None and self.min_words > self.max_words:
            raise PydanticCustomError(
                "bounds",
                "min_words ({lo}) is greater than max_words ({hi})",
                {"lo": self.min_words, "hi": self.max_words, "at": ("max_words",)},
            )
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise PydanticCustomError(
                "bounds",
                "min_chars ({lo}) is greater than max_chars ({hi})",
                {"lo": self.min_chars, "hi": self.max_chars, "at": ("max_chars",)},
            )
        if not any(v not in (None, ()) for k, v in self.__dict__.items() if k != "case_sensitive"):
            raise ValueError("a rule needs at least one condition (e.g. max_words or must_not_match)")
        return self

    def compiled(self) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
        """The must / must-not patterns, compiled with this rule's case sensitivity."""
        flags = 0 if self.case_sensitive else re.IGNORECASE
        return (
            [re.compile(p, flags) for p in self.must_match],
            [re.compile(p, flags) for p in self.must_not_match],
        )


class Contrast(_Frozen):
    """A pair of instructions for contrastive (RLCD) sampling: the system prompt asks the policy to follow
    ``positive`` on one side and ``negative`` on the other."""

    positive: str = Field(min_length=1, description="Instruction to follow the principle (second person).")
    negative: str = Field(min_length=1, description="Instruction to do the opposite.")

    @field_validator("positive", "negative")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class Principle(_Frozen):
    """One principle of a constitution."""

    id: IdStr = Field(description="Stable identifier, lowercase: letters, digits, '_', '-', '.'.")
    version: int = Field(
        default=1, ge=1, description="Bump when the meaning changes; recorded on every label."
    )
    compare: str = Field(
        min_length=1,
        description="What the critic compares by, phrased as a question over two responses "
        "(e.g. 'Which response is more honest about what it does not know?').",
    )
    critique: str = Field(min_length=1, description="Request asking the critic to critique one response.")
    revision: str = Field(min_length=1, description="Request asking the model to rewrite the response.")
    weight: float = Field(
        default=1.0, gt=0, allow_inf_nan=False, description="Relative probability of being sampled."
    )
    tags: tuple[TagStr, ...] = Field(
        default=(), description="Free labels for filtering (e.g. 'safety', 'style')."
    )
    negation: str | None = Field(
        default=None,
        description="The comparison question with the opposite meaning, used for negation augmentation.",
    )
    rule: Rule | None = Field(
        default=None, description="A declarative rule a deterministic checker verifies."
    )
    contrast: Contrast | None = Field(
        default=None,
        description="Optional instruction pair for contrastive sampling (else built from compare/negation).",
    )

    @field_validator("compare", "critique", "revision", "negation")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v

    def content_hash(self) -> str:
        """sha256 (hex) of this principle's canonical JSON; see :func:`rlaif.constitution.principle_hash`."""
        return hashing.model_hash(self)

    def short_hash(self) -> str:
        """The first 12 hex digits of :meth:`content_hash`, for display."""
        return hashing.short(self.content_hash())

    @property
    def ref(self) -> str:
        """``id@version``, as recorded on labels."""
        return f"{self.id}@{self.version}"


class FewShotExample(_Frozen):
    """A worked example chat (e.g. a critique followed by a revision), kept for few-shot prompting."""

    messages: tuple[ChatTurn, ...] = Field(min_length=1)


class ChatTurn(_Frozen):
    """One message of a chat."""

    role: Literal["system", "user", "assistant"]
    content: str


class Constitution(_Frozen):
    """A named, versioned set of principles."""

    name: str = Field(min_length=1, description="Human-readable name.")
    version: str = Field(
        default="1",
        min_length=1,
        description="Version of the whole constitution (text; write '1.10' in quotes).",
    )
    description: str = Field(default="", description="What this constitution is for.")
    principles: tuple[Principle, ...] = Field(min_length=1, description="The principles, at least one.")
    examples: tuple[FewShotExample, ...] = Field(default=(), description="Optional few-shot chats.")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: object) -> object:
        # A bare `version: 2` reads as an int; accept it. A float cannot be accepted: YAML has already turned
        # "1.10" into 1.1, and guessing would silently change the version.
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if isinstance(v, float):
            raise ValueError(f"write the version in quotes (version: '{v}') so YAML keeps it as text")
        return v

    @field_validator("principles")
    @classmethod
    def _unique_ids(cls, principles: tuple[Principle, ...]) -> tuple[Principle, ...]:
        first: dict[str, int] = {}
        for i, p in enumerate(principles):
            if p.id in first:
                raise PydanticCustomError(
                    "duplicate_id",
                    "duplicate principle id '{id}' (principles[{first}] has it already)",
                    {"id": p.id, "first": first[p.id], "at": (i, "id")},
                )
            first[p.id] = i
        return principles

    @property
    def principle_ids(self) -> tuple[str, ...]:
        """The ids of the principles, in file order."""
        return tuple(p.id for p in self.principles)

    def content_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the whole constitution; see :func:`constitution_hash`."""
        return hashing.model_hash(self)

    def short_hash(self) -> str:
        """The first 12 hex digits of :meth:`content_hash`, for display."""
        return hashing.short(self.content_hash())

    def get(self, principle_id: str) -> Principle:
        """The principle with this id (KeyError if none)."""
        for p in self.principles:
            if p.id == principle_id:
                return p
        raise KeyError(principle_id)


FewShotExample.model_rebuild()
