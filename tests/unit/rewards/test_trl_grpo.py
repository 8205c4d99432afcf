"""TRL's GRPO trainer trains a few steps on a tiny random policy, on CPU, with rlaif's reward function, and the
rewards it computed reach the trainer's logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlaif.reward import RewardModel
from rlaif.rewards import reward_function

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_grpo_trains_with_the_rlaif_reward(
    tiny_model_dir: Path, tiny_rm_dir: Path, style_path: Path, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    fn = reward_function(
        reward_model=RewardModel.load(tiny_rm_dir, device="cpu"), constitution=style_path, k=1, seed=0
    )
    seen: list[list[float]] = []

    def recording(prompts: Any, completions: Any, **kwargs: Any) -> list[float | None]:
        rewards = fn(prompts, completions, **kwargs)
        seen.append([float(r) for r in rewards if r is not None])
        return rewards

    recording.__name__ = fn.__name__  # type: ignore[attr-defined]
    rows = [{"prompt": [{"role": "user", "content": f"Question number {i}?"}]} for i in range(4)]
    rows[0]["principles"] = ["concise"]  # a row that steers its own reward
    for r in rows[1:]:
        r["principles"] = None
    policy = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=6,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
        learning_rate=1e-3,
    )
    trainer = trl.GRPOTrainer(
        model=policy,
        reward_funcs=recording,
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    key = f"rewards/{fn.__name__}/mean"
    logged = [h[key] for h in trainer.state.log_history if key in h]
    assert len(logged) == 2 and len(seen) >= 2
    for value, rewards in zip(logged, seen, strict=False):
        assert value == pytest.approx(sum(rewards) / len(rewards), abs=1e-4)
