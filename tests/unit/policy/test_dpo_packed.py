"""The packed DPO layout (one row per pair, prompt shared through a custom attention mask) against ``concat``.

Equal sequence log-probs and equal LoRA gradients in fp32 with gradient checkpointing on, for prompts and responses
of different lengths (left and right padding), with and without rejected responses, under ``sdpa`` (boolean mask)
and ``eager`` (additive mask) attention; the trainer's layout choice; a tiny DPO run under checkpointing.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from rlaif.policy import DPOConfig, load_policy, train_dpo
from rlaif.policy.dpo_batch import (
    PackedLayoutUnsupported,
    batch_logps,
    choose_layout,
    collate_pairs,
    packed_attention_mask,
    packed_mask_kind,
)
from rlaif.policy.dpo_data import PreferenceRow, TokenizedRow, tokenize_pairs
from rlaif.training import LoraSettings, read_metrics

ROWS = [
    PreferenceRow("a", "The capital of France is", " Paris, a city on the Seine.", " Berlin.", 1.0),
    PreferenceRow(
        "b",
        "Water boils at a temperature that everyone knows, which is",
        " 100.",
        " the sun is a star and so on and so on.",
        1.0,
    ),
    PreferenceRow("c", "Hi", " The waves come in, the waves go out.", " No.", 1.0),
]


def _policy(tiny: Path, attn: str = "sdpa") -> Any:
    torch.manual_seed(0)
    policy = load_policy(
        str(tiny), lora=LoraSettings(r=4, alpha=8), device="cpu", dtype="float32", gradient_checkpointing=True
    )
    policy.model.config._attn_implementation = attn
    with torch.no_grad():  # B starts at zero: randomise it so the adapter changes the outputs
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    policy.model.train()
    return policy


def _logps_and_grads(
    model: Any, pairs: list[TokenizedRow], pad_id: int, layout: str, *, with_rejected: bool = True
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    batch = collate_pairs(
        pairs,
        pad_id,
        indices=list(range(len(pairs))),
        layout=layout,  # type: ignore[arg-type]
        with_rejected=with_rejected,
    )
    seq = batch_logps(model, batch)
    weights = torch.linspace(-1.0, 2.0, seq.numel())  # every sequence's gradient counts, with its own sign
    (seq * weights).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return seq.detach(), grads


def _assert_same(
    a: tuple[torch.Tensor, dict[str, torch.Tensor]], b: tuple[torch.Tensor, dict[str, torch.Tensor]]
) -> None:
    """Equal up to fp32 rounding: the sums of ~20-40 token log-probs (|value| ~ 100, where one ulp is 7.6e-6),
    gradients to 1e-5 of their norm (the shared layout differs from concat by as much: ~2e-6 on these rows)."""
    assert torch.allclose(a[0], b[0], atol=1e-5, rtol=1e-6), (a[0], b[0])
    assert a[1].keys() == b[1].keys() and a[1]
    for name, g in a[1].items():
        assert float(g.abs().max()) > 1e-2, name  # every adapter weight gets a real gradient
        assert float((g - b[1][name]).norm()) <= 1e-5 * float(g.norm()), name
        assert torch.allclose(g, b[1][name], atol=5e-5, rtol=1e-4), name


def test_packed_rows_positions_and_mask() -> None:
    pairs = [TokenizedRow(0, [5, 6, 7], [8, 9], [10], 1.0), TokenizedRow(1, [11], [12], [13, 14, 15], 0.5)]
    batch = collate_pairs(pairs, 0, indices=[0, 1], layout="packed")
    t = batch.tensors
    # prompt width 3, responses width max(2 + 1, 1 + 3) = 4
    assert t["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10, 0], [0, 0, 11, 12, 13, 14, 15]]
    assert t["segments"].tolist() == [[1, 1, 1, 2, 2, 3, 0], [0, 0, 1, 2, 3, 3, 3]]
    # the rejected span restarts at the prompt length
    assert t["position_ids"].tolist() == [[0, 1, 2, 3, 4, 3, 0], [0, 0, 0, 1, 1, 2, 3]]
    assert batch.response_tokens.tolist() == [2, 1, 1, 3]
    mask = packed_attention_mask(t["segments"], "bool")[:, 0]
    assert mask.shape == (2, 7, 7)
    assert mask.any(-1).all()  # no fully masked query row
    row = mask[0].int().tolist()
    assert row[5] == [1, 1, 1, 0, 0, 1, 0]  # rejected: the prompt and itself, never the chosen tokens
    assert row[4] == [1, 1, 1, 1, 1, 0, 0]  # chosen: the prompt and earlier chosen tokens
    assert row[6] == [0, 0, 0, 0, 0, 0, 1]  # padding: only itself
    assert mask[1, 0].int().tolist() == [1, 0, 0, 0, 0, 0, 0]  # left padding: only itself
    assert mask[1, 2].int().tolist() == [0, 0, 1, 0, 0, 0, 0]  # the prompt never sees the padding
    additive = packed_attention_mask(t["segments"], "additive", torch.bfloat16)
    assert additive.dtype == torch.bfloat16
    assert torch.equal(additive[:, 0] == 0, mask)
    assert float(additive.min()) == torch.finfo(torch.bfloat16).min
    sft = collate_pairs(pairs, 0, indices=[0, 1], layout="packed", with_rejected=False)
    assert sft.tensors["input_ids"].tolist() == [[5, 6, 7, 8, 9], [0, 0, 11, 12, 0]]
    with pytest.raises(ValueError, match="non-empty prompt"):
        collate_pairs([TokenizedRow(0, [], [1], [2], 1.0)], 0, indices=[0], layout="packed")


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_equals_concat_logps_and_lora_gradients_under_checkpointing(
    tiny_model_dir: Path, attn: str
) -> None:
    policy = _policy(tiny_model_dir, attn)
    model = policy.model
    assert any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())
    pairs, _ = tokenize_pairs(policy, ROWS, max_length=256, max_prompt_length=128, prompt_format="plain")
    assert len({len(p.prompt_ids) for p in pairs}) == 3  # left padding in both layouts
    assert len({len(p.chosen_ids) + len(p.rejected_ids) for p in pairs}) > 1  # right padding in packed
    assert len({len(p.chosen_ids) for p in pairs}) == 3  # the rejected spans start at different columns
    concat = _logps_and_grads(model, pairs, policy.pad_id, "concat")
    packed = _logps_and_grads(model, pairs, policy.pad_id, "packed")
    assert packed[0].shape == (6,)
    _assert_same(concat, packed)
    # the reference forward: no gradient, adapter off
    with torch.no_grad(), model.disable_adapter():
        ref = {
            layout: batch_logps(model, collate_pairs(pairs, policy.pad_id, indices=[0, 1, 2], layout=layout))
            for layout in ("concat", "packed")
        }
    assert torch.allclose(ref["concat"], ref["packed"], atol=1e-5, rtol=1e-6)
    assert not torch.allclose(ref["packed"], packed[0], atol=1e-2)  # the adapter really changed the policy


def test_packed_equals_concat_without_rejected(tiny_model_dir: Path) -> None:
    policy = _policy(tiny_model_dir)
    pairs, _ = tokenize_pairs(
        policy, ROWS, max_length=256, max_prompt_length=128, prompt_format="plain", with_rejected=False
    )
    concat = _logps_and_grads(policy.model, pairs, policy.pad_id, "concat", with_rejected=False)
    packed = _logps_and_grads(policy.model, pairs, policy.pad_id, "packed", with_rejected=False)
    assert packed[0].shape == (3,)
    _assert_same(concat, packed)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_under_bf16_autocast(tiny_model_dir: Path, attn: str) -> None:
    policy = _policy(tiny_model_dir, attn)
    pairs, _ = tokenize_pairs(policy, ROWS, max_length=256, max_prompt_length=128, prompt_format="plain")
    seqs = {}
    for layout in ("concat", "packed"):
        batch = collate_pairs(pairs, policy.pad_id, indices=[0, 1, 2], layout=layout)  # type: ignore[arg-type]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            seq = batch_logps(policy.model, batch)
        seq.sum().backward()
        assert seq.dtype == torch.float32 and torch.isfinite(seq).all()
        assert all(torch.isfinite(p.grad).all() for p in policy.model.parameters() if p.requires_grad)
        seqs[layout] = seq.detach()
    fp32 = batch_logps(policy.model, batch).detach()
    # bf16 rounds along different paths in the two layouts: close (measured: 2e-3), not bit-equal
    assert torch.allclose(seqs["concat"], seqs["packed"], atol=2e-2, rtol=0)
    assert torch.allclose(seqs["packed"], fp32, atol=0.1, rtol=0)


def test_layout_choice() -> None:
    def fake(impl: str, **extra: object) -> Any:
        return SimpleNamespace(config=SimpleNamespace(_attn_implementation=impl, **extra))

    assert choose_layout(fake("sdpa"), share_prompt=True, gradient_checkpointing=False)[0] == "packed"
    # without checkpointing, an implementation that cannot take the mask still shares the prompt (KV cache)
    assert (
        choose_layout(fake("flash_attention_2"), share_prompt=True, gradient_checkpointing=False)[0]
        == "shared"
    )
    assert choose_layout(fake("sdpa"), share_prompt=True, gradient_checkpointing=True)[0] == "packed"
    assert choose_layout(fake("eager"), share_prompt=True, gradient_checkpointing=True)[0] == "packed"
    assert choose_layout(fake("sdpa"), share_prompt=False, gradient_checkpointing=True)[0] == "concat"
    layout, why = choose_layout(fake("flash_attention_2"), share_prompt=True, gradient_checkpointing=True)
    assert layout == "concat" and "flash_attention_2" in why
    windowed = fake("sdpa", sliding_window=4096)
    assert choose_layout(windowed, share_prompt=True, gradient_checkpointing=True)[0] == "concat"
    # a window the model does not use (Qwen2's use_sliding_window: false) is no obstacle
    unused = fake("sdpa", sliding_window=4096, use_sliding_window=False)
    assert choose_layout(unused, share_prompt=True, gradient_checkpointing=True)[0] == "packed"
    # through a DDP-style wrapper
    assert packed_mask_kind(SimpleNamespace(module=fake("eager"))) == "additive"
    with pytest.raises(PackedLayoutUnsupported, match="flash_attention_2"):
        packed_mask_kind(fake("flash_attention_2"))


def _config(tiny: Path, labels: Path, out: Path, **update: object) -> DPOConfig:
    return DPOConfig.model_validate(
        {
            "model": str(tiny),
            "labels": str(labels),
            "output_dir": str(out),
            "lora": {"r": 4, "alpha": 8},
            "optim": {"lr": 1e-2},
            "run": {"batch_size": 4, "device": "cpu", "gradient_checkpointing": True, "max_steps": 3},
            **update,
        }
    )


def test_dpo_run_with_checkpointing_uses_packed_and_matches_concat(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"Question {i}: what is the sun?" + " Tell me more." * (i % 3),
                    "chosen": "The sun is a star." * (1 + i % 2),
                    "rejected": "The sun is a big ball of fire that is very hot " * (1 + i % 3),
                    "p_chosen": 0.9 if i % 2 else 1.0,
                }
            )
            + "\n"
            for i in range(12)
        )
    )
    packed = train_dpo(_config(tiny_model_dir, labels, tmp_path / "packed"), progress=False)
    concat = train_dpo(
        _config(tiny_model_dir, labels, tmp_path / "concat", share_prompt=False), progress=False
    )
    cached = train_dpo(
        _config(tiny_model_dir, labels, tmp_path / "cached", precompute_reference=True), progress=False
    )
    assert packed.summary["layout"] == "packed" and cached.summary["layout"] == "packed"
    assert concat.summary["layout"] == "concat"
    assert cached.summary["reference"] == "precomputed"
    sidecar = json.loads((packed.model_dir / "rlaif.json").read_text())
    assert sidecar["summary"]["layout"] == "packed"
    runs = {k: read_metrics(tmp_path / k / "metrics.jsonl") for k in ("packed", "concat", "cached")}
    assert [r["step"] for r in runs["packed"]] == [1, 2, 3]
    for key in ("loss", "logps/chosen", "logps/rejected", "rewards/margin", "grad_norm"):
        for step in range(3):
            want = runs["concat"][step][key]
            assert runs["packed"][step][key] == pytest.approx(want, abs=1e-4, rel=1e-4), (key, step)
            assert runs["cached"][step][key] == pytest.approx(want, abs=1e-4, rel=1e-4), (key, step)
    assert runs["packed"][-1]["rewards/margin"] != 0.0  # training moved the policy
