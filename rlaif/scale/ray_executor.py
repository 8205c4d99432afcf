"""Generation and labeling on a Ray cluster: Ray Data batch jobs over an actor pool.

    rlaif label --executor ray --workers 2 ...            # a local Ray instance with 2 workers
    rlaif label --executor ray --address HOST:6379 --workers 8 --gpus-per-worker 1 --backend vllm ...

:class:`RayBackendPool` implements :class:`~rlaif.feedback.labeler.CriticPool` and
:class:`~rlaif.feedback.responses.PolicyPool`, so :func:`~rlaif.feedback.labeler.label_dataset` and
:func:`~rlaif.feedback.responses.generate_responses` run unchanged on top of it:

* **Same batches, same order.** The driver cuts the work into exactly the batches the local executor would send to
  its backend (``batch_pairs`` pairs / ``batch_prompts`` prompts), ships each as one row of a Ray Dataset, and puts
  the answers back in local order. Every backend call therefore sees the same requests as in a local run, so the
  rows, labels and provenance are the same.
* **One backend per actor.** ``map_batches`` with a callable class and ``ActorPoolStrategy(size=workers)``: each
  actor builds its backend once (transformers on CPU, vLLM with ``gpus_per_worker`` GPUs) and processes batches.
* **One writer for the call cache.** A coordinator actor, pinned to the driver's node, owns the SQLite call cache:
  workers read and commit through it (one commit per backend call, as locally), so the cache is written by a
  single process however many workers there are, on however many machines (SQLite's WAL needs all its writers on
  one host). The same actor keeps a ledger of batch attempts.
* **Faults.** Ray restarts a dead actor and retries its batch (Ray Data's actor pools do this by default). A batch
  is attempted at most ``1 + max_retries`` times: one that keeps killing its worker (an out-of-memory kill, a
  segfault) is reported with its index and its first and last item instead of being retried forever. A backend
  error (e.g. CUDA out of memory) stops the run with the batch that caused it; rerunning resumes from the cache.

Tests drill faults through :data:`fault_hook` (see :mod:`rlaif.testing.ray_faults`): the worker that processes
batch ``i`` exits abruptly in the middle of its backend call, after computing and before committing.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rlaif.errors import BackendError, RlaifError

if TYPE_CHECKING:
    from rlaif.backends.base import Backend, Completion, GenerationRequest
    from rlaif.constitution.schema import Principle
    from rlaif.feedback.inputs import PromptRow
    from rlaif.feedback.judge import JudgeConfig, JudgedPair, PairToJudge
    from rlaif.feedback.responses import GenerateConfig, ResponseSet
    from rlaif.prompting import TemplateSet

log = logging.getLogger(__name__)

INSTALL_HINT = "install the Ray extra: pip install 'rlaif[ray]' (or: pip install 'ray[data]==2.60.0')"

#: Test-only fault injection: when set (by :mod:`rlaif.testing.ray_faults`, never by user code or settings) it returns
#: ``(batch index, once-marker file or None)``: the worker processing that batch exits inside its backend call.
fault_hook: Callable[[], tuple[int, str | None] | None] | None = None


@dataclass(frozen=True)
class BackendSpec:
    """How every worker builds its backend: the arguments of :func:`~rlaif.feedback.call_cache.open_backend`.

    ``cache`` is the call cache file on the driver's machine (None: no cache). Workers never open it themselves.
    """

    backend: str
    model: str
    options: Mapping[str, Any] = field(default_factory=dict)
    cache: str | None = None


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the Ray executor runs.

    Attributes:
        address: the Ray cluster (``HOST:PORT``, ``auto``, ``ray://HOST:PORT``); None starts a local Ray instance
            (or joins the one ``RAY_ADDRESS`` names). A Ray session already initialised in this process is used
            as it is.
        workers: actors in the pool, each with its own backend (model loaded once per actor).
        cpus_per_worker: CPUs reserved per actor (a CPU backend's torch threads).
        gpus_per_worker: GPUs per actor (0 on CPU; 1 for a vLLM engine per GPU; more for tensor parallelism).
        batches_per_task: backend batches per Ray task (more amortises Ray's per-task overhead on tiny batches;
            the batches themselves, hence the results, do not change).
        max_retries: how often a batch whose worker died is retried before the run stops and names it.
        ray_progress: show Ray Data's own progress bars (rlaif shows its own either way).
    """

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    batches_per_task: int = 1
    max_retries: int = 3
    ray_progress: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise RlaifError(f"workers must be at least 1, got {self.workers}", field="workers")
        if self.cpus_per_worker <= 0:
            raise RlaifError("cpus_per_worker must be positive", field="cpus_per_worker")
        if self.gpus_per_worker < 0:
            raise RlaifError("gpus_per_worker must be 0 or more", field="gpus_per_worker")
        if self.batches_per_task < 1:
            raise RlaifError("batches_per_task must be at least 1", field="batches_per_task")
        if self.max_retries < 0:
            raise RlaifError("max_retries must be 0 or more", field="max_retries")


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


