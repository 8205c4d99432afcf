"""Building comparison pairs from the n responses of each prompt.

Pairing modes:

``first_two``
    Responses 0 and 1 (the usual n = 2 setup). Pair id ``<prompt id>:0-1``.
``all_pairs``
    Every unordered pair ``i < j``: n(n−1)/2 pairs per prompt. Pair ids ``<prompt id>:i-j``.
``best_worst``
    One pair per prompt: the best response against the worst, as ranked by ``best_worst_by``:

    * ``"critic"``: the critic's pointwise expected score (``score`` template: the probability-weighted mean of
      its 1–10 score tokens), averaged over the principles sampled for the prompt from ``(seed, prompt id)``;
    * ``"rules"``: how many of the eligible principles' rules the response passes.

    Ties go to the lower index for the best and the higher index for the worst, so the two always differ. The pair
    is (best, worst) in that order (A = best): the labeler still asks the critic in both orders, so A's position
    carries no information to it. Pair id ``<prompt id>:i-j`` with i the best, j the worst.

Pairs whose two responses are identical are left out with a reason (nothing to compare), and so are prompts with
fewer than two responses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from rlaif.backends.base import Backend, ChatMessage
from rlaif.constitution.rules import check_rule
from rlaif.constitution.schema import Principle
from rlaif.errors import RlaifError, TemplateError
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.responses import ResponseSet
from rlaif.feedback.soft_labels import expected_score
from rlaif.prompting import TemplateSet, render_for_critic

log = logging.getLogger(__name__)

PairingMode = Literal["first_two", "all_pairs", "best_worst"]
RankBy = Literal["critic", "rules"]
PAIRING_MODES: tuple[str, ...] = ("first_two", "all_pairs", "best_worst")


@dataclass(frozen=True)
class ResponsePair:
    """Which two of a prompt's responses are compared (A = ``index_a``, B = ``index_b``), kept with their source
    so a label row can name the indices and the policy; :meth:`comparison` is what the critic judges."""

    pair_id: str
    source: ResponseSet
    index_a: int
    index_b: int

    @property
    def prompt_id(self) -> str:
        """The id of the prompt both responses answer."""
        return self.source.prompt.id

    @property
    def conversation(self) -> tuple[ChatMessage, ...]:
        """The conversation the responses continue."""
        return self.source.prompt.conversation

    @property
    def response_a(self) -> str:
        """The first response of the pair."""
        return self.source.responses[self.index_a]

    @property
    def response_b(self) -> str:
        """The second response of the pair."""
        return self.source.responses[self.index_b]

    def comparison(self, principles: Sequence[Principle] = ()) -> Comparison:
        """The :class:`~rlaif.feedback.comparison.Comparison` of the two responses, judged under ``principles``."""
        return Comparison(
            self.pair_id, self.conversation, self.response_a, self.response_b, tuple(principles)
        )


@dataclass(frozen=True)
class SkippedPair:
    """A pair (or a prompt) that could not be formed, and why."""

    pair_id: str
    reason: str


def pair_id(prompt_id: str, i: int, j: int) -> str:
    """The id of the pair of responses ``i`` and ``j`` of a prompt."""
    return f"{prompt_id}:{i}-{j}"


def _indices(rs: ResponseSet, mode: PairingMode, ranking: Sequence[float] | None) -> list[tuple[int, int]]:
    n = len(rs.responses)
    if mode == "first_two":
        return [(0, 1)]
    if mode == "all_pairs":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    if ranking is None or len(ranking) != n:
        raise ValueError(f"best_worst pairing needs one score per response for prompt {rs.prompt.id}")
    best = max(range(n), key=lambda i: (ranking[i], -i))
    worst = min(range(n), key=lambda i: (ranking[i], -i))
    if best == worst:  # every score equal: the documented tie-break gives 0 and n-1
        best, worst = 0, n - 1
    return [(best, worst)]


def make_pairs(
    sets: Sequence[ResponseSet],
    mode: PairingMode = "first_two",
    *,
    rankings: Mapping[str, Sequence[float]] | None = None,
) -> tuple[list[ResponsePair], list[SkippedPair]]:
    """The pairs to label, in prompt order, and the ones left out with a reason.

    ``rankings`` (prompt id → one score per response) is required for ``best_worst``; see
    :func:`rank_by_critic` and :func:`rank_by_rules`.
    """
    if mode not in PAIRING_MODES:
        raise RlaifError(
            f"unknown pairing {mode!r}", field="pairing", hint=f"choose one of: {', '.join(PAIRING_MODES)}"
        )
    pairs: list[ResponsePair] = []
    skipped: list[SkippedPair] = []
    seen: set[str] = set()
    for rs in sets:
        if rs.prompt.id in seen:
            raise RlaifError(f"duplicate prompt id {rs.prompt.id!r} in the responses", field="id")
        seen.add(rs.prompt.id)
        if len(rs.responses) < 2:
            skipped.append(
                SkippedPair(pair_id(rs.prompt.id, 0, 1), f"only {len(rs.responses)} response(s) to pair")
            )
            continue
        ranking = rankings.get(rs.prompt.id) if rankings is not None else None
        for i, j in _indices(rs, mode, ranking):
            pid = pair_id(rs.prompt.id, i, j)
            if rs.responses[i] == rs.responses[j]:
                skipped.append(SkippedPair(pid, "the two responses are identical"))
                continue
            pairs.append(ResponsePair(pid, rs, i, j))
    return pairs, skipped


def rank_by_rules(sets: Sequence[ResponseSet], principles: Sequence[Principle]) -> dict[str, list[float]]:
    """Per prompt, how many of ``principles``' rules each response passes (principles without a rule ignored)."""
    ruled = [p for p in principles if p.rule is not None]
    if not ruled:
        raise RlaifError(
            "best_worst pairing by rules needs principles with a rule, and none is eligible",
            field="best_worst_by",
            hint="use --best-worst-by critic, or a constitution with rules (e.g. principles/style.yaml)",
        )
    out: dict[str, list[float]] = {}
    for rs in sets:
        out[rs.prompt.id] = [
            float(sum(check_rule(p.rule, r).passed for p in ruled if p.rule is not None))
            for r in rs.responses
        ]
    return out


