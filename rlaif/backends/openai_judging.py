"""How the OpenAI-compatible backend judges without prompt log-probabilities, and what it finds the server can do.

Mixed into :class:`~rlaif.backends.openai_backend.OpenAIBackend`:

* :meth:`ChatJudging.capabilities`: echo logprobs (``choice-logprobs``), chat ``top_logprobs`` (``top-logprobs``),
  assistant prefill, from the options or found out once with two one-token requests;
* :meth:`ChatJudging.top_logprobs`: the ``top-logprobs`` judge mode's chat call;
* :attr:`ChatJudging.model_revision`: the served model's identity in every cache key (the user's revision, else
  the server's ``system_fingerprint``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from rlaif.backends.base import Capabilities, TopLogprobsRequest, TopLogprobsResult
from rlaif.errors import BackendError

logger = logging.getLogger("rlaif.backends.openai_backend")

NAME = "openai"
#: the most top log-probabilities OpenAI-style chat APIs return per token
MAX_TOP_LOGPROBS = 20


class ChatJudging:
    """The judging half of the OpenAI-compatible backend (see the module doc)."""

    model_id: str
    base_url: str
    _revision: str | None
    _fingerprint: str | None
    _caps: Capabilities | None
    _probe_lock: threading.Lock
    _declared: dict[str, bool | None]
    _tokenizer_spec: Any

    def _post(
        self, path: str, payload: dict[str, Any]
    ) -> dict[str, Any]:  # pragma: no cover - in the backend
        raise NotImplementedError

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:  # pragma: no cover
        raise NotImplementedError

    def _choices(self, body: dict[str, Any], n: int, *, loose: bool = False) -> list[dict[str, Any]]:
        raise NotImplementedError  # pragma: no cover

    def _is_vllm(self) -> bool:  # pragma: no cover
        raise NotImplementedError

    def _no_logprobs_error(self, where: str) -> BackendError:  # pragma: no cover
        raise NotImplementedError

    @property
    def model_revision(self) -> str:
        """The served model's identity next to its name: the revision given as ``model_revision=``, else the
        server's reported ``system_fingerprint`` (asked once), else empty."""
        if self._revision is not None:
            return self._revision
        self.capabilities()
        return f"fingerprint:{self._fingerprint}" if self._fingerprint else ""

    def capabilities(self) -> Capabilities:
        """What the server can do (declared by the options, else found out once with two one-token requests)."""
        if self._caps is None:
            with self._probe_lock:
                if self._caps is None:
                    self._caps = self._probe()
        return self._caps

    # ------------------------------------------------------------------ judging without prompt logprobs

    def top_logprobs(self, requests: Sequence[TopLogprobsRequest]) -> list[TopLogprobsResult]:
        """For each request, one chat call asking for the answer's first tokens with their ``top_logprobs``.

        The prefill is sent as the start of the assistant's answer where the server takes one (vLLM:
        ``continue_final_message``; others when ``assistant_prefill=True``); otherwise the critic answers from
        scratch with a few tokens and the judging core finds the choice among them.
        """
        caps = self.capabilities()
        if not caps.top_logprobs:
            raise BackendError(
                NAME,
                f"the server at {self.base_url} returns no top log-probabilities for chat answers",
                hint="judge with --judge-mode verdict (any chat API), or set chat_logprobs=true if it does",
            )
        return self._map(lambda r: self._top_one(r, caps), requests)

    def _top_one(self, req: TopLogprobsRequest, caps: Capabilities) -> TopLogprobsResult:
        messages = [{"role": m.role, "content": m.content} for m in req.messages]
        prefilled = bool(req.prefill) and caps.assistant_prefill
        payload: dict[str, Any] = {
            "model": self.model_id,
            "messages": messages,
            "max_tokens": req.max_new_tokens,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": min(req.top_k, MAX_TOP_LOGPROBS),
        }
        if prefilled:
            messages.append({"role": "assistant", "content": req.prefill})
            if self._is_vllm():
                payload["continue_final_message"] = True
                payload["add_generation_prompt"] = False
        body = self._post("/chat/completions", payload)
        choice = self._choices(body, 1)[0]
        lp = choice.get("logprobs")
        content = lp.get("content") if isinstance(lp, dict) else None
        if not isinstance(content, list) or not content:
            raise self._no_logprobs_error("/chat/completions with top_logprobs")
        positions = []
        for entry in content:
            tops = entry.get("top_logprobs") if isinstance(entry, dict) else None
            if not isinstance(tops, list):
                raise self._no_logprobs_error("/chat/completions with top_logprobs")
            listed = [
                (str(t.get("token", "")), float(t["logprob"]))
                for t in tops
                if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)
            ]
            positions.append(tuple(sorted(listed, key=lambda x: -x[1])))
        return TopLogprobsResult(positions=tuple(positions), prefilled=prefilled)

    def _probe(self) -> Capabilities:
        """Find out what the server can do: one echo request and one chat request with logprobs, each one token
        long, unless the options already say."""
        declared = self._declared
        echo = declared["echo_logprobs"]
        if echo is None:
            echo = self._probe_ok(
                "/completions",
                {"prompt": "Hello there", "echo": True, "max_tokens": 1, "logprobs": 1, "temperature": 0.0},
                lambda c: (
                    isinstance(c.get("logprobs"), dict)
                    and isinstance(c["logprobs"].get("token_logprobs"), list)
                    and len(c["logprobs"]["token_logprobs"]) >= 2
                ),
            )
        chat_lp = declared["chat_logprobs"]
        if chat_lp is None or (self._revision is None and self._fingerprint is None):
            found = self._probe_ok(
                "/chat/completions",
                {
                    "messages": [{"role": "user", "content": "Reply with the letter A."}],
                    "max_tokens": 1,
                    "temperature": 0.0,
                    "logprobs": True,
                    "top_logprobs": 2,
                },
                lambda c: (
                    isinstance(c.get("logprobs"), dict)
                    and isinstance(c["logprobs"].get("content"), list)
                    and bool(c["logprobs"]["content"])
                    and isinstance(c["logprobs"]["content"][0].get("top_logprobs"), list)
                    and bool(c["logprobs"]["content"][0]["top_logprobs"])
                ),
            )
            chat_lp = found if chat_lp is None else chat_lp
        prefill = declared["assistant_prefill"]
        if prefill is None:
            prefill = self._is_vllm()
        honours_n = declared["honours_n"]
        caps = Capabilities(
            choice_logprobs=bool(echo),
            top_logprobs=bool(chat_lp),
            chat=True,
            local_chat_format=self._tokenizer_spec is not None,
            assistant_prefill=bool(prefill),
            honours_n=True if honours_n is None else bool(honours_n),
            max_top_logprobs=MAX_TOP_LOGPROBS,
            partial_failure=True,
            prefers_top_logprobs=bool(chat_lp) and bool(prefill) and self._is_vllm(),
        )
        logger.info("server %s at %s: %s", self.model_id, self.base_url, caps)
        return caps

    def _probe_ok(self, path: str, payload: dict[str, Any], ok: Callable[[dict[str, Any]], bool]) -> bool:
        try:
            body = self._post(path, {"model": self.model_id, **payload})
        except BackendError as e:
            if "cannot connect" in str(e):
                raise
            return False
        fp = body.get("system_fingerprint")
        if isinstance(fp, str) and fp and self._fingerprint is None:
            self._fingerprint = fp
        choices = body.get("choices")
        try:
            return bool(isinstance(choices, list) and choices and ok(choices[0]))
        except (AttributeError, TypeError, KeyError, IndexError):
            return False
