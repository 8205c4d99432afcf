"""Deterministic checking of a principle's declarative :class:`~rlaif.constitution.schema.Rule` against a text.

Counting is deliberately simple and documented, so that a rule means the same thing to every reader:

* **words**: ``len(text.split())`` (runs of non-whitespace);
* **sentences**: pieces ending in ``.``, ``!``, ``?`` or ``…`` (optionally followed by closing quotes/brackets)
  and then whitespace or the end; a trailing piece without terminal punctuation counts too; pieces without any
  letter or digit do not count;
* **chars**: characters of the text with surrounding whitespace removed;
* **patterns**: ``re.search`` over the whole text, case-insensitive unless the rule says ``case_sensitive``.
  ``^``/``$`` anchor at the start/end of the whole text; write ``(?m)`` to anchor at lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rlaif.constitution.schema import Principle, Rule

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")
_HAS_ALNUM = re.compile(r"\w")


@dataclass(frozen=True)
class RuleResult:
    """The outcome of checking one rule: passed or not, one readable line per failed condition, and the counts."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def count_words(text: str) -> int:
    """Words, as whitespace-separated runs."""
    return len(text.split())


def split_sentences(text: str) -> list[str]:
    """Sentences by terminal punctuation (see module docs)."""
    return [s for s in (piece.strip() for piece in _SENTENCE_END.split(text.strip())) if _HAS_ALNUM.search(s)]


def count_sentences(text: str) -> int:
    """Number of :func:`split_sentences` pieces."""
    return len(split_sentences(text))


def _show(s: str, limit: int = 40) -> str:
    return repr(s if len(s) <= limit else s[: limit - 1] + "…")


def check_rule(rule: Rule, text: str) -> RuleResult:
    """Check every condition of ``rule`` against ``text``; all must hold for the rule to pass.

    ``details`` holds ``words``, ``sentences``, ``chars``, ``matched`` (the text each ``must_match`` pattern found,
    or ``None``) and ``forbidden`` (the text each ``must_not_match`` pattern found, or ``None``).
    """
    failures: list[str] = []
    words = count_words(text)
    sentences = count_sentences(text)
    chars = len(text.strip())

    def bound(value: int, lo: int | None, hi: int | None, unit: str, lo_name: str, hi_name: str) -> None:
        if lo is not None and value < lo:
            failures.append(f"has {value} {unit}, fewer than {lo_name}={lo}")
        if hi is not None and value > hi:
            failures.append(f"has {value} {unit}, more than {hi_name}={hi}")

    bound(words, rule.min_words, rule.max_words, "words", "min_words", "max_words")
    bound(chars, rule.min_chars, rule.max_chars, "characters", "min_chars", "max_chars")
    bound(sentences, None, rule.max_sentences, "sentences", "", "max_sentences")

    must, must_not = rule.compiled()
    matched: dict[str, str | None] = {}
    for pattern in must:
        m = pattern.search(text)
        matched[pattern.pattern] = m.group(0) if m else None
        if m is None:
            failures.append(f"must_match pattern {pattern.pattern!r} not found")
    forbidden: dict[str, str | None] = {}
    for pattern in must_not:
        m = pattern.search(text)
        forbidden[pattern.pattern] = m.group(0) if m else None
        if m is not None:
            failures.append(f"must_not_match pattern {pattern.pattern!r} found {_show(m.group(0))}")

    details: dict[str, Any] = {
        "words": words,
        "sentences": sentences,
        "chars": chars,
        "matched": matched,
        "forbidden": forbidden,
    }
    return RuleResult(passed=not failures, failures=failures, details=details)


def check_principles(principles: Iterable[Principle], text: str) -> dict[str, RuleResult]:
    """:func:`check_rule` for each principle that has a rule, keyed by principle id."""
    return {p.id: check_rule(p.rule, text) for p in principles if p.rule is not None}


__all__ = [
    "RuleResult",
    "check_principles",
    "check_rule",
    "count_sentences",
    "count_words",
    "split_sentences",
]
