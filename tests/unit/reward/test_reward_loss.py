"""The soft Bradley-Terry loss, worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from rlaif.reward import soft_bradley_terry_loss


def _ls(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_soft_label_value_by_hand() -> None:
    # d = 1: log σ(1) = -0.313262, log σ(-1) = -1.313262; p = 0.8 -> 0.8 * 0.313262 + 0.2 * 1.313262 = 0.513262
    loss, per = soft_bradley_terry_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.8]))
    assert float(loss) == pytest.approx(0.513262, abs=1e-6)
    assert per.shape == (1,)


def test_hard_label_is_plain_bradley_terry_and_margin_shifts() -> None:
    rc, rr = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.0])
    loss, per = soft_bradley_terry_loss(rc, rr, torch.tensor([1.0, 1.0]))
    assert per.tolist() == pytest.approx([-_ls(1.5), -_ls(-1.0)], abs=1e-6)
    assert float(loss) == pytest.approx((-_ls(1.5) - _ls(-1.0)) / 2, abs=1e-6)
    _, per_m = soft_bradley_terry_loss(rc, rr, torch.tensor([1.0, 1.0]), margin=torch.tensor([0.5, 0.0]))
    assert per_m.tolist() == pytest.approx([-_ls(1.0), -_ls(-1.0)], abs=1e-6)


def test_weights_make_a_weighted_mean() -> None:
    rc, rr, p = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0])
    loss, _ = soft_bradley_terry_loss(rc, rr, p, weight=torch.tensor([3.0, 1.0]))
    assert float(loss) == pytest.approx((3 * -_ls(1.0) + 1 * math.log(2)) / 4, abs=1e-6)
    zero, _ = soft_bradley_terry_loss(rc, rr, p, weight=torch.tensor([0.0, 0.0]))
    assert float(zero) == 0.0


def test_minimum_is_at_the_label_probability() -> None:
    # d/dd of the loss is σ(d) − p: zero where σ(d) = p
    d = torch.tensor([math.log(0.7 / 0.3)], requires_grad=True)
    loss, _ = soft_bradley_terry_loss(d, torch.zeros(1), torch.tensor([0.7]))
    loss.backward()
    assert d.grad is not None and abs(float(d.grad)) < 1e-6
    # a tie label is minimised by equal rewards
    d2 = torch.tensor([0.0], requires_grad=True)
    loss2, _ = soft_bradley_terry_loss(d2, torch.zeros(1), torch.tensor([0.5]))
    assert float(loss2.detach()) == pytest.approx(math.log(2), abs=1e-6)
