"""The backend table: names, errors, and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rlaif.backends import available_backends, make_backend
from rlaif.backends.mock import MockBackend
from rlaif.errors import RlaifError


def test_available_backends_default_first() -> None:
    assert available_backends() == ["transformers", "vllm", "openai", "mock"]


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(RlaifError) as info:
        make_backend("tgi")
    msg = str(info.value)
    assert "unknown backend 'tgi'" in msg
    assert "transformers, vllm, openai, mock" in msg
    assert info.value.problem.field == "backend"


def test_make_backend_passes_model_and_options() -> None:
    b = make_backend("mock", "my-critic", default_response="ok", seed=3)
    assert isinstance(b, MockBackend)
    assert b.model_id == "mock:my-critic"
    assert b.seed == 3
    assert make_backend("mock").model_id == "mock-char-lm"


def test_importing_backend_modules_does_not_import_heavy_dependencies() -> None:
    code = (
        "import sys, rlaif.backends, rlaif.backends.registry, rlaif.backends.mock, "
        "rlaif.backends.transformers_backend, rlaif.backends.prefix_cache\n"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'httpx', 'peft') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_backend_option_is_a_clear_error() -> None:
    from rlaif.backends.registry import make_backend
    from rlaif.errors import BackendError

    with pytest.raises(BackendError) as e:
        make_backend("mock", None, batchsize=4)
    assert "unknown option(s) batchsize" in str(e.value) and "accepts:" in str(e.value)
