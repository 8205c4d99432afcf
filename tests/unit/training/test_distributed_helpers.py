"""The pieces of multi-process training that need no second process: shares of a batch and of an epoch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rlaif.reward.train import epoch_order, process_order
from rlaif.training import mean_over_processes, shard_bounds, sum_over_processes


def test_shard_bounds_split_evenly_and_refuse_a_remainder() -> None:
    assert [shard_bounds(8, r, 2) for r in range(2)] == [(0, 4), (4, 8)]
    assert [shard_bounds(6, r, 3) for r in range(3)] == [(0, 2), (2, 4), (4, 6)]
    assert shard_bounds(5, 0, 1) == (0, 5)
    with pytest.raises(ValueError, match="do not split evenly"):
        shard_bounds(7, 0, 2)


def test_process_order_pads_to_equal_shares_that_cover_the_epoch() -> None:
    order = epoch_order(7, seed=3, epoch=1)
    assert process_order(7, seed=3, epoch=1, rank=0, world=1) == order
    shares = [process_order(7, seed=3, epoch=1, rank=r, world=3) for r in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]
    # interleaved back together they are the epoch order, padded with its own first two rows
    merged = [shares[i % 3][i // 3] for i in range(9)]
    assert merged == order + order[:2]


def test_reductions_pass_values_through_in_one_process() -> None:
    one = SimpleNamespace(num_processes=1)
    assert sum_over_processes(one, {"loss": 2, "n": 3.0}) == {"loss": 2.0, "n": 3.0}
    assert mean_over_processes(one, {"loss": 0.5}) == {"loss": 0.5}
