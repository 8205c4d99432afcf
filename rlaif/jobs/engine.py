"""The engine of a stage that talks to a model: a cached local backend, or a Ray actor pool of such backends.

Both give the same outputs (the pool's workers each build the same backend), so the executor never enters a
stage's fingerprint.
"""

from __future__ import annotations

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
