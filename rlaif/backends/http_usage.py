"""Token usage, estimated cost and a requests-per-minute limit for HTTP backends.

Every answer of an OpenAI-compatible server carries ``usage`` (prompt and completion tokens); :class:`Usage` sums
them, counts requests and failures, and prices them with the user's prices per million input and output tokens.
:class:`RateLimiter` spaces request starts evenly so that no minute sees more than the set number of requests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Usage:
    """Requests, failures and tokens of one backend since it was built, and their estimated cost.

    Prices are per million tokens, in the user's currency; without them the cost is None (unknown, never 0).
    """

    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fingerprints: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_answer(self, body: Any) -> None:
        """Count one answered request and the tokens its ``usage`` reports."""
        usage = body.get("usage") if isinstance(body, dict) else None
        with self._lock:
            self.requests += 1
            if isinstance(usage, dict):
                self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                self.completion_tokens += int(usage.get("completion_tokens") or 0)
            fp = body.get("system_fingerprint") if isinstance(body, dict) else None
            if isinstance(fp, str) and fp:
                self.fingerprints.add(fp)

    def add_failure(self) -> None:
        """Count one request that failed for good (after its retries)."""
        with self._lock:
            self.requests += 1
            self.failed += 1

    @property
    def cost(self) -> float | None:
        """Estimated cost of the tokens so far (None without both prices)."""
        if self.input_price_per_mtok is None or self.output_price_per_mtok is None:
            return None
        return (
            self.prompt_tokens * self.input_price_per_mtok
            + self.completion_tokens * self.output_price_per_mtok
        ) / 1e6

    def snapshot(self) -> dict[str, Any]:
        """The counts as a JSON-ready record."""
        with self._lock:
            record: dict[str, Any] = {
                "requests": self.requests,
                "failed_requests": self.failed,
                "input_tokens": self.prompt_tokens,
                "output_tokens": self.completion_tokens,
            }
        cost = self.cost
        record["input_price_per_mtok"] = self.input_price_per_mtok
        record["output_price_per_mtok"] = self.output_price_per_mtok
        record["estimated_cost"] = round(cost, 6) if cost is not None else None
        return record


def usage_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """What one stage used: the difference of two :meth:`Usage.snapshot` records (None when there is none)."""
    if after is None:
        return None
    before = before or {}
    out = dict(after)
    for key in ("requests", "failed_requests", "input_tokens", "output_tokens"):
        out[key] = int(after.get(key, 0)) - int(before.get(key, 0))
    pin, pout = after.get("input_price_per_mtok"), after.get("output_price_per_mtok")
    out["estimated_cost"] = (
        round((out["input_tokens"] * pin + out["output_tokens"] * pout) / 1e6, 6)
        if pin is not None and pout is not None
        else None
    )
    return out


def backend_usage(backend: Any) -> dict[str, Any] | None:
    """The usage record of a backend (through wrappers such as the call cache), or None if it keeps none."""
    seen = 0
    while backend is not None and seen < 4:
        usage = getattr(backend, "usage", None)
        if isinstance(usage, Usage):
            return usage.snapshot()
        backend = getattr(backend, "backend", None)
        seen += 1
    return None


class RateLimiter:
    """Spaces request starts ``60 / requests_per_minute`` seconds apart (no limit when None)."""

    def __init__(self, requests_per_minute: float | None) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this request may start."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            time.sleep(delay)
