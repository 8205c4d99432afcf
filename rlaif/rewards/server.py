"""The HTTP reward server behind ``rlaif serve-reward``: OpenRLHF's remote reward-model protocol and rlaif's own.

Endpoints (all JSON; see ``docs/interop.md``):

``POST /get_reward`` (OpenRLHF ``--remote_rm_url``)
    request ``{"query": [str], "prompts": [str], "labels": [str]}``: each query is the chat-templated prompt followed
    by the response (padding and end-of-sequence tokens are stripped); ``prompts`` (optional) are the templated
    prompts, used to split each query; ``labels`` are accepted and ignored. Response
    ``{"rewards": [float], "scores": [float], "extra_logs": {"rlaif_unjudged": [0|1]}}``. A completion the critic
    gave no judgement for gets ``unjudged_reward`` (default 0.0) there, flagged 1 in ``extra_logs``.
``POST /v1/rewards`` (rlaif's API)
    request ``{"items": [{"prompt": str | [message], "response": str, "principles"?: [id], "reference"?: str}]}``;
    response ``{"rewards": [float | null], "principles": [[id@version]], "scorer": str}``.
``GET /health``
    ``{"status": "ok", "scorer": str, "queued": int, "max_queue": int, "requests": int, "items": int}``.

Requests from concurrent clients are batched: a worker thread takes whatever is queued (up to ``max_batch`` items,
waiting at most ``max_wait_s`` for more) and scores it in one call. The queue is bounded: when ``max_queue`` items are
waiting the server answers 503 with ``Retry-After`` instead of queueing without limit. A bad request gets a 4xx with
``{"error": message}``: 400 (not JSON, a missing or mistyped field), 404 (unknown path), 405 (wrong method), 413
(body or item count over the limit).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rlaif.errors import RlaifError
from rlaif.rewards.formats import split_query
from rlaif.rewards.reward_fn import RewardFunction
from rlaif.rewards.scorers import RewardItem
from rlaif.rewards.server_settings import ServerSettings

log = logging.getLogger(__name__)


@dataclass
class _Job:
    items: list[RewardItem]
    future: Future[list[float | None]] = field(default_factory=Future)


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Batcher:
    """Collects jobs from many threads and scores them together on one worker thread."""

    def __init__(self, fn: RewardFunction, settings: ServerSettings) -> None:
        self.fn = fn
        self.settings = settings
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._queued = 0
        self._lock = threading.Lock()
        self.batches = 0
        self.items_scored = 0
        self._thread = threading.Thread(target=self._run, name="rlaif-reward-batcher", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Items waiting to be scored."""
        return self._queued

    def submit(self, items: list[RewardItem]) -> Future[list[float | None]]:
        """Queue items; the future holds their rewards. Raises 503 when the queue is full."""
        job = _Job(items)
        with self._lock:
            if self._queued + len(items) > self.settings.max_queue:
                raise _BadRequest(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"the queue is full ({self._queued} items waiting, max {self.settings.max_queue}); retry later",
                )
            self._queued += len(items)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        """Stop the worker after the jobs already queued."""
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            size = len(first.items)
            deadline = time.monotonic() + self.settings.max_wait_s
            stop = False
            while size < self.settings.max_batch:
                try:
                    nxt = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                size += len(nxt.items)
            self._score(batch)
            if stop:
                return

    def _score(self, batch: list[_Job]) -> None:
        items = [it for job in batch for it in job.items]
        try:
            rewards = self.fn.score(items)
        except Exception as e:  # the error goes back to each waiting request, the server keeps serving
            log.exception("scoring a batch of %d items failed", len(items))
            for job in batch:
                job.future.set_exception(e)
        else:
            start = 0
            for job in batch:
                job.future.set_result(rewards[start : start + len(job.items)])
                start += len(job.items)
            self.batches += 1
            self.items_scored += len(items)
        finally:
            with self._lock:
                self._queued -= len(items)


def _list_of_str(body: dict[str, Any], key: str, *, required: bool) -> list[str] | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"missing field {key!r} (a list of strings)")
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _BadRequest(HTTPStatus.BAD_REQUEST, f"field {key!r} must be a list of strings")
    return value


