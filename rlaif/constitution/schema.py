"""The constitution file format: pydantic models with ``extra="forbid"``.

A constitution is data: a name, a version, a description and a list of principles. A principle says what the
critic compares by, how to ask for a critique and a revision, how much it weighs when principles are sampled, and
optionally how to negate it and a declarative rule a deterministic checker can verify. Nothing here runs code.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Longest pattern accepted in a rule; long patterns are almost always a mistake and are slow to check.
MAX_PATTERN_LENGTH = 500

IdStr = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


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
    must_match: tuple[str, ...] = Field(default=(), description="Each pattern must be found in the response.")
    must_not_match: tuple[str, ...] = Field(default=(), description="No pattern may be found in the response.")
    case_sensitive: bool = Field(default=False, description="Match patterns case-sensitively.")

    @field_validator("must_match", "must_not_match", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.min_words is not None and self.max_words is not None and self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) is greater than max_words ({self.max_words})")
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) is greater than max_chars ({self.max_chars})")
        if not any(v not in (None, ()) for k, v in self.__dict__.items() if k != "case_sensitive"):
            raise ValueError("a rule needs at least one condition (e.g. max_words or must_not_match)")
        return self

    def compiled(self) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
        """The must / must-not patterns, compiled with this rule's case sensitivity."""
        flags = 0 if self.case_sensitive else re.IGNORECASE
        return ([re.compile(p, flags) for p in self.must_match], [re.compile(p, flags) for p in self.must_not_match])


class Principle(_Frozen):
    """One principle of a constitution."""

    id: IdStr = Field(description="Stable identifier, lowercase: letters, digits, '_', '-', '.'.")
    version: int = Field(default=1, ge=1, description="Bump when the meaning changes; recorded on every label.")
    compare: str = Field(
        min_length=1,
        description="What the critic compares by, phrased as a question over two responses "
        "(e.g. 'Which response is more honest about what it does not know?').",
    )
    critique: str = Field(min_length=1, description="Request asking the critic to critique one response.")
    revision: str = Field(min_length=1, description="Request asking the model to rewrite the response.")
    weight: float = Field(default=1.0, gt=0, description="Relative probability of being sampled.")
    tags: tuple[str, ...] = Field(default=(), description="Free labels for filtering (e.g. 'safety', 'style').")
    negation: str | None = Field(
        default=None,
        description="The comparison question with the opposite meaning, used for negation augmentation.",
    )
    rule: Rule | None = Field(default=None, description="A declarative rule a deterministic checker verifies.")

    @field_validator("compare", "critique", "revision", "negation")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v


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
    version: str = Field(default="1", description="Version of the whole constitution.")
    description: str = Field(default="", description="What this constitution is for.")
    principles: tuple[Principle, ...] = Field(min_length=1, description="The principles, at least one.")
    examples: tuple[FewShotExample, ...] = Field(default=(), description="Optional few-shot chats.")

    @model_validator(mode="after")
    def _unique_ids(self) -> Constitution:
        seen: set[str] = set()
        for p in self.principles:
            if p.id in seen:
                raise ValueError(f"duplicate principle id '{p.id}'")
            seen.add(p.id)
        return self

    def get(self, principle_id: str) -> Principle:
        """The principle with this id (KeyError if none)."""
        for p in self.principles:
            if p.id == principle_id:
                return p
        raise KeyError(principle_id)


FewShotExample.model_rebuild()
