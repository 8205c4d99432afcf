"""Load a resolved model's tokenizer and causal LM (optionally with a peft adapter on top).

Safety defaults: weights load from safetensors only (unpickling a ``.bin`` file can run arbitrary code), and
custom modelling code from a model folder runs only when the caller passes ``trust_remote_code=True``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif.errors import ModelError
from rlaif.models.resolve import ResolvedModel, read_config, resolve_model

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_REMOTE_CODE_HINT = (
    "pass trust_remote_code=True (on the command line: --trust-remote-code) if you trust its code"
)


def _resolved(model: str | ResolvedModel) -> ResolvedModel:
    return model if isinstance(model, ResolvedModel) else resolve_model(model)


def needs_remote_code(config: dict[str, Any]) -> bool:
    """Whether transformers would need the folder's own Python code to build a model from this config."""
    auto_map = config.get("auto_map")
    if not isinstance(auto_map, dict) or not auto_map:
        return False
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    # With a model type transformers knows, trust_remote_code=False uses the built-in class; custom code is
    # only unavoidable for a type transformers does not have.
    return not (isinstance(model_type, str) and model_type in CONFIG_MAPPING)


def remote_code_error(resolved: ResolvedModel, what: str, cause: BaseException | None = None) -> ModelError:
    """The error that refuses to run a model's own Python code (``what``: model or tokenizer), with the way out."""
    err = ModelError(
        f"{resolved.name}: the {what} needs custom Python code shipped with the model (auto_map in its config), "
        "and running a model's own code is off by default",
        path=resolved.path,
        field="trust_remote_code",
        hint=_REMOTE_CODE_HINT,
    )
    if cause is not None:
        err.__cause__ = cause
    return err


def load_tokenizer(model: str | ResolvedModel, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """Load the tokenizer of a model (a name is resolved first with :func:`resolve_model`).

    The tokenizer always has a pad token: if the model defines none, the EOS token is used as padding (the
    embedding matrix is never resized). A chat template, when the model has one, is loaded with it.
    """
    resolved = _resolved(model)
    config = _read_tokenizer_config(resolved.path)
    if not trust_remote_code and _needs_remote_code_tokenizer(config):
        raise remote_code_error(resolved, "tokenizer")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(resolved.path), trust_remote_code=trust_remote_code)
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise remote_code_error(resolved, "tokenizer", e) from e
        raise ModelError(f"cannot load the tokenizer of {resolved.name}: {e}", path=resolved.path) from e
    except OSError as e:
        raise ModelError(
            f"cannot load the tokenizer of {resolved.name}: {e}",
            path=resolved.path,
            hint="a model folder needs its tokenizer files (tokenizer.json / tokenizer_config.json)",
        ) from e
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            logger.info(
                "%s has no pad token; padding with its EOS token %r", resolved.name, tokenizer.eos_token
            )
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            logger.info("%s has no pad or EOS token; padding with its UNK token", resolved.name)
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise ModelError(
                f"the tokenizer of {resolved.name} has no pad, EOS or UNK token to pad batches with",
                path=resolved.path,
                hint="set pad_token in tokenizer_config.json to an existing token",
            )
    return tokenizer


def _read_tokenizer_config(folder: Path) -> dict[str, Any]:
    f = folder / "tokenizer_config.json"
    if not f.is_file():
        return {}
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # transformers reports a malformed file itself, with more detail
    return data if isinstance(data, dict) else {}


def _needs_remote_code_tokenizer(tok_config: dict[str, Any]) -> bool:
    auto_map = tok_config.get("auto_map")
    if not isinstance(auto_map, dict | list) or not auto_map:
        return False
    # A tokenizer class that transformers knows is used without the custom code.
    import transformers

    cls = tok_config.get("tokenizer_class")
    return not (isinstance(cls, str) and hasattr(transformers, cls))


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """The torch dtype for a ``dtype`` name; ``"auto"`` is bfloat16 on a CUDA device that supports it, else float32."""
    import torch

    key = dtype.strip().lower()
    if key == "auto":
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if key not in _DTYPES:
        raise ModelError(
            f"unknown dtype {dtype!r}",
            field="dtype",
            hint="use auto, float32, bfloat16 or float16",
        )
    resolved: torch.dtype = getattr(torch, _DTYPES[key])
    return resolved


