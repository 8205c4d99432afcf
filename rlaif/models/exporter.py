"""``rlaif export``: a trained policy or reward model as a portable folder: its adapter, merged weights, or a hub push.

Every form names its base model by hub id (``base_model_name_or_path`` in ``adapter_config.json``, ``base_model`` in
the card's metadata), never by a path on this machine (see :mod:`rlaif.models.portable`). Forms:

* **adapter** (default): the LoRA adapter (``adapter_config.json`` + ``adapter_model.safetensors``), tokenizer,
  card and ``rlaif.json``; loads with ``peft.AutoPeftModelForCausalLM`` (policies) or on
  ``AutoModelForSequenceClassification`` (reward models), which fetch the base by its id;
* **merged** (``merge=True``): the adapter folded into float32 base weights, a plain transformers folder
  (``AutoModelForCausalLM`` / ``AutoModelForSequenceClassification`` with ``num_labels=1``);
* **push** (``push_to_hub=REPO``): either form uploaded to a hub model repo with its card (``private`` optional).

A reward model's input template (``rm_input.j2`` and the partials it includes) travels with it in every form.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlaif.atomic import atomic_directory
from rlaif.errors import ModelError, RlaifError
from rlaif.models.portable import local_base, portable_base_id

log = logging.getLogger(__name__)

ArtifactKind = Literal["policy", "reward-model"]
_WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors", "adapter_config.json", "config.json")

EMBEDDED_NOTE = (
    "The embedded default base model of rlaif is SmolLM2-135M-Instruct as its Q4_1 GGUF quantisation, dequantised to "
    "float. The base named here is the hub's full-precision model, whose weights differ slightly from the ones this "
    "was trained on: expect close, not identical, behaviour."
)


@dataclass(frozen=True)
class Artifact:
    """A model folder written by rlaif (``train-policy``, ``train-rm``)."""

    folder: Path
    kind: ArtifactKind
    adapter: bool
    sidecar: dict[str, Any]
    #: what to load locally as the base (a path, an alias or a hub id)
    base_to_load: str
    #: the portable base id
    base_id: str


def _recorded_base(sidecar: dict[str, Any]) -> str | None:
    base = sidecar.get("base_model")
    if isinstance(base, dict):
        base = base.get("model") or base.get("model_id")
    return str(base) if base else None


def read_artifact(folder: str | Path, *, base_model: str | None = None) -> Artifact:
    """Inspect a model folder; a clear error when it is not one rlaif wrote."""
    import json

    from rlaif.training import read_sidecar

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ModelError(f"model folder {path} does not exist", path=path, field="model")
    sidecar = read_sidecar(path)
    if sidecar.get("format") == "rlaif-reward-model/1":
        kind: ArtifactKind = "reward-model"
    elif sidecar.get("kind") == "policy":
        kind = "policy"
    else:
        raise ModelError(
            f"{path} is not a model folder written by rlaif (no rlaif.json naming a policy or a reward model)",
            path=path,
            hint="pass <run>/model from rlaif train-policy or rlaif train-rm",
        )
    adapter = (path / "adapter_config.json").is_file()
    if adapter:
        cfg = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        in_config = str(cfg.get("base_model_name_or_path") or "")
    else:
        in_config = ""
    recorded = _recorded_base(sidecar)
    # load from: the recorded name (an alias or a local path on this machine), else the config's id
    candidates = [c for c in (recorded, in_config) if c]
    to_load = next((c for c in candidates if Path(c).expanduser().is_dir()), None)
    if to_load is None:
        to_load = local_base(candidates[0]) if candidates else ""
    base_id = base_model or (
        portable_base_id(recorded or in_config, warn=True) if (recorded or in_config) else ""
    )
    return Artifact(path, kind, adapter, sidecar, to_load, base_id)


def _card(artifact: Artifact, original: str, *, merged: bool) -> str:
    """The card: hub metadata naming the base by id, a note on the form, then the training card's body."""
    from rlaif.models.resolve import EMBEDDED_MODEL_ID

    body = original
    if body.startswith("---\n"):
        end = body.find("\n---\n", 4)
        body = body[end + 5 :] if end >= 0 else body
    library = "transformers" if merged or not artifact.adapter else "peft"
    kind = "a policy" if artifact.kind == "policy" else "a principle-conditioned reward model"
    tags = ["rlaif", artifact.kind] + (["reward-model"] if artifact.kind == "reward-model" else [])
    lines = ["---", f"library_name: {library}"]
    if artifact.base_id:
        lines.append(f"base_model: {artifact.base_id}")
    lines += ["tags:", *[f"- {t}" for t in tags], "---", ""]
    how = (
        "merged weights (the LoRA adapter folded into the base)"
        if merged
        else "a LoRA adapter on the base model"
        if artifact.adapter
        else "full weights"
    )
    lines.append(
        f"Exported by `rlaif export`: {kind}, as {how}; base model `{artifact.base_id or 'unknown'}`."
    )
    if artifact.base_id == EMBEDDED_MODEL_ID:
        lines += ["", EMBEDDED_NOTE]
    lines.append("")
    return "\n".join(lines) + body


def _copy_extras(src: Path, dst: Path, *, skip_weights: bool) -> None:
    """Copy the tokenizer, templates, sidecar and other small files (not the card, not weights when merging)."""
    for f in sorted(src.iterdir()):
        if not f.is_file() or f.name == "README.md":
            continue
        if skip_weights and (f.name in _WEIGHT_FILES or f.suffix in (".safetensors", ".bin")):
            continue
        shutil.copy2(f, dst / f.name)


