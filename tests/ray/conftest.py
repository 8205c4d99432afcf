"""A local Ray cluster with 2 CPUs for the whole `tests/ray` session (the CI stage `make test-ray`).

The test modules here are marked ``ray`` and skip themselves when Ray is not installed; the main test stage
deselects them (``-m "not vllm and not ray"``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A local Ray instance with two CPU slots: two 1-CPU workers at a time, as on the 2-core CI machine."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (run `make test-ray`)")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()
