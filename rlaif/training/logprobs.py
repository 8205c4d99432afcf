"""Log-probabilities of response tokens, computed without full-vocabulary logits at prompt positions.

The forward goes through the model's own ``forward`` (so DDP/FSDP wrappers and peft adapters apply) with
``logits_to_keep`` set to the span that holds response tokens. With left padding (see :func:`pad_left`) every
response ends at the last position, so the kept span is the longest response plus one position.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any


def pad_left(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Left-pad token lists into ``(input_ids, attention_mask)`` long tensors."""
    import torch

    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        if s:
            ids[i, width - len(s) :] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, width - len(s) :] = 1
    return ids, mask


def response_mask_left(prompt_lengths: Sequence[int], total_lengths: Sequence[int], width: int) -> Any:
    """Boolean ``[B, width]`` mask of response tokens for left-padded rows (prompt then response)."""
    import torch

    mask = torch.zeros((len(total_lengths), width), dtype=torch.bool)
    for i, (p, t) in enumerate(zip(prompt_lengths, total_lengths, strict=True)):
        mask[i, width - (t - p) :] = t > p
    return mask


def token_logprobs(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    response_mask: Any,
    *,
    with_entropy: bool = False,
    temperature: float = 1.0,
) -> tuple[Any, Any | None]:
    """Per-token log p(token | prefix) for the tokens where ``response_mask`` is true.

    Returns ``(logps, entropy)``, each ``[B, T]`` with zeros outside the mask (``entropy`` is the full-vocabulary
    entropy of the predictive distribution at each response token, or ``None``). Position ``t``'s value belongs to
    token ``t`` (predicted from position ``t-1``). ``temperature`` divides the logits first (as sampling did).
    """
    import torch

    mask = response_mask.bool()
    batch, width = input_ids.shape
    cols = mask.any(dim=0).nonzero()
    if cols.numel() == 0:
        zeros = torch.zeros((batch, width), dtype=torch.float32, device=input_ids.device)
        return zeros, (zeros.clone() if with_entropy else None)
    first = int(cols.min())
    if first == 0:
        raise ValueError("a response token at position 0 has no prefix to predict it from")
    keep = width - first + 1  # logits at positions first-1 .. width-1
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        logits_to_keep=keep,
        use_cache=False,
    )
    logits = out.logits.float()  # position j predicts token first + j (the last position is unused)
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, first:]
    sub_mask = mask[:, first:]
    entropy = None
    if with_entropy:
        logp_all = torch.log_softmax(logits, dim=-1)[:, :-1, :]
        picked = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        ent = -(logp_all.exp() * logp_all).sum(-1)
        entropy = torch.zeros((batch, width), dtype=ent.dtype, device=ent.device)
        entropy[:, first:] = ent * sub_mask
    else:
        picked = picked_logprobs(logits, targets, shift=True)
    logps = torch.zeros((batch, width), dtype=picked.dtype, device=picked.device)
    logps[:, first:] = picked * sub_mask
    return logps, entropy


def picked_logprobs(logits: Any, targets: Any, *, shift: bool = False) -> Any:
    """``log softmax(logits)[target]`` at each position, with a hand-written backward.

    ``logits`` is ``[..., T, V]`` and ``targets`` ``[..., T]`` token ids; with ``shift=True`` the logits are
    ``[..., T+1, V]`` and position ``t`` of them scores ``targets[..., t]`` (the last position is unused).
    The log-softmax runs on the whole contiguous tensor (slicing first made CPU torch copy the ``[..., V]`` tensor
    forward and backward), and the backward writes ``onehot - softmax`` in one pass instead of autograd's
    zero-fill + scatter + log-softmax backward: together a fifth of a DPO step on the embedded model.
    """
    return _picked_logprobs_function().apply(logits, targets, shift)


@functools.cache
def _picked_logprobs_function() -> Any:
    """The autograd Function, built on first use so that importing this module does not import torch."""
    import torch

    class PickedLogprobs(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, logits: Any, targets: Any, shift: bool) -> Any:
            logp = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
            if shift:  # score the last position against a dummy target; its gradient is zero
                targets = torch.nn.functional.pad(targets, (0, 1))
            index = targets.unsqueeze(-1)
            ctx.save_for_backward(logp, index)
            ctx.shift, ctx.in_dtype = shift, logits.dtype
            picked = logp.gather(-1, index).squeeze(-1)
            return picked[..., :-1] if shift else picked

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            logp, index = ctx.saved_tensors
            if ctx.shift:
                grad = torch.nn.functional.pad(grad, (0, 1))
            g = grad.unsqueeze(-1).to(logp.dtype)
            # d picked / d logits = onehot(target) - softmax, written in one pass
            part = torch.exp(logp).mul_(-g).scatter_add_(-1, index, g)
            return part.to(ctx.in_dtype), None, None

    return PickedLogprobs
