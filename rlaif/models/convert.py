"""One-time conversion of a GGUF checkpoint into a safetensors model folder, cached on disk.

transformers can load a GGUF file directly, but it dequantizes every tensor on each load (about 23 s for the
embedded SmolLM2-135M on 2 CPU cores). Converting once and caching the result makes later loads take about a second.

The cache must survive concurrent processes (two labeling workers starting at once) and killed conversions:

* an exclusive ``fcntl`` lock next to the target folder lets one process convert while the others wait;
* the conversion writes into a temporary folder in the same parent, writes the marker file :data:`MARKER` last,
  then renames the folder into place (atomic on POSIX), so a folder without the marker is never used;
* leftovers of a killed conversion are removed by the next process that takes the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rlaif.atomic import fsync_dir
from rlaif.errors import ModelError

logger = logging.getLogger(__name__)

#: written last into a converted folder; a folder without it is an unfinished conversion and is never used
MARKER = ".rlaif-converted.json"

#: ``converter(gguf_file, out_dir)`` writes config.json, safetensors weights and tokenizer files into ``out_dir``
Converter = Callable[[Path, Path], None]


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion (its marker file exists)."""
    return (folder / MARKER).is_file()


def convert_gguf_with_transformers(gguf_file: Path, out_dir: Path) -> None:
    """Dequantize ``gguf_file`` to float32 and save it with its tokenizer as a safetensors folder in ``out_dir``.

    The chat template, special tokens and generation settings stored in the GGUF file are carried over.
    """
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file; fail early with a clear fix)
    except ImportError as e:
        raise ModelError(
            f"cannot convert {gguf_file}: the 'gguf' package is not installed",
            path=gguf_file,
            hint="pip install gguf",
        ) from e
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ModelError(
            f"transformers could not read the GGUF file {gguf_file}: {e}",
            path=gguf_file,
            hint="check that the file is a complete GGUF checkpoint of an architecture transformers supports "
            "(llama, mistral, qwen2, phi3, gemma...)",
        ) from e
    # The weights are already dequantized; the quantizer only marks the model as "quantized with gguf", which
    # makes save_pretrained refuse. Dropping it saves plain float32 tensors that load without the gguf package.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # GGUF metadata carries no tokenizer length limit; without one, truncation would never trigger.
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(max_positions, int) and tokenizer.model_max_length > 10 * max_positions:
        tokenizer.model_max_length = max_positions
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path, what: str) -> Iterator[None]:
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("another process is converting %s; waiting for it (lock %s)", what, lock_path)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_converted(
    gguf_file: Path,
    target: Path,
    *,
    description: str,
    provenance: dict[str, str],
    converter: Converter | None = None,
) -> Path:
    """Return ``target``, converting ``gguf_file`` into it first unless a finished conversion is already there.

    ``description`` names the model in log lines; ``provenance`` is stored in the marker file. ``converter``
    defaults to :func:`convert_gguf_with_transformers` (tests inject a fast fake).
    """
    if is_complete(target):
        return target
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(
            f"cannot create the model cache folder {parent}: {e.strerror or e}",
            path=parent,
            hint="set RLAIF_CACHE_DIR to a writable folder",
        ) from e
    convert = converter or convert_gguf_with_transformers
    with _exclusive_lock(parent / f".{target.name}.lock", description):
        if is_complete(target):  # another process finished while we waited for the lock
            return target
        # We hold the lock, so any temporary folder or unmarked target left here belongs to a killed conversion.
        for stale in parent.glob(f".{target.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            logger.info("removing an unfinished conversion at %s", target)
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
        logger.info("converting %s to safetensors (once, ~30 s) → %s", description, target)
        started = time.monotonic()
        try:
            convert(gguf_file, tmp)
            # mkdtemp (and some writers) make private files; a converted model holds nothing secret
            tmp.chmod(0o755)
            for f in tmp.iterdir():
                if f.is_file():
                    f.chmod(0o644)
            marker = {**provenance, "source_file": str(gguf_file), "converted_at": time.strftime("%FT%T%z")}
            with open(tmp / MARKER, "w", encoding="utf-8") as fh:
                json.dump(marker, fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.rename(tmp, target)
            fsync_dir(parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("converted %s in %.1f s", description, time.monotonic() - started)
    return target
