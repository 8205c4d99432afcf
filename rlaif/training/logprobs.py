"""Log-probabilities of response tokens, computed without full-vocabulary logits at prompt positions.

The forward goes through the model's own ``forward`` (so DDP/FSDP wrappers and peft adapters apply) with
``logits_to_keep`` set to the span that holds response tokens. With left padding (see :func:`pad_left`) every
response ends at the last position, so the kept span is the longest response plus one position.
"""

from __future__ import annotations

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
    logits = out.logits[:, :-1, :].float()  # predicts tokens first .. width-1
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, first:]
    logp_all = torch.log_softmax(logits, dim=-1)
    picked = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    sub_mask = mask[:, first:]
    logps = torch.zeros((batch, width), dtype=picked.dtype, device=picked.device)
    logps[:, first:] = picked * sub_mask
    entropy = None
    if with_entropy:
        ent = -(logp_all.exp() * logp_all).sum(-1)
        entropy = torch.zeros_like(logps)
        entropy[:, first:] = ent * sub_mask
    return logps, entropy
