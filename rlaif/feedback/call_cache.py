"""A content-addressed cache of model calls (SQLite, stdlib only).

Key = sha256 over (kind, model id, model revision, the exact prompt, the call's parameters). A killed run restarts
where it stopped: calls already answered are read back instead of recomputed, and editing one principle changes only
the rendered prompts that used it, so only those calls run again.

Only deterministic calls are cached: scoring always, generation only when greedy (``temperature == 0``) or seeded.
An unseeded sampled generation is passed through, because replaying it would silently turn "a fresh sample" into
"the same sample again".

Safe with many writers: WAL journal, a busy timeout, ``INSERT OR IGNORE`` (the same key always maps to the same
value, so the first writer wins and no row is lost or duplicated). Each chunk of calls is committed as soon as the
backend answers it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar, cast

from rlaif.backends.base import (
    Backend,
    Capabilities,
    ChatMessage,
    Completion,
    GenerationRequest,
    PartialFailure,
    ScoreRequest,
    ScoreResult,
    TopLogprobsRequest,
    TopLogprobsResult,
    backend_capabilities,
)
from rlaif.errors import RlaifError

#: bump when the key or value encoding changes; old rows then simply stop matching
CACHE_FORMAT = 1

_T = TypeVar("_T")
_R = TypeVar("_R")


class CallCache:
    """A key → JSON value store in one SQLite file, shareable across threads and processes."""

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL)"
            )
            self._conn.commit()
        except sqlite3.DatabaseError as e:
            raise RlaifError(
                f"cannot open the call cache: {e}",
                path=self.path,
                hint="the file is not an rlaif call cache or is corrupt; move it away (it only holds cached "
                "model calls, nothing is lost but time)",
            ) from e
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The cached values of those keys that are present."""
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(f"SELECT key, value FROM calls WHERE key IN ({marks})", part)
                for key, value in rows:
                    found[key] = json.loads(value)
        return found

    def put_many(self, kind: str, items: Iterable[tuple[str, Any]]) -> None:
        """Store values (JSON-serialisable) and commit."""
        rows = [(k, kind, json.dumps(v, separators=(",", ":"))) for k, v in items]
        with self._lock:
            self._conn.executemany("INSERT OR IGNORE INTO calls (key, kind, value) VALUES (?, ?, ?)", rows)
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()
        return int(n)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


def _prompt_json(prompt: str | tuple[ChatMessage, ...]) -> Any:
    if isinstance(prompt, str):
        return prompt
    return [[m.role, m.content] for m in prompt]


