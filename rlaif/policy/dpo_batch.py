"""Batches of preference pairs and the log-probabilities of their responses, in one of three layouts.

* ``concat``: chosen and rejected sequences (prompt + response) in one left-padded ``[2B, T]`` forward — rows
  ``0..B-1`` chosen, ``B..2B-1`` rejected. Every response ends at the last column, so
  :func:`rlaif.training.token_logprobs` keeps logits only for the response span (no full-vocabulary log-softmax at
  prompt positions). Works with every model and attention implementation; a pair costs ``2P + C + R`` tokens.
* ``shared``: the prompt is run once (``[B, Tp]``, left-padded, keeping only its last position's logits, which
  predict the first response token) and its key/value cache is repeated for the two responses, which then run
  together in one ``[2B, Tr]`` right-padded forward. A pair costs ``P + C + R`` tokens instead of ``2P + C + R``;
  gradients flow through the cache into the prompt's activations, so the result equals ``concat`` (up to float
  rounding). It needs the model's KV cache, which gradient checkpointing turns off.
* ``packed``: the prompt sharing in ONE forward, so it works under gradient checkpointing: one ``[B, T]`` row per
  pair, ``[prompt (left-padded) | chosen | rejected | padding]``, with a custom 4D attention mask — chosen tokens see
  the prompt and earlier chosen tokens, rejected tokens the prompt and earlier rejected tokens (never chosen ones),
  every padding position only itself (no fully masked row, so no NaN) — and position ids that restart at the
  prompt length for the rejected span. The rejected response's first token is scored from the prompt's last
  position, like the chosen one's. Logits are kept only from the prompt's last position on (``logits_to_keep``).
  It needs an attention implementation that takes a custom 4D mask (``sdpa``: boolean, ``eager``: additive) and no
  active sliding window; :func:`choose_layout` falls back to ``concat`` otherwise. A pair costs ``P + C + R``.

All return sequence log-probabilities in the order ``[chosen_0..chosen_{B-1}, rejected_0..rejected_{B-1}]``
(``[B]`` chosen only when the batch has no rejected responses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rlaif.policy.dpo_data import TokenizedRow

Layout = Literal["concat", "shared", "packed"]

#: attention implementations that take a custom 4D mask, and the mask kind each wants
MASK_KINDS = {"sdpa": "bool", "eager": "additive"}


@dataclass(frozen=True)
class PreferenceBatch:
    """``B`` pairs ready for the model; ``tensors`` depend on the layout (see the module doc)."""

    layout: Layout
    tensors: dict[str, Any]
    p_chosen: Any  # [B]
    response_tokens: Any  # [2B] (or [B] without rejected): chosen lengths, then rejected lengths
    indices: list[int]  # the pairs' positions in the tokenized list
    with_rejected: bool = True

    @property
    def pairs(self) -> int:
        """``B``."""
        return len(self.indices)

    def to(self, device: Any) -> PreferenceBatch:
        """The batch on ``device``."""
        return PreferenceBatch(
            self.layout,
            {k: v.to(device) for k, v in self.tensors.items()},
            self.p_chosen.to(device),
            self.response_tokens.to(device),
            self.indices,
            self.with_rejected,
        )


def collate_pairs(
    pairs: Sequence[TokenizedRow],
    pad_id: int,
    *,
    indices: Sequence[int],
    layout: Layout = "concat",
    with_rejected: bool = True,
) -> PreferenceBatch:
    """Build a batch from tokenized pairs (``with_rejected=False``: chosen responses only, for SFT)."""
    import torch

    from rlaif.training.logprobs import pad_left, response_mask_left

    responses = [p.chosen_ids for p in pairs] + ([p.rejected_ids for p in pairs] if with_rejected else [])
    copies = 2 if with_rejected else 1
    tensors: dict[str, Any]
    if layout == "concat":
        prompts = [p.prompt_ids for p in pairs] * copies
        seqs = [pr + r for pr, r in zip(prompts, responses, strict=True)]
        input_ids, attention_mask = pad_left(seqs, pad_id)
        mask = response_mask_left([len(p) for p in prompts], [len(s) for s in seqs], input_ids.shape[1])
        tensors = {"input_ids": input_ids, "attention_mask": attention_mask, "response_mask": mask}
    elif layout == "packed":
        tensors = _collate_packed(pairs, pad_id, with_rejected=with_rejected)
    else:
        if any(not p.prompt_ids for p in pairs) or any(not r for r in responses):
            raise ValueError("the shared layout needs a non-empty prompt and response in every pair")
        prompt_ids, prompt_mask = pad_left([p.prompt_ids for p in pairs], pad_id)
        width = max(len(r) for r in responses)
        # interleaved rows: pair 0 chosen, pair 0 rejected, pair 1 chosen, ... (matches repeat_interleave)
        order = [i + k * len(pairs) for i in range(len(pairs)) for k in range(copies)]
        resp_ids = torch.full((len(responses), width), pad_id, dtype=torch.long)
        resp_mask = torch.zeros((len(responses), width), dtype=torch.long)
        for row, src in enumerate(order):
            r = responses[src]
            resp_ids[row, : len(r)] = torch.as_tensor(r, dtype=torch.long)
            resp_mask[row, : len(r)] = 1
        tensors = {
            "prompt_ids": prompt_ids,
            "prompt_mask": prompt_mask,
            "response_ids": resp_ids,
            "response_mask": resp_mask,
        }
    return PreferenceBatch(
        layout=layout,
        tensors=tensors,
        p_chosen=torch.tensor([p.p_chosen for p in pairs], dtype=torch.float32),
        response_tokens=torch.tensor([len(r) for r in responses], dtype=torch.float32),
        indices=list(indices),
        with_rejected=with_rejected,
    )


def batch_logps(model: Any, batch: PreferenceBatch) -> Any:
    """Sequence log-probabilities of the batch's responses under ``model``: ``[2B]`` (chosen first), or ``[B]``."""
    if batch.layout == "concat":
        from rlaif.training.logprobs import token_logprobs

        t = batch.tensors
        token, _ = token_logprobs(model, t["input_ids"], t["attention_mask"], t["response_mask"])
        return token.sum(-1)
    if batch.layout == "packed":
        return _packed_logps(model, batch)
    return _shared_prompt_logps(model, batch)


