"""A tiny scripted OpenAI-compatible HTTP server for tests (stdlib only, loopback, in a thread).

Users can test code that talks to :class:`~rlaif.backends.openai_backend.OpenAIBackend` without a model::

    def handler(req: StubRequest) -> StubResponse:
        return StubResponse(body=completion_body(["Paris."]))

    with StubServer(handler) as server:
        backend = OpenAIBackend("stub-model", base_url=server.url, backoff=0.01)
        ...
        assert server.max_concurrent <= 8

``GET /v1/models`` answers with ``models`` unless the handler returns a response for it. The server records every
request, counts how many were being handled at once, and shuts itself down after ``max_lifetime`` seconds so a
forgotten server never outlives a test session for long.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class StubRequest:
    """One request as the stub received it."""

    method: str
    path: str  # e.g. "/v1/completions"
    body: Any  # parsed JSON, or None


@dataclass(frozen=True)
class StubResponse:
    """What the stub answers: a JSON object (dict), or raw text/bytes sent as is, after ``delay`` seconds."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[StubRequest], StubResponse | None]


class StubServer:
    """A scripted OpenAI-compatible server on ``127.0.0.1`` (a free port), serving from a background thread."""

    def __init__(
        self,
        handler: Handler,
        *,
        models: Sequence[str] = ("stub-model",),
        owned_by: str = "stub",
        max_lifetime: float = 60.0,
    ) -> None:
        self.handler = handler
        self.models = list(models)
        self.owned_by = owned_by
        self.requests: list[StubRequest] = []
        self.max_concurrent = 0
        self._active = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A handler still sleeping (a timeout test) must not hold up shutdown.
        self._httpd.block_on_close = False
        # A short poll interval keeps stop() fast (shutdown waits for the serving loop's next poll).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="rlaif-http-stub",
            daemon=True,
        )
        self._timer = threading.Timer(max_lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The API root to pass as ``base_url`` (ends with ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> StubServer:
        """Start serving in the background."""
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, path: str) -> list[StubRequest]:
        """The recorded requests to one path (e.g. ``"/v1/completions"``)."""
        return [r for r in self.requests if r.path == path]

    def _answer(self, req: StubRequest) -> StubResponse:
        resp = self.handler(req)
        if resp is not None:
            return resp
        if req.method == "GET" and req.path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": self.owned_by} for m in self.models]
            return StubResponse(body={"object": "list", "data": data})
        return StubResponse(status=404, body={"error": {"message": f"no route {req.method} {req.path}"}})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                req = StubRequest(method=method, path=self.path, body=body)
                with server._lock:
                    server.requests.append(req)
                    server._active += 1
                    server.max_concurrent = max(server.max_concurrent, server._active)
                finished = False

                def finish() -> None:
                    # Leave the in-flight count before the client can see the answer: a client that
                    # sends its next request the moment this one returns must not count twice.
                    nonlocal finished
                    if not finished:
                        finished = True
                        with server._lock:
                            server._active -= 1

                try:
                    resp = server._answer(req)
                    if resp.delay:
                        time.sleep(resp.delay)
                    finish()
                    if isinstance(resp.body, bytes):
                        payload, ctype = resp.body, "application/octet-stream"
                    elif isinstance(resp.body, str):
                        payload, ctype = resp.body.encode(), "application/json"
                    else:
                        payload, ctype = json.dumps(resp.body).encode(), "application/json"
                    try:
                        self.send_response(resp.status)
                        self.send_header("Content-Type", ctype)
                        self.send_header("Content-Length", str(len(payload)))
                        for k, v in resp.headers.items():
                            self.send_header(k, v)
                        self.end_headers()
                        self.wfile.write(payload)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up (timeout test)
                finally:
                    finish()

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        return _Handler


def completion_body(
    texts: Sequence[str],
    *,
    finish_reason: str = "stop",
    token_logprobs: Sequence[Sequence[float]] | None = None,
    token_ids: Sequence[Sequence[int]] | None = None,
    model: str = "stub-model",
) -> dict[str, Any]:
    """A ``/v1/completions`` response with one choice per text."""
    choices = []
    for i, text in enumerate(texts):
        choice: dict[str, Any] = {"index": i, "text": text, "finish_reason": finish_reason, "logprobs": None}
        if token_logprobs is not None:
            choice["logprobs"] = {"token_logprobs": list(token_logprobs[i]), "tokens": [], "text_offset": []}
        if token_ids is not None:
            choice["token_ids"] = list(token_ids[i])
        choices.append(choice)
    return {"id": "cmpl-stub", "object": "text_completion", "created": 0, "model": model, "choices": choices}


def chat_body(
    texts: Sequence[str],
    *,
    finish_reason: str = "stop",
    token_logprobs: Sequence[Sequence[float]] | None = None,
    model: str = "stub-model",
) -> dict[str, Any]:
    """A ``/v1/chat/completions`` response with one choice per text."""
    choices = []
    for i, text in enumerate(texts):
        choice: dict[str, Any] = {
            "index": i,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason,
            "logprobs": None,
        }
        if token_logprobs is not None:
            choice["logprobs"] = {"content": [{"token": "?", "logprob": v} for v in token_logprobs[i]]}
        choices.append(choice)
    return {"id": "chat-stub", "object": "chat.completion", "created": 0, "model": model, "choices": choices}


def echo_body(per_prompt_tokens: Sequence[Sequence[tuple[str, float | None]]]) -> dict[str, Any]:
    """A ``/v1/completions`` echo response: for each prompt, its ``(token text, logprob)`` pairs (the first
    prompt token's logprob is ``None``, as servers send it); ``text_offset`` is the running sum of token lengths."""
    choices = []
    for i, toks in enumerate(per_prompt_tokens):
        offsets, pos = [], 0
        for text, _ in toks:
            offsets.append(pos)
            pos += len(text)
        choices.append(
            {
                "index": i,
                "text": "".join(t for t, _ in toks),
                "finish_reason": "length",
                "logprobs": {
                    "tokens": [t for t, _ in toks],
                    "token_logprobs": [v for _, v in toks],
                    "top_logprobs": [None if v is None else {t: v} for t, v in toks],
                    "text_offset": offsets,
                },
            }
        )
    return {
        "id": "cmpl-stub",
        "object": "text_completion",
        "created": 0,
        "model": "stub-model",
        "choices": choices,
    }
