"""Generation and scoring engines behind one protocol (:class:`Backend`).

Choose one by name with :func:`make_backend` (``"transformers"``, ``"vllm"``, ``"openai"``, ``"mock"``). Importing
this package is light: no torch, vLLM or httpx until a backend is built.
"""

from rlaif.backends.base import (
    Backend,
    ChatMessage,
    Completion,
    GenerationRequest,
    Prompt,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)
from rlaif.backends.registry import available_backends, make_backend

__all__ = [
    "Backend",
    "ChatMessage",
    "Completion",
    "GenerationRequest",
    "Prompt",
    "SamplingParams",
    "ScoreRequest",
    "ScoreResult",
    "available_backends",
    "make_backend",
]
