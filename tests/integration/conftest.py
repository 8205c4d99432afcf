"""Helpers for the integration tests that run the real CLI in subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def cli_env() -> dict[str, str]:
    """The environment of a CLI subprocess: offline, one thread, quiet logs."""
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "RLAIF_LOG_LEVEL": "WARNING",
        }
    )
    return env


def sigkill_when(cmd: list[str], ready: Callable[[], bool], *, within: float = 300) -> None:
    """Start ``cmd`` and SIGKILL it as soon as ``ready()`` holds; fail if it finished first."""
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.005)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
