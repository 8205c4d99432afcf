"""Turning the engines' prompt and completion shapes into a conversation and a response.

* TRL: a prompt is a string (standard format) or a list of ``{"role", "content"}`` messages (conversational); a
  completion is a string or a list holding one assistant message.
* OpenRLHF: a query is the prompt text *with the chat template already applied* followed by the response, maybe with
  padding and end-of-sequence tokens; the prompt text comes separately. ChatML (``<|im_start|>role ... <|im_end|>``,
  the template of SmolLM2, Qwen and others) is parsed back into messages; any other text is one user message.
* verl: the response text, plus whatever the dataset put in ``extra_info`` (rlaif reads ``prompt`` or ``question``
  there, a string or a list of messages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rlaif.backends.base import ChatMessage
from rlaif.errors import RlaifError

_ROLES = ("system", "user", "assistant")
_CHATML = re.compile(r"<\|im_start\|>(system|user|assistant)\n(.*?)(?:<\|im_end\|>|\Z)", re.DOTALL)
#: special tokens stripped from the ends of a response text
_TRAILING_SPECIALS = ("<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<pad>")


def _message(m: Any, where: str) -> ChatMessage:
    if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
        raise RlaifError(f"{where}: a message must be an object with 'role' and 'content'", field=where)
    role, content = m["role"], m["content"]
    if role not in _ROLES or not isinstance(content, str):
        raise RlaifError(
            f"{where}: role must be one of {', '.join(_ROLES)} and content a string, got {role!r}",
            field=where,
        )
    return ChatMessage(role, content)


def to_conversation(prompt: Any, where: str = "prompt") -> tuple[ChatMessage, ...]:
    """A TRL prompt (string or list of messages) as a conversation; a clear error for anything else."""
    if isinstance(prompt, str):
        return (ChatMessage("user", prompt),)
    if isinstance(prompt, Sequence) and prompt:
        return tuple(_message(m, f"{where}[{i}]") for i, m in enumerate(prompt))
    raise RlaifError(f"{where} must be a string or a non-empty list of messages", field=where)


def to_response(completion: Any, where: str = "completion") -> str:
    """A TRL completion (string, or a list whose last message is the assistant's) as the response text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion:
        return _message(completion[-1], f"{where}[-1]").content
    raise RlaifError(f"{where} must be a string or a non-empty list of messages", field=where)


def strip_specials(text: str) -> str:
    """The text without trailing padding / end-of-sequence tokens (and surrounding whitespace)."""
    changed = True
    text = text.rstrip()
    while changed:
        changed = False
        for tok in _TRAILING_SPECIALS:
            if text.endswith(tok):
                text = text[: -len(tok)].rstrip()
                changed = True
    return text


def parse_templated_prompt(text: str) -> tuple[ChatMessage, ...]:
    """A prompt rendered with a chat template, back as messages (ChatML); otherwise the text as one user turn.

    A trailing empty assistant header (the generation prompt) is dropped.
    """
    found = [(m.group(1), m.group(2)) for m in _CHATML.finditer(text)]
    if not found:
        return (ChatMessage("user", strip_specials(text)),)
    if found[-1][0] == "assistant" and not found[-1][1].strip():
        found = found[:-1]
    if not found:
        raise RlaifError("the prompt holds no message before the assistant turn", field="prompts")
    return tuple(ChatMessage(role, content) for role, content in found)  # type: ignore[arg-type]


def split_query(query: str, prompt: str | None) -> tuple[tuple[ChatMessage, ...], str]:
    """An OpenRLHF query (templated prompt + response) as (conversation, response).

    With the prompt text the response is what follows it in the query (a query that does not start with its prompt
    is an error). Without it, the query must be ChatML and the response is the last assistant turn.
    """
    if prompt is not None:
        if not query.startswith(prompt):
            raise RlaifError(
                "a query does not start with its prompt",
                field="query",
                hint="OpenRLHF sends query = prompt + response; send the same prompt text in 'prompts'",
            )
        return parse_templated_prompt(prompt), strip_specials(query[len(prompt) :]).lstrip("\n")
    messages = parse_templated_prompt(query)
    if len(messages) < 2 or messages[-1].role != "assistant":
        raise RlaifError(
            "without 'prompts', a query must be a ChatML conversation ending with the assistant's turn",
            field="query",
        )
    return messages[:-1], strip_specials(messages[-1].content)


def verl_prompt(extra_info: Mapping[str, Any] | None) -> tuple[ChatMessage, ...]:
    """The conversation a verl row carries in ``extra_info`` (``prompt`` or ``question``)."""
    info = extra_info or {}
    for key in ("prompt", "question"):
        value = info.get(key)
        if isinstance(value, str) and value:
            return parse_templated_prompt(value)
        if isinstance(value, Sequence) and not isinstance(value, str) and value:
            return to_conversation(list(value), f"extra_info.{key}")
    raise RlaifError(
        "verl's extra_info holds no 'prompt' or 'question'",
        field="extra_info",
        hint="add the prompt (text or messages) to extra_info when preparing the parquet files",
    )


__all__ = [
    "parse_templated_prompt",
    "split_query",
    "strip_specials",
    "to_conversation",
    "to_response",
    "verl_prompt",
]
