"""rlaif export of a reward model: merged weights load as a plain AutoModelForSequenceClassification and score like
the adapter; the adapter export names its base by id and still loads with rlaif."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution import load_constitution
from rlaif.models.exporter import export_artifact
from rlaif.reward import RewardModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reward_model_merged_export(tiny_rm_dir: Path, style_path: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    merged_dir = export_artifact(tiny_rm_dir, tmp_path / "merged", merge=True)
    assert not (merged_dir / "adapter_config.json").exists() and (merged_dir / "rm_input.j2").is_file()
    plain = AutoModelForSequenceClassification.from_pretrained(str(merged_dir))
    assert plain.config.num_labels == 1 and plain.config.pad_token_id is not None
    style = load_constitution(style_path)
    args = ([[style.get("concise")]] * 2, [(ChatMessage("user", "Q?"),)] * 2, ["Calm.", "LOUD! LOUD!"])
    want = RewardModel.load(tiny_rm_dir, device="cpu").score(*args)
    got = RewardModel.load(merged_dir, device="cpu").score(*args)
    assert got == pytest.approx(want, abs=1e-4)
    card = (merged_dir / "README.md").read_text()
    assert "library_name: transformers" in card and "reward model" in card


def test_reward_model_adapter_export_is_portable(
    tiny_rm_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = export_artifact(tiny_rm_dir, tmp_path / "adapter", base_model="org/tiny-base")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "org/tiny-base"
    sidecar = json.loads((out / "rlaif.json").read_text())
    assert sidecar["base_model"]["model"] == "org/tiny-base" and str(tiny_model_dir) not in json.dumps(
        sidecar["base_model"]
    )
