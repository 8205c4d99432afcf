"""Pointwise scores: the critic rates one response from 1 to 10 under given principles.

Run it from the command line::

    rlaif score-responses --responses out/responses --constitution principles/hhh.yaml --critic smollm2 \\
        -k 2 -o out/scores

The ``score`` template ends the critic's turn with ``Score: [[`` and the choices ``"1]]"`` … ``"10]]"`` are scored
after it (no choice is a prefix of another, so each summed log-probability is the probability of that whole answer;
see ``prompts/README.md``). The value of a choice is the number it starts with, read from the template's metadata,
so a template with other choices (say ``"1]]"`` … ``"5]]"``) works unchanged.

For each principle the choices' log-probabilities are renormalised into a distribution over the values, and the
score is its mean (the probability-weighted mean, as in G-Eval), not the argmax: it is continuous and keeps the
critic's uncertainty. The item's score is the mean over its principles; the full distribution of each principle is
kept.

**As a reward.** ``score`` lies in ``[min value, max value]`` = ``[1, 10]`` for the shipped template;
:attr:`PointwiseScore.normalized` maps it linearly onto ``[0, 1]`` (``(score - 1) / 9``), which is the form to use as a
direct reward (subtract 0.5 or a per-prompt baseline to centre it).

A judgement the critic did not really give is never turned into a score: non-finite log-probabilities, zero
probability on every choice, or less than ``min_choice_mass`` of its next-token probability on the choices (under
any principle) make the item :class:`~rlaif.feedback.judge.Unlabeled`, with the reason.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from rlaif.backends.base import Backend, ChatMessage
from rlaif.constitution import Constitution, Principle, sample_principles
from rlaif.errors import RlaifError, TemplateError
from rlaif.feedback.judge import Unlabeled
from rlaif.feedback.soft_labels import normalise_choices
from rlaif.fields import MinChoiceMass, PrinciplesK, PrincipleTags, Seed
from rlaif.prompting import CriticPrompt, TemplateSet, render_for_critic
from rlaif.seeds import derive_seed
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)

_LEADING_NUMBER = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)")


class ScoreConfig(StrictConfig):
    """How responses are scored (``rlaif score-responses`` options map onto these fields)."""

    template: str = Field(
        default="score", description="the scored template (declares answer_prefix and numbered choices)"
    )
    k: PrinciplesK = Field(
        default=1, strict=True, description="principles sampled per response; its score is their mean"
    )
    min_choice_mass: MinChoiceMass = 0.0
    principle_tags: PrincipleTags = None
    seed: Seed = Field(
        default=0, description="principle sampling seed (per item, from the seed and the item id)"
    )


@dataclass(frozen=True)
class ScoreItem:
    """One response to score; ``principles`` (when given) override the ones passed to :func:`score_responses`."""

    item_id: str
    conversation: tuple[ChatMessage, ...]
    response: str
    principles: tuple[Principle, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PrincipleScore:
    """The critic's score under one principle: the expected value and the distribution it comes from."""

    principle: str  # id@version
    score: float
    distribution: tuple[float, ...]  # over ScoredValues.values, sums to 1
    choice_mass: float  # next-token probability the critic put on the choices before renormalising


@dataclass(frozen=True)
class PointwiseScore:
    """An item's score: the mean over its principles of each principle's expected score."""

    item_id: str
    score: float
    values: tuple[float, ...]  # the value of each choice, e.g. 1..10
    distribution: tuple[float, ...]  # the mean of the principles' distributions
    per_principle: tuple[PrincipleScore, ...]
    template_hash: str

    @property
    def low(self) -> float:
        """The smallest value a score can take."""
        return min(self.values)

    @property
    def high(self) -> float:
        """The largest value a score can take."""
        return max(self.values)

    @property
    def normalized(self) -> float:
        """The score mapped linearly onto [0, 1] (use this as a direct reward)."""
        return (self.score - self.low) / (self.high - self.low)

    @property
    def choice_mass(self) -> float:
        """The smallest choice mass over the principles (how sure we are the critic answered at all)."""
        return min(p.choice_mass for p in self.per_principle)


