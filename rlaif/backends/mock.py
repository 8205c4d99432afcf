"""A scripted mock backend for tests (yours and ours).

Two layers:

* **Scripts.** Rules matched against the prompt text (a chat is matched on its formatted text, see
  :meth:`MockBackend.format_chat`): a substring or a regular expression → a response (a string, a sequence of strings
  handed out one per match with the last repeating, or a callable of the prompt), a scripted failure (raises
  :class:`~rlaif.errors.BackendError`), or garbage (junk text for generate, NaN log-probabilities for score). Score
  rules map (prompt pattern, continuation) → a log-probability. The first matching rule wins.
* **A deterministic fallback language model** for everything not scripted: a character-level model whose next-token
  distribution is a hash of the last two characters. Tokens are characters (id ``ord(c) + 1``; id 0 is EOS), so
  ``generate`` and ``score`` agree exactly: greedy text is the argmax under ``score``, a continuation's log-probability
  is the sum of its characters' log-probabilities, and per-token ``logprobs`` from ``generate`` equal ``score`` of the
  same text. The conformance suite runs on it. Characters outside printable ASCII and newline are out of the model's
  vocabulary: they score :data:`OOV_LOGPROB` each and are never generated.

Every call is recorded in :attr:`MockBackend.calls` for assertions::

    mock = MockBackend()
    mock.add_response("capital of France", "Paris.")
    mock.add_score("Which response", " (A)", -0.1).add_score("Which response", " (B)", -2.3)
    mock.add_failure("boom", "scripted outage")
    ...
    assert mock.calls[0].kind == "generate"
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from rlaif.backends.base import (
    Capabilities,
    ChatMessage,
    Completion,
    FinishReason,
    GenerationRequest,
    Prompt,
    ScoreRequest,
    ScoreResult,
    TopLogprobsRequest,
    TopLogprobsResult,
)
from rlaif.errors import BackendError
from rlaif.seeds import crc32_seed

#: log-probability given to each character outside the mock model's vocabulary
OOV_LOGPROB = -30.0
EOS_ID = 0
#: the characters the fallback model knows: printable ASCII and newline
_VOCAB_CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
_VOCAB_IDS = (EOS_ID, *(ord(c) + 1 for c in _VOCAB_CHARS))
_POS = {tid: i for i, tid in enumerate(_VOCAB_IDS)}

ScriptedResponse = str | Sequence[str] | Callable[[str], str]


@dataclass
class MockRule:
    """One generate rule: prompts matching ``pattern`` get ``response``, raise ``error``, or get garbage."""

    pattern: str
    response: ScriptedResponse | None = None
    regex: bool = False
    error: str | None = None
    garbage: bool = False
    _uses: int = field(default=0, repr=False)

    def matches(self, text: str) -> bool:
        """Whether this rule applies to the prompt ``text``."""
        return re.search(self.pattern, text) is not None if self.regex else self.pattern in text

    def next_response(self, text: str) -> str:
        """The scripted text for this match (sequences advance one item per match)."""
        r = self.response
        self._uses += 1
        if r is None:
            raise ValueError("rule has no response")
        if isinstance(r, str):
            return r
        if callable(r):
            return r(text)
        items = list(r)
        return items[min(self._uses - 1, len(items) - 1)]


@dataclass
class ScoreRule:
    """One score rule: for prompts matching ``pattern``, ``continuation`` gets log-probability ``logprob``."""

    pattern: str
    continuation: str
    logprob: float
    regex: bool = False

    def matches(self, prompt: str, continuation: str) -> bool:
        """Whether this rule applies to (prompt, continuation)."""
        if continuation != self.continuation:
            return False
        return re.search(self.pattern, prompt) is not None if self.regex else self.pattern in prompt


@dataclass(frozen=True)
class MockCall:
    """One recorded call: its kind and the requests it received."""

    kind: Literal["generate", "score", "top_logprobs"]
    requests: tuple[GenerationRequest, ...] | tuple[ScoreRequest, ...] | tuple[TopLogprobsRequest, ...]


def char_token_ids(text: str) -> tuple[int, ...]:
    """The mock's tokenisation: one token per character, id ``ord(c) + 1``."""
    return tuple(ord(c) + 1 for c in text)


@lru_cache(maxsize=65536)
def _next_logprobs(context: str) -> tuple[float, ...]:
    """Log-probabilities over ``_VOCAB_IDS`` after a context (only its last two characters matter)."""
    rng = random.Random(zlib.crc32(context[-2:].encode("utf-8", "surrogatepass")))
    logits = []
    for tid in _VOCAB_IDS:
        ch = "" if tid == EOS_ID else chr(tid - 1)
        # letters and spaces are likelier so that sampled text looks vaguely like words
        base = -1.0 if tid == EOS_ID else (1.5 if ch.isalpha() or ch == " " else 0.0)
        logits.append(base + 1.5 * rng.gauss(0.0, 1.0))
    m = max(logits)
    lse = m + math.log(sum(math.exp(x - m) for x in logits))
    return tuple(x - lse for x in logits)


