"""Loading a policy for training (base weights + a trainable LoRA adapter), encoding prompts, and generating.

The reference model of DPO and PPO is the same object with the adapter disabled (``with policy.disable_adapter():``),
so no second copy of the weights is held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.backends.base import ChatMessage
from rlaif.errors import ModelError
from rlaif.training.config import LoraSettings
from rlaif.training.lora import attach_lora

PromptLike = str | Sequence[ChatMessage]


@dataclass
class Policy:
    """A trainable policy: the (peft-wrapped) model, its tokenizer and where it came from."""

    model: Any
    tokenizer: Any
    model_id: str
    revision: str

    @property
    def pad_id(self) -> int:
        """The padding token id (the EOS token when the tokenizer has no pad token)."""
        tok = self.tokenizer
        pid = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        return int(pid if pid is not None else 0)

    def encode_prompt(self, prompt: PromptLike) -> list[int]:
        """Token ids of a prompt: a conversation goes through the chat template (ending with the assistant turn);
        plain text is tokenized as it is."""
        from rlaif.prompting.chat import apply_chat_template

        if isinstance(prompt, str):
            text = prompt
        else:
            if not getattr(self.tokenizer, "chat_template", None):
                raise ModelError(
                    f"{self.model_id} has no chat template but the data is conversational",
                    field="model",
                    hint="use an instruct/chat model, or give plain-text prompts",
                )
            text = apply_chat_template(self.tokenizer, prompt, add_generation_prompt=True)
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def encode_response(self, response: str, *, add_eos: bool = True) -> list[int]:
        """Token ids of a response, followed by the end-of-turn token the model stops at (when known)."""
        ids: list[int] = self.tokenizer(response, add_special_tokens=False)["input_ids"]
        eos = self.tokenizer.eos_token_id
        if add_eos and eos is not None:
            ids = [*ids, int(eos)]
        return ids

    def backend(self, *, batch_size: int = 16) -> Any:
        """A :class:`~rlaif.backends.transformers_backend.TransformersBackend` over the live model (current
        adapter), for rollouts and evaluation. It puts the model in eval mode; call ``model.train()`` after."""
        from rlaif.backends.transformers_backend import TransformersBackend

        return TransformersBackend(
            self.model, tokenizer=self.tokenizer, batch_size=batch_size, progress=False
        )


def load_policy(
    model: str,
    *,
    lora: LoraSettings | None = None,
    init_adapter: str | Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    gradient_checkpointing: bool = False,
) -> Policy:
    """Load ``model`` (alias, local path or hub id) for training.

    With ``init_adapter`` (a previous round's adapter folder) that adapter is loaded trainable and training
    continues from it; otherwise a fresh LoRA adapter is attached from ``lora`` (default settings when None).
    ``lora.enabled = False`` trains all weights (then there is no adapter to disable for the reference: callers
    that need a reference must keep their own copy).
    """
    from rlaif import models

    resolved = models.resolve_model(model)
    tokenizer = models.load_tokenizer(resolved, trust_remote_code=trust_remote_code)
    lm = models.load_causal_lm(resolved, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    if gradient_checkpointing:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        lm.config.use_cache = False
    revision = str(resolved.revision or "")
    if init_adapter is not None:
        from peft import PeftModel

        from rlaif.models.load import adapter_folder

        folder = adapter_folder(init_adapter)
        try:
            wrapped = PeftModel.from_pretrained(lm, str(folder), is_trainable=True)
        except (ValueError, RuntimeError, KeyError) as e:
            raise ModelError(
                f"cannot continue from adapter {folder} on {resolved.name}: {e}", path=folder, field="adapter"
            ) from e
        revision += f"+adapter:{folder.name}"
    else:
        wrapped = attach_lora(lm, lora or LoraSettings())
    if gradient_checkpointing and hasattr(wrapped, "enable_input_require_grads"):
        wrapped.enable_input_require_grads()
    wrapped.train()
    return Policy(model=wrapped, tokenizer=tokenizer, model_id=str(resolved.model_id), revision=revision)


def generate_greedy(policy: Policy, prompts: Sequence[PromptLike], *, max_new_tokens: int = 128) -> list[str]:
    """Greedy responses of the current policy (adapter on) to ``prompts``, in order."""
    from rlaif.backends.base import GenerationRequest, SamplingParams

    was_training = policy.model.training
    backend = policy.backend()
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, n=1, seed=0)
    requests = [
        GenerationRequest(prompt=p if isinstance(p, str) else tuple(p), params=params) for p in prompts
    ]
    try:
        outs = backend.generate(requests)
    finally:
        if was_training:
            policy.model.train()
    return [o[0].text for o in outs]
