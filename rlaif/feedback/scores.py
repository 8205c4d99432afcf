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
from pathlib import Path
from typing import Any

from rlaif.backends.base import Backend, ChatMessage
from rlaif.constitution import Constitution, Principle, sample_principles
from rlaif.errors import RlaifError, TemplateError
from rlaif.feedback.judge import Unlabeled
from rlaif.feedback.soft_labels import normalise_choices
from rlaif.prompting import CriticPrompt, TemplateSet, render_for_critic
from rlaif.seeds import derive_seed

log = logging.getLogger(__name__)

_LEADING_NUMBER = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class ScoreConfig:
    """How responses are scored (``rlaif score-responses`` options map onto these fields).

    Attributes:
        template: the scored template (declares ``answer_prefix`` and numbered ``choices``).
        k: principles sampled per item by :func:`sample_item_principles` (the CLI); each item's score is the mean
            over its principles.
        min_choice_mass: below this probability mass on the choices the critic "did not answer": Unlabeled.
        principle_tags: sample only principles carrying one of these tags (None: all).
        seed: principle sampling seed (per item, derived from the seed and the item id).
    """

    template: str = "score"
    k: int = 1
    min_choice_mass: float = 0.0
    principle_tags: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise RlaifError(f"k must be an integer >= 1, got {self.k!r}", field="k")
        if not 0.0 <= self.min_choice_mass <= 1.0:
            raise RlaifError("min_choice_mass must be in [0, 1]", field="min_choice_mass")


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
    from dataclasses import asdict

    params = asdict(config)
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


# -- a whole stage from files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreJob:
    """Everything ``rlaif score-responses`` needs, from files. The call cache defaults to ``<out>/../.rlaif-cache.sqlite`` (shared by sibling stages)."""

    responses: Path
    constitution: Path
    out: Path
    critic: str = "smollm2"
    backend: str = "transformers"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    templates: Path | None = None
    use_cache: bool = True
    cache: Path | None = None
    limit: int | None = None
    config: ScoreConfig = ScoreConfig()


@dataclass(frozen=True)
class ScoreRun:
    """What a score job produced."""

    results: list[PointwiseScore | Unlabeled]
    rows: list[dict[str, Any]]
    unlabeled: dict[str, int]
    out: Path

    @property
    def mean_score(self) -> float | None:
        """The mean score over the scored items (None when none was scored)."""
        scored = [r.score for r in self.results if isinstance(r, PointwiseScore)]
        return sum(scored) / len(scored) if scored else None


def _score_card(job: ScoreJob, run_rows: list[dict[str, Any]], unlabeled: dict[str, int], text: str) -> str:
    import json as _json

    scores = [r["score"] for r in run_rows]
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
    lines = [
        "# Pointwise critic scores",
        "",
        "Made by `rlaif score-responses`: the critic rated each response from 1 to 10 under sampled principles. "
        "`score` is the probability-weighted mean over the score choices (averaged over the principles), "
        "`score_normalized` = (score - 1) / 9 in [0, 1] (use it as a direct reward); `distribution` keeps the "
        "critic's whole distribution.",
        "",
        f"- rows: {len(run_rows)} scored, {sum(unlabeled.values())} left unscored; mean score {mean}",
        f"- critic: {job.critic} ({job.backend} backend); k = {job.config.k}; seed {job.config.seed}",
        "",
    ]
    for reason, n in sorted(unlabeled.items()):
        lines.append(f"- unscored ({n}): {reason}")
    lines += [
        "",
        "## Parameters",
        "",
        "```json",
        _json.dumps(run_rows[0]["params"] if run_rows else {}, indent=2, sort_keys=True),
        "```",
        "",
        "## Constitution",
        "",
        "```yaml",
        text.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def run_score_job(job: ScoreJob) -> ScoreRun:
    """Read the responses, score every response, write ``<out>/data.parquet`` and its card."""
    from rlaif.constitution import constitution_hash, dump_constitution_yaml, load_constitution
    from rlaif.feedback.call_cache import CachedBackend, default_cache_path, open_backend
    from rlaif.feedback.dataset_io import write_card, write_rows
    from rlaif.feedback.responses import read_responses

    if job.limit is not None and job.limit < 1:
        raise RlaifError("limit must be >= 1", field="limit")
    constitution = load_constitution(job.constitution)
    templates = TemplateSet.load(job.templates)
    sets = read_responses(job.responses)[: job.limit]
    items = sample_item_principles(constitution, items_from_responses(sets), job.config)
    if not items:
        raise RlaifError("the responses dataset has no responses to score", path=job.responses)
    log.info(
        "score-responses: %d response(s) from %s, critic %s (%s backend), k=%d",
        len(items),
        job.responses,
        job.critic,
        job.backend,
        job.config.k,
    )
    cache_file = (job.cache or default_cache_path(job.out)) if job.use_cache else None
    critic = open_backend(job.backend, job.critic, options=dict(job.backend_options), cache=cache_file)
    try:
        results = score_responses(critic, items, (), templates, job.config)
    finally:
        critic.close()
        if isinstance(critic, CachedBackend):
            critic.cache.close()
    rows = score_rows(
        items, results, constitution_hash=constitution_hash(constitution), critic=critic, config=job.config
    )
    unlabeled = unlabeled_reasons(results)
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    if rows:
        write_rows(out, rows, json_columns=SCORE_JSON_COLUMNS)
    else:
        log.warning("no response could be scored; writing the card only")
    write_card(out, _score_card(job, rows, unlabeled, dump_constitution_yaml(constitution)))
    log.info("wrote %d score(s) to %s (%d unscored)", len(rows), out, sum(unlabeled.values()))
    return ScoreRun(results, rows, unlabeled, out)


__all__ = [
    "SCORE_JSON_COLUMNS",
    "PointwiseScore",
    "PrincipleScore",
    "ScoreConfig",
    "ScoreItem",
    "ScoreJob",
    "ScoreRun",
    "choice_values",
    "item_seed",
    "items_from_responses",
    "run_score_job",
    "sample_item_principles",
    "score_responses",
    "score_rows",
    "unlabeled_reasons",
]
