"""Critique → revision: supervised data and checked preference pairs from a constitution.

The constitutional AI recipe (Bai et al., 2022, the supervised stage), with one deliberate addition: the open recipes
assume a revision is better than the response it revises; here the critic is asked, and by default a revision
becomes "chosen" only if the critic prefers it over the original in both answer orders.

Run it from the command line::

    rlaif revise --prompts data/prompts/smoke.jsonl --constitution principles/hhh.yaml \\
        --policy smollm2 --critic smollm2 -r 1 -o out/revisions

For every prompt: the policy's initial response (generated, or read from a responses dataset), then up to ``rounds``
rounds of

1. one principle sampled (weighted, seeded by ``(seed, prompt id, round)``, so adding prompts or rounds never
   changes the principles drawn for the others);
2. a critique of the current response under that principle (``critique.j2``, written by the critic);
3. a revision in the light of the critique (``revise.j2``, written by the policy, as in the paper, where the model
   revises its own response; ``reviser="critic"`` lets the critic write it instead).

The constitution's few-shot ``examples`` (worked critique/revision chats) are prepended to both requests as chat
turns (their system messages first, then the other turns in file order). A round stops the loop when its critique or
revision comes back empty, when the revision equals the response it revises (whitespace aside), or when the
revision was cut at ``revision_max_new_tokens`` (a truncated reply would teach the policy to stop mid-sentence).

Boilerplate small models put around a critique or a revision is removed before it is used (see
:func:`rlaif.feedback.revise_text.clean_revision`).

Outputs (:func:`rlaif.feedback.revise_output.write_revise_run`), each a parquet dataset with a card embedding the constitution:

* ``sft/``: TRL's ``messages`` format, the conversation with the final revision as the assistant turn, for every
  prompt whose response was revised at least once (or only the accepted ones, ``sft_filter="accepted"``).
* ``pairs/``: TRL's preference format, ``chosen`` = the final revision, ``rejected`` = the original, for every
  accepted revision. ``prompt`` is plain text when every conversation of the run is a single user turn, else a
  list of ``{role, content}`` messages (and ``chosen``/``rejected`` are then one-message assistant lists).

Acceptance (``accept``): ``"both_orders"`` (the critic prefers the revision in both orders under every principle
used in its rounds), ``"mean"`` (the order- and principle-averaged p(revision ≻ original) > 0.5) or ``"always"``
(the open-recipe assumption; the critic is still asked, so the report shows how many revisions it did not prefer).

This module drives the stage (initial responses → rounds → the critic's check → rows); running it from files
(opening the models, writing the datasets) is :func:`rlaif.jobs.revise.run_revise`. The configuration and records
are in :mod:`rlaif.feedback.revise_config`, the text cleaning in :mod:`rlaif.feedback.revise_text`, the rows and
counts in :mod:`rlaif.feedback.revise_rows`, the writing in :mod:`rlaif.feedback.revise_output`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, Literal

from rlaif.backends.base import Backend, ChatMessage, GenerationRequest, SamplingParams
from rlaif.constitution import (
    Constitution,
    Principle,
    constitution_hash,
    filter_principles,
    sample_principles,
)
from rlaif.errors import RlaifError
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.judge import judge_pairs_detailed
from rlaif.feedback.provenance import is_conversational
from rlaif.feedback.revise_config import (
    InitialResponse,
    ReviseConfig,
    ReviseRun,
    RevisionRecord,
    RevisionRound,
    responses_to_revise,
)
from rlaif.feedback.revise_output import write_revise_run
from rlaif.feedback.revise_rows import accepts, pair_row, revise_stats, sft_row
from rlaif.feedback.revise_text import clean_critique, clean_revision, few_shot_turns, same_text
from rlaif.prompting import TemplateSet
from rlaif.seeds import derive_seed

log = logging.getLogger(__name__)

# -- helpers ----------------------------------------------------------------------------------------------------


def _params(temperature: float, max_new_tokens: int, seed: int) -> SamplingParams:
    # greedy calls need no seed (and a seed would only fragment the cache)
    return SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        n=1,
        seed=seed if temperature > 0 else None,
    )


def _with_principle_prefix(turns: tuple[ChatMessage, ...], request: str) -> tuple[ChatMessage, ...]:
    return (*turns, ChatMessage(role="user", content=request))


def _request(
    kind: Literal["critique", "revision"],
    rec: RevisionRecord,
    rnd: int,
    *,
    templates: TemplateSet,
    shots: tuple[ChatMessage, ...],
    config: ReviseConfig,
    **variables: Any,
) -> GenerationRequest:
    """One critique or revision request of a record's round: its template rendered on the record's current
    response, after the few-shot turns, sampled with that kind's settings and seed."""
    if kind == "critique":
        template, temperature, cap = (
            config.critique_template,
            config.critique_temperature,
            config.critique_max_new_tokens,
        )
    else:
        template, temperature, cap = (
            config.revise_template,
            config.revision_temperature,
            config.revision_max_new_tokens,
        )
    rendered = templates.render(
        template, conversation=list(rec.item.conversation), response=rec.final, **variables
    )
    return GenerationRequest(
        prompt=_with_principle_prefix(shots, rendered.text),
        params=_params(temperature, cap, derive_seed(config.seed, rec.item.id, rnd, kind)),
    )


