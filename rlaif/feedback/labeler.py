"""Labeling a responses dataset: pairing, principle sampling, the critic's (or the rules') soft label of each pair,
and its provenance columns.

The critic's judgement of each pair comes from the judging core, :mod:`rlaif.feedback.judge`; how rules and the
critic combine into one label from :mod:`rlaif.feedback.label_combine`; the statistics are a
:class:`~rlaif.feedback.label_stats.LabelStats`; :mod:`rlaif.feedback.label_output` writes a run and pushes it to
the hub. The config is :class:`~rlaif.feedback.label_config.LabelConfig`. ``LabelConfig``, ``JudgeConfig``,
``judge_pairs`` and ``write_label_run`` are re-exported here for modules that import them from
this one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rlaif.backends.base import Backend, backend_capabilities
from rlaif.backends.http_usage import backend_usage, usage_delta
from rlaif.constitution.hashing import constitution_hash
from rlaif.constitution.sampling import filter_principles, sample_principles
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import RlaifError
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.dataset_io import finalize_label_rows
from rlaif.feedback.judge import (
    JudgeConfig,
    JudgeResult,
    Unlabeled,
    judge_pairs,
    judge_pairs_detailed,
)
from rlaif.feedback.judge_modes import resolve_judge_mode, working_modes
from rlaif.feedback.label_combine import check_rules, combine, judgement_records
from rlaif.feedback.label_config import LABEL_SOURCES, LabelConfig, LabelSource
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.label_stats import LabelStats, StatsAccumulator
from rlaif.feedback.pairs import make_pairs, rank_by_critic, rank_by_rules
from rlaif.feedback.provenance import canonical_json, is_conversational, params_json, trl_columns
from rlaif.feedback.responses import ResponseSet
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.models.exporter import check_hub_reachable
from rlaif.prompting import TemplateSet

log = logging.getLogger(__name__)


@dataclass
class LabelRun:
    """The result of :func:`label_dataset`: rows to write, what was not labelled and why, statistics.

    ``stats`` is the JSON object written to ``stats.json`` (a stage may add to it, e.g. ``critic_gate``);
    :attr:`label_stats` reads it as a typed :class:`~rlaif.feedback.label_stats.LabelStats`.
    """

    rows: list[dict[str, Any]]
    unlabeled: list[dict[str, Any]]  # {pair_id, prompt_id, status: "unlabeled" | "filtered", reason}
    stats: dict[str, Any]
    config: LabelConfig
    constitution: Constitution
    critic_model: str
    critic_revision: str
    template_hash: str

    @property
    def label_stats(self) -> LabelStats:
        """The statistics, typed."""
        return LabelStats.from_json(self.stats)


def principle_seed(seed: int, pair_id: str) -> int:
    """The seed a pair's principles are drawn with (63 bits of sha256 over the run seed and the pair id)."""
    digest = hashlib.sha256(f"{seed}\0{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@runtime_checkable
class CriticPool(Protocol):
    """A critic that runs elsewhere, a batch at a time (e.g. :class:`rlaif.scale.RayBackendPool` on a Ray cluster).

    :func:`label_dataset` hands it the same batches, in the same order, that it would judge itself, and expects
    what :func:`judge_pairs_detailed` and :func:`~rlaif.feedback.pairs.rank_by_critic` return for them, so both
    executors write the same dataset. ``model_id`` / ``model_revision`` are read after the work is done.
    """

    model_id: str
    model_revision: str

    def judge_batches(
        self, templates: TemplateSet, batches: Sequence[Sequence[Comparison]], config: JudgeConfig
    ) -> Iterator[tuple[int, list[JudgeResult]]]:
        """``(batch index, judge_pairs_detailed of that batch)`` for every batch, in any order."""
        ...

    def rank_by_critic(
        self,
        templates: TemplateSet,
        responses: Sequence[ResponseSet],
        principles_for: Mapping[str, Sequence[Principle]],
    ) -> dict[str, list[float]]:
        """What :func:`~rlaif.feedback.pairs.rank_by_critic` returns (one call over every prompt)."""
        ...


def _eligible(constitution: Constitution, config: LabelConfig) -> list[Principle]:
    pool = filter_principles(constitution, config.tags)
    if config.label_source == "rules":
        pool = [p for p in pool if p.rule is not None]
    if not pool:
        what = "with a rule " if config.label_source == "rules" else ""
        tags = f" carrying any of the tags {list(config.tags)}" if config.tags is not None else ""
        raise RlaifError(
            f"no principle {what}in constitution {constitution.name!r}{tags}",
            field="label_source" if config.label_source == "rules" else "tags",
            hint="use a constitution whose principles have rules (principles/style.yaml) or --label-source critic"
            if config.label_source == "rules"
            else "check --tags",
        )
    if config.k > len(pool):
        raise RlaifError(
            f"cannot sample k={config.k} principles per pair: only {len(pool)} eligible",
            field="k",
            hint=f"use -k {len(pool)} or fewer",
        )
    return pool


def label_dataset(
    responses: Sequence[ResponseSet],
    constitution: Constitution,
    critic: Backend | CriticPool | None,
    templates: TemplateSet,
    config: LabelConfig = LabelConfig(),
) -> LabelRun:
    """Pair the responses, sample k principles per pair, and label every pair (see :class:`LabelConfig`).

    ``critic`` may be None only for ``label_source="rules"``. Wrap it in
    :class:`~rlaif.feedback.call_cache.CachedBackend` (one commit per call) to make a killed run resumable with
    identical output. A :class:`CriticPool` (e.g. a Ray actor pool) judges the same batches elsewhere and gives
    the same rows. Raises :class:`~rlaif.errors.RlaifError` before any model call for bad options, and
    :class:`~rlaif.errors.BackendError` if the critic dies (the rerun resumes from the cache).
    """
    if config.label_source not in LABEL_SOURCES:
        raise RlaifError(
            f"label source {config.label_source!r} labels contrastive pairs by construction, not here",
            field="label_source",
            hint="label them with rlaif.jobs.label.run_label (or a pipeline); "
            f"label_dataset takes {', '.join(LABEL_SOURCES)}",
        )
    pool = _eligible(constitution, config)
    if critic is None and config.label_source != "rules":
        raise RlaifError(f"label source {config.label_source!r} needs a critic model", field="critic")
    if config.push_to_hub:
        check_hub_reachable()
    uses_critic = config.label_source != "rules"
    if uses_critic and critic is not None:
        # the concrete mode, chosen (or refused) before any work, is what provenance and the params record; a
        # critic pool answers for its workers' backend (its capabilities()), so both executors record the same
        mode = resolve_judge_mode(critic, config.judge_mode, chain_of_thought=config.chain_of_thought)
        config = config.model_copy(update={"judge_mode": mode})
    judge = config.judge_config()
    template_name = judge.cot_template if judge.chain_of_thought else judge.template
    template_hash = templates.template_hash(template_name) if uses_critic else ""
    constitution_hash_value = constitution_hash(constitution)

    def principles_of(key: str) -> tuple[Principle, ...]:
        return tuple(sample_principles(pool, config.k, seed=principle_seed(config.seed, key)))

    rankings = None
    if config.pairing == "best_worst":
        if config.best_worst_by == "rules":
            rankings = rank_by_rules(responses, pool)
        else:
            if critic is None:
                raise RlaifError("best_worst pairing by critic needs a critic", field="best_worst_by")
            principles_for: dict[str, Sequence[Principle]] = {
                rs.prompt.id: principles_of(rs.prompt.id) for rs in responses
            }
            if isinstance(critic, CriticPool):
                rankings = critic.rank_by_critic(templates, responses, principles_for)
            else:
                if "choice-logprobs" not in working_modes(backend_capabilities(critic)):
                    raise RlaifError(
                        "best_worst pairing by critic scores each response's expected rating from the critic's "
                        "log-probabilities, which this critic's backend does not give",
                        field="best_worst_by",
                        hint="rank by rules (--best-worst-by rules) or use another pairing (first_two, all_pairs)",
                    )
                rankings = rank_by_critic(critic, templates, responses, principles_for)
    pairs, skipped = make_pairs(responses, config.pairing, rankings=rankings)
    sampled = [principles_of(p.pair_id) for p in pairs]
    conversational = _conversational(config, pairs)

    judged: list[JudgeResult | None] = [None] * len(pairs)
    usage_before = backend_usage(critic)
    if uses_critic and pairs:
        assert critic is not None
        log.info(
            "labelling %d pair(s) with critic %s, k=%d principle(s) of %s, %s",
            len(pairs),
            critic.model_id,
            config.k,
            constitution.name,
            "chain of thought"
            if judge.chain_of_thought
            else "both orders"
            if judge.both_orders
            else "one order",
        )
        bar = _progress_bar(len(pairs), config.progress)
        try:
            if isinstance(critic, CriticPool):
                _judge_on_pool(critic, templates, pairs, sampled, config, judged, bar)
            else:
                for start in range(0, len(pairs), config.batch_pairs):
                    chunk = range(start, min(start + config.batch_pairs, len(pairs)))
                    batch = [pairs[i].comparison(sampled[i]) for i in chunk]
                    for i, result in zip(
                        chunk,
                        judge_pairs_detailed(critic, templates, batch, judge, progress=False),
                        strict=True,
                    ):
                        judged[i] = result
                    bar.update(len(batch))
        finally:
            bar.close()

    rows: list[dict[str, Any]] = []
    unlabeled: list[dict[str, Any]] = [
        {
            "pair_id": s.pair_id,
            "prompt_id": s.pair_id.rsplit(":", 1)[0],
            "status": "unlabeled",
            "reason": s.reason,
        }
        for s in skipped
    ]
    acc = StatsAccumulator()
    params = params_json(config.params_record())
    for pair, principles, jp in zip(pairs, sampled, judged, strict=True):
        checks = check_rules(principles, pair.response_a, pair.response_b)
        critic_label = jp.result if jp is not None and isinstance(jp.result, SoftLabel) else None
        if jp is not None and critic_label is not None:
            acc.add_critic(critic_label, checks)
        label, sources, reason = combine(config.label_source, principles, checks, jp)
        if label is None:
            unlabeled.append(
                {
                    "pair_id": pair.pair_id,
                    "prompt_id": pair.prompt_id,
                    "status": "unlabeled",
                    "reason": reason,
                    **(
                        {"raw": jp.result.raw}
                        if jp is not None and isinstance(jp.result, Unlabeled) and jp.result.raw
                        else {}
                    ),
                }
            )
            continue
        acc.add_label(label, principles, checks)
        if label.confidence < config.min_confidence:
            unlabeled.append(
                {
                    "pair_id": pair.pair_id,
                    "prompt_id": pair.prompt_id,
                    "status": "filtered",
                    "reason": f"confidence {label.confidence:.3f} below min_confidence {config.min_confidence:g}",
                }
            )
            continue
        a_chosen = label.p >= 0.5
        chosen, rejected = (
            (pair.response_a, pair.response_b) if a_chosen else (pair.response_b, pair.response_a)
        )
        row = trl_columns(pair.conversation, chosen, rejected, conversational=conversational)
        row.update(
            {
                "pair_id": pair.pair_id,
                "prompt_id": pair.prompt_id,
                "p_chosen": label.p if a_chosen else 1.0 - label.p,
                "label_source": config.label_source,
                "constitution_hash": constitution_hash_value,
                "principles": [p.ref for p in principles],
                "template_hash": template_hash,
                "critic_model": critic.model_id if critic is not None and uses_critic else "",
                "critic_revision": critic.model_revision if critic is not None and uses_critic else "",
                "params": params,
                "seed": principle_seed(config.seed, pair.pair_id),
                "judgements": canonical_json(judgement_records(principles, label, sources, checks, jp)),
                "order_consistent": label.order_consistent,
                "decisive_principle": label.decisive_principle,
                "a_is_chosen": a_chosen,
                "index_chosen": pair.index_a if a_chosen else pair.index_b,
                "index_rejected": pair.index_b if a_chosen else pair.index_a,
                "rules": canonical_json([checks[p.id].record() for p in principles if p.id in checks]),
                "policy_model": pair.source.policy_model,
                "policy_revision": pair.source.policy_revision,
            }
        )
        rows.append(row)
    rows, ties = finalize_label_rows(rows, keep_ties=config.keep_ties)  # the margin column; ties dropped
    unlabeled.extend(ties)
    stats = acc.finish(
        pairs=len(pairs) + len(skipped),
        rows=len(rows),
        unlabeled=unlabeled,
        label_source=config.label_source,
        conversational=conversational,
        judge_mode=judge.mode if uses_critic else None,
        # a served critic: this run's requests, tokens and estimated cost
        critic_usage=usage_delta(usage_before, backend_usage(critic)),
        ties_dropped=len(ties),
    )
    return LabelRun(
        rows=rows,
        unlabeled=unlabeled,
        stats=stats.to_json(),
        config=config,
        constitution=constitution,
        critic_model=critic.model_id if critic is not None and uses_critic else "",
        critic_revision=critic.model_revision if critic is not None and uses_critic else "",
        template_hash=template_hash,
    )


def _conversational(config: LabelConfig, pairs: Sequence[Any]) -> bool:
    """Whether rows are written in TRL's conversational format (see :mod:`rlaif.feedback.dataset_io`)."""
    multi_turn = is_conversational(p.conversation for p in pairs)
    if config.dataset_format == "plain" and multi_turn:
        raise RlaifError(
            "the plain format holds single-turn prompts only, and this dataset has multi-turn or system prompts",
            field="format",
            hint="use the conversational format (the default)",
        )
    return multi_turn if config.dataset_format != "conversational" else True


def _judge_on_pool(
    pool: CriticPool,
    templates: TemplateSet,
    pairs: Sequence[Any],
    sampled: Sequence[tuple[Principle, ...]],
    config: LabelConfig,
    judged: list[JudgeResult | None],
    bar: Any,
) -> None:
    """The batches of the local loop above, judged by ``pool``; results land in ``judged`` in pair order."""
    starts = range(0, len(pairs), config.batch_pairs)
    batches = [
        [
            p.comparison(sampled[i])
            for i, p in enumerate(pairs[start : start + config.batch_pairs], start=start)
        ]
        for start in starts
    ]
    for b, results in pool.judge_batches(templates, batches, config.judge_config()):
        if len(results) != len(batches[b]):
            raise RuntimeError(f"batch {b}: {len(results)} judgements for {len(batches[b])} pairs")
        for i, result in enumerate(results, start=starts[b]):
            judged[i] = result
        bar.update(len(results))
    missing = [pairs[i].pair_id for i, j in enumerate(judged) if j is None]
    if missing:
        raise RuntimeError(f"the critic pool returned no judgement for {len(missing)} pair(s): {missing[:5]}")


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="pair", desc="labelling", disable=not enabled)


__all__ = [
    "LABEL_SOURCES",
    "CriticPool",
    "JudgeConfig",  # re-exported from rlaif.feedback.judge
    "LabelConfig",  # re-exported from rlaif.feedback.label_config
    "LabelRun",
    "LabelSource",
    "judge_pairs",  # re-exported from rlaif.feedback.judge
    "label_dataset",
    "principle_seed",
    "write_label_run",  # re-exported from rlaif.feedback.label_output
]