def choice_values(prompt: CriticPrompt | Sequence[str], template: str = "score") -> tuple[float, ...]:
    """The value of each choice: the number it starts with (``"10]]"`` → 10)."""
    choices = prompt.choices if isinstance(prompt, CriticPrompt) else tuple(prompt)
    if not choices or len(choices) < 2:
        raise TemplateError(
            f"template {template} declares no choices to score", field="choices", hint="see prompts/score.j2"
        )
    values = []
    for choice in choices:
        m = _LEADING_NUMBER.match(choice)
        if m is None:
            raise TemplateError(
                f"template {template}: choice {choice!r} does not start with a number, so it has no score value",
                field="choices",
                hint='pointwise choices look like "1]]", "2]]", ... "10]]"',
            )
        values.append(float(m.group(1)))
    if len(set(values)) < 2:
        raise TemplateError(
            f"template {template}: the choices need at least two different values", field="choices"
        )
    return tuple(values)


def item_seed(seed: int, item_id: str) -> int:
    """The principle-sampling seed of one item."""
    return derive_seed(seed, item_id, "score")


def sample_item_principles(
    constitution: Constitution, items: Sequence[ScoreItem], config: ScoreConfig
) -> list[ScoreItem]:
    """Each item with ``config.k`` principles drawn for it (weighted, seeded by the run seed and the item id)."""
    return [
        ScoreItem(
            item.item_id,
            item.conversation,
            item.response,
            tuple(
                sample_principles(
                    constitution,
                    config.k,
                    seed=item_seed(config.seed, item.item_id),
                    tags=config.principle_tags,
                )
            ),
            item.meta,
        )
        for item in items
    ]


def _mass(logprobs: Sequence[float]) -> float:
    return sum(math.exp(lp) for lp in logprobs if not math.isnan(lp))


def _unlabeled_reason(logprobs: Sequence[float], principle: Principle, min_mass: float) -> str | None:
    if any(math.isnan(lp) or lp == math.inf for lp in logprobs):
        return f"critic returned non-finite log-probabilities (principle {principle.ref})"
    if all(lp == -math.inf for lp in logprobs):
        return f"critic gave every score zero probability (principle {principle.ref})"
    mass = _mass(logprobs)
    if mass < min_mass:
        return (
            f"critic put {mass:.1%} of its probability on the score choices (principle {principle.ref}; "
            f"min_choice_mass={min_mass:g})"
        )
    return None


def score_responses(
    critic: Backend,
    items: Sequence[ScoreItem],
    principles: Sequence[Principle] = (),
    templates: TemplateSet | None = None,
    config: ScoreConfig = ScoreConfig(),
) -> list[PointwiseScore | Unlabeled]:
    """Score each item under its principles (or ``principles`` for items without their own) in ONE score call.

    Returns one result per item, in order: a :class:`PointwiseScore` or an :class:`Unlabeled` with the reason.
    """
    if not items:
        return []
    templates = templates if templates is not None else TemplateSet.load()
    prompts: list[tuple[int, Principle, CriticPrompt]] = []
    for i, item in enumerate(items):
        chosen = item.principles or tuple(principles)
        if not chosen:
            raise RlaifError(f"item {item.item_id} has no principles to be scored under", field="principles")
        for principle in chosen:
            prompt = render_for_critic(
                templates,
                config.template,
                critic,
                conversation=list(item.conversation),
                response=item.response,
                principle=principle,
            )
            if prompt.needs_reasoning:
                raise TemplateError(
                    f"template {config.template} asks for reasoning first; pointwise scores read the choices "
                    "directly",
                    field="reasoning_prefix",
                )
            prompts.append((i, principle, prompt))
    values = choice_values(prompts[0][2], config.template)
    template_hash = prompts[0][2].template_hash
    log.info("scoring %d response(s) under %d prompt(s) on %s", len(items), len(prompts), critic.model_id)
    results = critic.score([p.score_request() for _, _, p in prompts])

    per_item: list[list[PrincipleScore]] = [[] for _ in items]
    reasons: dict[int, str] = {}
    for (i, principle, _), result in zip(prompts, results, strict=True):
        if i in reasons:
            continue
        reason = _unlabeled_reason(result.logprobs, principle, config.min_choice_mass)
        if reason is not None:
            reasons[i] = reason
            continue
        dist = tuple(normalise_choices(result.logprobs))
        expected = sum(p * v for p, v in zip(dist, values, strict=True))
        per_item[i].append(PrincipleScore(principle.ref, expected, dist, _mass(result.logprobs)))

    out: list[PointwiseScore | Unlabeled] = []
    for i, item in enumerate(items):
        if i in reasons:
            out.append(Unlabeled(item.item_id, reasons[i]))
            continue
        scores = per_item[i]
        mean_dist = tuple(sum(s.distribution[j] for s in scores) / len(scores) for j in range(len(values)))
        out.append(
            PointwiseScore(
                item_id=item.item_id,
                score=sum(s.score for s in scores) / len(scores),
                values=values,
                distribution=mean_dist,
                per_principle=tuple(scores),
                template_hash=template_hash,
            )
        )
    return out