def _token_logprob(context: str, token_id: int) -> float:
    pos = _POS.get(token_id)
    return OOV_LOGPROB if pos is None else _next_logprobs(context)[pos]


class MockBackend:
    """A scripted, deterministic, dependency-free :class:`~rlaif.backends.base.Backend` (see the module doc).

    ``rules`` and ``score_rules`` are checked in order (the first match wins); ``default_response`` (when set)
    answers every unmatched generate request instead of the fallback language model. ``seed`` makes unseeded
    sampling deterministic across runs (each call still draws differently).
    """

    name = "mock"

    def __init__(
        self,
        model: str | None = None,
        *,
        rules: Sequence[MockRule] | Mapping[str, str] = (),
        score_rules: Sequence[ScoreRule] | Mapping[tuple[str, str], float] = (),
        default_response: ScriptedResponse | None = None,
        seed: int = 0,
    ) -> None:
        self.model_id = f"mock:{model}" if model else "mock-char-lm"
        self.model_revision = "1"
        if isinstance(rules, Mapping):
            self.rules: list[MockRule] = [MockRule(k, v) for k, v in rules.items()]
        else:
            self.rules = list(rules)
        if isinstance(score_rules, Mapping):
            self.score_rules: list[ScoreRule] = [ScoreRule(p, c, lp) for (p, c), lp in score_rules.items()]
        else:
            self.score_rules = list(score_rules)
        self.default_rule = MockRule("", default_response) if default_response is not None else None
        self.seed = seed
        self.calls: list[MockCall] = []
        self.closed = False

    # -- scripting -------------------------------------------------------------------------------------------
    def add_response(self, pattern: str, response: ScriptedResponse, *, regex: bool = False) -> MockBackend:
        """Answer prompts matching ``pattern`` with ``response``; returns ``self`` for chaining."""
        self.rules.append(MockRule(pattern, response, regex=regex))
        return self

    def add_failure(
        self, pattern: str, message: str = "scripted failure", *, regex: bool = False
    ) -> MockBackend:
        """Raise :class:`BackendError` for generate or score calls whose prompt matches ``pattern``."""
        self.rules.append(MockRule(pattern, regex=regex, error=message))
        return self

    def add_garbage(self, pattern: str, *, regex: bool = False) -> MockBackend:
        """Return junk text (generate) or NaN log-probabilities (score) for prompts matching ``pattern``."""
        self.rules.append(MockRule(pattern, regex=regex, garbage=True))
        return self

    def add_score(
        self, pattern: str, continuation: str, logprob: float, *, regex: bool = False
    ) -> MockBackend:
        """Score ``continuation`` as ``logprob`` after prompts matching ``pattern``."""
        self.score_rules.append(ScoreRule(pattern, continuation, logprob, regex=regex))
        return self

    # -- recorded calls ----------------------------------------------------------------------------------------
    @property
    def generate_requests(self) -> list[GenerationRequest]:
        """Every generate request received, in order."""
        return [r for c in self.calls if c.kind == "generate" for r in c.requests]  # type: ignore[misc]

    @property
    def score_requests(self) -> list[ScoreRequest]:
        """Every score request received, in order."""
        return [r for c in self.calls if c.kind == "score" for r in c.requests]  # type: ignore[misc]

    # -- protocol --------------------------------------------------------------------------------------------
    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """``<|role|>\\ncontent\\n`` per message, then ``<|assistant|>\\n``."""
        parts = [f"<|{m.role}|>\n{m.content}\n" for m in messages]
        return "".join(parts) + "<|assistant|>\n"

    def prompt_text(self, prompt: Prompt) -> str:
        """The text the mock model sees for a prompt."""
        return prompt if isinstance(prompt, str) else self.format_chat(prompt)

    def _match(self, text: str) -> MockRule | None:
        for rule in self.rules:
            if rule.matches(text):
                return rule
        return None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """``params.n`` completions per request: scripted when a rule matches, else from the fallback model."""
        self._check_open()
        self.calls.append(MockCall("generate", tuple(requests)))
        call_index = len(self.calls)
        out: list[list[Completion]] = []
        for ri, req in enumerate(requests):
            text = self.prompt_text(req.prompt)
            rule = self._match(text)
            if rule is not None and rule.error is not None:
                raise BackendError(self.name, f"{rule.error} (request {ri})")
            if rule is None and self.default_rule is not None:
                rule = self.default_rule
            samples = []
            for j in range(req.params.n):
                if req.params.seed is not None:
                    rng = random.Random(crc32_seed(req.params.seed, j))
                else:
                    rng = random.Random(crc32_seed(self.seed, call_index, ri, j))
                if rule is not None and rule.garbage:
                    junk = "".join(chr(rng.randrange(33, 0x2FF)) for _ in range(rng.randrange(5, 40)))
                    samples.append(self._finish(text, junk, req, "stop"))
                elif rule is not None:
                    samples.append(self._finish(text, rule.next_response(text), req, "stop"))
                else:
                    samples.append(self._sample(text, req, rng))
            out.append(samples)
        return out

    def _finish(self, prompt: str, scripted: str, req: GenerationRequest, reason: FinishReason) -> Completion:
        p = req.params
        if len(scripted) > p.max_new_tokens:
            scripted, reason = scripted[: p.max_new_tokens], "length"
        cut = _stop_cut(scripted, p.stop)
        if cut is not None:
            scripted, reason = scripted[:cut], "stop"
        ids = char_token_ids(scripted)
        lps = None
        if p.logprobs:
            lps = tuple(_token_logprob(prompt + scripted[:i], t) for i, t in enumerate(ids))
        return Completion(text=scripted, token_ids=ids, finish_reason=reason, logprobs=lps)

    def _sample(self, prompt: str, req: GenerationRequest, rng: random.Random) -> Completion:
        p = req.params
        ctx = prompt
        text = ""
        ids: list[int] = []
        lps: list[float] = []
        reason: FinishReason = "length"
        for _ in range(p.max_new_tokens):
            dist = _next_logprobs(ctx)
            pos = _pick(dist, p.temperature, p.top_p, rng)
            tid = _VOCAB_IDS[pos]
            if tid == EOS_ID:
                reason = "stop"
                break
            ch = chr(tid - 1)
            ids.append(tid)
            lps.append(dist[pos])
            text += ch
            ctx += ch
            cut = _stop_cut(text, p.stop)
            if cut is not None:
                text = text[:cut]
                del ids[cut:], lps[cut:]
                reason = "stop"
                break
        return Completion(
            text=text, token_ids=tuple(ids), finish_reason=reason, logprobs=tuple(lps) if p.logprobs else None
        )

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Scripted log-probabilities where a score rule matches, else the fallback model's exact ones."""
        self._check_open()
        self.calls.append(MockCall("score", tuple(requests)))
        out = []
        for ri, req in enumerate(requests):
            rule = self._match(req.prompt)
            if rule is not None and rule.error is not None:
                raise BackendError(self.name, f"{rule.error} (score request {ri})")
            lps: list[float] = []
            for ci, cont in enumerate(req.continuations):
                if not cont:
                    raise BackendError(
                        self.name,
                        f"score request {ri}: continuation {ci} is empty",
                        hint="score non-empty continuations such as ' (A)'",
                    )
                scripted = next((s for s in self.score_rules if s.matches(req.prompt, cont)), None)
                if rule is not None and rule.garbage:
                    lps.append(math.nan)
                elif scripted is not None:
                    lps.append(scripted.logprob)
                else:
                    lps.append(
                        sum(
                            _token_logprob(req.prompt + cont[:i], t)
                            for i, t in enumerate(char_token_ids(cont))
                        )
                    )
            out.append(ScoreResult(logprobs=tuple(lps), num_tokens=tuple(len(c) for c in req.continuations)))
        return out

    def top_logprobs(self, requests: Sequence[TopLogprobsRequest]) -> list[TopLogprobsResult]:
        """The fallback model's most likely next characters after each request's text (first position only);
        single-character scripted score rules take their place, so scripted critics judge the same in every mode."""
        self._check_open()
        self.calls.append(MockCall("top_logprobs", tuple(requests)))
        out = []
        for req in requests:
            text = req.text or self.format_chat(req.messages) + req.prefill
            rule = self._match(text)
            if rule is not None and rule.error is not None:
                raise BackendError(self.name, rule.error)
            dist = {
                ("" if tid == EOS_ID else chr(tid - 1)): lp
                for tid, lp in zip(_VOCAB_IDS, _next_logprobs(text), strict=True)
            }
            for s in self.score_rules:
                if len(s.continuation) == 1 and s.matches(text, s.continuation):
                    dist[s.continuation] = s.logprob
            top = sorted(dist.items(), key=lambda kv: -kv[1])[: req.top_k]
            out.append(TopLogprobsResult(positions=(tuple(top),)))
        return out

    #: what every instance can do: scores, generates and lists top log-probabilities (every judge mode works)
    CAPABILITIES = Capabilities(top_logprobs=True)

    def capabilities(self) -> Capabilities:
        """Scores, generates and lists top log-probabilities (every judge mode works)."""
        return self.CAPABILITIES

    def close(self) -> None:
        """Mark the backend closed; later calls raise."""
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise BackendError(self.name, "used after close()")


def _stop_cut(text: str, stop: Sequence[str]) -> int | None:
    """Index where the earliest stop string starts in ``text``, or None."""
    hits = [i for s in stop if s and (i := text.find(s)) >= 0]
    return min(hits) if hits else None


def _pick(dist: Sequence[float], temperature: float, top_p: float, rng: random.Random) -> int:
    """Index of the next token: argmax when greedy, else a temperature / nucleus sample."""
    if temperature == 0:
        return max(range(len(dist)), key=lambda i: (dist[i], -i))
    scaled = [lp / temperature for lp in dist]
    m = max(scaled)
    probs = [math.exp(s - m) for s in scaled]
    total = sum(probs)
    probs = [q / total for q in probs]
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, mass = [], 0.0
    for i in order:
        kept.append(i)
        mass += probs[i]
        if mass >= top_p:
            break
    weights = [probs[i] for i in kept]
    return rng.choices(kept, weights=weights)[0]