def _check_resources(ray: Any, options: RayOptions, started_here: bool) -> None:
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


# -- the coordinator: one owner for the call cache, and the ledger of attempts --------------------------------


class _Coordinator:
    """A Ray actor on the driver's node: the only process that opens the SQLite call cache."""

    def __init__(self, cache_path: str | None) -> None:
        from rlaif.feedback.call_cache import CallCache

        self.cache = CallCache(cache_path) if cache_path else None
        self.attempts: dict[tuple[str, int], list[str]] = {}
        self.finished: set[tuple[str, int]] = set()
        self.cache_s = 0.0  # time spent in SQLite: what bounds how many workers one coordinator can serve
        self.rows_read = 0
        self.rows_written = 0

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        if self.cache is None:
            return {}
        t = time.perf_counter()
        found = self.cache.get_many(keys)
        self.cache_s += time.perf_counter() - t
        self.rows_read += len(keys)
        return found

    def put_many(self, kind: str, items: list[tuple[str, Any]]) -> None:
        if self.cache is not None:
            t = time.perf_counter()
            self.cache.put_many(kind, items)
            self.cache_s += time.perf_counter() - t
            self.rows_written += len(items)

    def stats(self) -> dict[str, float]:
        return {"cache_s": self.cache_s, "rows_read": self.rows_read, "rows_written": self.rows_written}

    def begin(self, job: str, unit: int, worker: str) -> int:
        """Record that ``worker`` starts batch ``unit`` of ``job``; returns the attempt number (1 = first)."""
        seen = self.attempts.setdefault((job, unit), [])
        seen.append(worker)
        return len(seen)

    def done(self, job: str, unit: int) -> None:
        self.finished.add((job, unit))

    def ledger(self, job: str) -> dict[str, Any]:
        """Attempts per batch (with the workers that made them) and the batches started but not finished."""
        attempts = {u: list(w) for (j, u), w in self.attempts.items() if j == job}
        running = sorted(u for u in attempts if (job, u) not in self.finished)
        return {"attempts": attempts, "unfinished": running}

    def cache_rows(self) -> int:
        return len(self.cache) if self.cache is not None else 0

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None


class _RemoteCallCache:
    """The :class:`~rlaif.feedback.call_cache.CallCache` interface, served by the coordinator actor."""

    def __init__(self, coordinator: Any) -> None:
        self._coordinator = coordinator
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        import ray

        return cast(dict[str, Any], ray.get(self._coordinator.get_many.remote(list(keys))))

    def put_many(self, kind: str, items: Any) -> None:
        import ray

        ray.get(self._coordinator.put_many.remote(kind, list(items)))  # committed before the worker goes on

    def close(self) -> None:
        pass


# -- tasks: what a worker does with one batch (the same call the local executor makes) ------------------------


#: template files larger than this are not shipped to the workers (template folders hold small text files)
_MAX_TEMPLATE_FILE = 1 << 20


class _ShippedTemplates:
    """A :class:`~rlaif.prompting.TemplateSet`'s folders, carried to the workers as file contents.

    Workers may be on other machines, so they get the bytes rather than the paths; template hashes depend on the
    bytes and names only, so they match the driver's.
    """

    def __init__(self, templates: TemplateSet) -> None:
        self.layers: list[dict[str, bytes]] = []
        for folder in templates.directories:
            files: dict[str, bytes] = {}
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.stat().st_size <= _MAX_TEMPLATE_FILE:
                    files[path.relative_to(folder).as_posix()] = path.read_bytes()
            self.layers.append(files)
        self._loaded: TemplateSet | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"layers": self.layers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.layers = state["layers"]
        self._loaded = None

    def load(self) -> TemplateSet:
        """The template set, rebuilt in a private temporary folder (once per worker)."""
        if self._loaded is None:
            import tempfile
            from pathlib import Path

            from rlaif.prompting import TemplateSet

            root = Path(tempfile.mkdtemp(prefix="rlaif-templates-"))
            folders = []
            for i, files in enumerate(self.layers):
                folder = root / str(i)
                folder.mkdir()
                for name, data in files.items():
                    target = folder / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                folders.append(folder)
            self._loaded = TemplateSet(tuple(folders))
        return self._loaded


