"""Loading a trainable policy; the reference is the same weights with the adapter disabled."""

from __future__ import annotations

from pathlib import Path

import torch

from rlaif.backends.base import ChatMessage
from rlaif.policy import generate_greedy, load_policy
from rlaif.training import LoraSettings, pad_left, response_mask_left, token_logprobs


def test_policy_adapter_and_reference(tiny_model_dir: Path) -> None:
    policy = load_policy(str(tiny_model_dir), lora=LoraSettings(r=4, alpha=8), device="cpu")
    conv = (ChatMessage("user", "hello there"),)
    p_ids = policy.encode_prompt(conv)
    r_ids = policy.encode_response("hi")
    assert r_ids[-1] == policy.tokenizer.eos_token_id
    ids, mask = pad_left([p_ids + r_ids], policy.pad_id)
    rmask = response_mask_left([len(p_ids)], [len(p_ids) + len(r_ids)], ids.shape[1])
    with torch.no_grad():
        on, _ = token_logprobs(policy.model, ids, mask, rmask)
        with policy.model.disable_adapter():
            off, _ = token_logprobs(policy.model, ids, mask, rmask)
    # fresh LoRA (B = 0) is the identity: policy == reference
    assert torch.allclose(on, off, atol=1e-6)
    with torch.no_grad():
        for n, p in policy.model.named_parameters():
            if "lora_B" in n:
                p.add_(0.05)
        on2, _ = token_logprobs(policy.model, ids, mask, rmask)
        with policy.model.disable_adapter():
            off2, _ = token_logprobs(policy.model, ids, mask, rmask)
    assert not torch.allclose(on2, off2, atol=1e-4)
    assert torch.allclose(off2, off, atol=1e-6)
    outs = generate_greedy(policy, [conv, "plain text prompt"], max_new_tokens=5)
    assert len(outs) == 2 and all(isinstance(o, str) for o in outs)
    assert policy.model.training
