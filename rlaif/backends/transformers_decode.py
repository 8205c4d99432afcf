"""The bookkeeping of :class:`rlaif.backends.transformers_backend.TransformersBackend`'s decode loop: cutting requests
into batches, one row per sample with its own seeded generator, choosing each next token (greedy or sampled) and
turning a finished row into a :class:`~rlaif.backends.base.Completion` (stop strings cut). The forward passes stay in
the backend; torch is imported only when a function that needs it runs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rlaif.backends.base import Completion, FinishReason, GenerationRequest

if TYPE_CHECKING:
    import torch


@dataclass
class DecodeRow:
    """One sample being decoded."""

    req: int
    sample: int
    max_new: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    want_logprobs: bool
    generator: Any
    ids: list[int]
    lps: list[float]
    finish: FinishReason | None = None


def plan_batches(
    requests: Sequence[GenerationRequest],
    prompts: Sequence[Sequence[int]],
    *,
    batch_size: int,
    max_batch_tokens: int,
) -> list[list[int]]:
    """Request indices cut into decode batches: sorted by prompt length, a batch closes before its rows (samples)
    exceed ``batch_size`` or rows × (longest prompt + longest ``max_new_tokens``) exceeds ``max_batch_tokens``."""
    order = sorted(range(len(requests)), key=lambda i: len(prompts[i]))
    batches: list[list[int]] = []
    cur: list[int] = []
    rows = longest = new = 0
    for i in order:
        sp = requests[i].params
        r2, l2, n2 = rows + sp.n, max(longest, len(prompts[i])), max(new, sp.max_new_tokens)
        if cur and (r2 > batch_size or r2 * (l2 + n2) > max_batch_tokens):
            batches.append(cur)
            cur, r2, l2, n2 = [], sp.n, len(prompts[i]), sp.max_new_tokens
        cur.append(i)
        rows, longest, new = r2, l2, n2
    if cur:
        batches.append(cur)
    return batches


def rows_per_sample(
    reqs: Sequence[GenerationRequest], req_ids: Sequence[int]
) -> tuple[list[DecodeRow], list[int]]:
    """One row per sample of each request (its generator seeded from ``(params.seed, sample index)``, or at random
    when the seed is None), and for each row the index of its prompt in ``reqs`` (to expand the prefilled cache)."""
    import torch

    rows: list[DecodeRow] = []
    expand: list[int] = []
    for i, (req, rid) in enumerate(zip(reqs, req_ids, strict=True)):
        sp = req.params
        for j in range(sp.n):
            gen = torch.Generator(device="cpu")
            seed = sp.seed if sp.seed is not None else random.SystemRandom().randrange(1 << 62)
            gen.manual_seed(sample_seed(seed, j))
            rows.append(
                DecodeRow(
                    rid, j, sp.max_new_tokens, sp.temperature, sp.top_p, sp.stop, sp.logprobs, gen, [], []
                )
            )
            expand.append(i)
    return rows, expand


def sample_seed(seed: int, sample: int) -> int:
    """The generator seed of sample ``sample`` of a request seeded with ``seed`` (63 bits of a SHA-256)."""
    digest = hashlib.sha256(f"{seed}:{sample}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def choose_tokens(logits: torch.Tensor, rows: list[DecodeRow]) -> list[int]:
    """Next token per row (greedy or seeded sampling); records model log-probs when asked."""
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    greedy = logp.argmax(dim=-1).tolist()
    chosen: list[int] = []
    for i, row in enumerate(rows):
        if row.temperature == 0:
            tok = int(greedy[i])
        else:
            probs = torch.softmax(logp[i] / row.temperature, dim=-1).cpu()
            if row.top_p < 1.0:
                sp, si = probs.sort(descending=True)
                cum = sp.cumsum(0)
                cut = int((cum < row.top_p).sum().item()) + 1
                filtered = torch.zeros_like(probs)
                filtered[si[:cut]] = sp[:cut]
                probs = filtered
            tok = int(torch.multinomial(probs, 1, generator=row.generator).item())
        if row.want_logprobs:
            row.lps.append(float(logp[i, tok]))
        chosen.append(tok)
    return chosen


def hit_stop(tokenizer: Any, row: DecodeRow) -> bool:
    """Whether the row's text so far contains one of its stop strings."""
    text = tokenizer.decode(row.ids, skip_special_tokens=True)
    return any(s and s in text for s in row.stop)


def row_completion(tokenizer: Any, row: DecodeRow) -> Completion:
    """The finished row as a completion: its text cut before the first stop string, keeping only the token ids (and
    log-probs) that lie wholly before it (finish reason ``"stop"`` then)."""
    ids = row.ids
    lps = row.lps[: len(ids)]
    text = str(tokenizer.decode(ids, skip_special_tokens=True))
    finish = row.finish or "length"
    hits = [i for s in row.stop if s and (i := text.find(s)) >= 0]
    if hits:
        cut = min(hits)
        text = text[:cut]
        k = len(ids)
        while k > 0 and len(tokenizer.decode(ids[:k], skip_special_tokens=True)) > cut:
            k -= 1
        ids, lps = ids[:k], lps[:k]
        finish = "stop"
    return Completion(
        text=text,
        token_ids=tuple(ids),
        finish_reason=finish,
        logprobs=tuple(lps) if row.want_logprobs else None,
    )


__all__ = [
    "DecodeRow",
    "choose_tokens",
    "hit_stop",
    "plan_batches",
    "row_completion",
    "rows_per_sample",
    "sample_seed",
]