@dataclass(frozen=True)
class _JudgeTask:
    templates: _ShippedTemplates
    config: JudgeConfig

    def __call__(self, backend: Backend, pairs: list[PairToJudge]) -> list[JudgedPair]:
        from rlaif.feedback.judge import judge_pairs_detailed

        return judge_pairs_detailed(backend, self.templates.load(), pairs, self.config, progress=False)


@dataclass(frozen=True)
class _RankTask:
    templates: _ShippedTemplates

    def __call__(
        self, backend: Backend, work: tuple[list[ResponseSet], dict[str, Sequence[Principle]]]
    ) -> dict[str, list[float]]:
        from rlaif.feedback.pairs import rank_by_critic

        responses, principles_for = work
        return rank_by_critic(backend, self.templates.load(), responses, principles_for)


@dataclass(frozen=True)
class _FitTask:
    config: GenerateConfig

    def __call__(self, backend: Backend, prompts: list[PromptRow]) -> list[tuple[PromptRow, bool]]:
        from rlaif.feedback.responses import fit_prompts

        return fit_prompts(backend, prompts, self.config)


@dataclass(frozen=True)
class _GenerateTask:
    def __call__(self, backend: Backend, requests: list[GenerationRequest]) -> list[list[Completion]]:
        return backend.generate(requests)


# -- the actor ---------------------------------------------------------------------------------------------------


