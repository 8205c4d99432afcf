"""The shared backend conformance checks (conformance.py) on VLLMBackend and on OpenAIBackend + `vllm serve`.

Both backends run on the embedded SmolLM2 model and come from the vLLM stage's session objects
(tests/vllm/vllm_session.py): one engine and one server for the whole session. Run with ``make test-vllm``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.vllm

if importlib.util.find_spec("vllm") is None:
    pytest.skip("vLLM is not installed (run `make test-vllm`)", allow_module_level=True)

HERE = Path(__file__).parent
if not (HERE / "conformance.py").is_file():
    pytest.skip("tests/conformance/conformance.py (the shared checks) is missing", allow_module_level=True)


def _load(name: str, path: Path) -> Any:
    """Load a helper file once per process under a fixed name (importlib mode gives tests no package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


S = _load("rlaif_vllm_test_session", HERE.parent / "vllm" / "vllm_session.py")
conformance = _load("rlaif_conformance_checks", HERE / "conformance.py")

CHECKS: list[Callable[..., Any]] = list(conformance.ALL_CHECKS)

BACKENDS: dict[str, Callable[[], Any]] = {
    "vllm": S.vllm_backend,
    "openai-vllm-serve": lambda: S.openai_backend(True),
}


@pytest.mark.parametrize("backend_name", list(BACKENDS))
@pytest.mark.parametrize("check", CHECKS, ids=[fn.__name__ for fn in CHECKS])
def test_conformance(check: Callable[..., Any], backend_name: str) -> None:
    check(BACKENDS[backend_name]())
