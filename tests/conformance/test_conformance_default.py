"""The conformance suite on the backends of the default (fast) run: the scripted mock and transformers (tiny model)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import Backend

_spec = importlib.util.spec_from_file_location(
    "rlaif_conformance", Path(__file__).with_name("conformance.py")
)
assert _spec is not None and _spec.loader is not None
conformance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conformance)


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir: Path) -> Iterator[Backend]:
    from rlaif.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model_dir), device="cpu", dtype="float32", progress=False)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def mock_backend() -> Backend:
    from rlaif.backends.mock import MockBackend

    return MockBackend()


@pytest.mark.parametrize("check", conformance.ALL_CHECKS, ids=lambda c: c.__name__)
def test_mock_backend_conforms(mock_backend: Backend, check: Callable[[Any], None]) -> None:
    check(mock_backend)


@pytest.mark.parametrize("check", conformance.ALL_CHECKS, ids=lambda c: c.__name__)
def test_transformers_backend_conforms(tiny_backend: Backend, check: Callable[[Any], None]) -> None:
    check(tiny_backend)


def test_run_all_checks_names_the_failing_check() -> None:
    from rlaif.backends.mock import MockBackend

    class NoOrder(MockBackend):
        def score(self, requests):  # type: ignore[no-untyped-def]
            return list(reversed(super().score(requests)))

    with pytest.raises(AssertionError, match="check_score_shapes_and_signs failed on backend 'mock'"):
        conformance.run_all_checks(NoOrder())
