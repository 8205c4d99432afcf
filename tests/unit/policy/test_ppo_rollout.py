"""Rollouts and the tensors PPO learns from, on the tiny model: responses keep the EOS that ended them, sampling is
seeded, the value head reads the same hidden states a separate forward would give, and the reference differs from
the policy only through the adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from rlaif.policy.model import load_policy
from rlaif.policy.rollout import TransformersRolloutEngine, eos_token_ids, forward_tokens, make_value_head
from rlaif.training import pad_left, response_mask_left

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def policy(tiny_model_dir: Path) -> Any:
    return load_policy(str(tiny_model_dir), device="cpu")


def test_rollout_samples_keep_their_eos_and_are_seeded(policy: Any) -> None:
    engine = TransformersRolloutEngine(policy.model, policy.tokenizer, pad_id=policy.pad_id, batch_size=3)
    assert engine.eos_ids == [0, 2]  # <|endoftext|> and <|im_end|>
    prompts = [
        policy.encode_prompt("Hello there?"),
        policy.encode_prompt("Why is the sea blue? Tell me."),
    ] * 4
    a = engine.generate(prompts, max_new_tokens=200, temperature=1.0, seed=7)
    b = engine.generate(prompts, max_new_tokens=200, temperature=1.0, seed=7)
    assert a == b
    assert policy.model.training  # put back in training mode
    finished = [s for s in a if s.finished]
    assert finished, "a random tiny model ends some of 8 responses within 200 tokens"
    for s in a:
        assert 1 <= len(s.token_ids) <= 200
        if s.finished:
            assert s.token_ids[-1] in (0, 2) and not set(s.token_ids[:-1]) & {0, 2}
            assert s.text == policy.tokenizer.decode(list(s.token_ids[:-1]), skip_special_tokens=True)
        else:
            assert len(s.token_ids) == 200 and not set(s.token_ids) & {0, 2}
    short = engine.generate(prompts[:2], max_new_tokens=3, temperature=1.0, seed=1)
    assert all(len(s.token_ids) <= 3 for s in short)


def test_eos_ids_come_from_generation_config_and_tokenizer(policy: Any) -> None:
    assert eos_token_ids(policy.model, policy.tokenizer) == [0, 2]


def _batch(policy: Any) -> tuple[Any, Any, Any]:
    prompts = [policy.encode_prompt("Hi?"), policy.encode_prompt("What is the capital of France?")]
    responses = [[5, 6, 7, 0], [8, 9]]
    seqs = [p + r for p, r in zip(prompts, responses, strict=True)]
    ids, attn = pad_left(seqs, policy.pad_id)
    mask = response_mask_left([len(p) for p in prompts], [len(s) for s in seqs], ids.shape[1])
    return ids, attn, mask


def test_value_head_reads_the_hidden_state_before_each_response_token(policy: Any) -> None:
    ids, attn, mask = _batch(policy)
    torch.manual_seed(0)
    head = make_value_head(policy.model.config.hidden_size)
    torch.nn.init.normal_(head.weight)  # non-zero, to see the alignment
    with torch.no_grad():
        out = forward_tokens(policy.model, ids, attn, mask, temperature=1.0, value_head=head)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        hidden = policy.model(
            input_ids=ids, attention_mask=attn, position_ids=pos, output_hidden_states=True
        ).hidden_states[-1]
        full = head(hidden).squeeze(-1)  # value of the state at each position
    assert out.values is not None
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            if mask[b, t]:
                assert float(out.values[b, t]) == pytest.approx(float(full[b, t - 1]), abs=1e-5)
            else:
                assert float(out.values[b, t]) == 0.0


def test_reference_is_the_policy_without_its_adapter(policy: Any) -> None:
    ids, attn, mask = _batch(policy)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
        policy_lp = forward_tokens(policy.model, ids, attn, mask, temperature=1.0).logps
        with policy.model.disable_adapter():
            ref_lp = forward_tokens(policy.model, ids, attn, mask, temperature=1.0).logps
        base = load_policy(str(policy.model.config._name_or_path), device="cpu")
        base_lp = forward_tokens(base.model, ids, attn, mask, temperature=1.0).logps
    torch.testing.assert_close(ref_lp, base_lp, rtol=0, atol=1e-5)
    assert float((policy_lp - ref_lp).abs().max()) > 1e-3
