"""The preference losses worked out by hand on a batch of two pairs."""

from __future__ import annotations

import math

import pytest
import torch

from rlaif.policy.dpo_loss import preference_loss, sft_nll

# pair 1: chosen log-ratio -1.0 - (-1.5) = 0.5, rejected -3.0 - (-2.0) = -1.0  -> margin 1.5, hard label
# pair 2: chosen log-ratio  0.0,               rejected -1.0 - (-1.5) = 0.5   -> margin -0.5, soft label 0.75
POLICY_C, POLICY_R = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
REF_C, REF_R = torch.tensor([-1.5, -2.0]), torch.tensor([-2.0, -1.5])
P = torch.tensor([1.0, 0.75])


def test_soft_sigmoid_dpo_by_hand() -> None:
    out = preference_loss(POLICY_C, POLICY_R, REF_C, REF_R, P, beta=0.5)
    # pair 1: -log σ(0.75) = log(1 + e^-0.75) = 0.386871
    # pair 2: -(0.75·log σ(-0.25) + 0.25·log σ(0.25)) = 0.75·0.825939 + 0.25·0.575939 = 0.763439
    assert out.per_pair.tolist() == pytest.approx([0.386871, 0.763439], abs=1e-6)
    assert float(out.loss) == pytest.approx((0.386871 + 0.763439) / 2, abs=1e-6)
    assert out.chosen_rewards.tolist() == pytest.approx([0.25, 0.0])
    assert out.rejected_rewards.tolist() == pytest.approx([-0.5, 0.25])


def test_soft_label_minimum_is_at_logit_p() -> None:
    # the soft cross-entropy is minimised by β·margin = logit(p): the gradient vanishes there
    p = torch.tensor([0.8])
    margin = torch.tensor([math.log(0.8 / 0.2) / 0.1], requires_grad=True)
    zero = torch.zeros(1)
    out = preference_loss(margin, zero, zero, zero, p, beta=0.1)
    out.loss.backward()
    assert margin.grad is not None and abs(float(margin.grad)) < 1e-6
    # a hard label keeps pushing the margin up
    out_hard = preference_loss(margin, zero, zero, zero, torch.ones(1), beta=0.1)
    assert float(out_hard.loss) < float(out.loss)


def test_ipo_by_hand() -> None:
    tokens_c, tokens_r = torch.tensor([2.0, 4.0]), torch.tensor([3.0, 1.0])
    out = preference_loss(
        POLICY_C, POLICY_R, REF_C, REF_R, P, beta=0.5, loss_type="ipo",
        chosen_tokens=tokens_c, rejected_tokens=tokens_r,
    )  # fmt: skip
    # 1/(2β) = 1.  pair 1: h = 0.5/2 + 1.0/3 = 0.583333, (h - 1)² = 0.173611
    # pair 2: h = 0/4 - 0.5/1 = -0.5; 0.75·(-1.5)² + 0.25·(0.5)² = 1.75
    assert out.per_pair.tolist() == pytest.approx([0.173611, 1.75], abs=1e-5)
    assert float(out.loss) == pytest.approx((0.173611 + 1.75) / 2, abs=1e-5)


def test_sft_term_and_sft_only() -> None:
    # NLL per token pooled over the batch: (1.0 + 2.0) / (2 + 4) = 0.5
    sft = sft_nll(POLICY_C, torch.tensor([2.0, 4.0]))
    assert float(sft) == pytest.approx(0.5)
    with_sft = preference_loss(POLICY_C, POLICY_R, REF_C, REF_R, P, beta=0.5, sft=sft, sft_weight=2.0)
    assert float(with_sft.loss) == pytest.approx((0.386871 + 0.763439) / 2 + 2.0 * 0.5, abs=1e-6)
    only = preference_loss(POLICY_C, POLICY_R, REF_C, REF_R, P, beta=0.5, loss_type="sft", sft=sft)
    assert float(only.loss) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="response lengths"):
        preference_loss(POLICY_C, POLICY_R, REF_C, REF_R, P, beta=0.5, loss_type="ipo")
