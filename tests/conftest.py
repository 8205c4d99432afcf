"""Shared test setup: no network, and fixtures for the tiny random model and the embedded SmolLM2 model.

* Hugging Face libraries run in offline mode for the whole session, so no test can reach (or wait on) the hub.
* ``RLAIF_CACHE_DIR`` is left as the user set it (default ``~/.cache/rlaif``, as for users): the embedded model is
  converted once per machine, not once per test run. Unit tests that exercise the conversion pass their own
  ``cache_dir``.
* A test that uses ``embedded_model`` / ``embedded_model_dir`` is marked ``slow`` automatically, so
  ``-m "not slow"`` never converts or loads the real model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rlaif.models import ResolvedModel

_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
_EMBEDDED_FIXTURES = {"embedded_model", "embedded_model_dir"}

# Set at import as well as in pytest_configure: huggingface_hub reads HF_HUB_OFFLINE once, when first imported.
os.environ.update(_OFFLINE)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(_OFFLINE)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no fork warnings from the tokenizers library


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if (
            _EMBEDDED_FIXTURES & set(getattr(item, "fixturenames", ()))
            and item.get_closest_marker("slow") is None
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama (2 layers, hidden 64, ~450-token BPE, ChatML template) saved as a local model folder.

    Shared by the whole session: do not modify it; build your own with ``build_tiny_model_dir`` to change it.
    """
    from rlaif.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-model") / "tiny-llama", seed=0)


@pytest.fixture(scope="session")
def embedded_model() -> ResolvedModel:
    """The embedded SmolLM2-135M-Instruct, resolved (converted once per machine into ``~/.cache/rlaif``)."""
    from rlaif.models import resolve_model

    return resolve_model("smollm2")


@pytest.fixture(scope="session")
def embedded_model_dir(embedded_model: ResolvedModel) -> Path:
    """The safetensors folder of the embedded SmolLM2-135M-Instruct (tests using it are slow)."""
    return embedded_model.path


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run the test with one torch thread (tiny models gain nothing from threads, and on a shared CPU several threads
    spin: 10-100x slower); modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
