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

This module holds the pool (the driver's side); :mod:`rlaif.scale.ray_setup` connects to the cluster and
:mod:`rlaif.scale.ray_worker` is what runs on the workers.

Tests drill faults through :data:`fault_hook` (see :mod:`rlaif.testing.ray_faults`): the worker that processes
batch ``i`` exits abruptly in the middle of its backend call, after computing and before committing.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from rlaif.errors import BackendError, RlaifError
from rlaif.scale.ray_setup import BackendSpec, RayOptions, check_resources, connect, import_ray
from rlaif.scale.ray_worker import (
    BatchWorker,
    Coordinator,
    FitTask,
    GenerateTask,
    JudgeTask,
    RankTask,
    ShippedTemplates,
)

if TYPE_CHECKING:
    from rlaif.backends.base import Completion, GenerationRequest
    from rlaif.constitution.schema import Principle
    from rlaif.feedback.comparison import Comparison
    from rlaif.feedback.inputs import PromptRow
    from rlaif.feedback.judge import JudgeConfig, JudgeResult
    from rlaif.feedback.responses import GenerateConfig, ResponseSet
    from rlaif.prompting import TemplateSet

log = logging.getLogger(__name__)

#: Test-only fault injection: when set (by :mod:`rlaif.testing.ray_faults`, never by user code or settings) it returns
#: ``(batch index, once-marker file or None)``: the worker processing that batch exits inside its backend call.
fault_hook: Callable[[], tuple[int, str | None] | None] | None = None


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
            check_resources(ray, self.options, self._started_here)
            remote_cls = ray.remote(num_cpus=0, max_restarts=0)(Coordinator)
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
            BatchWorker,
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
        self, templates: TemplateSet, batches: Sequence[Sequence[Comparison]], config: JudgeConfig
    ) -> Iterator[tuple[int, list[JudgeResult]]]:
        """Each batch judged by :func:`~rlaif.feedback.judge.judge_pairs_detailed` on a worker."""

        def describe(i: int) -> str:
            b = batches[i]
            return f"batch {i} (pairs {b[0].pair_id} … {b[-1].pair_id})" if b else f"batch {i}"

        yield from self.run(
            JudgeTask(ShippedTemplates(templates), config), [list(b) for b in batches], describe=describe
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
                RankTask(ShippedTemplates(templates)),
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
            self.run(FitTask(config), [list(prompts)], describe=lambda i: "fitting the prompts", workers=1)
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

        yield from self.run(GenerateTask(), [list(b) for b in batches], describe=describe)


__all__ = ["RayBackendPool", "fault_hook"]
