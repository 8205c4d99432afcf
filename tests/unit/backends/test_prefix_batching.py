"""How the prefix-sharing scorer groups one level's rows into forward passes: the padding limit it is given."""

from __future__ import annotations

import random

from rlaif.backends.prefix_cache import _batches, _unit_len, _units, build_trie, plan_reads


def _last_level(seed: int = 0) -> list:
    """A shared block, 12 questions, 2 answers of 10-120 tokens each: the answers are the last level."""
    rng = random.Random(seed)
    block = [rng.randrange(3, 90) for _ in range(30)]
    seqs = []
    for q in range(12):
        question = [100 + q, *[rng.randrange(3, 90) for _ in range(8)]]
        for _ in range(2):
            seqs.append(
                [*block, *question, *[rng.randrange(3, 90) for _ in range(rng.randrange(10, 120))], 0]
            )
    root, paths = build_trie(seqs)
    levels = plan_reads(root, seqs, [len(s) - 1 for s in seqs], paths)
    return levels[-1]


def _padding(batches: list) -> tuple[int, int]:
    real = sum(_unit_len(u) for b in batches for u in b)
    padded = sum(len(b) * max(_unit_len(u) for u in b) for b in batches)
    return real, padded


def test_padding_limit_bounds_every_batch_and_keeps_every_row() -> None:
    level = _last_level()
    units = _units(level)
    loose = _batches(units, 8192, 16, min_tokens=512, max_pad_ratio=1.25)
    tight = _batches(units, 8192, 16)  # the defaults: at most 10 % padding once a batch has 128 tokens
    for batches in (loose, tight):  # every row exactly once
        assert sorted(id(u[0]) for b in batches for u in b) == sorted(id(u[0]) for u in units)
    for b in tight:  # over the limit only while the batch was still short of 128 real tokens
        real, padded = _padding([b])
        assert padded <= 1.1 * real or real - _unit_len(b[-1]) < 128
    real, padded_tight = _padding(tight)
    _, padded_loose = _padding(loose)
    assert padded_tight <= 1.1 * real < padded_loose  # the tighter limit removed padding the loose one keeps
    assert all(len(b) <= 16 for b in tight)
