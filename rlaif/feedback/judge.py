"""The judging core: pairwise soft preferences from a critic, in both orders, under k principles.

For each :class:`~rlaif.feedback.comparison.Comparison` (conversation, response A, response B) and each of its k
sampled principles the critic is shown the ``compare`` template in both orders (A first, then B first). Per order,
the critic's judgement gives the probability that it prefers the first-shown response; the mean of the two orders
cancels position bias and the mean over principles is the label (see :mod:`rlaif.feedback.soft_labels` for the
formulas). How the judgement is read is the judge mode (:mod:`rlaif.feedback.judge_modes`): the choices'
log-probabilities after the answer prefix (``choice-logprobs``), the top log-probabilities of a chat answer
(``top-logprobs``), or sampled written verdicts (``verdict``).

In ``choice-logprobs`` mode every (pair, principle, order) prompt of a call goes to the backend in ONE ``score``
call, ordered pair by pair, order by order, principle last, so a prefix-sharing backend computes the conversation
and both responses once per order and only the principle's question k times.

A judgement the critic did not really give is never turned into a label: non-finite log-probabilities, no
probability on the choices, less than ``min_choice_mass`` of it, an unreadable verdict, or a backend failure make
the pair :class:`Unlabeled` with the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field, field_validator

from rlaif.backends.base import (
    Backend,
    GenerationRequest,
    SamplingParams,
    ScoreRequest,
    TooManyFailures,
    backend_capabilities,
)
from rlaif.errors import BackendError, TemplateError
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge_modes import (
    JUDGE_MODES,
    call_tolerant,
    resolve_judge_mode,
    run_top_logprobs,
    run_verdict,
)
from rlaif.feedback.soft_labels import PrincipleJudgement, SoftLabel, clamp, ensemble, normalise_choices
from rlaif.fields import (
    BatchCalibration,
    ChainOfThought,
    CotClamp,
    JudgeModeName,
    MinChoiceMass,
    Seed,
    TokenCap,
)
from rlaif.prompting import CriticPrompt, TemplateSet, render_for_critic
from rlaif.strict import StrictConfig

log = logging.getLogger("rlaif.feedback.labeler")

ORDERS: tuple[str, str] = ("ab", "ba")


@dataclass(frozen=True)
class Unlabeled:
    """A pair the critic could not label, and why (never replaced by a default label)."""

    pair_id: str
    reason: str  # e.g. "critic put 0.3% of its probability on the choices"
    raw: str = ""  # the critic's own text, when a written verdict could not be read


JudgeMode = Literal["auto", "choice-logprobs", "top-logprobs", "verdict"]
#: the judge modes' settings, shared by :class:`JudgeConfig` and the flat fields of the label config
TopLogprobs = Annotated[
    int, Field(ge=1, description="tokens asked for per position in top-logprobs mode (chat APIs: <= 20)")
]
VerdictSamples = Annotated[
    int, Field(ge=1, description="written verdicts sampled per prompt in verdict mode")
]
VerdictTemperature = Annotated[float, Field(ge=0.0, description="their sampling temperature")]


class JudgeConfig(StrictConfig):
    """How the critic is asked (template, chain of thought, orders, judge mode, remedies of weak critics)."""

    template: str = Field(
        default="compare",
        description="the scored comparison template (declares answer_prefix and two choices)",
    )
    chain_of_thought: ChainOfThought = False
    cot_template: str = Field(
        default="compare_cot",
        description="the chain-of-thought comparison template (declares reasoning_prefix)",
    )
    cot_clamp: CotClamp = (0.4, 0.6)
    cot_max_new_tokens: TokenCap = Field(default=256, description="length cap of the critic's reasoning")
    both_orders: bool = Field(
        default=True,
        description="ask in both orders and average (position debiasing); false only to measure position bias "
        "(order ba is not asked and p_ba is set equal to p_ab)",
    )
    min_choice_mass: MinChoiceMass = 0.0
    seed: Seed = Field(
        default=0,
        description="recorded; generation is greedy, so it matters only to sampling backends' cache keys and to "
        "the verdict mode's samples",
    )
    mode: JudgeModeName = "auto"
    top_logprobs: TopLogprobs = 20
    verdict_samples: VerdictSamples = 5
    verdict_temperature: VerdictTemperature = 1.0
    verdict_max_new_tokens: TokenCap = Field(
        default=48, description="their length cap without chain of thought (with it, cot_max_new_tokens)"
    )
    markers: tuple[str, str] | None = Field(
        default=None,
        description="two letters shown instead of (A)/(B) (rlaif.feedback.remedies); null keeps the template's",
    )
    batch_calibration: BatchCalibration = False

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in ("auto", *JUDGE_MODES):
            raise ValueError(f"unknown judge mode {value!r}; choose one of: auto, {', '.join(JUDGE_MODES)}")
        return value


@dataclass(frozen=True)
class JudgeResult:
    """A label (or the reason there is none) with the evidence the dataset stores next to it.

    ``choice_mass[i][o]`` is the probability mass the critic put on the two choices for principle ``i`` in order
    ``o`` (0 = ab, 1 = ba); ``reasoning[i][o]`` is the chain-of-thought text (empty without chain of thought).
    """

    pair_id: str
    result: SoftLabel | Unlabeled
    choice_mass: tuple[tuple[float, ...], ...] = ()
    reasoning: tuple[tuple[str, ...], ...] = ()
    template_hash: str = ""


@dataclass
class _Call:
    pair: int
    principle: int
    order: int  # index into ORDERS
    prompt: CriticPrompt
    reasoning: str = ""
    score_prompt: str = ""
    failed: str | None = None
    logprobs: tuple[float, ...] = field(default_factory=tuple)
    raw: str = ""


def supports_partial_failure(backend: Backend) -> bool:
    """Whether a failed call may mark only its rows unlabeled (the backend's ``supports_partial_failure``).

    Backends whose errors are per request (a remote API refusing one prompt) set this attribute to True; for the
    others a failure means the engine is gone, so the run stops and a rerun resumes from the call cache.
    """
    inner = getattr(backend, "backend", None)
    return bool(
        getattr(backend, "supports_partial_failure", False)
        or (inner is not None and getattr(inner, "supports_partial_failure", False))
    )


def _choices(prompt: CriticPrompt) -> tuple[str, str]:
    choices = prompt.choices
    if choices is None or len(choices) != 2:
        raise TemplateError(
            f"template {prompt.rendered.template_name} must declare exactly two choices to compare a pair, "
            f"it declares {choices!r}",
            field="choices",
            hint='declare {% set choices = ["A", "B"] %} (first choice = the first-shown response)',
        )
    return choices[0], choices[1]


def _render_calls(
    critic: Backend, templates: TemplateSet, pairs: Sequence[Comparison], template: str
) -> list[_Call]:
    calls: list[_Call] = []
    # a served chat model without a local tokenizer is sent the template's text, not a locally formatted chat
    formatter = critic if backend_capabilities(critic).local_chat_format else None
    for pi, pair in enumerate(pairs):
        if not pair.principles:
            raise ValueError(f"pair {pair.pair_id} has no principles to judge it by")
        for oi, order in enumerate(ORDERS):
            first, second = (
                (pair.response_a, pair.response_b) if order == "ab" else (pair.response_b, pair.response_a)
            )
            for ki, principle in enumerate(pair.principles):
                prompt = render_for_critic(
                    templates,
                    template,
                    formatter,
                    conversation=list(pair.conversation),
                    response_a=first,
                    response_b=second,
                    principle=principle,
                )
                _choices(prompt)
                calls.append(_Call(pi, ki, oi, prompt))
    return calls


def _run_guarded(
    critic: Backend,
    calls: list[_Call],
    groups: list[list[int]],
    run: type[_Stage] | _Stage,
) -> None:
    """Run one backend call over ``calls``; on a BackendError with partial-failure support, retry per group."""
    stage = run if isinstance(run, _Stage) else run()
    try:
        stage(critic, calls)
    except BackendError as e:
        if isinstance(e, TooManyFailures):
            raise
        if not supports_partial_failure(critic) or len(groups) <= 1:
            if supports_partial_failure(critic):
                for c in calls:
                    c.failed = f"backend error: {e.problem.message}"
                return
            raise
        log.warning("the critic failed on a batch (%s); retrying pair by pair", e.problem.message)
        for group in groups:
            part = [calls[i] for i in group]
            try:
                stage(critic, part)
            except BackendError as ge:
                for c in part:
                    c.failed = f"backend error: {ge.problem.message}"


class _Stage:
    def __call__(self, critic: Backend, calls: list[_Call]) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _Reason(_Stage):
    def __init__(self, max_new_tokens: int) -> None:
        self.params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, n=1)

    def __call__(self, critic: Backend, calls: list[_Call]) -> None:
        live = [c for c in calls if c.failed is None]
        if not live:
            return
        out, errors = call_tolerant(
            critic.generate, [GenerationRequest(c.prompt.text, self.params) for c in live]
        )
        for i, (c, completions) in enumerate(zip(live, out, strict=True)):
            if completions is None:
                c.failed = f"backend error: {errors.get(i, 'no answer')}"
                continue
            c.reasoning = completions[0].text if completions else ""
            c.score_prompt = c.prompt.after_reasoning(c.reasoning)


class _Score(_Stage):
    def __call__(self, critic: Backend, calls: list[_Call]) -> None:
        live = [c for c in calls if c.failed is None]
        if not live:
            return
        requests = [ScoreRequest(prompt=c.score_prompt, continuations=_choices(c.prompt)) for c in live]
        out, errors = call_tolerant(critic.score, requests)
        for i, (c, result) in enumerate(zip(live, out, strict=True)):
            if result is None:
                c.failed = f"backend error: {errors.get(i, 'no answer')}"
                continue
            c.logprobs = tuple(result.logprobs)


class _Top(_Stage):
    def __init__(self, top_k: int) -> None:
        self.top_k = top_k

    def __call__(self, critic: Backend, calls: list[_Call]) -> None:
        run_top_logprobs(critic, calls, top_k=self.top_k)


class _Verdict(_Stage):
    def __init__(self, config: JudgeConfig) -> None:
        self.config = config

    def __call__(self, critic: Backend, calls: list[_Call]) -> None:
        c = self.config
        run_verdict(
            critic,
            calls,
            samples=c.verdict_samples,
            temperature=c.verdict_temperature,
            max_new_tokens=c.cot_max_new_tokens if c.chain_of_thought else c.verdict_max_new_tokens,
            seed=c.seed,
        )


def _mass(logprobs: Sequence[float]) -> float:
    return sum(math.exp(lp) for lp in logprobs if not math.isnan(lp))


def _describe(pair: Comparison, call: _Call) -> str:
    return f"principle {pair.principles[call.principle].ref}, order {ORDERS[call.order]}"


def judge_pairs_detailed(
    critic: Backend,
    templates: TemplateSet,
    pairs: Sequence[Comparison],
    config: JudgeConfig = JudgeConfig(),
    *,
    progress: bool = True,
) -> list[JudgeResult]:
    """Like :func:`judge_pairs`, with the choice masses, reasoning texts and template hash of each pair."""
    if not pairs:
        return []
    mode = resolve_judge_mode(critic, config.mode, chain_of_thought=config.chain_of_thought)
    if config.markers is not None:
        from rlaif.feedback.remedies import with_markers

        templates = with_markers(templates, config.markers)
    template = config.cot_template if config.chain_of_thought else config.template
    calls = _render_calls(critic, templates, pairs, template)
    if not config.both_orders:
        calls = [c for c in calls if ORDERS[c.order] == "ab"]
    if config.chain_of_thought and not calls[0].prompt.needs_reasoning:
        raise TemplateError(
            f"template {template} declares no reasoning_prefix, so it cannot be used for chain of thought",
            field="reasoning_prefix",
        )
    if not config.chain_of_thought and calls[0].prompt.needs_reasoning:
        raise TemplateError(
            f"template {template} is a chain-of-thought template; use it with chain_of_thought=True",
            field="reasoning_prefix",
        )
    for c in calls:
        if not c.prompt.needs_reasoning:
            c.score_prompt = c.prompt.text
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(calls):
        groups.setdefault(c.pair, []).append(i)
    group_list = list(groups.values())
    if progress:
        log.info(
            "judging %d pair(s): %d critic prompt(s) on %s, %s%s",
            len(pairs),
            len(calls),
            critic.model_id,
            mode,
            " with chain of thought" if config.chain_of_thought else "",
        )
    if mode == "verdict":
        _run_guarded(critic, calls, group_list, _Verdict(config))
    else:
        if config.chain_of_thought:
            _run_guarded(critic, calls, group_list, _Reason(config.cot_max_new_tokens))
        _run_guarded(
            critic, calls, group_list, _Top(config.top_logprobs) if mode == "top-logprobs" else _Score
        )

    # votes are already kept off 0 and 1 by their prior; only scored chain-of-thought answers are clamped
    clamp_to = config.cot_clamp if config.chain_of_thought and mode != "verdict" else None
    template_hash = calls[0].prompt.template_hash
    results: list[JudgeResult] = []
    for pi, pair in enumerate(pairs):
        mine = [calls[i] for i in groups[pi]]
        k = len(pair.principles)
        n_orders = 2 if config.both_orders else 1
        grid: list[list[_Call | None]] = [[None] * n_orders for _ in range(k)]
        for c in mine:
            grid[c.principle][c.order] = c
        masses = tuple(tuple(_mass(c.logprobs) if c and not c.failed else 0.0 for c in row) for row in grid)
        reasoning = tuple(tuple(c.reasoning if c else "" for c in row) for row in grid)
        reason = _unlabeled_reason(pair, mine, config)
        if reason is not None:
            results.append(
                JudgeResult(
                    pair.pair_id,
                    Unlabeled(pair.pair_id, reason, "\n---\n".join(c.raw for c in mine if c.raw)),
                    masses,
                    reasoning,
                    template_hash,
                )
            )
            continue
        judgements = []
        for ki, row in enumerate(grid):
            principle = pair.principles[ki]
            ab = row[0]
            ba = row[1] if n_orders == 2 else None
            assert ab is not None
            p_ab = clamp(normalise_choices(ab.logprobs)[0], clamp_to)
            p_ba = clamp(normalise_choices(ba.logprobs)[1], clamp_to) if ba is not None else p_ab
            judgements.append(PrincipleJudgement(principle.id, principle.version, p_ab, p_ba))
        results.append(JudgeResult(pair.pair_id, ensemble(judgements), masses, reasoning, template_hash))
    if config.batch_calibration:
        from rlaif.feedback.remedies import calibrate_judged

        results = calibrate_judged(results)
    return results


def _unlabeled_reason(pair: Comparison, calls: Sequence[_Call], config: JudgeConfig) -> str | None:
    for c in calls:
        if c.failed is not None:
            return c.failed
    for c in calls:
        if any(math.isnan(lp) or lp == math.inf for lp in c.logprobs):
            return f"critic returned non-finite log-probabilities ({_describe(pair, c)})"
        if all(lp == -math.inf for lp in c.logprobs):
            return f"critic gave every choice zero probability ({_describe(pair, c)})"
    if config.min_choice_mass > 0:
        worst = min(calls, key=lambda c: _mass(c.logprobs))
        mass = _mass(worst.logprobs)
        if mass < config.min_choice_mass:
            return (
                f"critic put {mass:.1%} of its probability on the choices ({_describe(pair, worst)}; "
                f"min_choice_mass={config.min_choice_mass:g})"
            )
    return None


def judge_pairs(
    critic: Backend,
    templates: TemplateSet,
    pairs: Sequence[Comparison],
    config: JudgeConfig = JudgeConfig(),
    *,
    progress: bool = True,
) -> list[SoftLabel | Unlabeled]:
    """All (pair, principle, order) prompts scored in ONE backend.score call (so the backend can share prefixes).

    Returns one result per pair, in order: a :class:`~rlaif.feedback.soft_labels.SoftLabel` (p(A ≻ B) averaged
    over both orders and the pair's principles, with every per-principle, per-order probability) or an
    :class:`Unlabeled` with the reason. With ``config.chain_of_thought`` the reasoning of every prompt is first
    generated (greedy) in one ``generate`` call, then the choices are scored after it and clamped.

    A :class:`~rlaif.errors.BackendError` propagates (the run stops; a rerun resumes from the call cache) unless
    the backend declares ``supports_partial_failure``, in which case the failing pairs become Unlabeled.
    """
    return [j.result for j in judge_pairs_detailed(critic, templates, pairs, config, progress=progress)]


__all__ = [
    "ORDERS",
    "JudgeConfig",
    "JudgeResult",
    "Unlabeled",
    "judge_pairs",
    "judge_pairs_detailed",
    "supports_partial_failure",
]
