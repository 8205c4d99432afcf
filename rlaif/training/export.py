"""Saving a trained model as a standard Hugging Face folder: the adapter (or merged weights), tokenizer, card and
the rlaif sidecar (``rlaif.json``: constitution hash, template hash, training data, settings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlaif.atomic import atomic_directory

SIDECAR = "rlaif.json"


def export_model(
    model: Any,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    merge: bool = False,
    card: str | None = None,
    sidecar: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, str] | None = None,
    base_model: str | None = None,
) -> Path:
    """Write ``model`` to ``out_dir`` atomically and return the folder.

    A peft model is saved as its adapter (``adapter_config.json`` + ``adapter_model.safetensors``, loadable by peft,
    transformers and vLLM) unless ``merge`` is set, in which case the adapter is folded into a copy of the weights
    and a full safetensors model is written. ``card`` becomes ``README.md``; ``sidecar`` goes to ``rlaif.json``;
    ``extra_files`` maps file names to text written beside them (e.g. the reward template).

    An adapter's ``base_model_name_or_path`` is made portable: ``base_model`` when given, else the base's hub id
    (see :func:`rlaif.models.portable.portable_base_id`), never a path on this machine.
    """
    import copy

    with atomic_directory(out_dir) as tmp:
        target = model
        if merge and hasattr(model, "merge_and_unload"):
            target = copy.deepcopy(model).merge_and_unload()
        target.save_pretrained(str(tmp), safe_serialization=True)
        canonical_adapter_config(tmp / "adapter_config.json", base_model)
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        if card is not None:
            (tmp / "README.md").write_text(card, encoding="utf-8")
        if sidecar is not None:
            (tmp / SIDECAR).write_text(
                json.dumps(dict(sidecar), indent=2, sort_keys=True, default=str) + "\n"
            )
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return Path(out_dir)


def canonical_adapter_config(path: Path, base_model: str | None = None) -> None:
    """peft writes ``target_modules`` from a set (order varies per process): sort it so exports are reproducible;
    and write a portable ``base_model_name_or_path`` (a hub id, not a local path)."""
    from rlaif.models.portable import portable_base_id

    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    base = base_model or data.get("base_model_name_or_path")
    if base:
        data["base_model_name_or_path"] = base_model or portable_base_id(str(base))
    for key in ("target_modules", "modules_to_save"):
        if isinstance(data.get(key), list):
            data[key] = sorted(data[key])
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_sidecar(folder: str | Path) -> dict[str, Any]:
    """The ``rlaif.json`` saved beside a model (empty when there is none)."""
    p = Path(folder) / SIDECAR
    if not p.is_file():
        return {}
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data