def _portable_sidecar(artifact: Artifact, *, merged: bool) -> dict[str, Any]:
    """``rlaif.json`` with the base named by hub id where training recorded a local path."""
    sidecar = dict(artifact.sidecar)
    base = sidecar.get("base_model")
    portable = artifact.base_id
    if isinstance(base, dict):
        base = dict(base)
        for key in ("model", "model_id"):
            if isinstance(base.get(key), str) and Path(base[key]).is_absolute() and portable:
                base[key] = portable
        sidecar["base_model"] = base
    elif isinstance(base, str) and Path(base).is_absolute() and portable:
        sidecar["base_model"] = portable
    sidecar["merged"] = merged
    sidecar["base_model_id"] = portable
    return sidecar


def _merged_model(artifact: Artifact) -> tuple[Any, Any]:
    """The base with the adapter folded in, in float32 (the fold is exact there), and the tokenizer."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    if not artifact.base_to_load:
        raise ModelError(
            "the base model of this adapter is unknown", path=artifact.folder, hint="pass --base-path"
        )
    if artifact.kind == "reward-model":
        from rlaif.models.load import load_seq_cls_base

        base, _, _ = load_seq_cls_base(artifact.base_to_load, dtype="float32", device="cpu")
    else:
        from rlaif.models import load_causal_lm

        base = load_causal_lm(artifact.base_to_load, dtype="float32", device="cpu")
    try:
        model = PeftModel.from_pretrained(base, str(artifact.folder)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as e:
        raise ModelError(
            f"cannot load the adapter {artifact.folder} on {artifact.base_to_load}: {e}",
            path=artifact.folder,
            hint="pass the base it was trained on with --base-path",
        ) from e
    tokenizer = AutoTokenizer.from_pretrained(str(artifact.folder))
    if artifact.kind == "reward-model" and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = int(tokenizer.pad_token_id)
    return model, tokenizer


def export_artifact(
    source: str | Path,
    out: str | Path,
    *,
    merge: bool = False,
    base_model: str | None = None,
    base_path: str | None = None,
    push_to_hub: str | None = None,
    private: bool = False,
) -> Path:
    """Write ``source`` (a policy or reward-model folder) to ``out`` in portable form; optionally push it.

    Args:
        merge: fold the adapter into the base weights (a plain transformers folder).
        base_model: the hub id to name as the base (default: found from the base, see ``portable_base_id``).
        base_path: where to load the base from for merging (default: the one recorded at training).
        push_to_hub: upload the written folder to this hub model repo.
        private: create the hub repo private.
    """
    import json

    if push_to_hub:
        check_hub_reachable()  # fail in seconds, before any model is loaded
    artifact = read_artifact(source, base_model=base_model)
    if base_path:
        artifact = Artifact(
            artifact.folder, artifact.kind, artifact.adapter, artifact.sidecar, base_path, artifact.base_id
        )
    original = (
        (artifact.folder / "README.md").read_text(encoding="utf-8")
        if (artifact.folder / "README.md").is_file()
        else ""
    )
    target = Path(out)
    if target.resolve() == artifact.folder.resolve():
        raise RlaifError(
            "the output folder is the model folder itself", field="--out", hint="pick another folder"
        )
    merging = merge and artifact.adapter
    with atomic_directory(target) as tmp:
        if merging:
            model, tokenizer = _merged_model(artifact)
            model.save_pretrained(str(tmp), safe_serialization=True)
            _copy_extras(artifact.folder, tmp, skip_weights=True)
            tokenizer.save_pretrained(str(tmp))
        else:
            _copy_extras(artifact.folder, tmp, skip_weights=False)
        sidecar = _portable_sidecar(artifact, merged=bool(merging or not artifact.adapter))
        (tmp / "rlaif.json").write_text(json.dumps(sidecar, indent=2, sort_keys=True, default=str) + "\n")
        if (tmp / "adapter_config.json").is_file():
            from rlaif.training.export import canonical_adapter_config

            canonical_adapter_config(tmp / "adapter_config.json", artifact.base_id or None)
        (tmp / "README.md").write_text(_card(artifact, original, merged=merging), encoding="utf-8")
    log.info("exported %s (%s) to %s", artifact.folder, "merged" if merging else "as is", target)
    if push_to_hub:
        push_folder(target, push_to_hub, private=private, repo_type="model")
    return target


def check_hub_reachable(timeout_s: float = 3.0) -> str:
    """Fail fast (a clear :class:`~rlaif.errors.RlaifError`) unless the Hugging Face hub can be reached.

    Returns the endpoint. Offline mode (``HF_HUB_OFFLINE``) counts as unreachable.
    """
    import os
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise RlaifError(
            "cannot push to the hub: HF_HUB_OFFLINE is set",
            field="push_to_hub",
            hint="unset HF_HUB_OFFLINE, or drop --push-to-hub and upload the output folder later",
        )
    url = urlparse(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        raise RlaifError(
            f"cannot push to the hub: {endpoint} is unreachable ({e})",
            field="push_to_hub",
            hint="check the network (or HF_ENDPOINT), or drop --push-to-hub and upload the output folder later",
        ) from None
    return endpoint


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    repo_type: str = "model",
    allow_patterns: list[str] | None = None,
) -> str:
    """Upload a folder to a hub repo (created if missing); returns the repo URL. Clear errors, no traceback."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, allow_patterns=allow_patterns
        )
    except Exception as e:  # auth, permissions, network: all the user's to fix
        raise RlaifError(
            f"pushing {folder} to the hub repo {repo_id} failed: {e}",
            field="push_to_hub",
            hint="log in with `hf auth login` (or set HF_TOKEN) and check the repo name",
        ) from None
    log.info("pushed %s to the hub as %s", folder, repo_id)
    return str(url)


__all__ = ["EMBEDDED_NOTE", "Artifact", "export_artifact", "push_folder", "read_artifact"]