def _wrap_cached(backend: Backend, cache: Any) -> Backend:
    from rlaif.feedback.call_cache import CachedBackend

    if isinstance(backend, CachedBackend):
        return backend
    return CachedBackend(backend, cache)


# -- the loop ---------------------------------------------------------------------------------------------------


def _initial_responses(
    policy: Backend, inputs: Sequence[PromptRow | InitialResponse], config: ReviseConfig
) -> list[InitialResponse]:
    given = [x for x in inputs if isinstance(x, InitialResponse)]
    prompts = [x for x in inputs if isinstance(x, PromptRow)]
    if given and prompts:
        raise RlaifError("give either prompts or responses to revise, not a mix of both")
    if not prompts:
        return list(given)
    log.info("generating %d initial response(s) with %s", len(prompts), policy.model_id)
    requests = [
        GenerationRequest(
            prompt=tuple(p.conversation),
            params=_params(
                config.response_temperature,
                config.response_max_new_tokens,
                derive_seed(config.seed, p.id, "response"),
            ),
        )
        for p in prompts
    ]
    out = policy.generate(requests)
    items = []
    for p, completions in zip(prompts, out, strict=True):
        text = completions[0].text.strip() if completions else ""
        meta = {"finish_reason": completions[0].finish_reason if completions else "none", **dict(p.meta)}
        items.append(InitialResponse(p.id, tuple(p.conversation), text, "generated", meta))
    return items


def _run_rounds(
    policy: Backend,
    critic: Backend,
    records: list[RevisionRecord],
    pool: Sequence[Principle],
    templates: TemplateSet,
    shots: tuple[ChatMessage, ...],
    config: ReviseConfig,
) -> None:
    reviser = policy if config.reviser == "policy" else critic
    for rnd in range(config.rounds):
        active = [r for r in records if r.stop is None]
        if not active:
            break
        principles = [
            sample_principles(pool, 1, seed=derive_seed(config.seed, r.item.id, rnd))[0] for r in active
        ]
        log.info("round %d: %d critique(s) by %s", rnd + 1, len(active), critic.model_id)
        ask = functools.partial(_request, templates=templates, shots=shots, config=config)
        critiques = critic.generate(
            [
                ask("critique", rec, rnd, principle=principle)
                for rec, principle in zip(active, principles, strict=True)
            ]
        )

        to_revise: list[tuple[RevisionRecord, Principle, str, bool]] = []
        for rec, principle, completions in zip(active, principles, critiques, strict=True):
            critique = clean_critique(completions[0].text) if completions else ""
            truncated = bool(completions) and completions[0].finish_reason == "length"
            if not critique:
                rec.rounds.append(RevisionRound(rnd + 1, principle.ref, "", "", False, "empty_critique"))
                rec.stop = "empty_critique"
                continue
            to_revise.append((rec, principle, critique, truncated))
        if not to_revise:
            break

        log.info("round %d: %d revision(s) by %s", rnd + 1, len(to_revise), reviser.model_id)
        revisions = reviser.generate(
            [
                ask("revision", rec, rnd, critique=critique, principle=principle)
                for rec, principle, critique, _ in to_revise
            ]
        )
        for (rec, principle, critique, crit_trunc), completions in zip(to_revise, revisions, strict=True):
            revision = clean_revision(completions[0].text) if completions else ""
            stop: str | None = None
            if not revision:
                stop = "empty_revision"
            elif config.drop_truncated and completions[0].finish_reason == "length":
                stop = "truncated_revision"
            elif same_text(revision, rec.final):
                stop = "unchanged"
            rec.rounds.append(
                RevisionRound(rnd + 1, principle.ref, critique, revision, stop is None, stop, crit_trunc)
            )
            rec.stop = stop
    for rec in records:
        if rec.stop is None:
            rec.stop = "rounds"


