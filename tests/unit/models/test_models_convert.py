"""The one-time GGUF conversion cache: atomic, safe against concurrent processes and killed conversions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from rlaif.models.convert import MARKER, ensure_converted, is_complete

# A converter run in child processes: it logs each run, writes a model folder slowly (so runs overlap), and can be
# told to hang half-way (to be killed).
_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from rlaif.models.convert import ensure_converted

    gguf, target, log, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]

    def converter(src, out):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        (out / "config.json").write_text("{}")
        if mode == "hang":
            (out / "started").write_text("")
            time.sleep(600)
        time.sleep(0.5)
        (out / "model.safetensors").write_bytes(b"weights")

    path = ensure_converted(gguf, target, description="test model", provenance={"model_id": "t"}, converter=converter)
    print(path)
    """
)


def _spawn(gguf: Path, target: Path, log: Path, mode: str = "ok") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(gguf), str(target), str(log), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    return f


def _writer(calls: list[int], delay: float = 0.0):
    def convert(src: Path, out: Path) -> None:
        calls.append(1)
        time.sleep(delay)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"weights")

    return convert


def test_marker_is_written_with_provenance(gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "cache" / "model-abc"
    out = ensure_converted(
        gguf, target, description="d", provenance={"model_id": "m", "revision": "r"}, converter=_writer([])
    )
    assert out == target and is_complete(target)
    marker = json.loads((target / MARKER).read_text())
    assert marker["model_id"] == "m" and marker["revision"] == "r" and marker["source_file"] == str(gguf)
    assert sorted(p.name for p in target.iterdir()) == sorted([MARKER, "config.json", "model.safetensors"])
    assert [p.name for p in target.parent.iterdir() if ".tmp-" in p.name] == []


def test_failed_conversion_leaves_nothing_that_looks_complete(gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "model"

    def broken(src: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        ensure_converted(gguf, target, description="d", provenance={}, converter=broken)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
    calls: list[int] = []
    ensure_converted(gguf, target, description="d", provenance={}, converter=_writer(calls))
    assert calls == [1] and is_complete(target)


def test_folder_without_marker_is_converted_again(gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text('{"stale": true}')  # e.g. copied by hand, half-way
    calls: list[int] = []
    ensure_converted(gguf, target, description="d", provenance={}, converter=_writer(calls))
    assert calls == [1]
    assert json.loads((target / "config.json").read_text()) == {}


def test_threads_converting_at_once_convert_once(gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "model"
    calls: list[int] = []
    results: list[Path] = []
    converter = _writer(calls, delay=0.3)

    def run() -> None:
        results.append(ensure_converted(gguf, target, description="d", provenance={}, converter=converter))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert results == [target] * 4 and is_complete(target)


def test_processes_converting_at_once_convert_once(gguf: Path, tmp_path: Path) -> None:
    target, log = tmp_path / "cache" / "model", tmp_path / "runs.log"
    procs = [_spawn(gguf, target, log) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert [o[0].strip() for o in outs] == [str(target)] * 3
    assert len(log.read_text().split()) == 1  # exactly one process ran the converter
    assert is_complete(target) and (target / "model.safetensors").read_bytes() == b"weights"


def test_killed_conversion_is_cleaned_up_and_redone(gguf: Path, tmp_path: Path) -> None:
    cache, log = tmp_path / "cache", tmp_path / "runs.log"
    target = cache / "model"
    proc = _spawn(gguf, target, log, mode="hang")
    deadline = time.monotonic() + 30
    while not list(cache.glob(".model.tmp-*/started")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the child never started converting"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    assert not target.exists() and not is_complete(target)
    assert len(list(cache.glob(".model.tmp-*"))) == 1  # the killed run's leftovers, never used as a model

    calls: list[int] = []  # the lock died with the process: this conversion must not wait
    ensure_converted(gguf, target, description="d", provenance={}, converter=_writer(calls))
    assert calls == [1] and is_complete(target)
    assert list(cache.glob(".model.tmp-*")) == []
