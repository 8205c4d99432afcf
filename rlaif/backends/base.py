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
from typing import Any, Literal, Protocol, runtime_checkable

from rlaif.errors import BackendError

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


@dataclass(frozen=True)
class TopLogprobsRequest:
    """Ask for the most likely next tokens after a prompt (the ``top-logprobs`` judge mode).

    ``messages`` and ``prefill`` are what a chat API gets: the conversation, and the start of the assistant's answer
    (sent as an assistant prefill where the server supports one). ``text`` is the same prompt as one formatted
    string (chat template applied, prefill appended) for engines that format it themselves. ``top_k`` tokens are
    returned for each of the first ``max_new_tokens`` generated positions.
    """

    messages: tuple[ChatMessage, ...]
    prefill: str = ""
    text: str = ""
    top_k: int = 20
    max_new_tokens: int = 1

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError("top_k must be >= 1")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")


@dataclass(frozen=True)
class TopLogprobsResult:
    """Per generated position, the ``(token text, log-probability)`` of the most likely tokens, most likely first.

    ``prefilled`` says whether the server continued the assistant prefill (False: it answered from scratch, so the
    choice token may come after a few other tokens).
    """

    positions: tuple[tuple[tuple[str, float], ...], ...]
    prefilled: bool = True


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, which decides the judge modes that work with it.

    Attributes:
        choice_logprobs: ``score`` works (the log-probability of given continuations after a prompt).
        top_logprobs: ``top_logprobs`` works (the most likely next tokens with their log-probabilities).
        chat: ``generate`` takes chats (every backend here does; a verdict needs it).
        local_chat_format: ``format_chat`` works in this process (a scored prompt is formatted locally).
        assistant_prefill: a chat request may end with the start of the assistant's answer.
        honours_n: one generation request returns ``n`` samples (else the backend loops requests).
        max_top_logprobs: the most tokens ``top_logprobs`` may ask for (None: no limit).
        partial_failure: failures are per request (a refused prompt), so the rest of a call still counts.
        prefers_top_logprobs: ``top-logprobs`` is the faster mode here and gives the same p, so ``auto`` picks it
            first (a vLLM server: chat requests reuse its prefix cache, echoed prompt log-probabilities do not;
            measured 7× faster with equal labels on 2 CPU cores, see docs/backends.md).
    """

    choice_logprobs: bool = True
    top_logprobs: bool = False
    chat: bool = True
    local_chat_format: bool = True
    assistant_prefill: bool = True
    honours_n: bool = True
    max_top_logprobs: int | None = None
    partial_failure: bool = False
    prefers_top_logprobs: bool = False


def backend_capabilities(backend: object) -> Capabilities:
    """The backend's :class:`Capabilities` (its ``capabilities()`` method, through wrappers such as the call
    cache), or the defaults of a local engine that only scores and generates."""
    caps = getattr(backend, "capabilities", None)
    if callable(caps):
        value = caps()
        if isinstance(value, Capabilities):
            return value
    inner = getattr(backend, "backend", None)
    if inner is not None and inner is not backend:
        return backend_capabilities(inner)
    return Capabilities()


def chat_template_text(
    tokenizer: Any, messages: Sequence[ChatMessage], *, backend: str, model_id: str
) -> str:
    """``messages`` through the tokenizer's chat template, ending with the assistant generation prompt (what a
    local backend's ``format_chat`` gives); a :class:`~rlaif.errors.BackendError` when the model has none."""
    if not getattr(tokenizer, "chat_template", None):
        raise BackendError(
            backend,
            f"model {model_id} has no chat template, so chat prompts cannot be formatted",
            hint="use an instruct (chat) model with a chat template, or send plain text prompts",
        )
    text = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages], tokenize=False, add_generation_prompt=True
    )
    return str(text)


class PartialFailure(BackendError):
    """Some requests of one call failed, each for its own reason (a refused prompt); the others' results are kept.

    ``results[i]`` is the answer to request ``i``, or None where ``errors[i]`` says why it failed. Callers that can
    leave single items unlabeled catch this; others let it stop the run like any :class:`BackendError`.
    """

    def __init__(
        self, backend: str, results: Sequence[Any], errors: dict[int, str], *, hint: str | None = None
    ) -> None:
        first = errors[min(errors)]
        more = f" (and {len(errors) - 1} more of {len(results)} requests)" if len(errors) > 1 else ""
        super().__init__(backend, f"{first}{more}", hint=hint)
        self.results = list(results)
        self.errors = dict(errors)


class TooManyFailures(BackendError):
    """More than the allowed share of a backend's requests failed: the run stops (it never just goes on)."""


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
