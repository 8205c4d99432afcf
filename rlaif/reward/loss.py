"""The soft Bradley-Terry loss of a reward model.

With rewards r_c and r_r of the chosen and rejected response, a label p = P(chosen ≻ rejected), a margin m and a
weight w, the model's probability is σ(d) with d = r_c − r_r − m and the loss of a pair is the cross-entropy with the
soft target:

    ℓ = −[ p · log σ(d) + (1 − p) · log σ(−d) ]

Hard labels (p = 1) give the usual ``−log σ(r_c − r_r − m)`` of reward-model training. The batch loss is the
weighted mean Σ wᵢ ℓᵢ / Σ wᵢ (the plain mean when no weights are given). Its minimum over d is at σ(d) = p, so a model
trained on calibrated soft labels learns calibrated reward differences.
"""

from __future__ import annotations

from typing import Any


def soft_bradley_terry_loss(
    reward_chosen: Any,
    reward_rejected: Any,
    p_chosen: Any,
    *,
    margin: Any | None = None,
    weight: Any | None = None,
) -> tuple[Any, Any]:
    """(batch loss, per-pair losses) for ``[B]`` tensors of rewards and labels (optional ``[B]`` margins and weights)."""
    import torch
    import torch.nn.functional as F

    d = reward_chosen.float() - reward_rejected.float()
    if margin is not None:
        d = d - margin.float()
    p = p_chosen.float()
    per_pair = -(p * F.logsigmoid(d) + (1.0 - p) * F.logsigmoid(-d))
    if weight is None:
        return per_pair.mean(), per_pair
    w = weight.float()
    return (per_pair * w).sum() / torch.clamp(w.sum(), min=1e-12), per_pair
