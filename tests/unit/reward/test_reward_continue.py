"""Continuing a reward model from an earlier one (the loop's ``reward.refresh: continue``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from rlaif.errors import ModelError
from rlaif.reward import RewardConfig, train_reward_model
from rlaif.training import OptimSettings, RunSettings


def _cfg(
    tmp: Path, model: Path, labels: Path, style: Path, name: str, lr: float, **kw: object
) -> RewardConfig:
    return RewardConfig(
        data=labels,
        constitution=style,
        output_dir=tmp / name,
        model=str(model),
        optim=OptimSettings(lr=lr),
        run=RunSettings(batch_size=4, epochs=1, max_steps=1, device="cpu"),
        val_fraction=0.0,
        **kw,  # type: ignore[arg-type]
    )


def test_continue_starts_from_the_previous_weights(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    first = train_reward_model(
        _cfg(tmp_path, tiny_model_dir, labels_file, style_path, "a", 1e-2), progress=False
    )
    weights_a = load_file(str(first.model_dir / "adapter_model.safetensors"))
    # one step at a negligible learning rate: continuing must land (almost) exactly on the first model
    cont = train_reward_model(
        _cfg(tmp_path, tiny_model_dir, labels_file, style_path, "b", 1e-12, init_adapter=first.model_dir),
        progress=False,
    )
    fresh = train_reward_model(
        _cfg(tmp_path, tiny_model_dir, labels_file, style_path, "c", 1e-12), progress=False
    )
    weights_b = load_file(str(cont.model_dir / "adapter_model.safetensors"))
    weights_c = load_file(str(fresh.model_dir / "adapter_model.safetensors"))
    assert set(weights_b) == set(weights_a)
    assert all((weights_b[k] - weights_a[k]).abs().max() < 1e-6 for k in weights_a)
    assert any((weights_c[k] - weights_a[k]).abs().max() > 1e-3 for k in weights_a)  # from scratch differs


def test_continue_from_a_folder_without_adapter_is_a_clear_error(
    tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no adapter to continue from"):
        train_reward_model(
            _cfg(
                tmp_path, tiny_model_dir, labels_file, style_path, "d", 1e-2, init_adapter=tmp_path / "empty"
            ),
            progress=False,
        )
