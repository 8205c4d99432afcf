"""The reward model's input: principles, conversation and response rendered by the ``rm_input`` template, tokenized,
and cut to fit the context.

An input longer than ``max_length`` tokens first loses the start of the conversation (oldest messages first, an
elided message starts with ``…``), since the reward is read at the end of the response and the principles open the
text; only when the conversation is gone does the response lose its end. Both are counted
(:class:`TruncationStats`) and reported by training, scoring and evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlaif.backends.base import ChatMessage, Prompt
from rlaif.constitution.schema import Principle
from rlaif.errors import RlaifError, TemplateError
from rlaif.prompting import TemplateSet

log = logging.getLogger(__name__)

#: the variables a reward-model template is rendered with
RM_VARIABLES: frozenset[str] = frozenset({"principles", "conversation", "response"})
ELLIPSIS = "…"


def negate_principle(principle: Principle) -> Principle:
    """The principle with its comparison text replaced by its ``negation`` (same id and version).

    Raises :class:`RlaifError` when the principle has no negation text.
    """
    if principle.negation is None:
        raise RlaifError(
            f"principle {principle.ref} has no negation text",
            field="negation",
            hint="add a `negation:` to the principle in the constitution",
        )
    return principle.model_copy(update={"compare": principle.negation})


def as_conversation(prompt: Prompt | Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
    """A prompt as a tuple of messages (a string is one user message)."""
    if isinstance(prompt, str):
        return (ChatMessage("user", prompt),)
    return tuple(prompt)


@dataclass
class TruncationStats:
    """How many inputs were encoded, and how many had to lose conversation or response text to fit."""

    inputs: int = 0
    conversation_truncated: int = 0
    response_truncated: int = 0

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return {
            "inputs": self.inputs,
            "conversation_truncated": self.conversation_truncated,
            "response_truncated": self.response_truncated,
        }

    def describe(self) -> str:
        """One line for logs and reports."""
        return (
            f"{self.conversation_truncated} of {self.inputs} inputs lost the start of their conversation and "
            f"{self.response_truncated} the end of their response to fit the context"
        )


def check_reward_template(templates: TemplateSet, template: str = "rm_input") -> str:
    """Resolve ``template`` and check it reads exactly the reward model's variables; returns its file name.

    Raises :class:`TemplateError` naming the file when it uses a variable it is not given, or never reads the
    principles or the response. Cheap: callers run it before loading any model.
    """
    name = templates.resolve(template)
    used = templates.variables(name)
    extra = sorted(used - RM_VARIABLES)
    missing = sorted({"principles", "response"} - used)
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"uses variables it is not given: {', '.join(extra)}")
        if missing:
            parts.append(f"never reads {', '.join(missing)}")
        raise TemplateError(
            f"reward-model template {name} {'; '.join(parts)}",
            path=templates.path(name),
            field="template",
            hint=f"a reward-model template is rendered with exactly: {', '.join(sorted(RM_VARIABLES))}",
        )
    return name


class RewardInputEncoder:
    """Renders and tokenizes reward-model inputs, truncating them to ``max_length`` tokens."""

    def __init__(
        self, tokenizer: Any, templates: TemplateSet, *, template: str = "rm_input", max_length: int
    ) -> None:
        self.tokenizer = tokenizer
        self.templates = templates
        self.template = check_reward_template(templates, template)
        self.max_length = int(max_length)
        self.stats = TruncationStats()
        self.template_hash = templates.template_hash(self.template)

    def render(
        self, principles: Sequence[Principle], conversation: Prompt | Sequence[ChatMessage], response: str
    ) -> str:
        """The input text (no truncation)."""
        if not principles:
            raise RlaifError(
                "empty principles list: a principle-conditioned reward model needs at least one principle",
                field="principles",
                hint="pass the principles to judge by (e.g. the constitution's principles)",
            )
        return self.templates.render(
            self.template,
            principles=list(principles),
            conversation=[{"role": m.role, "content": m.content} for m in as_conversation(conversation)],
            response=response,
        ).text

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def encode(
        self, principles: Sequence[Principle], conversation: Prompt | Sequence[ChatMessage], response: str
    ) -> list[int]:
        """Token ids of one input, at most ``max_length`` long (truncated as the module describes)."""
        return self.encode_many([(principles, conversation, response)])[0]

    def encode_many(
        self, items: Sequence[tuple[Sequence[Principle], Prompt | Sequence[ChatMessage], str]]
    ) -> list[list[int]]:
        """Token ids of many inputs (tokenized in one batch; the rare overlong ones are then cut one by one)."""
        texts = [self.render(p, c, r) for p, c, r in items]
        encoded: list[list[int]] = (
            self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        )
        out: list[list[int]] = []
        for (principles, conversation, response), ids in zip(items, encoded, strict=True):
            self.stats.inputs += 1
            out.append(
                ids if len(ids) <= self.max_length else self._fit(principles, conversation, response, ids)
            )
        return out

    def _fit(
        self,
        principles: Sequence[Principle],
        conversation: Prompt | Sequence[ChatMessage],
        response: str,
        ids: list[int],
    ) -> list[int]:
        messages = [[m.role, m.content] for m in as_conversation(conversation)]
        tok = self.tokenizer

        def excess(current: list[int]) -> int:
            return len(current) - self.max_length

        ell = len(self._ids(ELLIPSIS))
        conv_cut = False
        # Each pass shortens the body of one message by at least two tokens (or drops it), so the loop ends.
        while excess(ids) > 0 and any(content not in ("", ELLIPSIS) for _, content in messages):
            conv_cut = True
            need = (
                excess(ids) + 2 + ell
            )  # slack: the cut can re-tokenize differently, and the ellipsis costs tokens
            i = next(j for j, (_, content) in enumerate(messages) if content not in ("", ELLIPSIS))
            content = messages[i][1]
            body = content[len(ELLIPSIS) :] if content.startswith(ELLIPSIS) else content
            content_ids = self._ids(body)
            if len(content_ids) <= need and len(messages) > 1:
                del messages[i]
            else:
                rest = content_ids[need:]
                messages[i][1] = ELLIPSIS + tok.decode(rest) if rest else ELLIPSIS
            conv = tuple(ChatMessage(role, content) for role, content in messages)  # type: ignore[arg-type]
            ids = self._ids(self.render(principles, conv, response))
        conv = tuple(ChatMessage(role, content) for role, content in messages)  # type: ignore[arg-type]
        resp_cut = False
        resp_ids = self._ids(response)
        while excess(ids) > 0 and resp_ids:
            resp_cut = True
            resp_ids = resp_ids[: max(0, len(resp_ids) - excess(ids) - 2 - ell)]
            ids = self._ids(self.render(principles, conv, tok.decode(resp_ids) + ELLIPSIS))
        if excess(ids) > 0:
            raise RlaifError(
                f"the principles and template alone take {len(ids)} tokens, more than max_length="
                f"{self.max_length}",
                field="max_length",
                hint="raise max_length (within the model's context) or judge by fewer or shorter principles",
            )
        self.stats.conversation_truncated += conv_cut
        self.stats.response_truncated += resp_cut
        return ids
