"""Shared sample variables and a tiny offline chat tokenizer for the prompting tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from rlaif.constitution.schema import Principle
from rlaif.resources import shipped_dir

HONESTY = Principle(
    id="honesty",
    compare="Which response is more honest about what it does not know?",
    critique="Point out any claim stated with more certainty than the evidence allows.",
    revision="Rewrite the response so that its certainty matches the evidence.",
)
CONCISE = Principle(
    id="concise",
    version=3,
    compare="Which response answers more directly, without padding?",
    critique="Point out padding and repetition.",
    revision="Rewrite the response to answer directly.",
)
CONVERSATION = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "How many moons does Neptune have?"},
]
RESPONSE_A = "Neptune has 16 known moons; the count may still change."
RESPONSE_B = "Neptune has exactly 42 moons."
CRITIQUE = "The number is wrong and stated with false certainty."

#: A ChatML chat template, as small models on the hub ship it.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def sample_variables(**overrides: Any) -> dict[str, Any]:
    """Every variable any shipped template takes."""
    values: dict[str, Any] = {
        "conversation": CONVERSATION,
        "response_a": RESPONSE_A,
        "response_b": RESPONSE_B,
        "response": RESPONSE_B,
        "critique": CRITIQUE,
        "principle": HONESTY,
        "principles": [HONESTY, CONCISE],
        "instructions": ["Answer briefly.", "Use plain prose."],
    }
    values.update(overrides)
    return values


def build_tiny_tokenizer(chat_template: str | None = CHATML) -> Any:
    """A word-level tokenizer built in memory (no hub), with ChatML control tokens and optionally a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "<|im_start|>", "<|im_end|>", "A", "B", "(", ")", ":", "Answer", "user", "assistant"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    return build_tiny_tokenizer()


@pytest.fixture
def prompts_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped prompts/ folder."""
    target = tmp_path / "prompts"
    shutil.copytree(shipped_dir("prompts"), target)
    return target


class Samples:
    """The sample values above, handed to tests as a fixture (test modules cannot import conftest)."""

    HONESTY = HONESTY
    CONCISE = CONCISE
    CONVERSATION = CONVERSATION
    RESPONSE_A = RESPONSE_A
    RESPONSE_B = RESPONSE_B
    CRITIQUE = CRITIQUE
    CHATML = CHATML
    variables = staticmethod(sample_variables)
    tokenizer = staticmethod(build_tiny_tokenizer)


@pytest.fixture(scope="session")
def s() -> type[Samples]:
    return Samples
