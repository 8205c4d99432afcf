"""Test-only fault drills for the Ray executor: kill the worker that processes one batch.

    with kill_worker_on_batch(2, once=tmp_path / "killed-once"):
        ...  # run a labeling job on a RayBackendPool

The worker exits abruptly inside its backend call, after computing and before committing; with ``once`` only the first
such worker dies (the file records that it happened), otherwise every attempt dies. Production code never sets this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rlaif.scale import ray_executor


@contextmanager
def kill_worker_on_batch(batch: int, *, once: Path | None = None) -> Iterator[None]:
    """Within the block, Ray jobs kill the worker processing ``batch`` (once, when ``once`` names a marker file)."""
    if batch < 0:
        raise ValueError(f"batch must be a batch index (>= 0), not {batch}")
    previous = ray_executor.fault_hook
    marker = str(once) if once is not None else None
    ray_executor.fault_hook = lambda: (batch, marker)
    try:
        yield
    finally:
        ray_executor.fault_hook = previous


__all__ = ["kill_worker_on_batch"]