def _shared_prompt_logps(model: Any, batch: PreferenceBatch) -> Any:
    import torch

    from rlaif.training.logprobs import picked_logprobs

    t = batch.tensors
    prompt_ids, prompt_mask = t["prompt_ids"], t["prompt_mask"]
    resp_ids, resp_mask = t["response_ids"], t["response_mask"]
    copies = resp_ids.shape[0] // prompt_ids.shape[0]
    prompt_pos = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    first = model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=prompt_pos,
        use_cache=True,
        logits_to_keep=1,
    )
    cache = first.past_key_values
    if copies > 1:
        cache.batch_repeat_interleave(copies)
    # log p(first response token | prompt), shared by the pair's responses: [B, V] -> [copies*B]
    first_logits = first.logits[:, -1, :].repeat_interleave(copies, dim=0)  # [copies*B, V]
    first_tok = picked_logprobs(first_logits, resp_ids[:, 0])
    prompt_len = prompt_mask.sum(-1).repeat_interleave(copies)  # [2B]
    width = resp_ids.shape[1]
    positions = prompt_len[:, None] + torch.arange(width, device=resp_ids.device)[None, :]
    full_mask = torch.cat([prompt_mask.repeat_interleave(copies, dim=0), resp_mask], dim=-1)
    second = model(
        input_ids=resp_ids,
        attention_mask=full_mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=width,
    )
    # positions 0..W-2 predict response tokens 1..W-1: [2B, W-1, V]
    rest = picked_logprobs(second.logits, resp_ids[:, 1:], shift=True) * resp_mask[:, 1:]
    seq = first_tok + rest.sum(-1)  # [2B] interleaved (c0, r0, c1, r1, ...)
    # back to chosen-first order
    return seq.view(-1, copies).transpose(0, 1).reshape(-1)