def resolve_device(device: str) -> str:
    """The device for a ``device`` name; ``"auto"`` is ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    key = device.strip().lower()
    if key == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if key.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(
            f"device {device!r} was asked for, but torch sees no CUDA GPU",
            field="device",
            hint="use device 'auto' or 'cpu' (or install a CUDA build of torch)",
        )
    if key == "mps" and not torch.backends.mps.is_available():
        raise ModelError(
            f"device {device!r} is not available", field="device", hint="use device 'auto' or 'cpu'"
        )
    try:
        torch.device(key)
    except RuntimeError as e:
        raise ModelError(
            f"unknown device {device!r}", field="device", hint="use auto, cpu, cuda or cuda:N"
        ) from e
    return key


def check_weights(resolved: ResolvedModel) -> None:
    """Refuse a model folder whose weights are pickles only (safetensors are required: pickles can run code)."""
    files = [f.name for f in resolved.path.iterdir() if f.is_file()]
    if any(n.endswith((".safetensors", ".safetensors.index.json")) for n in files):
        return
    pickles = sorted(n for n in files if n.endswith(_PICKLE_SUFFIXES) or n == "pytorch_model.bin.index.json")
    if pickles:
        raise ModelError(
            f"{resolved.name} has only pickle weights ({', '.join(pickles)}); rlaif loads safetensors only, because "
            "unpickling a weight file can run arbitrary code",
            path=resolved.path,
            field="model",
            hint='if you trust the file, convert it once: python -c "from transformers import '
            "AutoModelForCausalLM as M; M.from_pretrained('<folder>', use_safetensors=False)"
            ".save_pretrained('<folder>-safetensors')\" and pass the new folder",
        )
    raise ModelError(
        f"{resolved.name} has no weight files (*.safetensors) in {resolved.path}",
        path=resolved.path,
        field="model",
        hint="save the model with save_pretrained (it writes model.safetensors)",
    )


def load_causal_lm(
    model: str | ResolvedModel,
    *,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    adapter: str | Path | None = None,
) -> PreTrainedModel:
    """Load a causal LM in eval mode (a name is resolved first with :func:`resolve_model`).

    Args:
        model: a name (alias, local path, Hugging Face id) or a :class:`ResolvedModel`.
        dtype: ``auto`` (bfloat16 on a CUDA GPU that supports it, else float32), ``float32``, ``bfloat16`` or
            ``float16``.
        device: ``auto`` (``cuda`` when a GPU is visible, else ``cpu``), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        trust_remote_code: allow custom modelling code shipped with the model (off by default).
        adapter: a local peft adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``) to load on
            top; the returned model is then a ``peft.PeftModel`` (same call interface).

    Weights are read from safetensors only; a folder with only pickle (``.bin``) weights is refused.
    """
    resolved = _resolved(model)
    check_weights(resolved)
    config = read_config(resolved.path)
    if not trust_remote_code and needs_remote_code(config):
        raise remote_code_error(resolved, "model")
    target_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target_device)
    adapter_path = adapter_folder(adapter) if adapter is not None else None

    from transformers import AutoModelForCausalLM

    try:
        lm: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
            str(resolved.path),
            dtype=torch_dtype,
            device_map=target_device,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise remote_code_error(resolved, "model", e) from e
        raise ModelError(f"cannot load {resolved.name} as a causal LM: {e}", path=resolved.path) from e
    except OSError as e:
        raise ModelError(f"cannot load {resolved.name}: {e}", path=resolved.path) from e
    if adapter_path is not None:
        lm = _load_adapter(lm, adapter_path, resolved)
    lm.eval()
    return lm


def adapter_folder(adapter: str | Path) -> Path:
    """``adapter`` as a checked peft adapter folder (config and safetensors weights), or a clear error."""
    path = Path(adapter).expanduser()
    if not path.exists():
        raise ModelError(
            f"adapter folder {adapter} does not exist",
            path=str(adapter),
            field="adapter",
            hint="pass the folder that peft's save_pretrained wrote (adapter_config.json + adapter_model.safetensors)",
        )
    if not (path / "adapter_config.json").is_file():
        raise ModelError(
            f"{path} is not a peft adapter folder: it has no adapter_config.json",
            path=path,
            field="adapter",
            hint="a full model goes in the model argument; an adapter folder is what peft's save_pretrained writes",
        )
    if not (path / "adapter_model.safetensors").is_file():
        if any(path.glob("adapter_model.bin")):
            raise ModelError(
                f"the adapter in {path} has only pickle weights (adapter_model.bin); rlaif loads safetensors only",
                path=path,
                field="adapter",
                hint="re-save it with peft's save_pretrained (safetensors is its default)",
            )
        raise ModelError(
            f"the adapter in {path} has no adapter_model.safetensors", path=path, field="adapter"
        )
    return path.resolve()


def _load_adapter(lm: PreTrainedModel, adapter_path: Path, resolved: ResolvedModel) -> PreTrainedModel:
    from peft import PeftModel

    try:
        wrapped: Any = PeftModel.from_pretrained(lm, str(adapter_path), is_trainable=False)
    except (ValueError, RuntimeError, KeyError) as e:
        raise ModelError(
            f"cannot load the adapter {adapter_path} on {resolved.name}: {e}",
            path=adapter_path,
            field="adapter",
            hint="an adapter loads only on the base model it was trained from (see base_model_name_or_path in "
            "its adapter_config.json)",
        ) from e
    # PeftModel forwards the PreTrainedModel interface (generate, forward, config) to the wrapped model.
    loaded: PreTrainedModel = wrapped
    return loaded


def load_seq_cls_base(
    model: str, *, dtype: str = "auto", device: str = "cpu", trust_remote_code: bool = False
) -> tuple[Any, Any, Any]:
    """(model, tokenizer, resolved): ``model`` as a one-label sequence classifier with a fresh score head.

    The base is any causal LM folder (alias, path or hub id, safetensors only); the head is initialised from the
    current torch seed. The tokenizer pads on the left, and the model's ``pad_token_id`` is the tokenizer's.
    """
    from rlaif import models
    from rlaif.models.resolve import read_config

    resolved = models.resolve_model(model)
    tokenizer = models.load_tokenizer(resolved, trust_remote_code=trust_remote_code)
    tokenizer.padding_side = "left"
    check_weights(resolved)
    if not trust_remote_code and needs_remote_code(read_config(resolved.path)):
        raise remote_code_error(resolved, "model")
    target = models.resolve_device(device)
    torch_dtype = models.resolve_dtype(dtype, target)
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "score.weight newly initialized" is expected: that is the head we train
    try:
        rm = AutoModelForSequenceClassification.from_pretrained(
            str(resolved.path),
            num_labels=1,
            dtype=torch_dtype,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
    except (ValueError, OSError) as e:
        raise ModelError(
            f"cannot load {resolved.name} as a sequence classifier: {e}",
            path=resolved.path,
            field="model",
            hint="the reward model needs a causal LM architecture that transformers has a "
            "*ForSequenceClassification class for (llama, qwen2, mistral, gpt2, ...)",
        ) from e
    finally:
        hf_logging.set_verbosity(verbosity)
    rm.config.pad_token_id = int(tokenizer.pad_token_id)
    rm.to(target)
    return rm, tokenizer, resolved