def revise(
    policy: Backend,
    critic: Backend,
    prompts_or_responses: Sequence[PromptRow] | Sequence[InitialResponse],
    constitution: Constitution,
    templates: TemplateSet,
    config: ReviseConfig = ReviseConfig(),
) -> ReviseRun:
    """Critique and revise each response, check each revision with the critic, and build the SFT and pair rows.

    ``prompts_or_responses`` are prompts (the policy answers them first) or responses to revise (e.g. from
    :func:`load_responses`). ``policy`` and ``critic`` may be the same backend object. With ``config.cache`` set,
    every call goes through one :class:`~rlaif.feedback.call_cache.CachedBackend` file, so a killed run resumes.
    Returns the rows; :func:`write_revise_run` writes them.
    """
    if not prompts_or_responses:
        raise RlaifError("nothing to revise: no prompts or responses given")
    if config.cache is None:
        return _revise(policy, critic, prompts_or_responses, constitution, templates, config)
    from rlaif.feedback.call_cache import CallCache

    cache = CallCache(config.cache)
    try:
        cached_policy = _wrap_cached(policy, cache)
        cached_critic = cached_policy if policy is critic else _wrap_cached(critic, cache)
        return _revise(cached_policy, cached_critic, prompts_or_responses, constitution, templates, config)
    finally:
        cache.close()


def _revise(
    policy: Backend,
    critic: Backend,
    prompts_or_responses: Sequence[PromptRow] | Sequence[InitialResponse],
    constitution: Constitution,
    templates: TemplateSet,
    config: ReviseConfig,
) -> ReviseRun:
    pool = filter_principles(constitution, config.principle_tags)
    if not pool:
        raise RlaifError(
            f"no principle of {constitution.name} carries any of the tags {list(config.principle_tags or [])}",
            field="principle_tags",
        )
    by_ref = {p.ref: p for p in constitution.principles}
    shots = few_shot_turns(constitution) if config.few_shot else ()
    if config.few_shot and constitution.examples:
        log.info("prepending %d few-shot turn(s) from the constitution's examples", len(shots))

    items = _initial_responses(policy, prompts_or_responses, config)
    records = [RevisionRecord(item) for item in items]
    for rec in records:
        if not rec.item.response.strip():
            rec.stop = "empty_response"
    _run_rounds(policy, critic, records, pool, templates, shots, config)

    revised = [r for r in records if r.revised]
    pairs = [
        Comparison(
            pair_id=f"{r.item.id}:revision",
            conversation=r.item.conversation,
            response_a=r.final,
            response_b=r.item.response,
            principles=r.principles_used(by_ref),
        )
        for r in revised
    ]
    judge_cfg = config.judge_config()
    judged = judge_pairs_detailed(critic, templates, pairs, judge_cfg) if pairs else []
    for rec, j in zip(revised, judged, strict=True):
        rec.label = j.result
        rec.choice_mass = j.choice_mass
        rec.accepted = accepts(j.result, config.accept)
    compare_hash = judged[0].template_hash if judged else templates.template_hash(config.judge_template)

    provenance = {
        "constitution": constitution.name,
        "constitution_version": constitution.version,
        "constitution_hash": constitution_hash(constitution),
        "template_hashes": {
            "critique": templates.template_hash(config.critique_template),
            "revise": templates.template_hash(config.revise_template),
            "compare": compare_hash,
        },
        "critic_model": critic.model_id,
        "critic_revision": critic.model_revision,
        "policy_model": policy.model_id,
        "policy_revision": policy.model_revision,
        "reviser_model": (policy if config.reviser == "policy" else critic).model_id,
        "params": config.params(),
        "seed": config.seed,
        "few_shot_turns": len(shots),
    }
    conversational = is_conversational([r.item.conversation for r in records])
    sft_rows = [sft_row(r, provenance) for r in revised if config.sft_filter == "all" or r.accepted]
    pair_rows = [pair_row(r, provenance, conversational, config.accept) for r in revised if r.accepted]
    stats = revise_stats(records, config.accept)
    log.info("revise: %s", stats.summary().replace("\n", "; "))
    return ReviseRun(sft_rows, pair_rows, records, stats, provenance)


__all__ = [
    "ReviseConfig",  # re-exported from rlaif.feedback.revise_config
    "derive_seed",  # re-exported from rlaif.seeds (the seeds every sampled call of a revise run uses)
    "responses_to_revise",  # re-exported from rlaif.feedback.revise_config
    "revise",
    "write_revise_run",  # re-exported from rlaif.feedback.revise_output
]
