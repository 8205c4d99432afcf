"""OpenAI-compatible HTTP backend: ``vllm serve``, llama.cpp's server, TGI, SGLang, hosted APIs.

Generation uses ``/completions`` for text prompts and ``/chat/completions`` for chats (the server applies the
model's chat template). Scoring uses ``/completions`` with ``echo=true`` and ``logprobs``: the server returns the
log-probability of every prompt token, and the continuation's tokens are summed. Servers without echo logprobs
(most hosted chat APIs) can generate but cannot score; they get a clear error saying so.

How continuations are split into tokens:

* with ``tokenizer=`` (a local tokenizer of the served model), rlaif tokenizes prompt and continuation itself and
  sends token ids, so the continuation's tokens are exactly those the local backends score
  (``tokens(prompt) + tokens(continuation)``) and nothing can straddle the boundary;
* without it, the text ``prompt + continuation`` is sent and the continuation's tokens are those whose
  ``text_offset`` is at or after ``len(prompt)``. If one token spans the boundary (e.g. the prompt ends with a space
  and the continuation starts with a word), the score would mix prompt and continuation, so a
  :class:`~rlaif.errors.BackendError` says so and suggests ``tokenizer=``.

Requests run on a bounded thread pool (``max_concurrency`` in flight), each with a timeout, retried with exponential
backoff and full jitter on 429, 5xx, timeouts and connection errors (honouring ``Retry-After``); other 4xx answers
are not retried.

Example (a server started with ``vllm serve /path/to/model --port 8000``)::

    backend = OpenAIBackend("/path/to/model", base_url="http://127.0.0.1:8000/v1", tokenizer="/path/to/model")
    backend.score([ScoreRequest("Which is better? Answer:", (" (A)", " (B)"))])
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from rlaif.backends._http_util import (
    _encode,
    _encode_prompt,
    _finish_reason,
    _load_tokenizer,
)
from rlaif.backends.base import (
    Capabilities,
    ChatMessage,
    Completion,
    GenerationRequest,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)
from rlaif.backends.http_usage import RateLimiter, Usage
from rlaif.backends.openai_http import NAME, HttpTransport
from rlaif.backends.openai_judging import ChatJudging
from rlaif.errors import BackendError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

T = TypeVar("T")
R = TypeVar("R")


def _logprob_values(lp: Any, *, chat: bool) -> list[float] | None:
    """The token log-probabilities in a choice's ``logprobs`` object (None when it has none): chat completions
    list them as ``content`` entries, text completions as ``token_logprobs``."""
    if not isinstance(lp, dict):
        return None
    if chat:
        content = lp.get("content")
        if not isinstance(content, list):
            return None
        return [float(t["logprob"]) for t in content if isinstance(t, dict) and "logprob" in t]
    values = lp.get("token_logprobs")
    if not isinstance(values, list):
        return None
    return [float(v) for v in values if v is not None]


class OpenAIBackend(HttpTransport, ChatJudging):
    """Generation and scoring through an OpenAI-compatible HTTP server.

    Args:
        model: the model name the server serves (for ``vllm serve PATH`` this is ``PATH`` unless
            ``--served-model-name`` was given). Listed by ``GET {base_url}/models``.
        base_url: the API root including ``/v1``; defaults to ``$OPENAI_BASE_URL`` or ``http://127.0.0.1:8000/v1``.
        api_key: sent as a bearer token; defaults to ``$OPENAI_API_KEY`` or ``"EMPTY"`` (local servers ignore it).
        timeout: seconds allowed for one HTTP request (connect, send, wait, read).
        max_concurrency: most requests in flight at once.
        max_retries: retries after the first attempt on 429, 5xx, timeouts and connection errors.
        backoff: base delay in seconds; retry ``k`` waits a random time in ``[0, min(max_backoff, backoff * 2**k)]``
            (full jitter), or the server's ``Retry-After`` when it sends one.
        max_backoff: the cap on one backoff delay.
        tokenizer: a local tokenizer of the served model (a folder path, an rlaif model alias, or a loaded
            tokenizer object). Needed by :meth:`format_chat`, makes scoring token-exact (see the module docstring)
            and gives token ids for completions when the server does not return them.
        use_chat: send text prompts to ``/chat/completions`` too, as one user message (for chat-only servers).
        model_revision: recorded in provenance; the server cannot tell us which weights it serves.
        extra_body: extra JSON fields merged into every request (server-specific options, e.g. ``{"top_k": 50}``).
    """

    name: str = NAME

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 8,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        tokenizer: Any = None,
        use_chat: bool = False,
        model_revision: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        requests_per_minute: float | None = None,
        max_failure_share: float = 0.1,
        input_price_per_mtok: float | None = None,
        output_price_per_mtok: float | None = None,
        echo_logprobs: bool | None = None,
        chat_logprobs: bool | None = None,
        assistant_prefill: bool | None = None,
        honours_n: bool | None = None,
    ) -> None:
        import httpx

        if max_concurrency < 1:
            raise BackendError(NAME, f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise BackendError(NAME, f"max_retries must be >= 0, got {max_retries}")
        if timeout <= 0:
            raise BackendError(NAME, f"timeout must be > 0 seconds, got {timeout}")
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise BackendError(NAME, f"requests_per_minute must be > 0, got {requests_per_minute}")
        if not 0.0 <= max_failure_share <= 1.0:
            raise BackendError(NAME, f"max_failure_share must be in [0, 1], got {max_failure_share}")
        self.model_id = model
        self._revision = model_revision or None
        self.usage = Usage(input_price_per_mtok, output_price_per_mtok)
        self.max_failure_share = float(max_failure_share)
        self._limiter = RateLimiter(requests_per_minute)
        self._declared = {
            "echo_logprobs": echo_logprobs,
            "chat_logprobs": chat_logprobs,
            "assistant_prefill": assistant_prefill,
            "honours_n": honours_n,
        }
        self._caps: Capabilities | None = None
        self._fingerprint: str | None = None
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = float(timeout)
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.use_chat = use_chat
        self.extra_body = dict(extra_body or {})
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._httpx = httpx
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="rlaif-openai")
        self._tokenizer_spec = tokenizer
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._server_kind: str | None = None
        self._probe_lock = threading.Lock()
        #: how many attempts were retried since construction (for logs and tests)
        self.retries = 0

    #: a refused prompt fails only its own request: the labeler leaves that pair unlabeled and goes on
    supports_partial_failure = True

    # ------------------------------------------------------------------ protocol

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """For each request, ``request.params.n`` completions, in request order (requests run concurrently)."""
        if requests:
            self._is_vllm()  # ask once, here, rather than racing from the worker threads
        return self._map(self._generate_one, requests)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Summed log-probability of each continuation after its prompt (one echo request per prompt)."""
        for req in requests:
            if not req.continuations:
                raise BackendError(NAME, "a score request has no continuations")
            if any(c == "" for c in req.continuations):
                raise BackendError(NAME, "cannot score an empty continuation")
        return self._map(self._score_one, requests)

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The chat as text through the local tokenizer's chat template, with the assistant generation prompt."""
        tok = self._get_tokenizer(required_for="format_chat")
        text = tok.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            tokenize=False,
            add_generation_prompt=True,
        )
        return str(text)

    def close(self) -> None:
        """Stop the worker threads and close the HTTP connections."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ generation

    def _generate_one(self, req: GenerationRequest) -> list[Completion]:
        p = req.params
        if p.temperature == 0 and p.n > 1:
            # n greedy completions are identical; some servers (vLLM) reject n > 1 with greedy decoding
            once = self._generate_one(GenerationRequest(req.prompt, dataclasses.replace(p, n=1)))
            return once * p.n
        if isinstance(req.prompt, str) and not self.use_chat:
            payload = {"model": self.model_id, "prompt": req.prompt, **self._sampling(p)}
            if p.logprobs:
                payload["logprobs"] = 1
            body = self._post("/completions", payload)
            got = [self._completion_from_text_choice(c, p) for c in self._choices(body, p.n, loose=True)]
            return self._fill_n(got, req)
        messages = (
            [{"role": "user", "content": req.prompt}]
            if isinstance(req.prompt, str)
            else [{"role": m.role, "content": m.content} for m in req.prompt]
        )
        payload = {"model": self.model_id, "messages": messages, **self._sampling(p)}
        if p.logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = 0
        body = self._post("/chat/completions", payload)
        got = [self._completion_from_chat_choice(c, p) for c in self._choices(body, p.n, loose=True)]
        return self._fill_n(got, req)

    def _fill_n(self, got: list[Completion], req: GenerationRequest) -> list[Completion]:
        """Loop single-sample requests when the server returned fewer than ``n`` samples (it ignores ``n``)."""
        p = req.params
        k = 0
        while len(got) < p.n:
            k += 1
            seed = None if p.seed is None else p.seed + k
            more = self._generate_one(GenerationRequest(req.prompt, dataclasses.replace(p, n=1, seed=seed)))
            got.extend(more)
            if k > p.n:
                raise BackendError(NAME, f"the server returned no sample for a request ({self.base_url})")
        return got[: p.n]

    def _sampling(self, p: SamplingParams) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": p.n,
            "max_tokens": p.max_new_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
        }
        if p.stop:
            out["stop"] = list(p.stop)
        if p.seed is not None:
            out["seed"] = p.seed
        if self._is_vllm():
            # vLLM returns the sampled token ids only when asked; other servers would reject the unknown field.
            out["return_token_ids"] = True
        return out

    def _choices(self, body: dict[str, Any], n: int, *, loose: bool = False) -> list[dict[str, Any]]:
        choices = body.get("choices")
        if (
            not isinstance(choices, list)
            or not (0 < len(choices) <= n if loose else len(choices) == n)
            or not all(isinstance(c, dict) for c in choices)
        ):
            got = len(choices) if isinstance(choices, list) else "no"
            raise BackendError(
                NAME, f"expected {n} choice(s) from {self.base_url}, got {got}: {str(body)[:300]}"
            )
        return sorted(choices, key=lambda c: int(c.get("index", 0)))

    def _token_ids(self, choice: dict[str, Any], text: str) -> tuple[int, ...]:
        ids = choice.get("token_ids")
        if isinstance(ids, list) and all(isinstance(i, int) for i in ids):
            return tuple(ids)
        if self._tokenizer_spec is not None:
            # Re-tokenizing the text is what the model would most likely have produced; exact only when the
            # server reports ids itself (vLLM does).
            return tuple(_encode(self._get_tokenizer(), text))
        return ()

    def _completion_from_text_choice(self, choice: dict[str, Any], p: SamplingParams) -> Completion:
        text = choice.get("text")
        if not isinstance(text, str):
            raise BackendError(NAME, f"a completion choice has no 'text': {str(choice)[:300]}")
        return self._completion(choice, text, p, "/completions")

    def _completion_from_chat_choice(self, choice: dict[str, Any], p: SamplingParams) -> Completion:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if text is None and isinstance(message, dict):
            text = ""  # a chat answer may be empty (e.g. an immediate EOS)
        if not isinstance(text, str):
            raise BackendError(NAME, f"a chat choice has no message content: {str(choice)[:300]}")
        return self._completion(choice, text, p, "/chat/completions")

    def _completion(self, choice: dict[str, Any], text: str, p: SamplingParams, endpoint: str) -> Completion:
        """A choice's :class:`Completion`; with ``p.logprobs``, its tokens' log-probabilities (an error when the
        endpoint sent none)."""
        logprobs: tuple[float, ...] | None = None
        if p.logprobs:
            values = _logprob_values(choice.get("logprobs"), chat=endpoint == "/chat/completions")
            if values is None:
                raise self._no_logprobs_error(endpoint)
            logprobs = tuple(values)
        return Completion(
            text=text,
            token_ids=self._token_ids(choice, text),
            finish_reason=_finish_reason(choice.get("finish_reason")),
            logprobs=logprobs,
        )

    # ------------------------------------------------------------------ scoring

    def _score_one(self, req: ScoreRequest) -> ScoreResult:
        if self._tokenizer_spec is not None:
            return self._score_tokens(req)
        return self._score_text(req)

    def _echo_payload(self, prompts: list[Any]) -> dict[str, Any]:
        # max_tokens=1 rather than 0: servers disagree on 0 (OpenAI rejects it), and the one sampled token is cheap
        # and easy to drop (it is the only token at or after the end of the echoed prompt).
        return {
            "model": self.model_id,
            "prompt": prompts,
            "echo": True,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": 1,
        }

    def _echo_logprobs(self, body: dict[str, Any], n: int) -> list[dict[str, Any]]:
        out = []
        for choice in self._choices(body, n):
            lp = choice.get("logprobs")
            if not isinstance(lp, dict) or not isinstance(lp.get("token_logprobs"), list):
                raise self._no_logprobs_error("/completions with echo=true")
            out.append(lp)
        return out

    def _score_tokens(self, req: ScoreRequest) -> ScoreResult:
        tok = self._get_tokenizer()
        prompt_ids = _encode_prompt(tok, req.prompt)
        cont_ids = [_encode(tok, c) for c in req.continuations]
        if not prompt_ids:
            raise BackendError(
                NAME, "cannot score after an empty prompt (its first token has no log-probability)"
            )
        body = self._post("/completions", self._echo_payload([prompt_ids + ids for ids in cont_ids]))
        sums: list[float] = []
        for lp, ids in zip(self._echo_logprobs(body, len(cont_ids)), cont_ids, strict=True):
            values = lp["token_logprobs"][len(prompt_ids) : len(prompt_ids) + len(ids)]
            if len(values) != len(ids) or any(v is None for v in values):
                raise BackendError(
                    NAME,
                    f"the server echoed {len(lp['token_logprobs'])} token log-probs for a prompt of "
                    f"{len(prompt_ids) + len(ids)} tokens",
                    hint="check that tokenizer= is the tokenizer of the model the server serves",
                )
            sums.append(float(sum(values)))
        return ScoreResult(logprobs=tuple(sums), num_tokens=tuple(len(ids) for ids in cont_ids))

    def _score_text(self, req: ScoreRequest) -> ScoreResult:
        boundary = len(req.prompt)
        texts = [req.prompt + c for c in req.continuations]
        body = self._post("/completions", self._echo_payload(texts))
        sums: list[float] = []
        counts: list[int] = []
        for lp, text, cont in zip(
            self._echo_logprobs(body, len(texts)), texts, req.continuations, strict=True
        ):
            offsets = lp.get("text_offset")
            values = lp["token_logprobs"]
            if not isinstance(offsets, list) or len(offsets) != len(values):
                raise BackendError(
                    NAME,
                    "the server's echo logprobs have no matching 'text_offset' list, so the continuation's tokens "
                    "cannot be told apart from the prompt's",
                    hint="pass tokenizer= (the served model's tokenizer) to split prompt and continuation locally",
                )
            if boundary not in offsets:
                raise BackendError(
                    NAME,
                    f"a token spans the boundary between the prompt and the continuation {cont!r}, so its "
                    "log-probability belongs to neither alone",
                    hint="pass tokenizer= (the served model's tokenizer) so rlaif tokenizes prompt and continuation "
                    "separately, or end the prompt where a token ends (e.g. no trailing space before ' (A)')",
                )
            # The sampled token (max_tokens=1) starts at len(text); echoed prompt tokens start before it.
            picked = [v for off, v in zip(offsets, values, strict=True) if boundary <= off < len(text)]
            if not picked or any(v is None for v in picked):
                raise BackendError(
                    NAME, f"the server returned no log-probability for the continuation {cont!r}"
                )
            sums.append(float(sum(picked)))
            counts.append(len(picked))
        return ScoreResult(logprobs=tuple(sums), num_tokens=tuple(counts))

    # ------------------------------------------------------------------ tokenizer

    def _get_tokenizer(self, required_for: str = "") -> Any:
        if self._tokenizer is not None:
            return self._tokenizer
        spec = self._tokenizer_spec
        if spec is None:
            raise BackendError(
                NAME,
                f"{required_for or 'this call'} needs the model's tokenizer, and none was given",
                hint="pass tokenizer= (a local folder with the served model's tokenizer, or an rlaif model alias); "
                "a closed hosted model has none: judge it with --judge-mode top-logprobs or verdict",
            )
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = _load_tokenizer(spec)
        return self._tokenizer
