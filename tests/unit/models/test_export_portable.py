"""rlaif export: a policy's merged weights load with plain transformers and its adapter with peft's
AutoPeftModelForCausalLM, each from its own folder, and the base is named by hub id, never a local path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rlaif.errors import ModelError
from rlaif.models.exporter import EMBEDDED_NOTE, export_artifact
from rlaif.models.portable import portable_base_id

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HUB_ID = "rlaif-test/tiny-llama"
COMMIT = "0" * 40


def _hub_cache(tiny_model_dir: Path, root: Path) -> tuple[Path, Path]:
    """A hub cache holding the tiny model as HUB_ID (what a download leaves), for offline loading by id."""
    repo = root / ("models--" + HUB_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(tiny_model_dir, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return root, snapshot


@pytest.fixture
def trained_policy(tiny_model_dir: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(policy folder as train-policy exports it, hub cache, base snapshot): a LoRA adapter with random weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlaif.training import export_model
    from rlaif.training.config import LoraSettings
    from rlaif.training.lora import attach_lora

    cache, snapshot = _hub_cache(tiny_model_dir, tmp_path / "hub")
    base = AutoModelForCausalLM.from_pretrained(str(snapshot))
    model = attach_lora(base, LoraSettings(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():  # a non-zero update, so that merged and adapter differ from the base
        gen = torch.Generator().manual_seed(0)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    src = tmp_path / "run" / "model"
    export_model(
        model,
        AutoTokenizer.from_pretrained(str(snapshot)),
        src,
        card="---\nlibrary_name: peft\n---\n# A policy\n",
        sidecar={"kind": "policy", "base_model": str(snapshot)},
    )
    return src, cache, snapshot


def _logits(model: object, tiny_model_dir: Path) -> object:
    import torch
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(str(tiny_model_dir))(
        "The capital of France is Paris.", return_tensors="pt"
    )
    with torch.no_grad():
        return model(**ids).logits  # type: ignore[operator]


def test_adapter_names_its_base_by_hub_id(trained_policy: tuple[Path, Path, Path]) -> None:
    src, _, snapshot = trained_policy
    config = json.loads((src / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == HUB_ID  # training's own export is portable already
    assert str(snapshot) not in (src / "adapter_config.json").read_text()


def test_merged_and_adapter_exports_load_with_plain_libraries(
    trained_policy: tuple[Path, Path, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    src, cache, snapshot = trained_policy
    merged_dir = export_artifact(src, tmp_path / "exports" / "merged", merge=True)
    adapter_dir = export_artifact(src, tmp_path / "elsewhere" / "adapter")
    want = _logits(
        PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(snapshot)), str(src)),
        tiny_model_dir,
    )

    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir))
    assert not (merged_dir / "adapter_config.json").exists()
    assert torch.allclose(_logits(merged, tiny_model_dir), want, atol=1e-5)  # type: ignore[arg-type]

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == HUB_ID
    # the adapter fetches its base by id: here from the (offline) hub cache
    adapter = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), cache_dir=str(cache))
    assert torch.allclose(_logits(adapter, tiny_model_dir), want, atol=1e-5)  # type: ignore[arg-type]

    card = (adapter_dir / "README.md").read_text()
    assert (
        card.startswith("---\nlibrary_name: peft\nbase_model: rlaif-test/tiny-llama\n")
        and "# A policy" in card
    )
    assert "library_name: transformers" in (merged_dir / "README.md").read_text()
    for folder in (merged_dir, adapter_dir):
        sidecar = json.loads((folder / "rlaif.json").read_text())
        assert sidecar["base_model"] == HUB_ID and sidecar["base_model_id"] == HUB_ID
        for f in folder.iterdir():
            if f.suffix in (".json", ".md"):
                assert str(tmp_path) not in f.read_text(), f


def test_portable_ids() -> None:
    assert portable_base_id("smollm2") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert portable_base_id("org/model") == "org/model"
    assert portable_base_id("/x/hub/models--org--m/snapshots/abc") == "org/m"


def test_embedded_base_gets_the_hub_id_and_the_q4_1_note(tmp_path: Path) -> None:
    from rlaif.models.convert import MARKER

    folder = tmp_path / "cache" / "smollm2-135m-instruct-abc"
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(json.dumps({"model_id": "HuggingFaceTB/SmolLM2-135M-Instruct"}))
    assert portable_base_id(folder) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "Q4_1" in EMBEDDED_NOTE and "dequantised" in EMBEDDED_NOTE


def test_a_local_base_without_hub_id_writes_its_name_not_its_path(tiny_model_dir: Path) -> None:
    assert portable_base_id(tiny_model_dir, warn=False) == tiny_model_dir.name


def test_not_an_rlaif_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a model folder written by rlaif"):
        export_artifact(tmp_path, tmp_path / "out")
    with pytest.raises(ModelError, match="does not exist"):
        export_artifact(tmp_path / "missing", tmp_path / "out")


def test_cli_export(
    trained_policy: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlaif.cli.main import main

    src, _, _ = trained_policy
    assert main(["export", str(src), "-o", str(tmp_path / "cli-out")]) == 0
    assert (
        json.loads((tmp_path / "cli-out" / "adapter_config.json").read_text())["base_model_name_or_path"]
        == HUB_ID
    )
    assert main(["export", str(tmp_path / "nope"), "-o", str(tmp_path / "x")]) == 1
    assert "does not exist" in capsys.readouterr().err
