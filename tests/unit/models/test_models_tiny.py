"""The tiny test tokenizer and model: offline, deterministic, loadable like any local model."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlaif.models import load_causal_lm, load_tokenizer, resolve_model
from rlaif.testing import build_tiny_model_dir, build_tiny_tokenizer
from rlaif.testing.tiny import TINY_VOCAB_SIZE


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_tokenizer_round_trips_any_text(tokenizer, text: str) -> None:
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_tokenizer_special_tokens(tokenizer) -> None:
    assert len(tokenizer) == TINY_VOCAB_SIZE == 448
    assert tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [0, 1, 2]
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer("<|im_start|>user\nhi<|im_end|>")["input_ids"][0] == 1  # special tokens are never split
    assert tokenizer("hello")["input_ids"][0] != tokenizer.bos_token_id  # no BOS added, as in SmolLM2


@pytest.mark.parametrize("piece", [" A", " B", "A", "B", " Response", *[str(i) for i in range(1, 11)], " 10"])
def test_judge_answers_are_single_tokens(tokenizer, piece: str) -> None:
    assert len(tokenizer(piece)["input_ids"]) == 1


def test_chat_template_is_chatml(tokenizer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Which is better, A or B?"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhich is better, A or B?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_tokenizer_is_deterministic_across_processes(tokenizer) -> None:
    code = "from rlaif.testing.tiny import _tokenizer_json; print(_tokenizer_json())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(other) == json.loads(tokenizer.backend_tokenizer.to_str())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_dir_is_deterministic(tmp_path: Path) -> None:
    a = build_tiny_model_dir(tmp_path / "a", seed=3)
    b = build_tiny_model_dir(tmp_path / "b", seed=3)
    c = build_tiny_model_dir(tmp_path / "c", seed=4)
    assert _sha(a / "model.safetensors") == _sha(b / "model.safetensors")
    assert _sha(a / "model.safetensors") != _sha(c / "model.safetensors")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_model_dir_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model_dir(tmp_path / "m")
    assert torch.equal(torch.rand(3), expected)


def test_model_dir_shape_and_files(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"]) == (2, 64, 4)
    assert (config["num_key_value_heads"], config["intermediate_size"]) == (2, 128)
    assert config["vocab_size"] == TINY_VOCAB_SIZE and config["tie_word_embeddings"] is False
    generation = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [0, 2] and generation["pad_token_id"] == 0
    assert (tiny_model_dir / "chat_template.jinja").is_file() or "chat_template" in json.loads(
        (tiny_model_dir / "tokenizer_config.json").read_text()
    )


def test_model_dir_loads_as_a_local_model_and_generates(tiny_model_dir: Path) -> None:
    import torch

    resolved = resolve_model(str(tiny_model_dir))
    assert resolved.source == "local"
    tokenizer = load_tokenizer(resolved)
    model = load_causal_lm(resolved, device="cpu")
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say A or B."}],
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    out = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    again = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert (
        out.shape[0] == 1 and prompt["input_ids"].shape[1] < out.shape[1] <= prompt["input_ids"].shape[1] + 5
    )
    assert torch.equal(out, again)


def test_model_dir_sizes_are_configurable(tmp_path: Path) -> None:
    folder = build_tiny_model_dir(
        tmp_path / "wide", num_layers=1, hidden_size=32, num_heads=2, num_kv_heads=1
    )
    model = load_causal_lm(str(folder), device="cpu")
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    n_params = sum(p.numel() for p in model.parameters())
    # embed + lm_head (2 * V * 32) + 1 layer: attention (q 32x32, k/v 32x16, o 32x32), MLP (3 * 32x128), 2 norms; final norm
    expected = 2 * TINY_VOCAB_SIZE * 32 + (32 * 32 + 2 * 32 * 16 + 32 * 32) + 3 * 32 * 128 + 2 * 32 + 32
    assert n_params == expected
