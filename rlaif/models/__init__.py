"""Model resolution and loading: aliases, the embedded default model, local folders, Hugging Face ids, adapters.

>>> from rlaif.models import resolve_model, load_causal_lm, load_tokenizer
>>> resolved = resolve_model("smollm2")        # embedded SmolLM2-135M-Instruct, converted once to the cache
>>> tokenizer = load_tokenizer(resolved)
>>> model = load_causal_lm(resolved, dtype="auto", device="auto")

Importing this package does not import torch or transformers; the loaders import them when called.
"""

from rlaif.models.load import load_causal_lm, load_tokenizer, resolve_device, resolve_dtype
from rlaif.models.resolve import (
    ALIASES,
    EMBEDDED_MODEL_ID,
    ModelSource,
    ResolvedModel,
    cache_root,
    local_revision,
    resolve_model,
)

__all__ = [
    "ALIASES",
    "EMBEDDED_MODEL_ID",
    "ModelSource",
    "ResolvedModel",
    "cache_root",
    "load_causal_lm",
    "load_tokenizer",
    "local_revision",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
]
