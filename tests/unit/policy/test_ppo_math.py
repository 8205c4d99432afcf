"""PPO arithmetic against values worked out by hand: GAE, whitening, clipped losses and their gradients, KL
estimators on a known pair of distributions, per-token rewards, the adaptive KL controller."""

from __future__ import annotations

import math

import pytest
import torch

from rlaif.policy.ppo_math import (
    KLController,
    gae,
    kl_per_token,
    masked_mean,
    masked_var,
    policy_loss,
    token_rewards,
    value_loss,
    whiten,
)


def test_gae_by_hand_gamma_one() -> None:
    # one row, three response tokens, reward only at the end
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.4, 0.8]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # t=2: delta = 1 - 0.8 = 0.2;            A2 = 0.2
    # t=1: delta = 0 + 0.8 - 0.4 = 0.4;      A1 = 0.4 + 0.5 * 0.2 = 0.5
    # t=0: delta = 0 + 0.4 - 0.5 = -0.1;     A0 = -0.1 + 0.5 * 0.5 = 0.15
    assert adv.tolist()[0] == pytest.approx([0.15, 0.5, 0.2])
    assert ret.tolist()[0] == pytest.approx([0.65, 0.9, 1.0])


def test_gae_by_hand_discounted_and_padded() -> None:
    # row 0: two prompt positions (masked out) then 3 response tokens; row 1: a 1-token response
    rewards = torch.tensor([[9.0, 9.0, 1.0, -1.0, 2.0], [9.0, 9.0, 9.0, 9.0, 3.0]])
    values = torch.tensor([[7.0, 7.0, 1.0, 2.0, 0.5], [7.0, 7.0, 7.0, 7.0, 1.0]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.bool)
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # row 0, t=4: delta = 2 - 0.5 = 1.5                         A = 1.5
    #        t=3: delta = -1 + 0.9*0.5 - 2 = -2.55               A = -2.55 + 0.72*1.5 = -1.47
    #        t=2: delta = 1 + 0.9*2 - 1 = 1.8                    A = 1.8 + 0.72*(-1.47) = 0.7416
    assert adv[0].tolist() == pytest.approx([0.0, 0.0, 0.7416, -1.47, 1.5])
    assert ret[0].tolist() == pytest.approx([0.0, 0.0, 1.7416, 0.53, 2.0])
    # row 1: delta = 3 - 1 = 2
    assert adv[1].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 2.0])


def test_gae_ignores_masked_positions_inside_the_row() -> None:
    # right padding (mask false at the end) gives the same advantages as the packed row
    packed = gae(
        torch.tensor([[0.0, 1.0]]),
        torch.tensor([[0.2, 0.3]]),
        torch.ones(1, 2, dtype=torch.bool),
        gamma=1.0,
        lam=1.0,
    )
    padded = gae(
        torch.tensor([[0.0, 1.0, 5.0]]),
        torch.tensor([[0.2, 0.3, 9.0]]),
        torch.tensor([[True, True, False]]),
        gamma=1.0,
        lam=1.0,
    )
    assert padded.advantages[0, :2].tolist() == pytest.approx(packed.advantages[0].tolist())
    assert padded.advantages[0, 2] == 0.0
    # with gamma = lam = 1 the advantage is the return-to-go minus the value: 1 - 0.2, 1 - 0.3
    assert packed.advantages[0].tolist() == pytest.approx([0.8, 0.7])


def test_whiten_by_hand() -> None:
    x = torch.tensor([[1.0, 2.0, 100.0], [3.0, 6.0, -50.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]], dtype=torch.bool)
    # masked entries 1, 2, 3, 6: mean 3, unbiased variance (4 + 1 + 0 + 9) / 3 = 14/3
    assert float(masked_mean(x, mask)) == pytest.approx(3.0)
    assert float(masked_var(x, mask)) == pytest.approx(14 / 3)
    w = whiten(x, mask)
    sd = math.sqrt(14 / 3 + 1e-8)
    assert w.flatten().tolist() == pytest.approx([-2 / sd, -1 / sd, 0.0, 0.0, 3 / sd, 0.0])
    kept = whiten(x, mask, shift_mean=False)
    assert kept[0, 0] == pytest.approx(-2 / sd + 3.0)


def test_policy_loss_value_and_gradient_zero_where_clipped() -> None:
    clip = 0.2
    # ratios 1.5 (A>0: clipped), 0.5 (A<0: clipped), 1.1 (inside), 0.5 (A>0: below range, NOT clipped)
    ratios = torch.tensor([[1.5, 0.5, 1.1, 0.5]])
    adv = torch.tensor([[2.0, -1.0, 3.0, 1.0]])
    old = torch.zeros(1, 4)
    logps = torch.log(ratios).clone().requires_grad_(True)
    mask = torch.ones(1, 4, dtype=torch.bool)
    out = policy_loss(logps, old, adv, mask, clip=clip)
    # per token max(-A r, -A clip(r)): -2*1.2, -(-1)*0.8, -3*1.1, -1*0.5
    expected = (-2.4 + 0.8 - 3.3 - 0.5) / 4
    assert out.loss.item() == pytest.approx(expected)
    assert float(out.clipfrac) == pytest.approx(0.5)
    out.loss.backward()
    assert logps.grad is not None
    grad = logps.grad[0].tolist()
    # d/dlogp of -A r / 4 is -A r / 4 where unclipped; exactly 0 where the clipped term is active
    assert grad[0] == 0.0 and grad[1] == 0.0
    assert grad[2] == pytest.approx(-3.0 * 1.1 / 4)
    assert grad[3] == pytest.approx(-1.0 * 0.5 / 4)


