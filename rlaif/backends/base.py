"""The one protocol every generation/scoring engine implements.

Labeling is scoring-heavy (prefill); rollouts are generation-heavy (decode). Both go through a :class:`Backend`:

* ``generate(requests)``: for each request (a plain text prompt or a chat), ``params.n`` completions.
* ``score(requests)``: for each request, the log-probability of each given continuation after the prompt
  (summed over the continuation's tokens, so multi-token continuations are exact).

Backends are plain classes chosen by name from the table in :mod:`rlaif.backends.registry`; each imports its heavy
dependency (torch, vllm, httpx) inside its constructor, never at module import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str


#: A prompt is either text given to the model as is, or a chat the backend formats with the model's chat template
#: (adding the assistant generation prompt).
Prompt = str | tuple[ChatMessage, ...]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False  # return the log-probability of each sampled token

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.n < 1:
            raise ValueError("n must be >= 1")


@dataclass(frozen=True)
class GenerationRequest:
    """Generate ``params.n`` completions for one prompt."""

    prompt: Prompt
    params: SamplingParams = field(default_factory=SamplingParams)


FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Completion:
    """One sampled completion.

    ``finish_reason`` is ``"stop"`` when the model produced EOS or a stop string (which is not included in
    ``text``), ``"length"`` when it hit ``max_new_tokens``.
    """

    text: str
    token_ids: tuple[int, ...]
    finish_reason: FinishReason
    logprobs: tuple[float, ...] | None = None  # one per token in token_ids, when requested


@dataclass(frozen=True)
class ScoreRequest:
    """Score each continuation after the same prompt (text, with any chat template already applied)."""

    prompt: str
    continuations: tuple[str, ...]


@dataclass(frozen=True)
class ScoreResult:
    """Summed log-probability of each continuation, and how many tokens each spanned."""

    logprobs: tuple[float, ...]
    num_tokens: tuple[int, ...]


@runtime_checkable
class Backend(Protocol):
    """A generation and scoring engine for one model."""

    #: the registry name, e.g. "transformers"
    name: str
    #: model identity recorded in provenance (hub id or path) and its revision/hash
    model_id: str
    model_revision: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """For each request, ``request.params.n`` completions, in request order."""
        ...

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """For each request, the log-probability of each continuation, in order."""
        ...

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The text the model sees for this chat (its chat template, with the assistant generation prompt)."""
        ...

    def close(self) -> None:
        """Release engines, processes, connections."""
        ...
