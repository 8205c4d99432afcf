"""Preference losses on soft AI labels: sigmoid DPO, IPO, and the SFT (negative log-likelihood) term.

Notation, per pair: ``p`` = p(chosen ≻ rejected) from the labels (1 for a hard label), ``π`` the policy, ``π_ref`` the
reference, ``log π(y|x)`` the sum of the response's token log-probabilities.

* **sigmoid** (DPO, Rafailov et al. 2023, eq. 7), with soft targets: the margin
  ``m = [log π(y_c|x) − log π_ref(y_c|x)] − [log π(y_r|x) − log π_ref(y_r|x)]`` gives the implied preference
  ``σ(β·m)``; the loss is the cross-entropy between the label and it,
  ``−p·log σ(β·m) − (1 − p)·log σ(−β·m)``. With ``p = 1`` this is the paper's loss. Its minimum sits at
  ``β·m = logit(p)``: a 0.6 label asks for a small margin, not an infinite one — the point of keeping soft labels.
* **ipo** (Azar et al. 2023, eq. 17), with ``h`` the difference of the *per-token mean* log-ratios (length-normalised
  as in the IPO authors' reference results and in TRL): ``p·(h − 1/(2β))² + (1 − p)·(h + 1/(2β))²``, the expected
  IPO loss when the pair's order is drawn with probability ``p``. Its minimum is ``h = (2p − 1)/(2β)``; ``p = 1``
  gives the paper's ``(h − 1/(2β))²``.
* **sft**: mean negative log-likelihood of the chosen response tokens (token-averaged over the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

LossType = Literal["sigmoid", "ipo", "sft"]


@dataclass(frozen=True)
class PreferenceLoss:
    """A preference loss on one batch of ``B`` pairs (tensors; ``loss`` is the scalar to minimise)."""

    loss: Any
    per_pair: Any  # [B] the preference term of each pair (zeros for loss="sft")
    sft: Any  # scalar: mean NLL of chosen tokens (computed for metrics even when its weight is 0)
    chosen_rewards: Any  # [B] β·(log π − log π_ref) of the chosen response (DPO's implicit reward)
    rejected_rewards: Any  # [B] the same for the rejected response


def sft_nll(sequence_logps: Any, response_tokens: Any) -> Any:
    """Mean negative log-likelihood per token of the chosen responses, pooled over the batch (a scalar).

    ``sequence_logps`` ``[B]`` are the responses' summed token log-probs, ``response_tokens`` ``[B]`` their lengths.
    """
    return -sequence_logps.sum() / response_tokens.sum().clamp(min=1.0)


def preference_loss(
    policy_chosen: Any,
    policy_rejected: Any,
    ref_chosen: Any,
    ref_rejected: Any,
    p_chosen: Any,
    *,
    beta: float,
    loss_type: LossType = "sigmoid",
    chosen_tokens: Any | None = None,
    rejected_tokens: Any | None = None,
    sft: Any | None = None,
    sft_weight: float = 0.0,
) -> PreferenceLoss:
    """The loss of a batch from sequence log-probabilities (each ``[B]``) and soft labels ``p_chosen`` ``[B]``.

    ``chosen_tokens`` / ``rejected_tokens`` (``[B]`` response lengths) are needed by IPO. ``sft`` is the chosen
    responses' mean NLL (see :func:`sft_nll`): it is added with ``sft_weight``, and is the whole loss for
    ``loss_type="sft"``.
    """
    import torch
    import torch.nn.functional as F

    chosen_logratio = policy_chosen - ref_chosen
    rejected_logratio = policy_rejected - ref_rejected
    p = p_chosen.to(policy_chosen.dtype)
    sft_term = sft if sft is not None else torch.zeros((), dtype=policy_chosen.dtype)
    if loss_type == "sigmoid":
        margin = beta * (chosen_logratio - rejected_logratio)
        per_pair = -(p * F.logsigmoid(margin) + (1.0 - p) * F.logsigmoid(-margin))
    elif loss_type == "ipo":
        if chosen_tokens is None or rejected_tokens is None:
            raise ValueError("the IPO loss needs the response lengths (chosen_tokens, rejected_tokens)")
        h = chosen_logratio / chosen_tokens.clamp(min=1) - rejected_logratio / rejected_tokens.clamp(min=1)
        target = 1.0 / (2.0 * beta)
        per_pair = p * (h - target) ** 2 + (1.0 - p) * (h + target) ** 2
    elif loss_type == "sft":
        if sft is None:
            raise ValueError("loss_type='sft' needs the chosen responses' NLL (sft=...)")
        per_pair = torch.zeros_like(policy_chosen)
    else:
        raise ValueError(f"unknown loss type {loss_type!r}: use sigmoid, ipo or sft")
    if loss_type == "sft":
        loss = sft_term
    else:
        loss = per_pair.mean() + (sft_weight * sft_term if sft_weight else 0.0)
    return PreferenceLoss(
        loss=loss,
        per_pair=per_pair,
        sft=sft_term,
        chosen_rewards=beta * chosen_logratio.detach(),
        rejected_rewards=beta * rejected_logratio.detach(),
    )
