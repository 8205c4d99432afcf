"""`train-rm` and `train-policy`: options generated from the trainer configs override --config only when given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlaif.cli.main import main
from rlaif.errors import RlaifError


class Stop(RlaifError):
    """Raised by the fake trainers once they have the config."""


def test_train_rm_options_override_the_file_only_when_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rlaif.reward

    seen: list[Any] = []

    def fake_train(cfg: Any, progress: bool = True) -> Any:
        seen.append(cfg)
        raise Stop("stop")

    monkeypatch.setattr(rlaif.reward, "train_reward_model", fake_train)
    config = tmp_path / "rm.yaml"
    config.write_text(
        "model: from-file\nmax_length: 128\nrun:\n  epochs: 3\n  batch_size: 2\nlora:\n  r: 4\n"
    )
    args = ["train-rm", "--config", str(config), "-d", "l.jsonl", "-c", "c.yaml", "-o", str(tmp_path / "o")]
    rc = main([*args, "--batch-size", "5", "--full-finetune", "--tracker", "tensorboard", "--no-resume"])
    assert rc == 1 and len(seen) == 1
    cfg = seen[0]
    assert (cfg.model, cfg.max_length, cfg.run.epochs, cfg.lora.r) == (
        "from-file",
        128,
        3,
        4,
    )  # from the file
    assert (cfg.run.batch_size, cfg.lora.enabled, cfg.run.trackers, cfg.run.resume) == (
        5,
        False,
        ["tensorboard"],
        False,
    )
    rc = main([*args, "--max-length", "64", "--lora-r", "8", "-s", "run.epochs=2", "--negation-prob", "0.5"])
    cfg = seen[1]
    assert (cfg.max_length, cfg.lora.r, cfg.run.epochs, cfg.augment.negation_prob) == (64, 8, 2, 0.5)
    assert cfg.lora.enabled and cfg.run.batch_size == 2


def test_train_policy_options_override_the_file_only_when_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rlaif.cli.train_policy as train_policy
    from rlaif.policy.dpo import DPOConfig

    seen: list[Any] = []

    def fake_train(cfg: Any, progress: bool = True) -> Any:
        seen.append(cfg)
        raise Stop("stop")

    monkeypatch.setattr(train_policy, "_load_method", lambda method: (DPOConfig, fake_train))
    config = tmp_path / "dpo.yaml"
    config.write_text("model: from-file\nrun:\n  device: cuda\n")
    args = ["train-policy", "--config", str(config), "-l", "l.jsonl", "-o", str(tmp_path / "o")]
    assert main(args) == 1
    assert (seen[0].model, seen[0].run.device) == ("from-file", "cuda")
    assert main([*args, "--model", "typed", "--device", "cpu"]) == 1
    assert (seen[1].model, seen[1].run.device) == ("typed", "cpu")
