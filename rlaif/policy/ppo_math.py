"""The arithmetic of PPO on token sequences: masked statistics, GAE, advantage whitening, the clipped policy and
value losses, KL estimators and the KL-penalty controllers.

Everything here works on ``[B, T]`` tensors with a boolean (or 0/1) ``mask`` marking response tokens. Column ``t``
holds what belongs to response token ``t`` (its log-probability, the value of the state it was chosen in, its
reward), the layout :func:`rlaif.training.token_logprobs` returns. Masked-out positions never contribute.

References: Schulman et al. 2017 (PPO), Schulman et al. 2016 (GAE), Ziegler et al. 2019 (per-token KL penalty and
the adaptive controller), Schulman 2020 "Approximating KL divergence" (the k1/k3 estimators).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

KLEstimator = Literal["k1", "k3"]


def masked_sum(x: Any, mask: Any, dim: int | None = None) -> Any:
    """Sum of ``x`` where ``mask`` is true (over ``dim``, or everything)."""
    m = mask.to(x.dtype)
    return (x * m).sum() if dim is None else (x * m).sum(dim)


def masked_mean(x: Any, mask: Any, dim: int | None = None) -> Any:
    """Mean of ``x`` over the positions where ``mask`` is true (0 when none is)."""
    m = mask.to(x.dtype)
    if dim is None:
        return (x * m).sum() / m.sum().clamp(min=1.0)
    return (x * m).sum(dim) / m.sum(dim).clamp(min=1.0)


def masked_var(x: Any, mask: Any, *, unbiased: bool = True) -> Any:
    """Variance of the masked entries of ``x`` (Bessel-corrected by default)."""
    mean = masked_mean(x, mask)
    n = mask.to(x.dtype).sum()
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased and float(n) > 1:
        var = var * n / (n - 1)
    return var


def whiten(x: Any, mask: Any, *, shift_mean: bool = True, eps: float = 1e-8) -> Any:
    """``(x - mean) / sqrt(var + eps)`` over the masked entries (mean kept when ``shift_mean`` is false).

    Masked-out entries are returned as zero.
    """
    import torch

    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * mask.to(x.dtype)


class Advantages(NamedTuple):
    """GAE advantages and the value targets (returns = advantages + values), both ``[B, T]``, zero off the mask."""

    advantages: Any
    returns: Any


def gae(rewards: Any, values: Any, mask: Any, *, gamma: float, lam: float) -> Advantages:
    """Generalised advantage estimation over each row's masked tokens, last to first.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``, where ``t+1`` is the next
    masked token of the row; after the last one ``V = 0`` and ``A = 0`` (the episode ends with the response).
    """
    import torch

    mask_b = mask.bool()
    batch, width = rewards.shape
    adv = torch.zeros_like(rewards)
    next_value = torch.zeros(batch, dtype=rewards.dtype, device=rewards.device)
    next_adv = torch.zeros_like(next_value)
    for t in range(width - 1, -1, -1):
        m = mask_b[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        a = delta + gamma * lam * next_adv
        adv[:, t] = torch.where(m, a, torch.zeros_like(a))
        next_value = torch.where(m, values[:, t], next_value)
        next_adv = torch.where(m, a, next_adv)
    returns = (adv + values) * mask_b.to(values.dtype)
    return Advantages(adv, returns)


def kl_per_token(logps: Any, ref_logps: Any, *, estimator: KLEstimator = "k1") -> Any:
    """Per-token estimate of KL(policy ‖ reference) from log-probabilities of tokens sampled from the policy.

    ``k1 = log p - log q`` is unbiased but can be negative on a single token; ``k3 = (r - 1) - log r`` with
    ``r = q / p`` is unbiased too and never negative (lower variance). Summed over a response, either estimates the
    sequence KL.
    """
    import torch

    log_ratio = logps - ref_logps
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}")


def token_rewards(scores: Any, kl: Any, mask: Any, kl_coef: float) -> Any:
    """Per-token rewards: ``-kl_coef * kl`` on every response token, plus the sequence score on its last token."""
    import torch

    mask_b = mask.bool()
    rewards = -kl_coef * kl * mask_b.to(kl.dtype)
    width = mask_b.shape[1]
    idx = torch.arange(width, device=mask_b.device).expand_as(mask_b)
    last = torch.where(mask_b, idx, torch.full_like(idx, -1)).max(dim=1).values  # [B]
    rows = torch.nonzero(last >= 0).squeeze(-1)
    rewards[rows, last[rows]] += scores[rows].to(rewards.dtype)
    return rewards


class PolicyLoss(NamedTuple):
    """The clipped surrogate loss and what to monitor about it."""

    loss: Any
    clipfrac: Any  # fraction of tokens where the clipped term was the active one
    approx_kl: Any  # k3 estimate of KL(old ‖ new) over the tokens
    ratio_mean: Any


def policy_loss(logps: Any, old_logps: Any, advantages: Any, mask: Any, *, clip: float) -> PolicyLoss:
    """PPO's clipped surrogate ``mean(max(-A r, -A clip(r, 1-ε, 1+ε)))`` over the masked tokens.

    Where the clipped term is the larger loss its gradient is zero, so a token whose ratio left the trust region in
    the direction its advantage favours stops pulling.
    """
    import torch

    log_ratio = logps - old_logps
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).to(logps.dtype), mask)
        approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)
        ratio_mean = masked_mean(ratio, mask)
    return PolicyLoss(loss, clipfrac, approx_kl, ratio_mean)


class ValueLoss(NamedTuple):
    """The clipped value loss and the fraction of tokens where clipping was active."""

    loss: Any
    clipfrac: Any


def value_loss(values: Any, old_values: Any, returns: Any, mask: Any, *, clip: float | None) -> ValueLoss:
    """``0.5 * mean(max((V - R)^2, (V_clipped - R)^2))``; ``V_clipped`` stays within ``clip`` of the old value.

    ``clip=None`` gives the plain squared error.
    """
    import torch

    err = (values - returns) ** 2
    if clip is None:
        return ValueLoss(0.5 * masked_mean(err, mask), torch.zeros((), device=values.device))
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    err_clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(err, err_clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((err_clipped > err).to(values.dtype), mask)
    return ValueLoss(loss, clipfrac)


@dataclass
class KLController:
    """The KL penalty coefficient: fixed, or adapted toward a target KL (Ziegler et al. 2019).

    The adaptive rule: ``e = clip(KL / target - 1, -0.2, 0.2)``; ``coef *= 1 + e * n / horizon`` after ``n`` more
    samples, so a KL above target raises the penalty and one below lowers it, by at most 20% per horizon.
    """

    coef: float
    adaptive: bool = False
    target: float = 6.0
    horizon: int = 10000

    def update(self, current_kl: float, n_samples: int) -> float:
        """Move the coefficient given the mean sequence KL of the last ``n_samples`` rollouts; returns it."""
        if self.adaptive:
            error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
            self.coef *= 1.0 + error * n_samples / self.horizon
        return self.coef


__all__ = [
    "Advantages",
    "KLController",
    "KLEstimator",
    "PolicyLoss",
    "ValueLoss",
    "gae",
    "kl_per_token",
    "masked_mean",
    "masked_sum",
    "masked_var",
    "policy_loss",
    "token_rewards",
    "value_loss",
    "whiten",
]
