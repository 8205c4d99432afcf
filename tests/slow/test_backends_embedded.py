"""The conformance suite and a sanity check on the embedded SmolLM2-135M-Instruct (slow: loads the real model)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import ChatMessage, GenerationRequest, SamplingParams, ScoreRequest

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location(
    "rlaif_conformance", Path(__file__).parents[1] / "conformance" / "conformance.py"
)
assert _spec is not None and _spec.loader is not None
conformance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conformance)


@pytest.fixture(scope="module")
def smollm2(embedded_model: Any) -> Iterator[Any]:
    from rlaif.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(embedded_model, device="cpu", dtype="float32", progress=False)
    yield backend
    backend.close()


@pytest.mark.parametrize("check", conformance.ALL_CHECKS, ids=lambda c: c.__name__)
def test_embedded_transformers_backend_conforms(smollm2: Any, check: Callable[[Any], None]) -> None:
    check(smollm2)


def test_embedded_model_knows_the_capital_of_france(smollm2: Any) -> None:
    chat = (ChatMessage("user", "What is the capital of France?"),)
    (c,) = smollm2.generate([GenerationRequest(chat, SamplingParams(max_new_tokens=24, temperature=0))])[0]
    assert "Paris" in c.text
    (r,) = smollm2.score(
        [ScoreRequest(smollm2.format_chat(chat) + "The capital of France is", (" Paris", " Rome"))]
    )
    assert r.logprobs[0] > r.logprobs[1]