# -- datasets ---------------------------------------------------------------------------------------------------


def items_from_responses(sets: Sequence[Any]) -> list[ScoreItem]:
    """One item per response of a responses dataset (:func:`rlaif.feedback.responses.read_responses`), with id
    ``<prompt id>:<response index>``."""
    return [
        ScoreItem(
            f"{s.prompt.id}:{j}",
            s.prompt.conversation,
            text,
            meta={"prompt_id": s.prompt.id, "response_index": j, "policy_model": s.policy_model},
        )
        for s in sets
        for j, text in enumerate(s.responses)
    ]


def score_rows(
    items: Sequence[ScoreItem],
    results: Sequence[PointwiseScore | Unlabeled],
    *,
    constitution_hash: str,
    critic: Backend,
    config: ScoreConfig,
) -> list[dict[str, Any]]:
    """One row per scored item (Unlabeled items are left out; count them with :func:`unlabeled_reasons`)."""
    params = config.model_dump()
    if params["principle_tags"] is not None:
        params["principle_tags"] = list(params["principle_tags"])
    rows = []
    for item, result in zip(items, results, strict=True):
        if not isinstance(result, PointwiseScore):
            continue
        rows.append(
            {
                "item_id": item.item_id,
                "prompt_id": str(item.meta.get("prompt_id", item.item_id)),
                "response_index": int(item.meta.get("response_index", 0)),
                "prompt": [{"role": m.role, "content": m.content} for m in item.conversation],
                "response": item.response,
                "score": result.score,
                "score_normalized": result.normalized,
                "score_range": [result.low, result.high],
                "distribution": {
                    f"{v:g}": p for v, p in zip(result.values, result.distribution, strict=True)
                },
                "per_principle": [
                    {
                        "principle": s.principle,
                        "score": s.score,
                        "choice_mass": s.choice_mass,
                        "distribution": list(s.distribution),
                    }
                    for s in result.per_principle
                ],
                "principles": [s.principle for s in result.per_principle],
                "choice_mass": result.choice_mass,
                "constitution_hash": constitution_hash,
                "template_hash": result.template_hash,
                "critic_model": critic.model_id,
                "critic_revision": critic.model_revision,
                "params": params,
                "seed": item_seed(config.seed, item.item_id),
            }
        )
    return rows


SCORE_JSON_COLUMNS = ("distribution", "per_principle", "params")


def unlabeled_reasons(results: Sequence[PointwiseScore | Unlabeled]) -> dict[str, int]:
    """How many items were left unscored, by kind of reason (the principle named in each reason left out)."""
    counts: dict[str, int] = {}
    for r in results:
        if isinstance(r, Unlabeled):
            kind = r.reason.split(" (principle ")[0]
            counts[kind] = counts.get(kind, 0) + 1
    return counts


__all__ = [
    "SCORE_JSON_COLUMNS",
    "PointwiseScore",
    "PrincipleScore",
    "ScoreConfig",
    "ScoreItem",
    "choice_values",
    "item_seed",
    "items_from_responses",
    "sample_item_principles",
    "score_responses",
    "score_rows",
    "unlabeled_reasons",
]