# ---------------------------------------------------------------------------------------------------------------
# The packed layout
# ---------------------------------------------------------------------------------------------------------------

# segment ids of a packed row's positions
_PAD, _PROMPT, _CHOSEN, _REJECTED = 0, 1, 2, 3


class PackedLayoutUnsupported(ValueError):
    """The model cannot run the packed layout (its attention takes no custom 4D mask); use ``concat``."""


def model_config(model: Any) -> Any:
    """The transformers config of ``model``, through DDP/FSDP (``.module``) and peft wrappers."""
    inner = model
    while getattr(inner, "config", None) is None and hasattr(inner, "module"):
        inner = inner.module
    return getattr(inner, "config", None)


def packed_mask_kind(model: Any) -> str:
    """``"bool"`` (sdpa) or ``"additive"`` (eager): the 4D mask ``model`` takes for the packed layout.

    Raises :class:`PackedLayoutUnsupported` for other attention implementations (flash attention takes no custom
    mask, flex attention wants a block mask) and for models with an active sliding window (the custom mask would
    replace it).
    """
    config = model_config(model)
    impl = getattr(config, "_attn_implementation", None)
    kind = MASK_KINDS.get(str(impl))
    if kind is None:
        raise PackedLayoutUnsupported(
            f"the packed DPO layout needs an attention implementation that takes a custom 4D mask "
            f"({', '.join(MASK_KINDS)}), not {impl!r}"
        )
    window = getattr(config, "sliding_window", None)
    if window and getattr(config, "use_sliding_window", True) is not False:
        raise PackedLayoutUnsupported(
            f"the packed DPO layout does not apply the model's sliding attention window ({window} tokens)"
        )
    return kind


def choose_layout(model: Any, *, share_prompt: bool, gradient_checkpointing: bool) -> tuple[Layout, str]:
    """The layout a DPO run uses, and why: ``packed`` whenever the attention implementation takes a custom mask
    (one forward per pair, with or without gradient checkpointing: measured 7% faster than ``shared`` without
    checkpointing on a 2-core CPU, with less memory), else ``shared`` without checkpointing, else ``concat``
    (also when ``share_prompt`` is off)."""
    if not share_prompt:
        return "concat", "share_prompt is off"
    try:
        packed_mask_kind(model)
    except PackedLayoutUnsupported as e:
        if not gradient_checkpointing:
            return "shared", f"prompt run once, its KV cache reused ({e})"
        return "concat", f"gradient checkpointing is on and {e}"
    return "packed", "prompt shared through the attention mask, one forward per pair"


def _collate_packed(pairs: Sequence[TokenizedRow], pad_id: int, *, with_rejected: bool) -> dict[str, Any]:
    """``input_ids``, ``position_ids`` and ``segments`` (pad/prompt/chosen/rejected) of the packed rows."""
    import torch

    if any(not p.prompt_ids for p in pairs):
        raise ValueError("the packed layout needs a non-empty prompt in every pair")
    rejected = [p.rejected_ids if with_rejected else [] for p in pairs]
    prompt_width = max(len(p.prompt_ids) for p in pairs)
    width = prompt_width + max(len(p.chosen_ids) + len(r) for p, r in zip(pairs, rejected, strict=True))
    ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(pairs), width), dtype=torch.long)
    segments = torch.full((len(pairs), width), _PAD, dtype=torch.long)
    for row, (pair, rej) in enumerate(zip(pairs, rejected, strict=True)):
        plen, clen = len(pair.prompt_ids), len(pair.chosen_ids)
        spans = (
            (prompt_width - plen, pair.prompt_ids, _PROMPT, 0),
            (prompt_width, pair.chosen_ids, _CHOSEN, plen),
            (prompt_width + clen, rej, _REJECTED, plen),  # positions restart where the chosen span started
        )
        for start, tokens, segment, first_position in spans:
            end = start + len(tokens)
            ids[row, start:end] = torch.as_tensor(list(tokens), dtype=torch.long)
            segments[row, start:end] = segment
            positions[row, start:end] = torch.arange(first_position, first_position + len(tokens))
    return {"input_ids": ids, "position_ids": positions, "segments": segments}


