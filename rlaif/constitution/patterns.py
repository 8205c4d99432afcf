"""Checking the regular expressions of principle rules: they compile, are short, and cannot backtrack explosively.

Rule patterns are matched against untrusted model output with Python's backtracking ``re`` engine, which cannot be
interrupted. A pattern such as ``(a+)+$`` takes exponential time on ``"aaaa…!"``, so a constitution could stall a
labeling run. Patterns are therefore checked when a constitution is loaded, by analysing the parsed regex
(``re._parser``; a textual heuristic is the fallback if the parser's internals ever change).

What is rejected — a *repeat* is any quantifier that allows more than one repetition (``*``, ``+``, ``{2,}``,
``{1,5}``…), a *variable* quantifier is one whose lower and upper bounds differ (``?``, ``*``, ``+``, ``{1,5}``):

1. **Nested quantifiers that overlap**: inside a repeat, a variable quantifier whose first characters can also be
   matched by what follows it there — including the next repetition of the enclosing repeat. This catches
   ``(a+)+``, ``(a*)*``, ``(.*)*``, ``(\\w+\\s?)+``, ``(a+a)+`` and ``(\\d+\\.?)+``, and accepts
   ``(\\d+\\.){3}\\d+`` and ``(?:\\s+[A-Z]{2,}){2,}`` because the parts that follow each other there cannot match
   the same character.
2. **Overlapping alternatives inside a repeat**: ``(a|a)*``, ``(a|aa)+``, ``(foo|foo)*``. The check runs on the
   tree after Python's own parser has factored common prefixes and folded one-character alternatives into a
   set, so ``(ab|ac)+``, ``(a|ab)+`` and ``(\\w|\\d)+`` — which Python matches without blow-up — are accepted. It
   compares first characters only, so it also rejects a few harmless patterns such as ``(?:ab|ba|aa)+``.

Possessive quantifiers (``a++``) and atomic groups (``(?>…)``) never backtrack, so they are not rejected.
Polynomial blow-ups (``\\d+\\d+\\d+x``) are not rejected; pattern length is bounded instead.
Characters are compared over a sample alphabet (ASCII, Latin-1 and a few other scripts), case-insensitively,
because that is how rule patterns are matched by default.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from rlaif.errors import RlaifError

try:  # Python >= 3.11 (a private module: every use below is guarded, see catastrophic_reason)
    _p: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - older layouts
    _p = importlib.import_module("sre_parse")

CharSet = frozenset[str]

_ALPHABET: CharSet = frozenset(
    [chr(i) for i in range(256)] + list("ĀłŒſΩαβЖжש٣中文日本語한😀\u2019\u201c\u2028\u2029\u3000")
)
_EMPTY: CharSet = frozenset()
_CATEGORY_RE = {
    "CATEGORY_DIGIT": re.compile(r"\d"),
    "CATEGORY_NOT_DIGIT": re.compile(r"\D"),
    "CATEGORY_SPACE": re.compile(r"\s"),
    "CATEGORY_NOT_SPACE": re.compile(r"\S"),
    "CATEGORY_WORD": re.compile(r"\w"),
    "CATEGORY_NOT_WORD": re.compile(r"\W"),
}
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT"}


class _Unsupported(Exception):
    """The parse tree has a shape this analysis does not know; fall back to the textual heuristic."""


def _fold(chars: set[str]) -> CharSet:
    out = set(chars)
    for ch in chars:
        out.add(ch.lower())
        out.add(ch.upper())
        out.add(ch.swapcase())
    return frozenset(c for c in out if len(c) == 1)


def _category(name: str) -> CharSet:
    rx = _CATEGORY_RE.get(name)
    if rx is None:
        raise _Unsupported(name)
    return frozenset(ch for ch in _ALPHABET if rx.match(ch))


def _in_set(items: Any) -> CharSet:
    chars: set[str] = set()
    negate = False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            chars.add(chr(av))
        elif name == "RANGE":
            lo, hi = av
            chars.update(ch for ch in _ALPHABET if lo <= ord(ch) <= hi)
            # keep the range's endpoints even when outside the sample alphabet
            chars.update((chr(lo), chr(hi)))
        elif name == "CATEGORY":
            chars.update(_category(str(av)))
        else:
            raise _Unsupported(name)
    folded = _fold(chars)
    return frozenset(_ALPHABET - folded) if negate else folded


def _first(seq: Any) -> tuple[CharSet, bool]:
    """Characters that can start a match of ``seq``, and whether ``seq`` can match the empty string."""
    acc: set[str] = set()
    for item in seq:
        chars, nullable = _first_item(item)
        acc |= chars
        if not nullable:
            return frozenset(acc), False
    return frozenset(acc), True


def _first_item(item: Any) -> tuple[CharSet, bool]:
    op, av = item
    name = str(op)
    if name == "LITERAL":
        return _fold({chr(av)}), False
    if name == "NOT_LITERAL":
        return frozenset(_ALPHABET - _fold({chr(av)})), False
    if name == "ANY":
        return _ALPHABET, False
    if name == "IN":
        return _in_set(av), False
    if name in _REPEATS or name == "POSSESSIVE_REPEAT":
        lo, _hi, body = av
        chars, nullable = _first(body)
        return chars, nullable or lo == 0
    if name == "SUBPATTERN":
        return _first(av[-1])
    if name == "ATOMIC_GROUP":
        return _first(av)
    if name == "BRANCH":
        acc: set[str] = set()
        any_nullable = False
        for alt in av[1]:
            chars, nullable = _first(alt)
            acc |= chars
            any_nullable = any_nullable or nullable
        return frozenset(acc), any_nullable
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return _EMPTY, True
    if name == "GROUPREF":
        return _ALPHABET, True  # unknown at analysis time: assume anything
    if name == "GROUPREF_EXISTS":
        _group, yes, no = av
        y_chars, y_null = _first(yes)
        n_chars, n_null = _first(no) if no is not None else (_EMPTY, True)
        return y_chars | n_chars, y_null or n_null
    raise _Unsupported(name)


def _visit(seq: Any, follow: CharSet, in_loop: bool) -> str | None:
    """Walk ``seq`` knowing what may follow it (``follow``) and whether it sits inside a repeat."""
    items = list(seq)
    for i, item in enumerate(items):
        rest_chars, rest_nullable = _first(items[i + 1 :])
        after = rest_chars | follow if rest_nullable else rest_chars
        found = _visit_item(item, frozenset(after), in_loop)
        if found:
            return found
    return None


def _visit_item(item: Any, after: CharSet, in_loop: bool) -> str | None:
    op, av = item
    name = str(op)
    if name in _REPEATS:
        lo, hi, body = av
        body_first, _ = _first(body)
        if in_loop and lo != hi and body_first & after:
            return "nested quantifiers: a repeated part contains a quantifier that can match the same text in many ways"
        if hi > 1:
            # inside the loop, the body may be followed by its own next repetition
            return _visit(body, frozenset(body_first | after), True)
        return _visit(body, after, in_loop)
    if name == "POSSESSIVE_REPEAT" or name == "ATOMIC_GROUP":
        return None  # never backtracks into
    if name == "SUBPATTERN":
        return _visit(av[-1], after, in_loop)
    if name == "BRANCH":
        alts = av[1]
        if in_loop:
            seen: set[str] = set()
            for alt in alts:
                chars, nullable = _first(alt)
                if nullable:  # an alternative that can match nothing starts with whatever follows it
                    chars = chars | after
                if chars & seen:
                    return "overlapping alternatives inside a repeat (e.g. '(a|aa)*')"
                seen |= chars
        for alt in alts:
            found = _visit(alt, after, in_loop)
            if found:
                return found
        return None
    if name in ("ASSERT", "ASSERT_NOT"):
        return _visit(av[1], _EMPTY, False)
    if name == "GROUPREF_EXISTS":
        _group, yes, no = av
        return _visit(yes, after, in_loop) or (_visit(no, after, in_loop) if no is not None else None)
    return None


_NESTED_TEXT = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)(?:[*+]|\{\d*,)")


def catastrophic_reason(pattern: str) -> str | None:
    """Why ``pattern`` is prone to catastrophic backtracking, or ``None`` if it is not (see module docs).

    The pattern must compile. Analysis is defensive: should ``re``'s parser internals change shape, a textual
    heuristic (a quantified group containing a quantifier) is used instead.
    """
    try:
        parsed = _p.parse(pattern, re.IGNORECASE)
        return _visit(parsed, _EMPTY, False)
    except (_Unsupported, AttributeError, TypeError, ValueError, IndexError):
        if _NESTED_TEXT.search(pattern):
            return "nested quantifiers: a repeated group contains a quantifier"
        return None


def pattern_problem(pattern: str, *, max_length: int, case_sensitive: bool = False) -> str | None:
    """What is wrong with a rule pattern (too long, does not compile, catastrophic), or ``None`` if it is fine."""
    if len(pattern) > max_length:
        return f"pattern is {len(pattern)} characters long; the limit is {max_length}"
    try:
        re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as e:
        where = f" at position {e.pos}" if e.pos is not None else ""
        return f"invalid regular expression: {e.msg}{where}"
    except (OverflowError, RecursionError, ValueError) as e:
        return f"invalid regular expression: {e}"
    reason = catastrophic_reason(pattern)
    if reason:
        return f"pattern rejected, prone to catastrophic backtracking: {reason} (see docs/constitutions.md)"
    return None


def check_pattern(pattern: str, *, max_length: int, case_sensitive: bool = False) -> None:
    """Raise :class:`RlaifError` if :func:`pattern_problem` finds something wrong."""
    problem = pattern_problem(pattern, max_length=max_length, case_sensitive=case_sensitive)
    if problem:
        raise RlaifError(problem)


__all__ = ["catastrophic_reason", "check_pattern", "pattern_problem"]
