"""How the OpenAI-compatible backend talks HTTP: requests on a bounded thread pool, each with a timeout and
retries (exponential backoff with full jitter, ``Retry-After`` honoured) on 429, 5xx, timeouts and connection
errors; errors that name their cause and fix; a refused prompt failing only its own request, until too large a share
of requests has failed; and what the server is (its model list, vLLM or not).

Mixed into :class:`~rlaif.backends.openai_backend.OpenAIBackend` ahead of
:class:`~rlaif.backends.openai_judging.ChatJudging`, whose stubs of these methods it provides.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from rlaif.backends._http_util import _error_message, _json_or_none, _parse_retry_after
from rlaif.backends.base import PartialFailure, TooManyFailures
from rlaif.backends.http_usage import RateLimiter, Usage
from rlaif.errors import BackendError

# the backend's logger: its retries and warnings read as the backend's
logger = logging.getLogger("rlaif.backends.openai_backend")

NAME = "openai"

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Attempt:
    """Why one HTTP attempt failed in a way worth retrying."""

    kind: str  # "connect" | "timeout" | "transport" | "status"
    detail: str
    status: int | None = None
    retry_after: float | None = None


class HttpTransport:
    """The HTTP half of the OpenAI-compatible backend (see the module doc); the backend's ``__init__`` sets the
    attributes declared here."""

    model_id: str
    base_url: str
    timeout: float
    max_retries: int
    backoff: float
    max_backoff: float
    extra_body: dict[str, Any]
    usage: Usage
    max_failure_share: float
    retries: int
    _limiter: RateLimiter
    _fingerprint: str | None
    _httpx: Any
    _client: Any
    _pool: ThreadPoolExecutor
    _lock: threading.Lock
    _server_kind: str | None

    def served_models(self) -> list[str]:
        """The model names the server lists at ``GET {base_url}/models``."""
        body = self._request("GET", "/models", None)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise BackendError(
                NAME, f"{self.base_url}/models answered without a 'data' list: {str(body)[:200]}"
            )
        return [str(m.get("id")) for m in data if isinstance(m, dict)]

    # ------------------------------------------------------------------ HTTP

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` on the pool. A request the server refused (or kept failing) fails alone: the others'
        answers come back in a :class:`PartialFailure`; any other error, or too many failures, stops the call."""
        if not items:
            return []
        futures = None if len(items) == 1 else [self._pool.submit(fn, item) for item in items]
        results: list[R | None] = [None] * len(items)
        errors: dict[int, BackendError] = {}
        for i in range(len(items)):
            try:
                results[i] = fn(items[0]) if futures is None else futures[i].result()
            except BackendError as e:
                if not getattr(e, "per_request", False):
                    raise
                errors[i] = e
        if not errors:
            return cast(list[R], results)
        self._check_failure_share()
        if len(items) == 1:
            raise errors[0]
        first = errors[min(errors)]
        bare = {i: _without_prefix(e.problem.message) for i, e in errors.items()}
        raise PartialFailure(NAME, results, bare, hint=first.hint)

    def _check_failure_share(self) -> None:
        u = self.usage
        if u.failed > self.max_failure_share * max(u.requests, MIN_REQUESTS_FOR_SHARE):
            raise TooManyFailures(
                NAME,
                f"{u.failed} of {u.requests} requests to {self.base_url} failed, more than the allowed share "
                f"{self.max_failure_share:g}",
                hint="see the reasons in unlabeled.jsonl; raise max_failure_share to tolerate more, or fix the "
                "server or the prompts",
            )

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._limiter.wait()
        try:
            body = self._request("POST", path, {**payload, **self.extra_body})
        except BackendError as e:
            if getattr(e, "per_request", False):
                self.usage.add_failure()
            raise
        self.usage.add_answer(body)
        fp = body.get("system_fingerprint")
        if isinstance(fp, str) and fp and self._fingerprint and fp != self._fingerprint:
            logger.warning(
                "the server's model fingerprint changed from %s to %s during the run; calls made from now on "
                "are keyed by the old identity only in this run (a rerun recomputes them)",
                self._fingerprint,
                fp,
            )
            self._fingerprint = fp
        return body

    def _request(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        httpx = self._httpx
        url = f"{self.base_url}{path}"
        last: _Attempt | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.retries += 1
                time.sleep(self._delay(attempt - 1, last))
            try:
                resp = self._client.request(method, path, json=payload)
            except httpx.ConnectError as e:
                last = _Attempt("connect", str(e) or type(e).__name__)
                continue
            except httpx.TimeoutException as e:
                last = _Attempt("timeout", type(e).__name__)
                continue
            except httpx.TransportError as e:
                last = _Attempt("transport", f"{type(e).__name__}: {e}")
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = _Attempt(
                    "status",
                    _error_message(_json_or_none(resp), resp.text),
                    status=resp.status_code,
                    retry_after=_parse_retry_after(resp.headers.get("Retry-After")),
                )
                logger.info(
                    "%s %s: HTTP %d (attempt %d), retrying", method, url, resp.status_code, attempt + 1
                )
                continue
            if resp.status_code >= 400:
                raise self._client_error(resp, path)
            try:
                body = resp.json()
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
                raise BackendError(
                    NAME,
                    f"{url} answered HTTP {resp.status_code} with malformed JSON ({e}): {resp.text[:200]!r}",
                    hint="check that base_url points at an OpenAI-compatible API root (usually ending in /v1)",
                ) from None
            if not isinstance(body, dict):
                raise BackendError(
                    NAME, f"{url} answered with JSON that is not an object: {resp.text[:200]!r}"
                )
            return body
        assert last is not None
        raise self._final_error(last, url)

    def _delay(self, retry: int, last: _Attempt | None) -> float:
        if last is not None and last.retry_after is not None:
            return min(last.retry_after, 600.0)
        return random.uniform(0.0, min(self.max_backoff, self.backoff * (2**retry)))

    def _final_error(self, last: _Attempt, url: str) -> BackendError:
        tries = f"{self.max_retries + 1} attempt(s)"
        if last.kind == "connect":
            return BackendError(
                NAME,
                f"cannot connect to the server at {self.base_url} ({last.detail}; {tries})",
                hint=f"start the server first (e.g. `vllm serve {self.model_id} --port 8000`) or pass the "
                "base_url of a running one",
            )
        if last.kind == "timeout":
            return BackendError(
                NAME,
                f"{url} did not answer within {self.timeout:g} s ({tries})",
                hint="raise timeout=, lower max_concurrency, or check that the server is not overloaded or stuck",
            )
        if last.status == 429:
            return _per_request(
                BackendError(
                    NAME,
                    f"{url} kept rate-limiting requests (HTTP 429, {tries}): {last.detail}",
                    hint="lower max_concurrency or requests_per_minute, or raise max_retries/backoff",
                )
            )
        if last.status is not None:
            return _per_request(
                BackendError(
                    NAME,
                    f"{url} failed with HTTP {last.status} ({tries}): {last.detail}",
                    hint="see the server's log; an out-of-memory error there means shorter prompts or fewer "
                    "concurrent requests (max_concurrency)",
                )
            )
        return BackendError(NAME, f"request to {url} failed ({tries}): {last.detail}")

    def _client_error(self, resp: Any, path: str) -> BackendError:
        msg = _error_message(_json_or_none(resp), resp.text)
        url = f"{self.base_url}{path}"
        if resp.status_code in (401, 403):
            return BackendError(
                NAME,
                f"{url} refused the credentials (HTTP {resp.status_code}): {msg}",
                hint="set OPENAI_API_KEY or pass api_key=",
            )
        if path != "/models" and resp.status_code in (400, 404) and "model" in msg.lower():
            served = self._served_or_none()
            if served is not None and self.model_id not in served:
                listed = ", ".join(repr(m) for m in served) or "none"
                return BackendError(
                    NAME,
                    f"the server at {self.base_url} does not serve the model {self.model_id!r}; it serves: {listed}",
                    hint="pass one of the served names as the model (for `vllm serve PATH` it is PATH unless "
                    "--served-model-name was given)",
                )
        err = BackendError(NAME, f"{url} rejected the request (HTTP {resp.status_code}): {msg}")
        # a refused prompt (content policy, too long, bad characters) fails only itself
        return _per_request(err) if resp.status_code in (400, 413, 422) else err

    def _served_or_none(self) -> list[str] | None:
        try:
            return self.served_models()
        except BackendError:
            return None

    def _is_vllm(self) -> bool:
        """Whether the server is vLLM (it lists its models as owned by "vllm"); asked once, lazily."""
        if self._server_kind is None:
            kind = "unknown"
            try:
                body = self._request("GET", "/models", None)
                data = body.get("data")
                if isinstance(data, list) and any(
                    isinstance(m, dict) and m.get("owned_by") == "vllm" for m in data
                ):
                    kind = "vllm"
            except BackendError as e:
                if "cannot connect" in str(e):
                    raise
            self._server_kind = kind
        return self._server_kind == "vllm"

    def _no_logprobs_error(self, where: str) -> BackendError:
        return BackendError(
            NAME,
            f"the server at {self.base_url} returned no logprobs for {where}",
            hint="choice-logprobs judging needs prompt log-probabilities with echo=true (vLLM serve); judge with "
            "--judge-mode top-logprobs (chat APIs with top_logprobs: OpenAI, vLLM chat, Ollama, llama.cpp) or "
            "--judge-mode verdict (any chat API)",
        )


#: below this many requests, the failure share is taken of this many (a run never stops on its first failure)
MIN_REQUESTS_FOR_SHARE = 20


def _per_request(err: BackendError) -> BackendError:
    """Mark an error as this request's own (a refused prompt), not the server's or the setup's."""
    err.per_request = True  # type: ignore[attr-defined]
    return err


def _without_prefix(message: str) -> str:
    prefix = f"[{NAME} backend] "
    return message[len(prefix) :] if message.startswith(prefix) else message


__all__ = ["MIN_REQUESTS_FOR_SHARE", "NAME", "HttpTransport"]
