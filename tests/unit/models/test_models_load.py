"""Loading tokenizers and causal LMs: safetensors only, no remote code unless asked, dtype/device, adapters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from rlaif.errors import ModelError
from rlaif.models import load_causal_lm, load_tokenizer, resolve_dtype, resolve_model


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_load_causal_lm_and_forward(tiny_model_dir: Path) -> None:
    model = load_causal_lm(str(tiny_model_dir), device="cpu")
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert not model.training
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    batch = tokenizer(["The answer is A", "B"], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, batch["input_ids"].shape[1], len(tokenizer))  # (batch, seq, vocab)
    assert torch.isfinite(logits).all()


def test_auto_dtype_and_device_on_cpu(tiny_model_dir: Path) -> None:
    resolved = resolve_model(str(tiny_model_dir))
    model = load_causal_lm(resolved)  # "auto" / "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.device.type == expected
    if expected == "cpu":
        assert model.dtype == torch.float32


def test_explicit_dtype(tiny_model_dir: Path) -> None:
    model = load_causal_lm(str(tiny_model_dir), dtype="bf16", device="cpu")
    assert model.dtype == torch.bfloat16


def test_resolve_dtype_names() -> None:
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("fp16", "cpu") == torch.float16
    assert resolve_dtype("BFloat16", "cpu") == torch.bfloat16
    with pytest.raises(ModelError) as info:
        resolve_dtype("int3", "cpu")
    assert info.value.problem.field == "dtype"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_model_error(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelError, match="torch sees no CUDA GPU") as info:
        load_causal_lm(str(tiny_model_dir), device="cuda")
    assert info.value.problem.field == "device"


def test_bad_device_name(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelError, match="unknown device 'toaster'"):
        load_causal_lm(str(tiny_model_dir), device="toaster")


def test_same_weights_as_saved(tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file

    saved = load_file(str(tiny_model_dir / "model.safetensors"))
    model = load_causal_lm(str(tiny_model_dir), device="cpu")
    state = model.state_dict()
    assert set(saved) == set(state)
    assert all(torch.equal(saved[k], state[k]) for k in saved)


def test_pickle_weights_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "pickled")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not even read")
    with pytest.raises(ModelError) as info:
        load_causal_lm(str(folder), device="cpu")
    message = str(info.value)
    assert "only pickle weights (pytorch_model.bin)" in message
    assert "can run arbitrary code" in message
    assert info.value.hint is not None and "save_pretrained" in info.value.hint


def test_no_weights_at_all(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "empty")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"no weight files \(\*\.safetensors\)"):
        load_causal_lm(str(folder), device="cpu")


def _with_custom_code(tiny_model_dir: Path, folder: Path) -> Path:
    _copy(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "rlaif-test-custom"
    config["auto_map"] = {
        "AutoConfig": "modeling_custom.CustomConfig",
        "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM",
    }
    (folder / "config.json").write_text(json.dumps(config))
    # if this code ever ran, the test would see the file it writes
    (folder / "modeling_custom.py").write_text(f"open({str(folder / 'RAN')!r}, 'w').close()\n")
    return folder


def test_remote_code_is_refused_unless_asked(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _with_custom_code(tiny_model_dir, tmp_path / "custom")
    with pytest.raises(ModelError) as info:
        load_causal_lm(str(folder), device="cpu")
    assert "needs custom Python code" in str(info.value)
    assert info.value.problem.field == "trust_remote_code"
    assert info.value.hint is not None and "trust_remote_code=True" in info.value.hint
    assert not (folder / "RAN").exists()


def test_known_model_type_with_auto_map_loads_builtin_class(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _with_custom_code(tiny_model_dir, tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "llama"  # transformers has this class: no need for the folder's code
    (folder / "config.json").write_text(json.dumps(config))
    model = load_causal_lm(str(folder), device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert not (folder / "RAN").exists()


def test_tokenizer_gets_a_pad_token_from_eos(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "nopad")
    cfg_file = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg.pop("pad_token")
    cfg["eos_token"] = "<|im_end|>"
    cfg_file.write_text(json.dumps(cfg))
    tokenizer = load_tokenizer(str(folder))
    assert tokenizer.pad_token == "<|im_end|>" and tokenizer.pad_token_id == 2
    assert len(tokenizer) == len(load_tokenizer(str(tiny_model_dir)))  # nothing added, nothing to resize


def test_tokenizer_with_custom_code_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "customtok")
    cfg_file = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["tokenizer_class"] = "RlaifTestTokenizer"
    cfg["auto_map"] = {"AutoTokenizer": ["tokenization_custom.RlaifTestTokenizer", None]}
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="the tokenizer needs custom Python code"):
        load_tokenizer(str(folder))


def test_adapter_loads_on_top(tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.manual_seed(1)
    base = load_causal_lm(str(tiny_model_dir), device="cpu")
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # LoRA B starts at zero (a no-op adapter); make it change the outputs
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    adapter_dir = tmp_path / "adapter"
    lora.save_pretrained(adapter_dir)
    assert (adapter_dir / "adapter_model.safetensors").is_file()
    ids = torch.tensor([[5, 17, 42, 99]])
    with torch.no_grad():
        expected = lora(input_ids=ids).logits

    plain = load_causal_lm(str(tiny_model_dir), device="cpu")
    adapted = load_causal_lm(str(tiny_model_dir), device="cpu", adapter=adapter_dir)
    assert isinstance(adapted, PeftModel) and not adapted.training
    with torch.no_grad():
        got = adapted(input_ids=ids).logits
        without = plain(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, without, atol=1e-3)


def test_missing_adapter_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"adapter folder .* does not exist") as info:
        load_causal_lm(str(tiny_model_dir), device="cpu", adapter=tmp_path / "nope")
    assert info.value.problem.field == "adapter"


def test_full_model_passed_as_adapter(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelError, match="not a peft adapter folder"):
        load_causal_lm(str(tiny_model_dir), device="cpu", adapter=tiny_model_dir)
