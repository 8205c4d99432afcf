"""What runs on the Ray workers: the coordinator actor that owns the call cache and the ledger of attempts, the
tasks a worker runs on one batch (the same calls the local executor makes), and the Ray Data callable class that
builds a backend once per actor and runs its task on each batch (with the test-only kill switch)."""

from __future__ import annotations

import json
import os
import pickle
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rlaif.errors import RlaifError
from rlaif.scale.ray_setup import BackendSpec

if TYPE_CHECKING:
    from rlaif.backends.base import Backend, Completion, GenerationRequest
    from rlaif.constitution.schema import Principle
    from rlaif.feedback.comparison import Comparison
    from rlaif.feedback.inputs import PromptRow
    from rlaif.feedback.judge import JudgeConfig, JudgeResult
    from rlaif.feedback.responses import GenerateConfig, ResponseSet
    from rlaif.prompting import TemplateSet


# -- the coordinator: one owner for the call cache, and the ledger of attempts --------------------------------


class Coordinator:
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


class RemoteCallCache:
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


class ShippedTemplates:
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
class JudgeTask:
    templates: ShippedTemplates
    config: JudgeConfig

    def __call__(self, backend: Backend, pairs: list[Comparison]) -> list[JudgeResult]:
        from rlaif.feedback.judge import judge_pairs_detailed

        return judge_pairs_detailed(backend, self.templates.load(), pairs, self.config, progress=False)


@dataclass(frozen=True)
class RankTask:
    templates: ShippedTemplates

    def __call__(
        self, backend: Backend, work: tuple[list[ResponseSet], dict[str, Sequence[Principle]]]
    ) -> dict[str, list[float]]:
        from rlaif.feedback.pairs import rank_by_critic

        responses, principles_for = work
        return rank_by_critic(backend, self.templates.load(), responses, principles_for)


@dataclass(frozen=True)
class FitTask:
    config: GenerateConfig

    def __call__(self, backend: Backend, prompts: list[PromptRow]) -> list[tuple[PromptRow, bool]]:
        from rlaif.feedback.responses import fit_prompts

        return fit_prompts(backend, prompts, self.config)


@dataclass(frozen=True)
class GenerateTask:
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


class BatchWorker:
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
                remote = cast(CallCache, RemoteCallCache(coordinator))
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


__all__ = [
    "BatchWorker",
    "Coordinator",
    "FitTask",
    "GenerateTask",
    "JudgeTask",
    "RankTask",
    "RemoteCallCache",
    "ShippedTemplates",
]
