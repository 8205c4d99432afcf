"""Prefix-sharing scorer: log-probabilities of continuations without recomputing shared prefixes.

Scoring is prefill, and the prompts of one labeling batch share most of their tokens: one comparison under k
principles × 2 answer orders gives 2k prompts that share the conversation, and the k prompts of one order share the
conversation and both responses; only the principle/question tail differs. This module

1. puts the token sequences (prompt + continuation) into a compressed token trie (radix tree): each node holds one
   run of tokens that a set of sequences have in common, so every distinct token is computed once;
2. runs the trie level by level: the nodes of one level are batched (sorted by length, capped by a token budget) on
   top of their ancestors' key/value cache, with explicit ``position_ids`` and an attention mask. Each row's
   ancestor cache is right-aligned (left-padded with zeros) and its new tokens are right-padded, so every query row
   sees at least one real key and no NaN can arise from a fully masked row;
3. computes logits only at the positions read (hidden states gathered there, then the LM head), and skips work no
   one reads: a leaf's last token is never computed (it predicts nothing that is scored), so single-token
   continuations such as ``" A"`` / ``" B"`` are read from the last prompt position with no extra forward.

The result equals one full forward per (prompt + continuation) up to floating-point reordering (≤ 1e-4 in fp32;
tests check it). Key/value tensors live only while their chunk is processed; chunks are bounded by a budget of
distinct tokens so memory stays flat however many requests a call has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class TrieNode:
    """A run of tokens ``seqs[ref][start:end]`` shared by every sequence passing through this node."""

    start: int
    end: int
    ref: int
    parent: TrieNode | None = None
    children: dict[int, TrieNode] = field(default_factory=dict)
    #: (offset in this node, token to read the log-probability of, output slot)
    reads: list[tuple[int, int, int]] = field(default_factory=list)
    #: tokens of this node that must be run through the model (a prefix of the node)
    compute_len: int = 0
    #: whether descendants need this node's key/value cache
    needs_kv: bool = False
    #: per layer (key, value), each [heads, compute_len, head_dim], while descendants are pending
    kv: list[tuple[Any, Any]] | None = None
    level: int = 0

    @property
    def length(self) -> int:
        """Number of tokens in this node."""
        return self.end - self.start


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def build_trie(seqs: Sequence[Sequence[int]], *, share: bool = True) -> tuple[TrieNode, list[list[TrieNode]]]:
    """The compressed trie of ``seqs`` and, for each sequence, its path of nodes from the root's child down.

    With ``share=False`` every sequence gets its own chain (the naive baseline, same code path).
    """
    root = TrieNode(start=0, end=0, ref=-1)
    if share:
        order = sorted(range(len(seqs)), key=lambda i: tuple(seqs[i]))
        stack: list[TrieNode] = [root]
        prev: Sequence[int] | None = None
        for i in order:
            s = seqs[i]
            lcp = 0 if prev is None else _lcp(prev, s)
            while len(stack) > 1 and stack[-1].start >= lcp:
                stack.pop()
            top = stack[-1]
            if top is not root and top.end > lcp:
                # split ``top`` at ``lcp``: the shared head becomes a new node in its place
                head = TrieNode(start=top.start, end=lcp, ref=top.ref, parent=top.parent)
                assert top.parent is not None
                top.parent.children[seqs[top.ref][top.start]] = head
                top.start = lcp
                top.parent = head
                head.children[seqs[top.ref][lcp]] = top
                stack[-1] = head
                top = head
            if len(s) > lcp:
                leaf = TrieNode(start=lcp, end=len(s), ref=i, parent=top)
                top.children[s[lcp]] = leaf
                stack.append(leaf)
            prev = s
        paths = []
        for s in seqs:
            path, node, pos = [], root, 0
            while pos < len(s):
                node = node.children[s[pos]]
                path.append(node)
                pos = node.end
            paths.append(path)
    else:
        paths = []
        for i, s in enumerate(seqs):
            leaf = TrieNode(start=0, end=len(s), ref=i, parent=root)
            root.children[-(i + 1)] = leaf  # unique keys: no sharing
            paths.append([leaf])
    # levels
    frontier = list(root.children.values())
    level = 1
    while frontier:
        nxt: list[TrieNode] = []
        for n in frontier:
            n.level = level
            nxt.extend(n.children.values())
        frontier = nxt
        level += 1
    return root, paths


def plan_reads(
    root: TrieNode, seqs: Sequence[Sequence[int]], prompt_lens: Sequence[int], paths: Sequence[list[TrieNode]]
) -> list[list[TrieNode]]:
    """Attach the reads of each sequence (slot = sequence index) and decide what to compute; returns the levels.

    Sequence ``i`` reads positions ``prompt_lens[i] - 1 .. len - 2`` (each predicts the next continuation token).
    """
    for i, (s, p, path) in enumerate(zip(seqs, prompt_lens, paths, strict=True)):
        k = 0
        for t in range(p - 1, len(s) - 1):
            while path[k].end <= t:
                k += 1
            node = path[k]
            node.reads.append((t - node.start, s[t + 1], i))
    levels: list[list[TrieNode]] = []
    stack = list(root.children.values())
    while stack:
        n = stack.pop()
        while len(levels) < n.level:
            levels.append([])
        levels[n.level - 1].append(n)
        stack.extend(n.children.values())
    for lvl in reversed(levels):
        for n in lvl:
            n.needs_kv = any(c.compute_len > 0 for c in n.children.values())
            if n.needs_kv:
                n.compute_len = n.length
            elif n.reads:
                n.compute_len = max(off for off, _, _ in n.reads) + 1
            else:
                n.compute_len = 0
    return [[n for n in lvl if n.compute_len > 0] for lvl in levels]


def distinct_tokens(seqs: Sequence[Sequence[int]]) -> int:
    """Number of nodes of the uncompressed token trie of ``seqs`` (tokens a prefix-sharing scorer must process)."""
    order = sorted(tuple(s) for s in seqs)
    total = 0
    prev: tuple[int, ...] = ()
    for s in order:
        total += len(s) - _lcp(prev, s)
        prev = s
    return total


@dataclass
class ForwardFns:
    """The model pieces the scorer calls.

    ``decoder(input_ids, attention_mask, position_ids, past_key_values, use_cache)`` returns (last hidden states
    [B, S, H], the cache after the call or None); ``head(hidden [N, H])`` returns logits [N, V] (scored through a log-softmax unless ``log_softmax`` is
    False); ``make_cache(kv)``
    builds a cache object from per-layer (key, value) tensors [B, heads, A, head_dim] (or an empty cache from None);
    ``cache_layers(cache)`` returns per-layer (key, value) tensors of the cache after the call.
    """

    decoder: Callable[..., tuple[Any, Any]]
    head: Callable[[Any], Any]
    make_cache: Callable[[list[tuple[Any, Any]] | None], Any]
    cache_layers: Callable[[Any], list[tuple[Any, Any]]]
    pad_id: int
    device: Any
    dtype: Any = None
    #: False: the value read is ``head(hidden)[token]`` itself (e.g. a reward head), not its log-softmax
    log_softmax: bool = True


def _ancestors(node: TrieNode) -> list[TrieNode]:
    chain = []
    p = node.parent
    while p is not None and p.ref != -1:
        chain.append(p)
        p = p.parent
    chain.reverse()
    return chain


#: most new tokens packed into one row from the sibling nodes of one parent
_PACK_TOKENS = 512


def _units(level: list[TrieNode]) -> list[list[TrieNode]]:
    """Group one level's nodes into rows: siblings (same parent, hence the same ancestor cache) share one row.

    A packed row holds each sibling's tokens one after the other behind a single copy of their common ancestor
    cache; a block mask keeps every sibling blind to the others. Nodes without ancestors are rows of their own.
    """
    groups: dict[int, list[TrieNode]] = {}
    units: list[list[TrieNode]] = []
    for n in level:
        if n.start == 0 or n.parent is None:
            units.append([n])
        else:
            groups.setdefault(id(n.parent), []).append(n)
    for sibs in groups.values():
        sibs.sort(key=lambda n: (n.compute_len, n.ref))
        cur: list[TrieNode] = []
        size = 0
        for n in sibs:
            if cur and size + n.compute_len > _PACK_TOKENS:
                units.append(cur)
                cur, size = [], 0
            cur.append(n)
            size += n.compute_len
        units.append(cur)
    return units


def _unit_len(unit: list[TrieNode]) -> int:
    return sum(n.compute_len for n in unit)


#: a batch of one level is closed once padding would pass this ratio of its real tokens ...
_MAX_PAD_RATIO = 1.1
#: ... provided it already holds this many real tokens
_MIN_BATCH_TOKENS = 128


def _batches(
    units: list[list[TrieNode]],
    max_tokens: int,
    max_rows: int,
    min_tokens: int = _MIN_BATCH_TOKENS,
    max_pad_ratio: float = _MAX_PAD_RATIO,
) -> list[list[list[TrieNode]]]:
    """Group one level's rows by similar length; each batch costs rows × (ancestors + new) ≤ max_tokens.

    A batch is also closed when its padded tokens would exceed ``max_pad_ratio`` × its real tokens, once it holds
    ``min_tokens`` real tokens. A padded position costs a whole forward of the model, while a few hundred rows
    already keep a CPU's matrix multiplications near their peak: closing batches at 10 % padding after 128 real
    tokens scored 15 % faster than 25 % after 512 (bench_scoring and bench_rm on the embedded model, 2 CPU cores).
    """
    units = sorted(units, key=lambda u: (_unit_len(u), u[0].start))
    out: list[list[list[TrieNode]]] = []
    cur: list[list[TrieNode]] = []
    a_max = s_max = real = 0
    for u in units:
        length = _unit_len(u)
        na, ns = max(a_max, u[0].start), max(s_max, length)
        rows = len(cur) + 1
        too_big = rows * (na + ns) > max_tokens or rows > max_rows
        wasteful = real >= min_tokens and rows * ns > max_pad_ratio * (real + length)
        if cur and (too_big or wasteful):
            out.append(cur)
            cur, na, ns, real = [], u[0].start, length, 0
        cur.append(u)
        a_max, s_max = na, ns
        real += length
    if cur:
        out.append(cur)
    return out


def run_levels(
    levels: list[list[TrieNode]],
    seqs: Sequence[Sequence[int]],
    fns: ForwardFns,
    out: list[float],
    *,
    max_batch_tokens: int,
    max_rows: int,
    on_forward: Callable[[int, int], None] | None = None,
) -> int:
    """Run every node that needs computing, level by level; add each read's log-probability into ``out[slot]``.

    Returns the number of token positions run through the model (padding excluded).
    """
    import torch

    computed = 0
    for lvl in levels:
        for batch in _batches(_units(lvl), max_batch_tokens, max_rows):
            computed += _run_batch(batch, seqs, fns, out, torch)
            if on_forward is not None:
                on_forward(len(batch), max(u[0].start for u in batch) + max(_unit_len(u) for u in batch))
    return computed


def _run_batch(
    batch: list[list[TrieNode]], seqs: Sequence[Sequence[int]], fns: ForwardFns, out: list[float], torch: Any
) -> int:
    b = len(batch)
    a_max = max(u[0].start for u in batch)
    s_max = max(_unit_len(u) for u in batch)
    dev = fns.device
    ids = torch.full((b, s_max), fns.pad_id, dtype=torch.long)
    pos = torch.zeros((b, s_max), dtype=torch.long)
    # allowed[i, q, k]: query q of row i sees key k (ancestor cache right-aligned in the first a_max keys)
    allowed = torch.zeros((b, s_max, a_max + s_max), dtype=torch.bool)
    causal = torch.ones((s_max, s_max), dtype=torch.bool).tril()
    offsets: list[list[int]] = []
    for i, unit in enumerate(batch):
        start = unit[0].start
        o = 0
        offs = []
        for n in unit:
            L = n.compute_len
            ids[i, o : o + L] = torch.tensor(seqs[n.ref][n.start : n.start + L], dtype=torch.long)
            pos[i, o : o + L] = torch.arange(n.start, n.start + L)
            allowed[i, o : o + L, a_max - start : a_max] = True
            allowed[i, o : o + L, a_max + o : a_max + o + L] = causal[:L, :L]
            offs.append(o)
            o += L
        offsets.append(offs)
        pad = torch.arange(o, s_max)
        allowed[i, pad, a_max + pad] = True  # padding queries see themselves only (no empty softmax row)
        pos[i, o:] = torch.arange(start + o, start + s_max)
    cache = None
    if a_max > 0:
        chains = [_ancestors(u[0]) for u in batch]
        first = chains[0][0].kv if chains[0] else next(c[0].kv for c in chains if c)
        assert first is not None
        layers: list[tuple[Any, Any]] = []
        for li, (k0, v0) in enumerate(first):
            kk = k0.new_zeros((b, k0.shape[0], a_max, k0.shape[2]))
            vv = v0.new_zeros((b, v0.shape[0], a_max, v0.shape[2]))
            for i, chain in enumerate(chains):
                at = a_max - batch[i][0].start
                for anc in chain:
                    assert anc.kv is not None
                    k, v = anc.kv[li]
                    kk[i, :, at : at + k.shape[1]] = k
                    vv[i, :, at : at + v.shape[1]] = v
                    at += k.shape[1]
            layers.append((kk, vv))
        cache = fns.make_cache(layers)
    need_kv = any(n.needs_kv for u in batch for n in u)
    if cache is None and need_kv:
        cache = fns.make_cache(None)
    dtype = fns.dtype if fns.dtype is not None else torch.float32
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
    hidden, cache_after = fns.decoder(
        input_ids=ids.to(dev),
        attention_mask=mask[:, None].to(dev),
        position_ids=pos.to(dev),
        past_key_values=cache,
        use_cache=need_kv or cache is not None,
    )
    del cache
    if need_kv:
        new_layers = fns.cache_layers(cache_after)
        for i, unit in enumerate(batch):
            for n, o in zip(unit, offsets[i], strict=True):
                if n.needs_kv:
                    n.kv = [
                        (
                            k[i, :, a_max + o : a_max + o + n.compute_len].clone(),
                            v[i, :, a_max + o : a_max + o + n.compute_len].clone(),
                        )
                        for k, v in new_layers
                    ]
        del new_layers
    del cache_after
    # reads: unique (row, offset) positions → logits once each
    rows: list[int] = []
    offs_read: list[int] = []
    targets: list[list[tuple[int, int]]] = []
    index: dict[tuple[int, int], int] = {}
    for i, unit in enumerate(batch):
        for n, o in zip(unit, offsets[i], strict=True):
            for off, tok, slot in n.reads:
                key = (i, o + off)
                j = index.get(key)
                if j is None:
                    j = index[key] = len(rows)
                    rows.append(i)
                    offs_read.append(o + off)
                    targets.append([])
                targets[j].append((tok, slot))
    chunk = 256  # positions per LM-head call: bounds the [N, vocab] logits tensor
    for c0 in range(0, len(rows), chunk):
        r = torch.tensor(rows[c0 : c0 + chunk], device=hidden.device)
        o_t = torch.tensor(offs_read[c0 : c0 + chunk], device=hidden.device)
        logp = fns.head(hidden[r, o_t]).float()
        if fns.log_softmax:
            logp = torch.log_softmax(logp, dim=-1)
        flat_j, flat_tok, flat_slot = [], [], []
        for j in range(c0, min(c0 + chunk, len(rows))):
            for tok, slot in targets[j]:
                flat_j.append(j - c0)
                flat_tok.append(tok)
                flat_slot.append(slot)
        vals = logp[torch.tensor(flat_j, device=logp.device), torch.tensor(flat_tok, device=logp.device)]
        for slot, v in zip(flat_slot, vals.tolist(), strict=True):
            out[slot] += v
    return sum(_unit_len(u) for u in batch)


def score_sequences(
    seqs: Sequence[Sequence[int]],
    prompt_lens: Sequence[int],
    fns: ForwardFns,
    *,
    max_batch_tokens: int,
    max_rows: int,
    max_chunk_tokens: int,
    share: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[list[float], int]:
    """Summed log-probability of ``seq[prompt_len:]`` given ``seq[:prompt_len]`` for every sequence.

    Sequences are sorted so that sharing ones are neighbours, then cut into chunks of at most ``max_chunk_tokens``
    distinct tokens (bounding key/value memory); each chunk is one trie. Returns the scores and the number of token
    positions run through the model.
    """
    n = len(seqs)
    out = [0.0] * n
    order = sorted(range(n), key=lambda i: tuple(seqs[i])) if share else list(range(n))
    computed = 0
    start = 0
    while start < n:
        end, budget = start, 0
        prev: Sequence[int] = ()
        while end < n:
            s = seqs[order[end]]
            cost = len(s) - (_lcp(prev, s) if share else 0)
            if end > start and budget + cost > max_chunk_tokens:
                break
            budget += cost
            prev = s
            end += 1
        idx = order[start:end]
        sub = [seqs[i] for i in idx]
        root, paths = build_trie(sub, share=share)
        levels = plan_reads(root, sub, [prompt_lens[i] for i in idx], paths)
        sub_out = [0.0] * len(idx)
        computed += run_levels(
            levels, sub, fns, sub_out, max_batch_tokens=max_batch_tokens, max_rows=max_rows
        )
        for k, i in enumerate(idx):
            out[i] = sub_out[k]
        del root, paths, levels
        if on_chunk is not None:
            on_chunk(len(idx))
        start = end
    return out, computed
