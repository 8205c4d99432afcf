"""PPO in two processes (DDP over gloo) against one process, with rollouts fixed per prompt.

Sampling draws from a per-process seed, so two sampled runs cannot be compared step by step. Everything after
sampling can: with responses that depend only on the prompt, the two processes generate and score 4 prompts each,
gather the experience, compute the same GAE and whitening over all 8, and split every minibatch of 4 in two halves
whose token-weighted losses DDP averages into the one-process gradient. The per-step losses, KL, entropy and
gradient norms must then agree up to float rounding (relative 1e-4). A second run in the same processes samples
for real (each process its own share, its own seed) and must train and export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    ROOT,
    assert_curves_match,
    assert_rank0_wrote_everything,
    launch,
    run_here,
    train_records,
)

pytestmark = pytest.mark.distributed

STYLE = str(ROOT / "principles" / "style.yaml")
# LoRA on the output layer too: a random tiny model's logits are nearly flat and only move through it
TINY_LORA = {"r": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj", "lm_head"]}
KEYS = ["reward_mean", "kl", "policy_loss", "value_loss", "approx_kl", "entropy", "ratio", "grad_norm"]


def _config(model: Path, prompts: Path, out: Path, **over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "model": str(model),
        "prompts": str(prompts),
        "prompt_split": None,
        "output_dir": str(out),
        "reward": {"rules": {"constitution": STYLE, "principles": ["no_shouting"]}, "no_eos_penalty": 0.5},
        "max_new_tokens": 10,
        "rollout_batch": 8,
        "minibatch": 4,
        "ppo_epochs": 2,
        "steps": 3,
        "optim": {"lr": 3e-3, "schedule": "constant"},
        "lora": TINY_LORA,
        "kl": {"coef": 0.05},
        "early_stop_kl": 10.0,  # never reached, but its cross-process sum runs at every minibatch
        "run": {"device": "cpu", "save_every": 2, "batch_size": 1, "seed": 5},
    }
    raw.update(over)
    return raw


def test_two_processes_match_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "prompt": f"Question number {i}: say something."}) + "\n"
            for i in range(12)
        )
    )
    one, two, sampled = tmp_path / "one", tmp_path / "two", tmp_path / "sampled"
    run_here(
        {"runs": [{"trainer": "ppo", "config": _config(tiny_model_dir, prompts, one)}]}, tmp_path / "here"
    )
    reports = launch(
        {
            "runs": [
                {"trainer": "ppo", "config": _config(tiny_model_dir, prompts, two)},
                {
                    "trainer": "ppo",
                    "engine": "default",
                    "config": _config(tiny_model_dir, prompts, sampled, steps=2, ppo_epochs=1),
                },
            ]
        },
        tmp_path / "launch",
    )
    ref, got = train_records(one), train_records(two)
    assert [r["step"] for r in ref] == [1, 2, 3]
    assert (
        ref[-1]["kl"] > 1e-4 and ref[-1]["approx_kl"] > 0
    )  # the policy moved, so matching curves mean something
    worst = assert_curves_match(ref, got, KEYS, rel=1e-4, abs_=1e-7)
    print(f"PPO: largest relative difference over 3 steps: {worst:.2e}")
    assert [r["ppo_updates"] for r in got] == [r["ppo_updates"] for r in ref] == [4.0, 4.0, 4.0]
    assert_rank0_wrote_everything(reports)
    assert [(c["folder"].endswith("two/checkpoints"), c["step"]) for c in reports[0]["checkpoints"]] == [
        (True, 2),
        (True, 3),
        (False, 2),
    ]

    # the exported adapters load; the fixed-rollout one equals the one-process adapter
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    a = load_file(str(one / "model" / "adapter_model.safetensors"))
    b = load_file(str(two / "model" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-5)
    sampled_records = train_records(sampled)
    assert [r["step"] for r in sampled_records] == [1, 2]
    assert sampled_records[-1]["tokens/generated"] > 8  # 8 responses of at least one token each
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    PeftModel.from_pretrained(base, str(sampled / "model"))