def call_key(kind: str, model_id: str, model_revision: str, payload: Any) -> str:
    """The cache key of one call: sha256 of a canonical JSON encoding."""
    blob = json.dumps(
        [CACHE_FORMAT, kind, model_id, model_revision, payload],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _is_deterministic(request: GenerationRequest) -> bool:
    return request.params.temperature == 0 or request.params.seed is not None


class CachedBackend:
    """Wraps any :class:`~rlaif.backends.base.Backend` with a :class:`CallCache` (same protocol)."""

    def __init__(self, backend: Backend, cache: CallCache, *, chunk_size: int = 64) -> None:
        self.backend = backend
        self.cache = cache
        self.chunk_size = chunk_size
        self.name = backend.name
        self.model_id = backend.model_id
        # a hosted model's identity (its name plus a revision or the server's fingerprint) keys every call, so a
        # changed identity is recomputed, never served from the cache
        self.model_revision = backend.model_revision
        self.supports_partial_failure = bool(getattr(backend, "supports_partial_failure", False))

    def _key(self, kind: str, payload: Any) -> str:
        return call_key(kind, self.model_id, self.model_revision, payload)

    def _cached_calls(
        self,
        kind: str,
        requests: Sequence[_T],
        keys: Sequence[str | None],
        run: Callable[[list[_T]], list[_R]],
        encode: Callable[[_R], Any],
        decode: Callable[[Any], _R],
    ) -> list[_R]:
        known = self.cache.get_many([k for k in keys if k is not None])
        results: list[_R | None] = [None] * len(requests)
        todo: list[int] = []
        for i, key in enumerate(keys):
            if key is not None and key in known:
                results[i] = decode(known[key])
                self.cache.hits += 1
            else:
                todo.append(i)
                self.cache.misses += 1
        errors: dict[int, str] = {}
        for start in range(0, len(todo), self.chunk_size):
            chunk = todo[start : start + self.chunk_size]
            try:
                answers: list[_R | None] = list(run([requests[i] for i in chunk]))
            except PartialFailure as e:  # keep (and cache) what was answered; report the rest
                answers = list(e.results)
                errors.update({chunk[j]: msg for j, msg in e.errors.items()})
            to_store = []
            for i, answer in zip(chunk, answers, strict=True):
                if answer is None:
                    continue
                results[i] = answer
                key = keys[i]
                if key is not None:
                    to_store.append((key, encode(answer)))
            if to_store:
                self.cache.put_many(kind, to_store)  # committed per chunk: a killed run keeps this work
        if errors:
            raise PartialFailure(self.name, results, errors)
        # zip(strict=True) above guarantees every slot was filled
        return cast(list[_R], results)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Generate, reading deterministic calls from the cache."""
        keys = [
            self._key("generate", [_prompt_json(r.prompt), asdict(r.params)])
            if _is_deterministic(r)
            else None
            for r in requests
        ]
        return self._cached_calls(
            "generate",
            requests,
            keys,
            self.backend.generate,
            lambda cs: [asdict(c) for c in cs],
            lambda v: [
                Completion(
                    text=c["text"],
                    token_ids=tuple(c["token_ids"]),
                    finish_reason=c["finish_reason"],
                    logprobs=tuple(c["logprobs"]) if c["logprobs"] is not None else None,
                )
                for c in v
            ],
        )

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Score, reading every call already answered from the cache."""
        keys: list[str | None] = [self._key("score", [r.prompt, list(r.continuations)]) for r in requests]
        return self._cached_calls(
            "score",
            requests,
            keys,
            self.backend.score,
            asdict,
            lambda v: ScoreResult(logprobs=tuple(v["logprobs"]), num_tokens=tuple(v["num_tokens"])),
        )

    def top_logprobs(self, requests: Sequence[TopLogprobsRequest]) -> list[TopLogprobsResult]:
        """Top log-probabilities (the ``top-logprobs`` judge mode), reading every call already answered from the
        cache; the mode, the messages, the prefill and the formatted text are all in the key."""
        fn = getattr(self.backend, "top_logprobs", None)
        if fn is None:
            raise RlaifError(f"the {self.name} backend returns no top log-probabilities", field="judge_mode")
        keys: list[str | None] = [
            self._key(
                "top-logprobs",
                [_prompt_json(r.messages), r.prefill, r.text, r.top_k, r.max_new_tokens],
            )
            for r in requests
        ]
        return self._cached_calls(
            "top-logprobs",
            requests,
            keys,
            fn,
            lambda r: {
                "positions": [[list(t) for t in pos] for pos in r.positions],
                "prefilled": r.prefilled,
            },
            lambda v: TopLogprobsResult(
                positions=tuple(tuple((str(t), float(lp)) for t, lp in pos) for pos in v["positions"]),
                prefilled=bool(v["prefilled"]),
            ),
        )

    def capabilities(self) -> Capabilities:
        """The wrapped backend's capabilities."""
        return backend_capabilities(self.backend)

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """Delegates to the wrapped backend."""
        return self.backend.format_chat(messages)

    def close(self) -> None:
        """Close the wrapped backend (the cache stays open until :meth:`CallCache.close`)."""
        self.backend.close()


#: the call cache shared by stages writing next to each other: ``<out>/../.rlaif-cache.sqlite``
CACHE_FILE_NAME = ".rlaif-cache.sqlite"


def default_cache_path(out: str | Path) -> Path:
    """Where a stage writing into ``out`` keeps its call cache by default (shared with its sibling stages)."""
    return Path(out).resolve().parent / CACHE_FILE_NAME


def open_backend(
    backend: str,
    model: str,
    *,
    options: dict[str, Any] | None = None,
    cache: str | Path | None = None,
) -> Backend:
    """Build a backend by name for ``model`` and, when ``cache`` is given, wrap it in the call cache.

    Local models are resolved first, so a missing model or an unreachable hub fails in a second, before any long
    load. The cache commits once per backend call (the callers batch their work), so the work between two commits is
    always recomputed in the same batches: a resumed run reproduces an uninterrupted one bit for bit.
    """
    from rlaif.backends.registry import make_backend

    if backend in ("transformers", "vllm"):
        from rlaif.models import resolve_model

        resolve_model(model)
    engine: Backend = make_backend(backend, model, **(options or {}))
    if cache is None:
        return engine
    return CachedBackend(engine, CallCache(cache), chunk_size=1 << 30)
