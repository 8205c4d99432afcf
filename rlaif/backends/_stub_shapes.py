"""Scripted servers in the shapes of real APIs, for testing which judge modes work where (stdlib only).

Each shape is a handler for :class:`~rlaif.backends._http_stub.StubServer` that answers like one kind of server:

==================  =================================  ==============================  ===========  ===========
shape               ``/completions`` prompt echo        chat ``top_logprobs``           honours n    prefill
==================  =================================  ==============================  ===========  ===========
``openai_chat``     no route (404)                     yes                             yes          no
``no_logprobs``     no route (404)                     ignored (``logprobs: null``)    yes          no
``ollama``          answers, but no echo or logprobs   yes                             no (1 only)  no
``llamacpp``        generated token only, no echo      yes                             yes          yes
``vllm``            yes                                yes                             yes          yes
==================  =================================  ==============================  ===========  ===========

The scripted critic prefers the response containing :data:`GOOD`: p(first shown better) is 0.85 when only the
first response contains it, 0.15 when only the second does, 0.5 otherwise. Top log-probabilities, written verdicts
(sampled with the request's seed) and echoed log-probabilities all follow that one p, so every mode that works
gives labels in the same direction. Prompts containing :data:`REFUSE` are refused with HTTP 400 (a content
policy), and every answer reports token ``usage`` and a ``system_fingerprint``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from typing import Any

from rlaif.backends._http_stub import StubRequest, StubResponse

#: the word the scripted critic looks for in a response
GOOD = "GOOD"
#: a prompt containing this is refused (HTTP 400), as a hosted API refuses a prompt against its policy
REFUSE = "FORBIDDEN"
SHAPES: tuple[str, ...] = ("openai_chat", "no_logprobs", "ollama", "llamacpp", "vllm")


def critic_p(text: str) -> float:
    """The scripted critic's p(first-shown response is better) for a comparison prompt."""
    first = re.search(r"<response_a>\n(.*?)\n</response_a>", text, flags=re.S)
    second = re.search(r"<response_b>\n(.*?)\n</response_b>", text, flags=re.S)
    a = bool(first and GOOD in first.group(1))
    b = bool(second and GOOD in second.group(1))
    return 0.85 if a and not b else 0.15 if b and not a else 0.5


def _usage(prompt: str, completion: str) -> dict[str, int]:
    p, c = max(1, len(prompt) // 4), max(1, len(completion) // 4)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _error(status: int, message: str) -> StubResponse:
    return StubResponse(status=status, body={"error": {"message": message}})


def _top(p: float, prefilled: bool) -> list[list[tuple[str, float]]]:
    """Positions of top log-probabilities: the letter first with a prefill, after "(" without one."""
    letters = [("A", math.log(0.9 * p)), ("B", math.log(0.9 * (1 - p))), ("C", math.log(0.02))]
    letters.sort(key=lambda t: -t[1])
    if prefilled:
        return [letters]
    return [[("(", math.log(0.97)), ("Response", math.log(0.02))], letters]


def make_shape(shape: str, *, fingerprint: str = "fp_stub_1") -> Callable[[StubRequest], StubResponse | None]:
    """A handler answering like the named API shape (see the module doc)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")
    echo = shape == "vllm"
    chat_logprobs = shape != "no_logprobs"
    honours_n = shape != "ollama"
    prefill = shape in ("llamacpp", "vllm")

    def chat(body: dict[str, Any]) -> StubResponse:
        messages = body.get("messages") or []
        user = "\n".join(m.get("content", "") for m in messages if m.get("role") == "user")
        if REFUSE in user:
            return _error(400, "the prompt was flagged by the content policy")
        last = messages[-1] if messages else {}
        prefilled = prefill and last.get("role") == "assistant"
        p = critic_p(user)
        n = int(body.get("n") or 1) if honours_n else 1
        temperature = float(body.get("temperature", 1.0))
        rng = random.Random(body.get("seed"))
        want_lp = bool(body.get("logprobs")) and chat_logprobs
        choices = []
        for i in range(n):
            first = p >= 0.5 if temperature == 0 else rng.random() < p
            letter = "A" if first else "B"
            text = letter if prefilled else f"({letter})"
            choice: dict[str, Any] = {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
            if want_lp:
                k = int(body.get("top_logprobs") or 0)
                positions = _top(p, prefilled)[: int(body.get("max_tokens") or 1)]
                choice["logprobs"] = {
                    "content": [
                        {
                            "token": pos[0][0],
                            "logprob": pos[0][1],
                            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in pos[:k]],
                        }
                        for pos in positions
                    ]
                }
            choices.append(choice)
        out = {"id": "chat", "object": "chat.completion", "model": body.get("model"), "choices": choices}
        out["usage"] = _usage(user, "".join(c["message"]["content"] for c in choices))
        out["system_fingerprint"] = fingerprint
        return StubResponse(body=out)

    def completions(body: dict[str, Any]) -> StubResponse:
        prompts = body.get("prompt")
        prompts = prompts if isinstance(prompts, list) else [prompts]
        if any(isinstance(x, str) and REFUSE in x for x in prompts):
            return _error(400, "the prompt was flagged by the content policy")
        choices = []
        for i, prompt in enumerate(prompts):
            text = str(prompt)
            choice: dict[str, Any] = {"index": i, "text": " ok", "finish_reason": "length", "logprobs": None}
            if body.get("logprobs") is not None and shape == "llamacpp":
                choice["logprobs"] = {"tokens": [" ok"], "token_logprobs": [-0.1], "text_offset": [len(text)]}
            if body.get("echo") and echo and body.get("logprobs") is not None:
                choice["logprobs"] = _echo(text)
            choices.append(choice)
        out = {"id": "cmpl", "object": "text_completion", "model": body.get("model"), "choices": choices}
        out["usage"] = _usage("".join(map(str, prompts)), "ok")
        out["system_fingerprint"] = fingerprint
        return StubResponse(body=out)

    def handler(req: StubRequest) -> StubResponse | None:
        if req.method == "GET" and req.path == "/v1/models" and shape == "vllm":
            return StubResponse(body={"data": [{"id": "stub-model", "owned_by": "vllm"}]})
        if req.method != "POST":
            return None
        body = req.body if isinstance(req.body, dict) else {}
        if req.path == "/v1/chat/completions":
            return chat(body)
        if req.path == "/v1/completions" and shape in ("ollama", "llamacpp", "vllm"):
            return completions(body)
        return None  # 404: no such route on this server

    return handler


def _echo(text: str) -> dict[str, Any]:
    """Echo log-probabilities of ``prompt + continuation`` as one token per character, except that the final
    letter of a comparison prompt ending in ``(A`` / ``(B`` gets the scripted critic's log-probability."""
    tokens = list(text)
    lps: list[float | None] = [None] + [-1.0] * (len(tokens) - 1)
    if len(text) >= 2 and text[-2] == "(" and text[-1] in "AB":
        p = critic_p(text)
        lps[-1] = math.log(0.9 * (p if text[-1] == "A" else 1 - p))
    offsets = list(range(len(tokens)))
    # the one sampled token (max_tokens=1) after the echoed prompt
    tokens.append(" x")
    lps.append(-0.5)
    offsets.append(len(text))
    return {"tokens": tokens, "token_logprobs": lps, "text_offset": offsets}


__all__ = ["GOOD", "REFUSE", "SHAPES", "critic_p", "make_shape"]
