"""From a rendered template to the exact text the critic model sees.

The rendered template becomes the user turn of a chat, formatted with the model's own chat template (with the
assistant generation prompt), and the template's ``answer_prefix`` is appended as the start of the critic's answer.
The continuations scored after it are the template's ``choices``. Without a chat template the plain fallback is::

    User: <rendered template>
    Assistant: <answer_prefix>

(one line per message, ``System:``/``User:``/``Assistant:``; the answer prefix follows ``Assistant:`` after one
space). Templates that set ``chat = false`` (the reward-model input) are used as plain text, without either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jinja2

from rlaif.backends.base import ChatMessage, ScoreRequest
from rlaif.errors import TemplateError
from rlaif.prompting.environment import messages as _normalise_messages
from rlaif.prompting.environment import neutralize
from rlaif.prompting.templates import RenderedPrompt, TemplateSet

log = logging.getLogger(__name__)

Formatting = Literal["chat_template", "backend", "fallback", "plain"]

_FALLBACK_ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}
FALLBACK_GENERATION_PROMPT = "Assistant:"


def _as_dicts(messages: Iterable[ChatMessage | Mapping[str, Any]]) -> list[dict[str, str]]:
    try:
        return _normalise_messages(list(messages))
    except jinja2.TemplateRuntimeError as e:
        raise TemplateError(str(e)) from None


def _control_tokens(tokenizer: Any) -> list[str]:
    """The tokenizer's special tokens that look like markup (so ordinary words are never touched), longest first."""
    tokens: set[str] = set(getattr(tokenizer, "all_special_tokens", None) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for added in decoder.values():
        if getattr(added, "special", False):
            tokens.add(str(getattr(added, "content", added)))
    return sorted((t for t in tokens if len(t) >= 3 and not t.isalnum()), key=len, reverse=True)


def _defang_control_tokens(text: str, tokens: Sequence[str]) -> str:
    present = [t for t in tokens if t in text]
    if not present:
        return text
    log.info("neutralised %d control token(s) of the tokenizer inside a message", len(present))
    return neutralize(text, *present)


def fallback_chat_format(
    messages: Iterable[ChatMessage | Mapping[str, Any]], *, add_generation_prompt: bool = True
) -> str:
    """The plain format used when a model has no chat template: ``User: ...`` lines, then ``Assistant:``."""
    lines = [
        f"{_FALLBACK_ROLES.get(m['role'], m['role'].capitalize())}: {m['content']}"
        for m in _as_dicts(messages)
    ]
    if add_generation_prompt:
        lines.append(FALLBACK_GENERATION_PROMPT)
    return "\n".join(lines)


def apply_chat_template(
    tokenizer: Any, messages: Iterable[ChatMessage | Mapping[str, Any]], *, add_generation_prompt: bool = True
) -> str:
    """Format a chat for a model: its tokenizer's chat template if it has one, else :func:`fallback_chat_format`.

    ``tokenizer`` is a Hugging Face tokenizer (or None). The tokenizer's own control tokens (``<|im_end|>`` ...)
    found inside message contents are defanged first, so the text, once tokenized, has control tokens only where
    the chat template put them.
    """
    dicts = _as_dicts(messages)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return fallback_chat_format(dicts, add_generation_prompt=add_generation_prompt)
    tokens = _control_tokens(tokenizer)
    dicts = [{"role": m["role"], "content": _defang_control_tokens(m["content"], tokens)} for m in dicts]
    try:
        text = tokenizer.apply_chat_template(
            dicts, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    except (jinja2.TemplateError, ValueError, TypeError, KeyError) as e:
        raise TemplateError(
            f"the model's chat template failed: {e}",
            hint="the model may not accept these roles (e.g. no system message); try --no-chat-template",
        ) from None
    if not isinstance(text, str):
        raise TemplateError(f"the model's chat template returned {type(text).__name__}, not text")
    return text


@dataclass(frozen=True)
class CriticPrompt:
    """Exactly what the critic model sees for one rendered template.

    ``chat_prompt`` is the formatted input up to where the critic's own turn starts; ``text`` is where the critic
    generates (after ``reasoning_prefix`` for chain-of-thought templates) or, for scored templates, the prompt the
    ``choices`` are scored after (``chat_prompt`` + ``answer_prefix``).
    """

    rendered: RenderedPrompt
    chat_prompt: str
    text: str
    formatting: Formatting

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The continuations scored after ``text`` (None for generation templates)."""
        return self.rendered.choices

    @property
    def answer_prefix(self) -> str | None:
        """The start of the critic's answer, as declared by the template."""
        return self.rendered.answer_prefix

    @property
    def template_hash(self) -> str:
        """Hash of the template (and its partials) that produced this prompt."""
        return self.rendered.template_hash

    @property
    def needs_reasoning(self) -> bool:
        """True for chain-of-thought templates: generate from ``text`` first, then score :meth:`after_reasoning`."""
        return self.rendered.reasoning_prefix is not None

    def score_request(self) -> ScoreRequest:
        """The scoring call for a direct (not chain-of-thought) scored template."""
        if self.choices is None:
            raise ValueError(f"{self.rendered.template_name} declares no choices to score")
        if self.needs_reasoning:
            raise ValueError("chain-of-thought template: score after_reasoning(generated_text) instead")
        return ScoreRequest(prompt=self.text, continuations=self.choices)

    def after_reasoning(self, reasoning: str) -> str:
        """The scoring prompt after the critic generated ``reasoning`` from ``text``.

        The reasoning is cut where the critic starts writing the answer prefix itself (so the verdict is always
        read from the scored choices, never from the generated text), then ``answer_prefix`` is appended.
        """
        prefix = self.answer_prefix or ""
        marker = prefix.strip()
        if marker and marker in reasoning:
            reasoning = reasoning[: reasoning.index(marker)]
        return self.text + reasoning.rstrip() + prefix


def _continue(chat_prompt: str, prefix: str, formatting: Formatting) -> str:
    if not prefix:
        return chat_prompt
    if formatting == "fallback" and not prefix[0].isspace():
        return f"{chat_prompt} {prefix}"
    return chat_prompt + prefix


def render_for_critic(
    templates: TemplateSet, name: str, tokenizer_or_none: Any, /, **variables: Any
) -> CriticPrompt:
    """Render template ``name`` and format it as the critic model sees it.

    ``tokenizer_or_none`` is a Hugging Face tokenizer (its chat template is used when it has one), an object with
    a ``format_chat(messages)`` method (a :class:`rlaif.backends.base.Backend`), or None for the plain fallback.
    """
    rendered = templates.render(name, **variables)
    turn = (ChatMessage(role="user", content=rendered.text),)
    formatting: Formatting
    if not rendered.chat:
        formatting, chat_prompt = "plain", rendered.text
    elif tokenizer_or_none is not None and hasattr(tokenizer_or_none, "apply_chat_template"):
        has_template = bool(getattr(tokenizer_or_none, "chat_template", None))
        formatting = "chat_template" if has_template else "fallback"
        chat_prompt = apply_chat_template(tokenizer_or_none, turn)
    elif tokenizer_or_none is not None and hasattr(tokenizer_or_none, "format_chat"):
        formatting, chat_prompt = "backend", tokenizer_or_none.format_chat(turn)
    else:
        formatting, chat_prompt = "fallback", fallback_chat_format(turn)
    prefix = rendered.reasoning_prefix if rendered.reasoning_prefix is not None else rendered.answer_prefix
    return CriticPrompt(
        rendered=rendered,
        chat_prompt=chat_prompt,
        text=_continue(chat_prompt, prefix or "", formatting),
        formatting=formatting,
    )
