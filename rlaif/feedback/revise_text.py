"""The text of a critique → revision round: the boilerplate small models put around critiques and revisions,
removed (:func:`clean_revision`, :func:`clean_critique`), and the constitution's few-shot examples as chat turns.

Boilerplate removed from a revision: leading labels such as ``Revision:``, ``Revised response:``, ``Sure! Here is
the revised response:`` (with or without ``**bold**``), the template's own ``<response>``/``<revision>`` tags at the
very start or end of the reply (or their neutralised look-alikes ``‹response›``), and quotes wrapped around the
whole reply. Critiques lose a leading ``Critique:`` label. Nothing else is changed.
"""

from __future__ import annotations

import re

from rlaif.backends.base import ChatMessage
from rlaif.constitution import Constitution

_BOLD = r"(?:\*\*|__)?"
_REVISION_LABEL = re.compile(
    rf"""^\s*{_BOLD}\s*(?:
        (?:sure|certainly|okay|ok|of\s+course)[!.,]?\s*
    )?(?:
        here(?:'s|\s+is)\s+(?:the|my|a|an|your)\s+(?:revised|rewritten|improved|updated|new)\s+
            (?:response|reply|version|answer)(?:\s+to\s+the\s+user)?
        | (?:revised|rewritten|improved|updated)\s+(?:response|reply|version|answer)
        | revision
    )\s*{_BOLD}\s*:\s*{_BOLD}[ \t]*\n?""",
    re.IGNORECASE | re.VERBOSE,
)
_CRITIQUE_LABEL = re.compile(rf"^\s*{_BOLD}\s*critique\s*{_BOLD}\s*:\s*{_BOLD}[ \t]*\n?", re.IGNORECASE)
# the templates' own tags (or their neutralised look-alikes) wrapped around the whole reply
_WRAPPING_TAG = re.compile(
    r"^\s*[<‹](response|revision|revised_response)[>›]\s*(.*?)\s*[<‹]/\1[>›]\s*$", re.DOTALL | re.IGNORECASE
)
# ... or only opened (or only closed): small models often echo the opening tag and stop at the length cap
_LEADING_TAG = re.compile(r"^\s*[<‹](?:response|revision|revised_response)[>›][ \t]*\n?", re.IGNORECASE)
_TRAILING_TAG = re.compile(r"\n?[ \t]*[<‹]/(?:response|revision|revised_response)[>›]\s*$", re.IGNORECASE)
_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"))


def _strip_wrapping_quotes(text: str) -> str:
    for left, right in _QUOTES:
        inner = text[len(left) : -len(right)]
        if (
            len(text) >= 2
            and text.startswith(left)
            and text.endswith(right)
            and left not in inner.replace(right, left)
        ):
            return inner.strip()
    return text


def clean_revision(text: str) -> str:
    """The revision without the boilerplate models put around it (see the module docstring for the exact list)."""
    out = text.strip()
    for _ in range(3):  # labels and wrappers can nest ("**Revised response:** \"...\"")
        before = out
        out = _REVISION_LABEL.sub("", out, count=1).strip()
        wrapped = _WRAPPING_TAG.match(out)
        if wrapped:
            out = wrapped.group(2).strip()
        out = _TRAILING_TAG.sub("", _LEADING_TAG.sub("", out, count=1), count=1).strip()
        out = _strip_wrapping_quotes(out)
        if out == before:
            break
    return out


def clean_critique(text: str) -> str:
    """The critique without a leading ``Critique:`` label."""
    return _CRITIQUE_LABEL.sub("", text.strip(), count=1).strip()


def same_text(a: str, b: str) -> bool:
    """Whether two texts are equal, whitespace aside."""
    return " ".join(a.split()) == " ".join(b.split())


def few_shot_turns(constitution: Constitution) -> tuple[ChatMessage, ...]:
    """The constitution's examples as chat turns: their system messages first (chat templates accept a system
    message only at the start), then every other turn in file order."""
    system = [m.content for ex in constitution.examples for m in ex.messages if m.role == "system"]
    turns = [ChatMessage(role=m.role, content=m.content) for ex in constitution.examples for m in ex.messages]
    rest = tuple(m for m in turns if m.role != "system")
    head = (ChatMessage(role="system", content="\n\n".join(system)),) if system else ()
    return head + rest


__all__ = ["clean_critique", "clean_revision", "few_shot_turns", "same_text"]
