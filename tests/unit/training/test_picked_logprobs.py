"""The hand-written backward of ``picked_logprobs`` against autograd's log-softmax + gather."""

from __future__ import annotations

import pytest
import torch

from rlaif.training.cpu_memory import keep_freed_memory
from rlaif.training.logprobs import picked_logprobs


def _reference(x: torch.Tensor, t: torch.Tensor, shift: bool) -> torch.Tensor:
    logp = torch.log_softmax(x, dim=-1)
    if shift:
        logp = logp[..., :-1, :]
    return logp.gather(-1, t.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("shift", [False, True])
def test_values_and_gradients_match_autograd(shift: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 5 + int(shift), 13, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 13, (3, 5))
    assert torch.autograd.gradcheck(lambda z: picked_logprobs(z, t, shift=shift), (x,))
    w = torch.randn(3, 5, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((picked_logprobs(x, t, shift=shift) * w).sum(), x)
    (g_ref,) = torch.autograd.grad((_reference(x, t, shift) * w).sum(), x)
    assert torch.allclose(picked_logprobs(x, t, shift=shift), _reference(x, t, shift), atol=1e-12)
    assert torch.allclose(g_ours, g_ref, atol=1e-12)
    if shift:  # the unused last position gets no gradient
        assert torch.count_nonzero(g_ours[:, -1, :]) == 0


def test_half_precision_logits_are_scored_in_float32() -> None:
    x = torch.randn(2, 4, 7).to(torch.bfloat16).requires_grad_()
    t = torch.randint(0, 7, (2, 4))
    out = picked_logprobs(x, t)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.bfloat16


def test_malloc_tuning_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import rlaif.training.cpu_memory as cm

    monkeypatch.setattr(cm, "_done", False)
    monkeypatch.setenv("RLAIF_MALLOC_TUNING", "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("RLAIF_MALLOC_TUNING")
    import sys

    assert keep_freed_memory() is sys.platform.startswith("linux")