def packed_attention_mask(segments: Any, kind: str, dtype: Any = None) -> Any:
    """The ``[B, 1, T, T]`` mask of packed rows: ``bool`` (True = attend) or ``additive`` (0 / dtype's minimum).

    A prompt token sees earlier prompt tokens; a response token the prompt and the earlier tokens of its own
    response; a padding position only itself (so no query row is fully masked).
    """
    import torch

    width = segments.shape[-1]
    query, key = segments[:, :, None], segments[:, None, :]
    causal = torch.ones((width, width), dtype=torch.bool, device=segments.device).tril()
    allowed = causal & (query != _PAD) & (key != _PAD) & ((key == _PROMPT) | (key == query))
    allowed |= torch.eye(width, dtype=torch.bool, device=segments.device)
    allowed = allowed[:, None, :, :]
    if kind == "bool":
        return allowed
    dtype = dtype or torch.float32
    return torch.zeros(allowed.shape, dtype=dtype, device=segments.device).masked_fill_(
        ~allowed, torch.finfo(dtype).min
    )


def _model_dtype(model: Any) -> Any:
    """The dtype of the model's first floating weights (its input embeddings: the dtype the masks are added in)."""
    return next(p.dtype for p in model.parameters() if p.is_floating_point())


def _packed_logps(model: Any, batch: PreferenceBatch) -> Any:
    import torch

    from rlaif.training.logprobs import picked_logprobs

    kind = packed_mask_kind(model)
    t = batch.tensors
    ids, segments = t["input_ids"], t["segments"]
    prompt_width = int((segments == _PROMPT).any(0).nonzero().max()) + 1
    width = ids.shape[1] - prompt_width  # the response columns
    n = ids.shape[0]
    if width == 0:  # no response tokens at all
        return torch.zeros(n * (2 if batch.with_rejected else 1), device=ids.device)
    mask = packed_attention_mask(segments, kind, _model_dtype(model) if kind == "additive" else None)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=t["position_ids"],
        logits_to_keep=width + 1,  # from the prompt's last position on
        use_cache=False,
    )
    logits = out.logits  # [B, W+1, V]: position j predicts response column j
    resp_ids, resp_seg = ids[:, prompt_width:], segments[:, prompt_width:]
    picked = picked_logprobs(logits, resp_ids, shift=True)  # [B, W]
    chosen = (picked * (resp_seg == _CHOSEN)).sum(-1)
    if not batch.with_rejected:
        return chosen
    # the rejected response's first token follows the prompt, not the chosen span's end: it is scored from the
    # prompt's last position (logits row 0), and the column that follows the chosen span is dropped here
    chosen_len = (resp_seg == _CHOSEN).sum(-1)
    columns = torch.arange(width, device=ids.device)[None, :]
    rest = picked * ((resp_seg == _REJECTED) & (columns != chosen_len[:, None]))
    first_col = chosen_len.clamp(max=width - 1)[:, None]
    has_rejected = resp_seg.gather(1, first_col).squeeze(1) == _REJECTED
    first = picked_logprobs(logits[:, 0, :], resp_ids.gather(1, first_col).squeeze(1)) * has_rejected
    return torch.cat([chosen, rest.sum(-1) + first])