class RewardService:
    """The request logic, independent of HTTP (tests call it directly too)."""

    def __init__(self, fn: RewardFunction, settings: ServerSettings | None = None) -> None:
        self.fn = fn
        self.settings = settings or ServerSettings()
        self.batcher = Batcher(fn, self.settings)
        self.requests = 0  # requests accepted (queued)
        self._count_lock = threading.Lock()

    def _check_count(self, n: int) -> None:
        if n == 0:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "no items to score")
        if n > self.settings.max_items:
            raise _BadRequest(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{n} items in one request, max {self.settings.max_items}; split the request",
            )

    def _wait(self, items: list[RewardItem]) -> list[float | None]:
        future = self.batcher.submit(items)
        with self._count_lock:
            self.requests += 1
        return future.result()

    def openrlhf(self, body: dict[str, Any]) -> dict[str, Any]:
        """``/get_reward``: OpenRLHF's remote reward-model protocol."""
        queries = _list_of_str(body, "query", required=True)
        assert queries is not None
        prompts = _list_of_str(body, "prompts", required=False)
        self._check_count(len(queries))
        if prompts is not None and len(prompts) != len(queries):
            raise _BadRequest(
                HTTPStatus.BAD_REQUEST,
                f"{len(queries)} queries but {len(prompts)} prompts: send one per query",
            )
        items = []
        for i, q in enumerate(queries):
            try:
                conversation, response = split_query(q, prompts[i] if prompts is not None else None)
            except RlaifError as e:
                raise _BadRequest(HTTPStatus.BAD_REQUEST, f"query[{i}]: {e.format()}") from None
            items.append(RewardItem(conversation, response, self.fn.principles.for_prompt(conversation)))
        if self.fn.scorer.needs_reference:
            raise _BadRequest(
                HTTPStatus.BAD_REQUEST,
                "this server compares with a reference answer: use /v1/rewards with 'reference'",
            )
        rewards = self._wait(items)
        filled = [self.settings.unjudged_reward if r is None else r for r in rewards]
        return {
            "rewards": filled,
            "scores": filled,
            "extra_logs": {"rlaif_unjudged": [int(r is None) for r in rewards]},
        }

    def rlaif(self, body: dict[str, Any]) -> dict[str, Any]:
        """``/v1/rewards``: rlaif's own API."""
        raw = body.get("items")
        if not isinstance(raw, list):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "missing field 'items' (a list of objects)")
        self._check_count(len(raw))
        prompts, responses, principles, references = [], [], [], []
        for i, it in enumerate(raw):
            if not isinstance(it, dict) or "prompt" not in it or not isinstance(it.get("response"), str):
                raise _BadRequest(
                    HTTPStatus.BAD_REQUEST,
                    f"items[{i}] must be an object with 'prompt' and 'response' (a string)",
                )
            prompts.append(it["prompt"])
            responses.append(it["response"])
            principles.append(it.get("principles"))
            references.append(it.get("reference"))
        try:
            items = self.fn.items(
                prompts,
                responses,
                principles=principles,
                references=references if any(r is not None for r in references) else None,
            )
        except RlaifError as e:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, e.format()) from None
        rewards = self._wait(items)
        return {
            "rewards": rewards,
            "principles": [[p.ref for p in it.principles] for it in items],
            "scorer": self.fn.scorer.name,
        }

    def health(self) -> dict[str, Any]:
        """``/health``."""
        return {
            "status": "ok",
            "scorer": self.fn.scorer.name,
            "queued": self.batcher.queued,
            "max_queue": self.settings.max_queue,
            "requests": self.requests,
            "items": self.batcher.items_scored,
            "batches": self.batcher.batches,
        }

    def close(self) -> None:
        """Stop the batching worker."""
        self.batcher.close()


_POST_ROUTES = {"/get_reward": "openrlhf", "/v1/rewards": "rlaif"}
_GET_ROUTES = {"/health": "health", "/v1/health": "health"}


def _handler(service: RewardService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "rlaif-reward"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _send(
            self, status: int, payload: dict[str, Any], headers: Sequence[tuple[str, str]] = ()
        ) -> None:
            data = json.dumps(payload, allow_nan=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: HTTPStatus, message: str) -> None:
            headers = [("Retry-After", "1")] if status == HTTPStatus.SERVICE_UNAVAILABLE else []
            self._send(status, {"error": message}, headers)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in _GET_ROUTES:
                self._send(HTTPStatus.OK, service.health())
            elif path in _POST_ROUTES:
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes POST")
            else:
                self._error(
                    HTTPStatus.NOT_FOUND, f"no endpoint {path}; try POST /get_reward, POST /v1/rewards"
                )

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                self._error(HTTPStatus.BAD_REQUEST, "bad Content-Length")
                return
            if length > service.settings.max_body_bytes:
                self.close_connection = True
                self._error(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"body of {length} bytes, max {service.settings.max_body_bytes}",
                )
                return
            raw = self.rfile.read(length)
            if path not in _POST_ROUTES:
                status = HTTPStatus.METHOD_NOT_ALLOWED if path in _GET_ROUTES else HTTPStatus.NOT_FOUND
                self._error(status, f"no POST endpoint {path}; try /get_reward or /v1/rewards")
                return
            try:
                body = json.loads(raw.decode("utf-8"))
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
            except (ValueError, UnicodeDecodeError) as e:
                self._error(HTTPStatus.BAD_REQUEST, f"the body is not a JSON object: {e}")
                return
            try:
                result = getattr(service, _POST_ROUTES[path])(body)
            except _BadRequest as e:
                self._error(e.status, str(e))
                return
            except RlaifError as e:
                self._error(HTTPStatus.BAD_REQUEST, e.format())
                return
            except Exception as e:
                log.exception("reward request failed")
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"scoring failed: {type(e).__name__}: {e}")
                return
            self._send(HTTPStatus.OK, result)

    return Handler


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: many clients connect at once


class RewardServer:
    """A running reward server (a threading HTTP server plus the batching worker).

    >>> server = RewardServer(fn, port=0).start()          # doctest: +SKIP
    >>> server.url                                           # doctest: +SKIP
    'http://127.0.0.1:40123'
    """

    def __init__(
        self,
        fn: RewardFunction,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        settings: ServerSettings | None = None,
    ) -> None:
        self.service = RewardService(fn, settings)
        self.httpd = _HTTPServer((host, port), _handler(self.service))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` the server listens on."""
        host, port = self.httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name}:{port}"

    def start(self) -> RewardServer:
        """Serve on a background thread; returns self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="rlaif-reward-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until interrupted."""
        try:
            self.httpd.serve_forever()
        finally:
            self.close()

    def close(self) -> None:
        """Stop serving and stop the worker."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=30)
            self._thread = None
        self.httpd.server_close()
        self.service.close()


__all__ = ["Batcher", "RewardServer", "RewardService", "ServerSettings"]