def test_policy_loss_approx_kl_is_k3_of_the_ratio() -> None:
    logps = torch.tensor([[math.log(2.0), 0.0]])
    out = policy_loss(
        logps, torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2, dtype=torch.bool), clip=0.2
    )
    # (r - 1) - log r for r = 2 and r = 1
    assert float(out.approx_kl) == pytest.approx(((2 - 1 - math.log(2)) + 0.0) / 2)
    assert float(out.ratio_mean) == pytest.approx(1.5)


def test_value_loss_clipped_by_hand() -> None:
    values = torch.tensor([[1.0, 0.0]], requires_grad=True)
    old = torch.tensor([[0.5, 0.0]])
    returns = torch.tensor([[2.0, 0.1]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    out = value_loss(values, old, returns, mask, clip=0.2)
    # token 0: V=1, clipped V = 0.7: max((1-2)^2, (0.7-2)^2) = 1.69; token 1: 0.01 both
    assert out.loss.item() == pytest.approx(0.5 * (1.69 + 0.01) / 2)
    assert float(out.clipfrac) == pytest.approx(0.5)
    out.loss.backward()
    assert values.grad is not None
    assert values.grad[0, 0] == 0.0  # the clipped branch is active: no gradient through V
    assert values.grad[0, 1] == pytest.approx(0.5 * 2 * (0.0 - 0.1) / 2)
    plain = value_loss(values.detach(), old, returns, mask, clip=None)
    assert float(plain.loss) == pytest.approx(0.5 * (1.0 + 0.01) / 2)


P = torch.tensor([0.5, 0.3, 0.2])
Q = torch.tensor([0.1, 0.3, 0.6])
EXACT_KL_PQ = 0.5 * math.log(5.0) + 0.2 * math.log(0.2 / 0.6)  # 0.58500


def test_kl_estimators_are_unbiased_on_a_known_pair() -> None:
    logp, logq = P.log()[None, :], Q.log()[None, :]
    for estimator in ("k1", "k3"):
        per_token = kl_per_token(logp, logq, estimator=estimator)[0]
        # the expectation over tokens drawn from p equals KL(p || q) exactly
        assert float((P * per_token).sum()) == pytest.approx(EXACT_KL_PQ, abs=1e-6)
    assert round(EXACT_KL_PQ, 3) == 0.585


def test_kl_estimator_signs_and_sampled_magnitude() -> None:
    logp, logq = P.log()[None, :], Q.log()[None, :]
    k1 = kl_per_token(logp, logq, estimator="k1")[0]
    k3 = kl_per_token(logp, logq, estimator="k3")[0]
    assert float(k1[2]) < 0  # a token q likes more than p: k1 is negative on it
    assert bool((k3 >= 0).all())  # k3 never is
    gen = torch.Generator().manual_seed(0)
    draws = torch.multinomial(P, 100_000, replacement=True, generator=gen)
    for est in (k1, k3):
        assert float(est[draws].mean()) == pytest.approx(EXACT_KL_PQ, abs=0.02)
    # the policy equal to the reference: zero KL
    assert float(kl_per_token(logp, logp, estimator="k3").abs().max()) == 0.0
    with pytest.raises(ValueError):
        kl_per_token(logp, logq, estimator="k2")  # type: ignore[arg-type]


def test_token_rewards_put_the_score_on_the_last_response_token() -> None:
    kl = torch.tensor([[5.0, 0.5, 0.2, -0.1], [5.0, 5.0, 5.0, 1.0]])
    mask = torch.tensor([[0, 1, 1, 1], [0, 0, 0, 1]], dtype=torch.bool)
    r = token_rewards(torch.tensor([2.0, -1.0]), kl, mask, kl_coef=0.1)
    assert r.flatten().tolist() == pytest.approx([0.0, -0.05, -0.02, 0.01 + 2.0, 0.0, 0.0, 0.0, -0.1 - 1.0])


def test_adaptive_kl_controller_by_hand() -> None:
    fixed = KLController(0.1)
    assert fixed.update(100.0, 64) == 0.1
    ctl = KLController(0.1, adaptive=True, target=6.0, horizon=100)
    # KL 9 vs target 6: error 0.5 clipped to 0.2; coef *= 1 + 0.2 * 10 / 100
    assert ctl.update(9.0, 10) == pytest.approx(0.102)
    # KL 3: error -0.5 clipped to -0.2
    assert ctl.update(3.0, 10) == pytest.approx(0.102 * 0.98)
    # KL 6.6: error 0.1 (inside the clip)
    assert ctl.update(6.6, 10) == pytest.approx(0.102 * 0.98 * 1.01)