def _error_record(e: BaseException) -> dict[str, Any]:
    if isinstance(e, RlaifError):
        return {
            "type": type(e).__name__,
            "message": "\n".join(str(p) for p in e.problems),
            "hint": e.hint,
        }
    return {"type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()}


class _KillSwitch:
    """Fault drills: exit the process in the middle of a backend call of one batch (see the module doc)."""

    def __init__(self, batch: int, marker: str | None) -> None:
        self.batch = batch
        self.marker = marker
        self.armed = False

    def install(self, engine: Any) -> None:
        for name in ("generate", "score"):
            original = getattr(engine, name)

            def call(requests: Any, _original: Callable[[Any], Any] = original) -> Any:
                result = _original(requests)  # the work is done ...
                if self.armed and self._claim():
                    os._exit(1)  # ... and lost: the process dies before returning or committing it
                return result

            setattr(engine, name, call)

    def _claim(self) -> bool:
        if self.marker is None:
            return True
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


class _BatchWorker:
    """The Ray Data callable class: builds the backend once, then runs its task on each batch it is given."""

    def __init__(
        self,
        spec: BackendSpec,
        task: Callable[[Any, Any], Any],
        job: str,
        coordinator: Any,
        max_attempts: int,
        kill: tuple[int, str | None] | None,
    ) -> None:
        import ray

        started = time.monotonic()
        self.task = task
        self.job = job
        self.coordinator = coordinator
        self.max_attempts = max_attempts
        self.worker = f"pid {os.getpid()} on {ray.util.get_node_ip_address()}"
        self.backend: Any = None
        self.init_error: dict[str, Any] | None = None
        self.kill = _KillSwitch(*kill) if kill is not None else None
        try:
            from rlaif.feedback.call_cache import CachedBackend, CallCache, open_backend

            engine = open_backend(spec.backend, spec.model, options=dict(spec.options), cache=None)
            if self.kill is not None:
                self.kill.install(engine)
            if spec.cache is not None:
                remote = cast(CallCache, _RemoteCallCache(coordinator))
                self.backend = CachedBackend(
                    engine, remote, chunk_size=1 << 30
                )  # one commit per call, as locally
            else:
                self.backend = engine
        except Exception as e:  # reported with the first batch, so the driver stops with the worker's message
            self.init_error = _error_record(e)
        self.init_s = time.monotonic() - started  # reported once, with the first batch

    def _counts(self) -> tuple[int, int]:
        cache = getattr(self.backend, "cache", None)
        return (cache.hits, cache.misses) if cache is not None else (0, 0)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        import ray

        out: dict[str, list[Any]] = {
            k: []
            for k in ("index", "result", "error", "hits", "misses", "model", "worker", "init_s", "busy_s")
        }
        for index, payload in zip(batch["index"], batch["payload"], strict=True):
            t0 = time.monotonic()
            units: list[tuple[int, Any]] = pickle.loads(payload)
            results: list[tuple[int, Any]] = []
            error: dict[str, Any] | None = self.init_error
            hits0, misses0 = self._counts()
            for unit, work in units if error is None else ():
                attempt = ray.get(self.coordinator.begin.remote(self.job, unit, self.worker))
                if attempt > self.max_attempts:
                    error = {"type": "WorkerDied", "unit": unit, "attempts": attempt - 1}
                    break
                if self.kill is not None:
                    self.kill.armed = unit == self.kill.batch
                try:
                    results.append((unit, self.task(self.backend, work)))
                except Exception as e:
                    error = {**_error_record(e), "unit": unit}
                    break
                ray.get(self.coordinator.done.remote(self.job, unit))
            hits, misses = self._counts()
            out["index"].append(int(index))
            out["result"].append(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
            out["error"].append(json.dumps(error) if error is not None else "")
            out["hits"].append(hits - hits0)
            out["misses"].append(misses - misses0)
            model = (
                (self.backend.model_id, self.backend.model_revision) if self.backend is not None else ("", "")
            )
            out["model"].append(json.dumps(model))
            out["worker"].append(self.worker)
            out["init_s"].append(self.init_s)
            out["busy_s"].append(time.monotonic() - t0)
            self.init_s = 0.0
        return out


# -- the pool ----------------------------------------------------------------------------------------------------


class RayBackendPool:
    """A pool of Ray actors, each with its own backend built from ``spec`` (see the module doc).

    Use it as a context manager; pass it where :func:`~rlaif.feedback.labeler.label_dataset` takes a critic or
    :func:`~rlaif.feedback.responses.generate_responses` a policy. After a run, ``hits`` / ``misses`` count the
    call cache, ``retried`` the batches that were retried, ``batches_by_worker`` who did what, and ``startup_s`` /
    ``busy_s`` each worker's seconds spent building its backend and working on batches.
    """

    def __init__(self, spec: BackendSpec, options: RayOptions = RayOptions()) -> None:
        self.spec = spec
        self.options = options
        self.model_id = spec.model  # the resolved identity replaces it once a worker has built its backend
        self.model_revision = ""
        self._resolved: tuple[str, str] | None = None
        self.hits = 0
        self.misses = 0
        self.retried: dict[str, dict[int, list[str]]] = {}
        self.batches_by_worker: dict[str, int] = {}
        #: per worker: seconds spent building its backend, and seconds spent on batches
        self.startup_s: dict[str, float] = {}
        self.busy_s: dict[str, float] = {}
        self._ray: Any = None
        self._started_here = False
        self._coordinator: Any = None
        self._jobs = 0
        self._caps: Any = None

    def capabilities(self) -> Any:
        """What the workers' backend can do (:class:`~rlaif.backends.base.Capabilities`), known here without
        loading a model: a local engine declares it on its class (``CAPABILITIES``); a served critic is asked once,
        as each worker would ask it. The label stage resolves ``judge_mode: auto`` from it, as it does locally."""
        if self._caps is None:
            from rlaif.backends.base import Capabilities
            from rlaif.backends.registry import backend_class, make_backend

            if self.spec.backend == "openai":
                backend = make_backend(self.spec.backend, self.spec.model, **dict(self.spec.options))
                try:
                    self._caps = backend.capabilities()  # type: ignore[attr-defined]
                finally:
                    backend.close()
            else:
                self._caps = getattr(backend_class(self.spec.backend), "CAPABILITIES", Capabilities())
        return self._caps

    # -- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> RayBackendPool:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect to Ray and start the coordinator (idempotent)."""
        if self._coordinator is not None:
            return
        self._ray = ray = import_ray()
        self._started_here = connect(self.options)
        try:
            _check_resources(ray, self.options, self._started_here)
            remote_cls = ray.remote(num_cpus=0, max_restarts=0)(_Coordinator)
            placement: dict[str, Any] = {}
            try:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                node = ray.get_runtime_context().get_node_id()
                placement["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
            except Exception:  # a Ray client driver has no node of its own: the cache lives on the head node
                log.info("the call cache lives on the Ray head node (this driver is a Ray client)")
            self._coordinator = remote_cls.options(
                name=f"rlaif-coordinator-{uuid.uuid4().hex[:8]}", **placement
            ).remote(self.spec.cache)
            ray.get(self._coordinator.cache_rows.remote())  # the cache opened (or its error surfaces now)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the call cache, stop the coordinator, and shut Ray down if this pool started it."""
        ray = self._ray
        if ray is None:
            return
        if self._coordinator is not None:
            try:
                ray.get(self._coordinator.close.remote())
                ray.kill(self._coordinator)
            except Exception as e:  # the cluster may already be gone; nothing is left to save
                log.debug("closing the coordinator: %s", e)
            self._coordinator = None
        if self._started_here and ray.is_initialized():
            ray.shutdown()
        self._ray = None

    def coordinator_stats(self) -> dict[str, float]:
        """The coordinator's seconds spent in SQLite (``cache_s``) and the keys it looked up / rows it wrote."""
        self.open()
        return cast(dict[str, float], self._ray.get(self._coordinator.stats.remote()))

    def cache_rows(self) -> int:
        """Rows in the call cache (read through the coordinator)."""
        self.open()
        return int(self._ray.get(self._coordinator.cache_rows.remote()))

    # -- the generic batch job -------------------------------------------------------------------------------
    def run(
        self,
        task: Callable[[Any, Any], Any],
        units: Sequence[Any],
        *,
        describe: Callable[[int], str] = lambda i: f"batch {i}",
        workers: int | None = None,
    ) -> Iterator[tuple[int, Any]]:
        """Run ``task(backend, unit)`` for every unit on the actor pool; yields ``(unit index, result)`` as they
        arrive. ``describe(i)`` names unit ``i`` in error messages (its first and last item)."""
        self.open()
        if not units:
            return
        ray = self._ray
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = self.options.ray_progress
        ctx.print_on_execution_start = self.options.ray_progress
        self._jobs += 1
        job = f"job{self._jobs}"
        per = self.options.batches_per_task
        chunks = [list(enumerate(units))[i : i + per] for i in range(0, len(units), per)]
        items = [
            {"index": t, "payload": pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL)}
            for t, c in enumerate(chunks)
        ]
        size = max(1, min(workers or self.options.workers, len(chunks)))
        kill = fault_hook() if fault_hook is not None else None
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(
            _BatchWorker,
            batch_size=1,
            compute=ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
            num_cpus=self.options.cpus_per_worker,
            num_gpus=self.options.gpus_per_worker or None,
            fn_constructor_kwargs={
                "spec": self.spec,
                "task": task,
                "job": job,
                "coordinator": self._coordinator,
                "max_attempts": 1 + self.options.max_retries,
                "kill": kill,
            },
        )
        t0 = time.monotonic()
        try:
            for row in ds.iter_rows():
                self.hits += int(row["hits"])
                self.misses += int(row["misses"])
                if row["error"]:
                    raise self._failure(json.loads(row["error"]), describe, row["worker"])
                self._check_model(tuple(json.loads(row["model"])), row["worker"])
                results = pickle.loads(row["result"])
                w = row["worker"]
                self.startup_s[w] = self.startup_s.get(w, 0.0) + float(row["init_s"])
                self.busy_s[w] = self.busy_s.get(w, 0.0) + float(row["busy_s"])
                self.batches_by_worker[row["worker"]] = self.batches_by_worker.get(row["worker"], 0) + len(
                    results
                )
                yield from results
        except RlaifError:
            raise
        except (
            Exception
        ) as e:  # Ray's own failures (cluster lost, object lost...): say which batches were running
            running = self._ledger(job).get("unfinished", [])
            names = ", ".join(describe(u) for u in running[:3]) or "none"
            raise RlaifError(
                f"the Ray job failed: {type(e).__name__}: {e}",
                field="executor",
                hint=f"batches in flight when it failed: {names}; rerun the same command: finished batches are "
                "read back from the call cache",
            ) from e
        finally:
            ledger = self._ledger(job)
            retried = {u: w for u, w in ledger.get("attempts", {}).items() if len(w) > 1}
            if retried:
                self.retried[job] = retried
                log.warning(
                    "%d batch(es) were retried after their worker died: %s",
                    len(retried),
                    ", ".join(f"{describe(u)} ({len(w)} attempts)" for u, w in sorted(retried.items())[:5]),
                )
            log.debug("ray job %s: %d batch(es) in %.1f s", job, len(units), time.monotonic() - t0)

    def _ledger(self, job: str) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], self._ray.get(self._coordinator.ledger.remote(job), timeout=10))
        except Exception:
            return {}

    def _check_model(self, model: tuple[Any, ...], worker: str) -> None:
        if not model or not model[0]:
            return
        ident = (str(model[0]), str(model[1]))
        if self._resolved is None:
            self._resolved = ident
            self.model_id, self.model_revision = ident
        elif ident != self._resolved:
            raise RlaifError(
                f"the workers loaded different models: {self._resolved[0]}@{self._resolved[1]} and "
                f"{ident[0]}@{ident[1]} ({worker})",
                field="model",
                hint="give every node the same model files (a shared path or the same hub revision)",
            )

    def _failure(self, error: dict[str, Any], describe: Callable[[int], str], worker: str) -> RlaifError:
        unit = error.get("unit")
        where = (
            describe(int(unit))
            if unit is not None
            else f"starting the {self.spec.backend} backend on {worker}"
        )
        if error["type"] == "WorkerDied":
            return RlaifError(
                f"{where}: its worker died {error['attempts']} time(s) in a row (out of memory, or a crash; "
                "Ray's log above names the cause)",
                field="executor",
                hint="lower the batch size (--batch-pairs / --batch-prompts), give each worker more memory "
                "(--cpus-per-worker / --gpus-per-worker, or the backend's memory options), or raise max_retries",
            )
        message = f"{where}: {error['message']}"
        if error["type"] == "BackendError" or error["type"] not in (
            "RlaifError",
            "ModelError",
            "DataFileError",
        ):
            if "traceback" in error:
                message += f"\n{error['traceback'].rstrip()}"
            hint = error.get("hint") or "rerun the same command after fixing it: finished batches are cached"
            if "out of memory" in message.lower():
                hint = (
                    f"{error.get('hint') or 'lower the batch size'}; the batch above caused it (--batch-pairs / "
                    "--batch-prompts set its size)"
                )
            return BackendError(self.spec.backend, message, hint=hint)
        return RlaifError(message, hint=error.get("hint"))

    # -- CriticPool --------------------------------------------------------------------------------------------
    def judge_batches(
        self, templates: TemplateSet, batches: Sequence[Sequence[PairToJudge]], config: JudgeConfig
    ) -> Iterator[tuple[int, list[JudgedPair]]]:
        """Each batch judged by :func:`~rlaif.feedback.judge.judge_pairs_detailed` on a worker."""

        def describe(i: int) -> str:
            b = batches[i]
            return f"batch {i} (pairs {b[0].pair_id} … {b[-1].pair_id})" if b else f"batch {i}"

        yield from self.run(
            _JudgeTask(_ShippedTemplates(templates), config), [list(b) for b in batches], describe=describe
        )

    def rank_by_critic(
        self,
        templates: TemplateSet,
        responses: Sequence[ResponseSet],
        principles_for: Mapping[str, Sequence[Principle]],
    ) -> dict[str, list[float]]:
        """Best-worst ranking scores, computed in one call on one worker (as the local executor does)."""
        work: tuple[list[ResponseSet], dict[str, Sequence[Principle]]] = (
            list(responses),
            {k: list(v) for k, v in principles_for.items()},
        )
        [(_, ranks)] = list(
            self.run(
                _RankTask(_ShippedTemplates(templates)),
                [work],
                describe=lambda i: "ranking the responses",
                workers=1,
            )
        )
        return cast(dict[str, list[float]], ranks)

    # -- PolicyPool ----------------------------------------------------------------------------------------------
    def fit_prompts(
        self, prompts: Sequence[PromptRow], config: GenerateConfig
    ) -> list[tuple[PromptRow, bool]]:
        """:func:`~rlaif.feedback.responses.fit_prompts` on one worker (it needs the policy's tokenizer)."""
        if not prompts:
            return []
        [(_, fitted)] = list(
            self.run(_FitTask(config), [list(prompts)], describe=lambda i: "fitting the prompts", workers=1)
        )
        return cast(list[tuple["PromptRow", bool]], fitted)

    def generate_batches(
        self, batches: Sequence[Sequence[GenerationRequest]]
    ) -> Iterator[tuple[int, list[list[Completion]]]]:
        """Each batch's ``generate`` on a worker."""

        def describe(i: int) -> str:
            b = batches[i]
            first = b[0].prompt if b else ""
            text = first if isinstance(first, str) else (first[-1].content if first else "")
            return f"batch {i} ({len(b)} prompt(s), the first: {text[:60]!r})"

        yield from self.run(_GenerateTask(), [list(b) for b in batches], describe=describe)
