"""The three ways a critic gives its judgement, behind one judging core.

* ``choice-logprobs``: the answer choices' log-probabilities after the forced answer prefix (``score``); needs a
  backend that scores continuations and formats the critic's chat locally (transformers, the vLLM engine, a vLLM
  server's ``/completions`` with ``tokenizer=``).
* ``top-logprobs``: one chat request asks for the letter, with the answer prefix as an assistant prefill where the
  server takes one, and reads the ``top_logprobs`` of the first answer tokens. p comes from the two choices'
  probabilities, renormalised; a choice missing from the list is bounded by the smallest listed probability; a
  prompt where neither choice is listed leaves its pair unlabeled. Serves OpenAI-style chat APIs, vLLM's chat
  endpoint, Ollama and llama.cpp's server.
* ``verdict``: the critic writes its answer (reasoning first with chain of thought) in the form the template asks
  for; the final choice is parsed from it (:func:`parse_verdict`). ``n`` samples at temperature T give
  p = (votes for the first-shown response + 1) / (parsed samples + 2). An unparseable sample is retried once; a
  prompt with no parseable sample leaves its pair unlabeled, its raw text kept. Works with any chat API.

Each mode fills the same per-prompt record (``logprobs`` over the two choices, or ``failed`` with the reason), so
the rest of the labeler (both orders, k principles, the ensemble, minimum choice mass) is one code path.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol

from rlaif.backends.base import (
    Backend,
    Capabilities,
    ChatMessage,
    GenerationRequest,
    PartialFailure,
    SamplingParams,
    TopLogprobsRequest,
    backend_capabilities,
)
from rlaif.errors import RlaifError

JudgeMode = Literal["choice-logprobs", "top-logprobs", "verdict"]
#: the judge modes, in the order ``auto`` prefers them
JUDGE_MODES: tuple[str, ...] = ("choice-logprobs", "top-logprobs", "verdict")
#: the most top log-probabilities OpenAI-style APIs return per position
MAX_API_TOP_LOGPROBS = 20


class JudgeCall(Protocol):
    """One critic prompt (pair, principle, order) as the modes see it."""

    prompt: Any  # rlaif.prompting.CriticPrompt
    reasoning: str
    score_prompt: str
    failed: str | None
    logprobs: tuple[float, ...]
    raw: str


def call_tolerant(fn: Any, requests: Sequence[Any]) -> tuple[list[Any], dict[int, str]]:
    """``fn(requests)``, keeping the answers of a partly failed call: (results with None where failed, reasons)."""
    try:
        return list(fn(requests)), {}
    except PartialFailure as e:
        return list(e.results), dict(e.errors)


# -- choosing the mode -----------------------------------------------------------------------------------------


def working_modes(caps: Capabilities) -> list[str]:
    """The judge modes a backend with these capabilities can run, best first."""
    modes = []
    if caps.choice_logprobs and caps.local_chat_format:
        modes.append("choice-logprobs")
    if caps.top_logprobs:
        modes.append("top-logprobs")
    if caps.chat:
        modes.append("verdict")
    if caps.prefers_top_logprobs and "top-logprobs" in modes:
        modes.remove("top-logprobs")
        modes.insert(0, "top-logprobs")
    return modes


def _why_not(mode: str, caps: Capabilities) -> str:
    if mode == "choice-logprobs":
        if not caps.choice_logprobs:
            return "the backend cannot score continuations (no prompt log-probabilities, e.g. no echo)"
        return "the backend cannot format the critic's chat locally (pass tokenizer= for a served model)"
    if mode == "top-logprobs":
        return "the backend returns no top log-probabilities for chat answers"
    return "the backend cannot generate chat answers"


def resolve_judge_mode(critic: object, requested: str, *, chain_of_thought: bool = False) -> str:
    """The judge mode to use with ``critic``: ``requested`` if it can work, the best working one for ``"auto"``.

    Fails at once, before any judging, when the requested mode cannot work with this backend, naming the mode
    that would.
    """
    if requested != "auto" and requested not in JUDGE_MODES:
        raise RlaifError(
            f"unknown judge mode {requested!r}",
            field="judge_mode",
            hint=f"choose auto or one of: {', '.join(JUDGE_MODES)}",
        )
    caps = backend_capabilities(critic)
    modes = working_modes(caps)
    if chain_of_thought and "top-logprobs" in modes and not caps.local_chat_format:
        # the reasoning is generated from the formatted prompt, then sent back as the start of the answer
        modes.remove("top-logprobs")
    if requested == "auto":
        if not modes:
            raise RlaifError(
                f"the critic {getattr(critic, 'model_id', '?')} can run no judge mode",
                field="judge_mode",
                hint="use a backend that scores, returns top log-probabilities, or generates chat answers",
            )
        return modes[0]
    if requested in modes:
        return requested
    name = getattr(critic, "name", "?")
    why = (
        "with chain of thought the critic's chat must be formatted locally (pass tokenizer=)"
        if requested == "top-logprobs" and caps.top_logprobs
        else _why_not(requested, caps)
    )
    works = f"use --judge-mode {modes[0]}" if modes else "no judge mode works with this backend"
    raise RlaifError(
        f"judge mode {requested!r} cannot work with the {name} critic {getattr(critic, 'model_id', '?')}: {why}",
        field="judge_mode",
        hint=f"{works} (modes that work here: {', '.join(modes) or 'none'})",
    )


# -- top-logprobs ----------------------------------------------------------------------------------------------

_STRIP = " \t\n()[]*_:.\"'`"


def _norm(token: str) -> str:
    return token.strip(_STRIP).upper()


def choice_logprobs_from_top(
    positions: Sequence[Sequence[tuple[str, float]]], choices: tuple[str, str], *, prefilled: bool = True
) -> tuple[tuple[float, float] | None, str]:
    """The two choices' log-probabilities read off a top-logprobs answer, or None and the reason.

    The position read is the first one (with a prefill), else the first whose listed tokens include a choice. An
    exact token match wins over a loose one (``" A"``, ``"(A"``, ``"a"``). A choice missing from the list gets the
    smallest listed probability, an upper bound on its own.
    """
    want = [_norm(c) for c in choices]
    candidates = positions[:1] if prefilled else positions
    for pos in candidates:
        if not pos:
            continue
        found: list[float | None] = []
        for choice, key in zip(choices, want, strict=True):
            exact = [lp for tok, lp in pos if tok == choice]
            loose = [lp for tok, lp in pos if _norm(tok) == key]
            found.append(exact[0] if exact else (max(loose) if loose else None))
        if found[0] is None and found[1] is None:
            continue
        floor = min(lp for _, lp in pos)
        first = found[0] if found[0] is not None else floor
        second = found[1] if found[1] is not None else floor
        return (float(first), float(second)), ""
    listed = len(positions[0]) if positions else 0
    return None, f"neither choice is among the critic's top {listed} log-probabilities"


def run_top_logprobs(critic: Backend, calls: Sequence[JudgeCall], *, top_k: int) -> None:
    """Fill ``logprobs`` (or ``failed``) of each live call from one ``top_logprobs`` backend call."""
    live = [c for c in calls if c.failed is None]
    if not live:
        return
    caps = backend_capabilities(critic)
    if caps.max_top_logprobs is not None:
        top_k = min(top_k, caps.max_top_logprobs)
    requests = []
    for c in live:
        prefill = c.score_prompt[len(c.prompt.chat_prompt) :].lstrip(" ")
        requests.append(
            TopLogprobsRequest(
                messages=(ChatMessage("user", c.prompt.rendered.text),),
                prefill=prefill,
                text=c.score_prompt,
                top_k=top_k,
                max_new_tokens=1 if caps.assistant_prefill else 5,
            )
        )
    fn = getattr(critic, "top_logprobs", None)
    if fn is None:  # resolve_judge_mode stops this earlier; a clear error all the same
        raise RlaifError(f"the critic {critic.model_id} has no top_logprobs call", field="judge_mode")
    results, errors = call_tolerant(fn, requests)
    for i, (c, result) in enumerate(zip(live, results, strict=True)):
        if result is None:
            c.failed = f"backend error: {errors.get(i, 'no answer')}"
            continue
        pair, reason = choice_logprobs_from_top(result.positions, _choices(c), prefilled=result.prefilled)
        if pair is None:
            c.failed = reason
        else:
            c.logprobs = pair


# -- verdict ---------------------------------------------------------------------------------------------------


def parse_verdict(text: str, choices: tuple[str, str] = ("A", "B")) -> int | None:
    """Which choice a written answer picks (0 or 1), or None when it cannot be told.

    Read in this order: a JSON object ``{"winner": ...}``; the last choice marker ``(A)``/``(B)``; a phrase naming
    the better response ("Response B is better", "the better response is A", "Winner: A", "Answer: B"); a sole
    "Response X"; a bare choice as the answer's first line.
    """
    keys = [_norm(c) for c in choices]

    def pick(value: str) -> int | None:
        v = _norm(value)
        v = re.sub(r"^(RESPONSE|OPTION|ANSWER)\s*", "", v).strip(_STRIP)
        return keys.index(v) if v in keys else None

    for m in reversed(list(re.finditer(r"\{[^{}]*\}", text))):
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            for key in ("winner", "better", "answer", "choice"):
                if isinstance(obj.get(key), str) and (found := pick(obj[key])) is not None:
                    return found
    alt = "|".join(re.escape(c) for c in choices)
    markers = re.findall(rf"\(\s*({alt})\s*\)", text)
    if markers:
        return choices.index(markers[-1])
    phrases = (
        rf"(?:response|option)\s+({alt})\b(?:(?!response|option)[^.\n]){{0,40}}?\b(?:is|was)\s+(?:the\s+)?(?:better|preferred|best|"
        rf"stronger|more)",
        rf"(?:better|preferred|best|winning)\s+(?:response|option|answer)\s+(?:is|was|would be)\s*:?\s*"
        rf"(?:response\s+|option\s+)?\**({alt})\b",
        rf"(?:winner|answer|verdict|choice|final answer)\s*(?:is)?\s*[:=]\s*\**\s*(?:response\s+)?({alt})\b",
        rf"\bi\s+(?:prefer|choose|pick)\s+(?:response\s+|option\s+)?({alt})\b",
    )
    for pattern in phrases:
        found_all = re.findall(pattern, text, flags=re.IGNORECASE)
        if found_all and (found := pick(found_all[-1])) is not None:
            return found
    named = {m.upper() for m in re.findall(rf"\bresponse\s+({alt})\b", text, flags=re.IGNORECASE)}
    if len(named) == 1:
        return pick(named.pop())
    first_line = text.strip().split("\n", 1)[0].strip(_STRIP)
    return pick(first_line) if first_line and len(first_line) <= 12 else None


def vote_probability(votes_first: int, parsed: int) -> float:
    """p that the first choice is better from ``votes_first`` of ``parsed`` samples: (votes + 1) / (parsed + 2)."""
    return (votes_first + 1) / (parsed + 2)


def _choices(c: JudgeCall) -> tuple[str, str]:
    ch = c.prompt.choices
    return (ch[0], ch[1])


def _seed(seed: int, c: JudgeCall, attempt: int) -> int:
    return zlib.crc32(f"{seed}\0{attempt}\0{c.prompt.rendered.text}".encode()) & 0x7FFFFFFF


def run_verdict(
    critic: Backend,
    calls: Sequence[JudgeCall],
    *,
    samples: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
) -> None:
    """Fill ``logprobs`` (the vote probability as two log-probabilities), ``raw`` and ``reasoning`` of each live call,
    or ``failed`` with the raw text when no sample could be parsed after one retry."""
    live = [c for c in calls if c.failed is None]
    if not live:
        return
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, n=samples)
    votes: dict[int, list[int]] = {id(c): [] for c in live}
    texts: dict[int, list[str]] = {id(c): [] for c in live}
    pending: list[tuple[JudgeCall, int]] = [(c, samples) for c in live]
    for attempt in range(2):  # the first try, then one retry of what could not be parsed
        if not pending:
            break
        requests = [
            GenerationRequest(
                (ChatMessage("user", c.prompt.rendered.text),),
                replace(params, n=n, seed=_seed(seed, c, attempt)),
            )
            for c, n in pending
        ]
        outputs, errors = call_tolerant(critic.generate, requests)
        retry: list[tuple[JudgeCall, int]] = []
        for i, ((c, _), completions) in enumerate(zip(pending, outputs, strict=True)):
            if completions is None:
                c.failed = f"backend error: {errors.get(i, 'no answer')}"
                continue
            bad = 0
            for completion in completions:
                texts[id(c)].append(completion.text)
                choice = parse_verdict(completion.text, _choices(c))
                if choice is None:
                    bad += 1
                else:
                    votes[id(c)].append(choice)
            if bad:
                retry.append((c, bad))
        pending = retry
    for c in live:
        if c.failed is not None:
            continue
        got = votes[id(c)]
        raw = "\n---\n".join(texts[id(c)])
        c.raw = raw
        c.reasoning = texts[id(c)][0] if texts[id(c)] else ""
        if not got:
            c.failed = f"critic's verdict could not be parsed (after one retry): {raw[:300]!r}"
            continue
        p = vote_probability(sum(1 for v in got if v == 0), len(got))
        c.logprobs = (math.log(p), math.log1p(-p))


__all__ = [
    "JUDGE_MODES",
    "MAX_API_TOP_LOGPROBS",
    "JudgeMode",
    "choice_logprobs_from_top",
    "parse_verdict",
    "resolve_judge_mode",
    "run_top_logprobs",
    "run_verdict",
    "vote_probability",
    "working_modes",
]
