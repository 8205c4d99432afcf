"""Fixtures for the reward-adapter tests: a tiny trained reward model over the shipped style constitution."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.resources import shipped_dir


@pytest.fixture(scope="session")
def style_path() -> Path:
    return shipped_dir("principles") / "style.yaml"


@pytest.fixture(scope="session")
def tiny_rm_dir(tiny_model_dir: Path, style_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model trained for one epoch on 12 tiny pairs (exported adapter folder)."""
    import json

    from rlaif.reward import RewardConfig, train_reward_model
    from rlaif.training import OptimSettings, RunSettings

    tmp = tmp_path_factory.mktemp("tiny-rm")
    labels = tmp / "labels.jsonl"
    rows = [
        {
            "prompt": f"Question number {i}?",
            "chosen": "A calm answer.",
            "rejected": "SHOUTING! " * (1 + i % 3),
            "p_chosen": 0.9,
            "principles": ["no_exclamations@1"],
            "prompt_id": f"q{i}",
            "pair_id": f"q{i}:0-1",
        }
        for i in range(12)
    ]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = RewardConfig(
        data=labels,
        constitution=style_path,
        output_dir=tmp / "rm",
        model=str(tiny_model_dir),
        optim=OptimSettings(lr=1e-2),
        val_fraction=0.0,
        run=RunSettings(batch_size=4, epochs=1, device="cpu"),
    )
    return Path(train_reward_model(cfg, progress=False).model_dir)
