"""The run directory: ``runs/<name>/round-<k>/<stage>/`` with one ``manifest.json`` per stage.

A manifest records the stage's resolved config, the hashes of its inputs, the code version, its status, timing,
throughput and the hashes of its outputs. Its ``fingerprint`` (a hash of config + inputs + code version) decides
what a rerun does: same fingerprint and ``done`` → skip; same fingerprint and ``running``/``failed`` → resume in
place (call cache and checkpoints make that exact); a different fingerprint → the folder is cleared and the stage
redone — and since a stage's inputs include the outputs of the stages before it, everything after it is redone too.
The layout is documented in docs/run-directory.md.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.atomic import atomic_write_text
from rlaif.training.precision import precision_record

MANIFEST = "manifest.json"
#: files never hashed as outputs (they are not results: resumable state, logs)
_SKIP_PARTS = {"checkpoints", "logs", "__pycache__"}


def code_version() -> str:
    """The rlaif version recorded in manifests."""
    from rlaif import __version__

    return __version__


def canonical(value: Any) -> str:
    """Canonical JSON of a value (sorted keys, paths as strings)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def hash_value(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def hash_path(path: Path) -> str:
    """sha256 over a file, or over a folder's files (relative names and bytes, sorted; checkpoints/logs skipped)."""
    h = hashlib.sha256()
    if path.is_file():
        files = [(path.name, path)]
    elif path.is_dir():
        files = sorted(
            (str(p.relative_to(path)), p)
            for p in path.rglob("*")
            if p.is_file() and not (_SKIP_PARTS & set(p.relative_to(path).parts)) and p.name != MANIFEST
        )
    else:
        return "missing"
    for name, p in files:
        h.update(name.encode("utf-8") + b"\0")
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


@dataclass
class StageRef:
    """Where one stage of one round lives."""

    run_dir: Path
    round: int
    stage: str

    @property
    def folder(self) -> Path:
        """``runs/<name>/round-<k>/<stage>``."""
        return self.run_dir / f"round-{self.round}" / self.stage

    @property
    def manifest_path(self) -> Path:
        """The stage's manifest file."""
        return self.folder / MANIFEST


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest in ``folder`` (None when absent or unreadable — a torn write counts as absent)."""
    p = folder / MANIFEST
    if not p.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        folder / MANIFEST, json.dumps(dict(manifest), indent=2, sort_keys=True, default=str) + "\n"
    )


def fingerprint(config: Any, inputs: Mapping[str, str]) -> str:
    """What decides whether a finished stage is still valid."""
    return hash_value({"config": config, "inputs": dict(inputs), "code": code_version()})


def prepare_stage(ref: StageRef, config: Any, inputs: Mapping[str, str]) -> tuple[str, dict[str, Any] | None]:
    """Decide what to do with a stage: ``"skip"`` (done, same fingerprint), ``"resume"`` or ``"fresh"``.

    For ``fresh`` a folder left by different inputs is cleared first. Returns the action and the old manifest.
    """
    fp = fingerprint(config, inputs)
    old = read_manifest(ref.folder)
    if old is not None and old.get("fingerprint") == fp:
        if old.get("status") == "done":
            return "skip", old
        return "resume", old
    if ref.folder.exists():
        shutil.rmtree(ref.folder)
    return "fresh", old


def start_manifest(ref: StageRef, config: Any, inputs: Mapping[str, str], *, attempts: int) -> dict[str, Any]:
    """The manifest of a stage that starts now (status ``running``), written to disk."""
    manifest = {
        "stage": ref.stage,
        "round": ref.round,
        "status": "running",
        "fingerprint": fingerprint(config, inputs),
        "config": config,
        "inputs": dict(inputs),
        "outputs": {},
        "code_version": code_version(),
        "precision": precision_record(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "finished": None,
        "seconds": None,
        "attempts": attempts,
    }
    write_manifest(ref.folder, manifest)
    return manifest


def finish_manifest(
    ref: StageRef,
    manifest: dict[str, Any],
    *,
    outputs: Mapping[str, Path],
    seconds: float,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Mark a stage done with the hashes of its outputs."""
    manifest = dict(manifest)
    manifest.update(
        status="done",
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        seconds=round(seconds + float(manifest.get("seconds_before") or 0.0), 3),
        outputs={name: hash_path(p) for name, p in outputs.items()},
        output_paths={name: str(p.relative_to(ref.run_dir)) for name, p in outputs.items()},
    )
    manifest.pop("error", None)
    if extra:
        manifest.update(extra)
    write_manifest(ref.folder, manifest)
    return manifest


def fail_manifest(ref: StageRef, manifest: dict[str, Any], *, error: str, seconds: float) -> None:
    """Mark a stage failed with the error (a rerun resumes it)."""
    manifest = dict(manifest)
    manifest.update(
        status="failed",
        error=error,
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        seconds_before=round(seconds + float(manifest.get("seconds_before") or 0.0), 3),
    )
    write_manifest(ref.folder, manifest)


def stage_folders(run_dir: Path) -> Iterable[tuple[int, str, Path]]:
    """(round, stage, folder) of every stage folder in a run, rounds in order."""
    rounds = []
    for p in run_dir.glob("round-*"):
        try:
            rounds.append((int(p.name.split("-", 1)[1]), p))
        except ValueError:
            continue
    for k, p in sorted(rounds):
        folders = [q for q in p.iterdir() if q.is_dir()]
        for stage in sorted(folders, key=lambda q: (_order(q.name), q.name)):
            yield k, stage.name, stage


#: the order of a round's stages (others, e.g. from newer versions, come after)
STAGE_ORDER = (
    "generate",
    "label",
    "revise",
    "reward",
    "policy",
    "sft-baseline",
    "evaluate",
    "evaluate-sft-baseline",
)


def _order(name: str) -> int:
    return STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER)
