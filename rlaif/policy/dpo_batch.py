"""Batches of preference pairs and the log-probabilities of their responses, in one of two layouts.

* ``concat``: chosen and rejected sequences (prompt + response) in one left-padded ``[2B, T]`` forward — rows
  ``0..B-1`` chosen, ``B..2B-1`` rejected. Every response ends at the last column, so
  :func:`rlaif.training.token_logprobs` keeps logits only for the response span (no full-vocabulary log-softmax at
  prompt positions).
* ``shared``: the prompt is run once (``[B, Tp]``, left-padded, keeping only its last position's logits, which
  predict the first response token) and its key/value cache is repeated for the two responses, which then run
  together in one ``[2B, Tr]`` right-padded forward. A pair costs ``P + C + R`` tokens instead of ``2P + C + R``;
  gradients flow through the cache into the prompt's activations, so the result equals ``concat`` (up to float
  rounding). It needs the model's KV cache, which gradient checkpointing turns off: with checkpointing on the
  trainer uses ``concat``.

Both return sequence log-probabilities in the order ``[chosen_0..chosen_{B-1}, rejected_0..rejected_{B-1}]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rlaif.policy.dpo_data import TokenizedPair

Layout = Literal["concat", "shared"]


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
    pairs: Sequence[TokenizedPair],
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
