"""Helpers of the OpenAI-compatible backend: error messages, Retry-After, finish reasons, local tokenization."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path
from typing import Any

from rlaif.backends.base import FinishReason


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(body: Any, text: str) -> str:
    """The server's own error message from an error response (OpenAI shape or FastAPI shape), else raw text."""
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            msg = err.get("message")
            if isinstance(msg, str):
                return msg
        if isinstance(err, str):
            return err
    return text.strip()[:500] or "(empty body)"


def _finish_reason(value: Any) -> FinishReason:
    # "length" is the only reason meaning "cut off"; stop strings, EOS, tool calls and content filters all end the
    # text on the model's (or the server's) decision.
    return "length" if value == "length" else "stop"


def _json_or_none(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _encode(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def _encode_prompt(tok: Any, prompt: str) -> list[int]:
    """Token ids of a prompt as the local backends see it: the tokenizer's leading special tokens (BOS) are added
    unless the text already starts with BOS (chat-templated text usually does; a second BOS would change every
    score)."""
    ids = _encode(tok, prompt)
    with_special = list(tok("a", add_special_tokens=True)["input_ids"])
    without = _encode(tok, "a")
    k = len(with_special) - len(without)
    start = with_special[:k] if k > 0 and with_special[k:] == without else []
    bos = getattr(tok, "bos_token", None)
    if start and not (isinstance(bos, str) and bos and prompt.startswith(bos)):
        ids = start + ids
    return ids


def _load_tokenizer(spec: Any) -> Any:
    """A tokenizer from a loaded object, or from a local folder / rlaif model alias (never from the hub)."""
    if not isinstance(spec, str | Path):
        return spec
    from rlaif.models import load_tokenizer

    return load_tokenizer(str(spec))
