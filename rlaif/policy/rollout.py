"""Rollouts for PPO: sampling responses from the current policy, and the per-token tensors PPO learns from.

Generation goes through a :class:`RolloutEngine`, which takes prompt **token ids** (so the policy's log-probabilities
are computed over exactly the tokens that were sampled) and returns each response's token ids *including* the
end-of-sequence token that ended it: stopping is an action the policy is trained on. The default engine,
:class:`TransformersRolloutEngine`, samples with ``transformers``' ``generate`` on the live peft model (current
adapter, KV cache, left padding). A vLLM engine fits the same protocol: save the adapter each step and pass it as a
``LoRARequest`` with ``TokensPrompt`` inputs (see docs/ppo.md).

:func:`forward_tokens` computes, for a left-padded batch, response-token log-probabilities (via
:func:`rlaif.training.token_logprobs`), entropies and values in one forward of the policy when the value head sits on
the policy (its input is captured at the output layer, so no second pass), or a forward of the separate value model
initialised from the reward model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rlaif.errors import ModelError


@dataclass(frozen=True)
class RolloutSample:
    """One sampled response: its token ids (ending with the EOS token when it ended), text, and whether it ended."""

    token_ids: tuple[int, ...]
    text: str
    finished: bool


class RolloutEngine(Protocol):
    """Samples one response per prompt (given as token ids) from the current policy."""

    def generate(
        self,
        prompt_ids: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
    ) -> list[RolloutSample]:
        """One :class:`RolloutSample` per prompt, in order."""
        ...


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token id that ends a response: the generation config's EOS ids and the tokenizer's EOS."""
    ids: list[int] = []
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    gen_cfg = getattr(lm, "generation_config", None)
    for src in (getattr(gen_cfg, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(src, int):
            ids.append(src)
        elif isinstance(src, list | tuple):
            ids.extend(int(x) for x in src)
    out = sorted(set(ids))
    if not out:
        raise ModelError(
            "the policy's tokenizer and generation config name no end-of-sequence token, so responses cannot end",
            field="model",
        )
    return out


class TransformersRolloutEngine:
    """Sampling with ``model.generate`` on the live (peft) model: full-vocabulary sampling at ``temperature``
    (no top-k/top-p, so the sampled tokens follow exactly the distribution PPO's log-probabilities describe)."""

    def __init__(self, model: Any, tokenizer: Any, *, pad_id: int, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.batch_size = batch_size
        self.eos_ids = eos_token_ids(model, tokenizer)

    def generate(
        self,
        prompt_ids: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
    ) -> list[RolloutSample]:
        """Sample (or decode greedily at ``temperature == 0``) one response per prompt."""
        import torch
        from transformers import GenerationConfig

        from rlaif.training.logprobs import pad_left

        sampling = temperature > 0
        config = GenerationConfig(
            do_sample=sampling,
            temperature=temperature if sampling else None,
            top_k=0 if sampling else None,
            top_p=1.0 if sampling else None,
            max_new_tokens=max_new_tokens,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
        )
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        torch.manual_seed(seed)
        out: list[RolloutSample] = []
        try:
            with torch.no_grad():
                for start in range(0, len(prompt_ids), self.batch_size):
                    chunk = prompt_ids[start : start + self.batch_size]
                    ids, mask = pad_left(chunk, self.pad_id)
                    seqs = self.model.generate(
                        input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config
                    )
                    new = seqs[:, ids.shape[1] :].tolist()
                    out.extend(self._sample(row, max_new_tokens) for row in new)
        finally:
            if was_training:
                self.model.train()
        return out

    def _sample(self, row: list[int], max_new_tokens: int) -> RolloutSample:
        eos = set(self.eos_ids)
        for i, tok in enumerate(row):
            if tok in eos:
                ids = tuple(row[: i + 1])
                return RolloutSample(ids, self._decode(row[:i]), True)
        ids = tuple(row[:max_new_tokens])
        return RolloutSample(ids, self._decode(list(ids)), False)

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


# -- value functions ---------------------------------------------------------------------------------------------


def make_value_head(hidden_size: int) -> Any:
    """A scalar head on the policy's final hidden states, initialised to output 0."""
    import torch

    head = torch.nn.Linear(hidden_size, 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return head


@contextlib.contextmanager
def capture_output_layer_input(model: Any) -> Iterator[list[Any]]:
    """Collect the hidden states that enter the model's output layer (``lm_head``) during a forward.

    With ``logits_to_keep`` these are exactly the kept positions, so a value head on them costs one small matmul.
    """
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = lm.get_output_embeddings()
    if head is None:
        raise ModelError("the policy has no output layer to read hidden states from", field="value_init")
    seen: list[Any] = []

    def hook(_module: Any, args: tuple[Any, ...]) -> None:
        seen.append(args[0])

    handle = head.register_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def seqcls_token_values(value_model: Any, input_ids: Any, attention_mask: Any) -> Any:
    """Per-position values ``[B, W]`` of a sequence-classification model (one label): its score head applied to every
    position's hidden state, aligned so column ``t`` is the value of the state token ``t`` was chosen in."""
    import torch

    base = value_model.get_base_model() if hasattr(value_model, "get_base_model") else value_model
    backbone = getattr(base, base.base_model_prefix)
    head = getattr(base, "score", None)
    if head is None:
        raise ModelError("the value model has no `score` head", field="value_init")
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    hidden = backbone(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    ).last_hidden_state
    full = head(hidden).squeeze(-1).float()  # [B, W]
    values = torch.zeros_like(full)
    values[:, 1:] = full[:, :-1]
    return values


@dataclass
class ForwardOut:
    """Response-token log-probabilities, entropies (or None) and values (or None), each ``[B, W]``."""

    logps: Any
    entropy: Any | None
    values: Any | None


def forward_tokens(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    response_mask: Any,
    *,
    temperature: float,
    with_entropy: bool = False,
    value_head: Any | None = None,
    value_model: Any | None = None,
) -> ForwardOut:
    """One policy forward giving log-probs (and entropy), plus values from ``value_head`` (on the same forward) or
    ``value_model`` (its own forward). Values are zero outside ``response_mask``."""
    from rlaif.training.logprobs import token_logprobs

    capture: contextlib.AbstractContextManager[list[Any]] = (
        contextlib.nullcontext([]) if value_head is None else capture_output_layer_input(model)
    )
    with capture as seen:
        logps, entropy = token_logprobs(
            model,
            input_ids,
            attention_mask,
            response_mask,
            with_entropy=with_entropy,
            temperature=temperature,
        )
    values = None
    if value_head is not None:
        import torch

        hidden = seen[-1]  # [B, keep, H]: positions first-1 .. W-1
        kept = value_head(hidden.to(value_head.weight.dtype)).squeeze(-1).float()  # [B, keep]
        width = input_ids.shape[1]
        first = width - kept.shape[1] + 1
        values = torch.zeros((input_ids.shape[0], width), dtype=kept.dtype, device=kept.device)
        values[:, first:] = kept[:, :-1]
        values = values * response_mask.to(values.dtype)
    if value_model is not None:
        values = seqcls_token_values(value_model, input_ids, attention_mask) * response_mask.to(logps.dtype)
    return ForwardOut(logps, entropy, values)


__all__ = [
    "ForwardOut",
    "RolloutEngine",
    "RolloutSample",
    "TransformersRolloutEngine",
    "capture_output_layer_input",
    "eos_token_ids",
    "forward_tokens",
    "make_value_head",
    "seqcls_token_values",
]