def rank_by_critic(
    critic: Backend,
    templates: TemplateSet,
    sets: Sequence[ResponseSet],
    principles_for: dict[str, Sequence[Principle]],
    *,
    template: str = "score",
) -> dict[str, list[float]]:
    """Per prompt, each response's expected critic score, averaged over that prompt's principles.

    ``principles_for`` maps prompt id → the principles to score under. All prompts go in one ``score`` call.
    """
    index: list[tuple[str, int]] = []
    requests = []
    values: tuple[float, ...] | None = None
    for rs in sets:
        if len(rs.responses) < 2:
            continue
        for ri, response in enumerate(rs.responses):
            for principle in principles_for[rs.prompt.id]:
                prompt = render_for_critic(
                    templates,
                    template,
                    critic,
                    conversation=list(rs.prompt.conversation),
                    response=response,
                    principle=principle,
                )
                if prompt.choices is None:
                    raise TemplateError(f"template {template} declares no choices to score", field="choices")
                if values is None:
                    values = tuple(_leading_number(c) for c in prompt.choices)
                requests.append(prompt.score_request())
                index.append((rs.prompt.id, ri))
    results = critic.score(requests) if requests else []
    sums: dict[tuple[str, int], list[float]] = {}
    for key, result in zip(index, results, strict=True):
        assert values is not None
        sums.setdefault(key, []).append(expected_score(result.logprobs, values))
    out: dict[str, list[float]] = {}
    for rs in sets:
        if len(rs.responses) < 2:
            continue
        out[rs.prompt.id] = [
            sum(sums[(rs.prompt.id, i)]) / len(sums[(rs.prompt.id, i)]) for i in range(len(rs.responses))
        ]
    return out


def _leading_number(choice: str) -> float:
    digits = ""
    for ch in choice.strip():
        if ch.isdigit() or (ch == "." and digits):
            digits += ch
        else:
            break
    if not digits:
        raise TemplateError(
            f"score choice {choice!r} does not start with a number",
            field="choices",
            hint='use "1]]" … "10]]"',
        )
    return float(digits)


__all__ = [
    "PAIRING_MODES",
    "PairingMode",
    "RankBy",
    "ResponsePair",
    "SkippedPair",
    "make_pairs",
    "pair_id",
    "rank_by_critic",
    "rank_by_rules",
]
