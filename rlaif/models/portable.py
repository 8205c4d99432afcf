"""A model's portable name: the Hugging Face id it came from, never a path on this machine.

Exported adapters name their base model in ``adapter_config.json`` (``base_model_name_or_path``), and peft's
``AutoPeftModel*`` classes load that base. A local path there (``/home/me/.cache/rlaif/models/...``) breaks the adapter
on every other machine, so rlaif writes:

1. for the embedded default, its hub id ``HuggingFaceTB/SmolLM2-135M-Instruct``. Note: the embedded weights are the
   Q4_1 GGUF quantisation of that model, dequantised to float; the hub's full-precision weights differ slightly, so an
   adapter trained on the embedded model and loaded on the hub model behaves close to, not exactly as, it did here;
2. for a hub model (or a folder in the hub cache, ``models--org--name/snapshots/...``), its hub id;
3. for a local folder whose ``config.json`` records a hub-like ``_name_or_path``, that;
4. otherwise the folder's name alone (not its path), and a warning: pass the id explicitly
   (``rlaif export --base-model org/name``).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*$")
_HUB_CACHE = re.compile(r"models--([^/]+?)--([^/]+)/snapshots/")


def is_hub_id(text: str) -> bool:
    """Whether ``text`` looks like ``org/name`` (and is not an existing local path)."""
    return bool(_HUB_ID.match(text)) and not Path(text).expanduser().exists()


def _json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def portable_base_id(name_or_path: str | Path, *, warn: bool = True) -> str:
    """The portable name of a base model given by name or local folder (see the module docstring)."""
    from rlaif.models.convert import MARKER
    from rlaif.models.resolve import ALIASES

    text = str(name_or_path)
    if text.lower() in ALIASES:
        return ALIASES[text.lower()]
    if is_hub_id(text):
        return text
    path = Path(text).expanduser()
    model_id = _json(path / MARKER).get("model_id")  # a converted GGUF: the embedded model records its hub id
    if isinstance(model_id, str) and is_hub_id(model_id):
        return model_id
    cached = _HUB_CACHE.search(path.as_posix() + "/")
    if cached:
        return f"{cached.group(1)}/{cached.group(2)}"
    recorded = _json(path / "config.json").get("_name_or_path")
    if isinstance(recorded, str) and is_hub_id(recorded):
        return recorded
    if warn:
        log.warning(
            "the base model %s has no known hub id: its folder name %r is written instead of its path; "
            "pass the id with --base-model",
            path,
            path.name,
        )
    return path.name or text


def local_base(name: str) -> str:
    """What to resolve locally for a portable base name: the embedded alias for the embedded model's hub id."""
    from rlaif.models.resolve import EMBEDDED_MODEL_ID

    return "smollm2" if name == EMBEDDED_MODEL_ID else name


__all__ = ["is_hub_id", "local_base", "portable_base_id"]
