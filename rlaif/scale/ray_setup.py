"""Joining a Ray cluster for the executor: what each worker builds (:class:`BackendSpec`), how wide the pool is
(:class:`RayOptions`), importing Ray with an install hint, and connecting (failing fast on an unreachable address
or a pool that cannot fit)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from rlaif.errors import RlaifError
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)

INSTALL_HINT = "install the Ray extra: pip install 'rlaif[ray]' (or: pip install 'ray[data]==2.60.0')"


@dataclass(frozen=True)
class BackendSpec:
    """How every worker builds its backend: the arguments of :func:`~rlaif.feedback.call_cache.open_backend`.

    ``cache`` is the call cache file on the driver's machine (None: no cache). Workers never open it themselves.
    """

    backend: str
    model: str
    options: Mapping[str, Any] = field(default_factory=dict)
    cache: str | None = None


class RayOptions(StrictConfig):
    """Where and how wide the Ray executor runs (a pipeline's ``ray:`` section; ``--executor ray`` flags)."""

    address: str | None = Field(
        default=None,
        description="Ray cluster (HOST:PORT, auto, ray://HOST:PORT); null = RAY_ADDRESS or a local Ray instance "
        "(a Ray session already initialised in this process is used as it is)",
    )
    workers: int = Field(
        default=2, ge=1, description="actors in the pool, each with its own copy of the model (loaded once)"
    )
    cpus_per_worker: float = Field(
        default=1.0, gt=0.0, description="CPUs per worker (a CPU backend's threads)"
    )
    gpus_per_worker: float = Field(
        default=0.0,
        ge=0.0,
        description="GPUs per worker (0 on CPU; 1 for a vLLM engine per GPU; more for tensor parallelism)",
    )
    batches_per_task: int = Field(
        default=1,
        ge=1,
        description="backend batches (generate.batch_prompts / label.batch_pairs) per Ray task; more amortises "
        "Ray's per-task overhead on tiny batches, the results do not change",
    )
    max_retries: int = Field(
        default=3, ge=0, description="retries of a batch whose worker died before the run stops and names it"
    )
    ray_progress: bool = Field(
        default=False, description="show Ray Data's own progress bars (rlaif shows its own either way)"
    )


#: a stage's executor option: its model on a Ray actor pool, or (null) in this process; the results are the same
RayPool = Annotated[
    RayOptions | None,
    Field(
        description="run the stage's model on a Ray actor pool (the results do not change); null: in this process"
    ),
]


def import_ray() -> Any:
    """``import ray`` and ``ray.data``, or a clear :class:`~rlaif.errors.RlaifError` with the install command."""
    try:
        import ray
        import ray.data  # the [data] extra (pandas, pyarrow)
    except ImportError as e:
        raise RlaifError(
            f"the Ray executor needs the 'ray[data]' package, which is not installed ({e})",
            field="executor",
            hint=INSTALL_HINT,
        ) from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of an address that names one (``HOST:PORT`` or ``ray://HOST:PORT``), else None."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail fast, naming the address, when a ``HOST:PORT`` Ray address does not accept connections."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as e:
        raise RlaifError(
            f"cannot reach the Ray cluster at {address} ({e})",
            field="address",
            hint="start it with `ray start --head` on that machine, check the host and port (the GCS port, "
            "6379 by default; 10001 for ray:// clients), or leave the address out to run a local Ray instance",
        ) from None


def connect(options: RayOptions) -> bool:
    """Join (or start) the Ray cluster; True when this call started Ray (so the caller shuts it down)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address is None or address == "local":
        need = int(-(-options.workers * options.cpus_per_worker // 1))
        kwargs.update(num_cpus=max(os.cpu_count() or 1, need), include_dashboard=False)
        address = None
    else:
        check_reachable(address)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RlaifError(
            f"cannot connect to the Ray cluster at {address or 'a new local instance'}: {e}",
            field="address",
            hint="check `ray status` on the cluster, or leave the address out to run a local Ray instance",
        ) from None
    return True


def check_resources(ray: Any, options: RayOptions, started_here: bool) -> None:
    """Say so before a pool that cannot fit waits forever (an error on a local instance started here)."""
    have = ray.cluster_resources()
    problems = []
    for what, per in (("CPU", options.cpus_per_worker), ("GPU", options.gpus_per_worker)):
        need = options.workers * per
        if need > float(have.get(what, 0.0)) + 1e-9:
            problems.append(
                f"{options.workers} worker(s) x {per:g} {what} = {need:g} {what}, the cluster has "
                f"{float(have.get(what, 0.0)):g}"
            )
    if not problems:
        return
    text = "; ".join(problems)
    if started_here and options.gpus_per_worker > float(have.get("GPU", 0.0)):
        raise RlaifError(
            f"not enough resources for the worker pool: {text}",
            field="gpus_per_worker",
            hint="use fewer workers or gpus_per_worker, or pass --address of a cluster with GPUs",
        )
    log.warning("the worker pool does not fit the cluster now (%s); it waits for the autoscaler", text)


__all__ = [
    "INSTALL_HINT",
    "BackendSpec",
    "RayOptions",
    "check_reachable",
    "check_resources",
    "connect",
    "import_ray",
]
