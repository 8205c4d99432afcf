"""The engine of a stage that talks to a model: a cached local backend, or a Ray actor pool of such backends; and
the ``run.json`` record of what a stage ran on.

Both engines give the same outputs (the pool's workers each build the same backend), so the executor never enters a
stage's fingerprint; it is recorded in ``run.json`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif.backends.spec import ModelSpec

if TYPE_CHECKING:
    from rlaif.scale import RayOptions


def open_engine(
    spec: ModelSpec, *, cache: Path | None, ray: RayOptions | None = None, role: str = "model"
) -> Any:
    """Open ``spec``'s model: on ``ray`` (an opened :class:`rlaif.scale.RayBackendPool`) when given, else in this
    process through :func:`rlaif.feedback.call_cache.open_backend` (wrapped in the call cache when ``cache``)."""
    options = spec.backend_options(role)
    if ray is not None:
        from rlaif.scale import BackendSpec, RayBackendPool

        pool = RayBackendPool(
            BackendSpec(spec.engine, spec.model, options, str(cache) if cache else None), ray
        )
        pool.open()
        return pool
    from rlaif.feedback.call_cache import open_backend

    return open_backend(spec.engine, spec.model, options=options, cache=cache)


def executor_record(ray: RayOptions | None) -> dict[str, Any]:
    """The executor fields of a ``run.json``: local, or ray with its workers and address."""
    if ray is None:
        return {"executor": "local"}
    return {"executor": "ray", "workers": ray.workers, "address": ray.address}


def write_run_record(out: Path, record: dict[str, Any]) -> None:
    """``<out>/run.json``: what ran and the cache's hits and misses (kept apart from the dataset's bytes)."""
    from rlaif.atomic import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "run.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
