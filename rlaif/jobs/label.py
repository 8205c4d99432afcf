"""The label stage as one job: :class:`LabelJob` in, :func:`run_label` does the wiring, :class:`LabelResult` out.

``rlaif label`` builds the job from its flags, a pipeline's label stage from its ``label:`` section and run
context, Python directly; the domain work is :func:`rlaif.feedback.labeler.label_dataset` (critic, rules and hybrid
labels) or :func:`rlaif.feedback.contrastive.contrastive_label_run` (RLCD pairs). Everything around it lives here
once: reading and checking every input before a model loads, opening the critic (local or on Ray), the critic
gate, writing the dataset and the run record, the call cache's counts and the hub push.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import Field, InstanceOf

from rlaif.backends.spec import ModelSpec
from rlaif.constitution.schema import Constitution
from rlaif.errors import RlaifError
from rlaif.feedback.label_config import LabelConfig
from rlaif.feedback.responses import ResponseSet
from rlaif.fields import CacheFile, TemplatesDir
from rlaif.jobs.engine import executor_record, write_run_record
from rlaif.scale.ray_setup import RayPool
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class LabelJob(StrictConfig):
    """One labelling: where the pairs come from, the constitution and critic, where the dataset goes, and how
    (:class:`~rlaif.feedback.label_config.LabelConfig`, nested unchanged)."""

    out: Path = Field(description="output folder of the labels dataset")
    responses: Path | None = Field(
        default=None,
        description="responses dataset to pair and label (from rlaif generate or a generate stage)",
    )
    pairs: str | None = Field(
        default=None,
        description="instead of responses: a preference dataset to relabel (TRL or transcript rows; file or hub id)",
    )
    older_responses: list[Path] = Field(
        default_factory=list,
        description="older rounds' responses labelled again with these (their prompt ids prefixed r1:, r2:, ... "
        "in this order)",
    )
    constitution: Path | InstanceOf[Constitution] = Field(
        description="constitution file, or a loaded one (a pipeline's merged constitution)"
    )
    templates: TemplatesDir = None
    critic: ModelSpec | None = Field(
        default=None, description="the critic; opened only when the config needs one (null: rule labels only)"
    )
    cache: CacheFile = None
    ray: RayPool = None
    run_record: bool = Field(
        default=True,
        description="write <out>/run.json (inputs, critic, cache hits and misses); a pipeline leaves it out, since "
        "later stages hash the labels folder and the counts differ when a stage resumes",
    )
    config: LabelConfig = Field(default_factory=LabelConfig, description="how the pairs are labelled")


@dataclass
class LabelResult:
    """What :func:`run_label` wrote and measured.

    ``run`` is the :class:`~rlaif.feedback.labeler.LabelRun` (or, for contrastive labels, the
    :class:`~rlaif.feedback.contrastive.ContrastRun`); ``stats`` is what ``stats.json`` holds.
    """

    out: Path
    data: Path
    run: Any
    stats: dict[str, Any]
    critic: str | None
    cache_hits: int
    cache_misses: int
    elapsed_s: float
    contrastive: bool = False

    @property
    def summary(self) -> dict[str, Any]:
        """The few counts a pipeline's manifest shows."""
        keys = (
            ("pairs", "rows", "dropped", "mean_p_chosen", "cut_chosen")
            if self.contrastive
            else ("pairs", "rows", "filtered", "unlabeled")
        )
        return {k: self.stats[k] for k in keys if k in self.stats}


def run_label(job: LabelJob) -> LabelResult:
    """Label ``job``'s pairs and write the dataset into ``job.out``.

    Every input (responses or pairs, constitution, templates, the gate's gold set) is read and checked before the
    critic loads; bad input raises :class:`~rlaif.errors.RlaifError`. A critic that fails the gate stops the run
    with :class:`~rlaif.evals.gate.CriticGateError` before any pair is labelled.
    """
    from rlaif.constitution import load_constitution
    from rlaif.jobs.engine import open_engine
    from rlaif.prompting import TemplateSet

    started = time.monotonic()
    config = job.config
    sets = _input_sets(job)
    constitution = (
        job.constitution
        if isinstance(job.constitution, Constitution)
        else load_constitution(job.constitution)
    )
    templates = TemplateSet.load(job.templates)
    if config.push_to_hub:
        from rlaif.models.exporter import check_hub_reachable

        check_hub_reachable()
    gated = config.needs_critic and not config.contrastive and config.gate.enabled
    if gated:
        from rlaif.evals.gate import gold_items

        gold_items(config.gate)  # a missing or malformed gold file is refused before the critic loads
    if config.needs_critic and job.critic is None:
        raise RlaifError(
            f"label source {config.label_source!r} with pairing {config.pairing!r} needs a critic model",
            field="critic",
        )
    engine: Any = (
        open_engine(job.critic, cache=job.cache, ray=job.ray, role="critic")
        if config.needs_critic and job.critic is not None
        else None
    )
    try:
        if config.contrastive:
            from rlaif.feedback.contrastive import contrastive_label_run, write_contrast_run

            run: Any = contrastive_label_run(
                sets,
                constitution,
                config.contrast_config(),
                critic=engine,
                templates=templates if engine is not None else None,
            )
            stats = run.stats
        else:
            from rlaif.feedback.labeler import label_dataset

            gate = None
            if gated and engine is not None:
                from rlaif.evals.gate import enforce, run_gate

                judge = config.judge_config()
                gate = enforce(
                    run_gate(engine, templates, constitution, config.gate, seed=config.seed, judge=judge)
                )
            run = label_dataset(sets, constitution, engine, templates, config)
            if gate is not None:
                run.stats["critic_gate"] = gate
            stats = run.stats
        # the call cache's counts: the local cache wrapper's, or the pool's (summed over its workers)
        cached = engine if job.ray is not None else getattr(engine, "cache", None)
        hits, misses = (cached.hits, cached.misses) if cached is not None else (0, 0)
        critic_id = engine.model_id if engine is not None else None
        if job.run_record:
            _write_run_record(job, critic_id, hits, misses, with_cache=engine is not None)
        if config.contrastive:
            data = write_contrast_run(run, job.out)
        else:
            from rlaif.feedback.label_output import write_label_run

            data = write_label_run(run, job.out)
    finally:
        if engine is not None:
            engine.close()
    return LabelResult(
        out=job.out,
        data=data,
        run=run,
        stats=stats,
        critic=critic_id,
        cache_hits=hits,
        cache_misses=misses,
        elapsed_s=time.monotonic() - started,
        contrastive=config.contrastive,
    )


def _input_sets(job: LabelJob) -> list[ResponseSet]:
    """The response sets to label: a responses dataset (plus older rounds', prefixed), or a pairs file's pairs."""
    from rlaif.feedback.responses import read_responses

    if (job.responses is None) == (job.pairs is None):
        raise RlaifError(
            "give exactly one of --responses (from rlaif generate) or --pairs (a preference dataset to relabel)",
            field="--responses",
        )
    if job.config.contrastive and (job.pairs is not None or job.older_responses):
        raise RlaifError(
            f"label source {job.config.label_source!r} labels a contrastive responses dataset, not relabelled pairs",
            field="label_source",
            hint="label a responses dataset from a contrastive generate stage, or use label_source critic",
        )
    if job.pairs is not None:
        from rlaif.feedback.relabel import response_sets_from_pairs

        return list(response_sets_from_pairs(job.pairs))
    assert job.responses is not None
    sets = list(read_responses(job.responses))
    for j, folder in enumerate(job.older_responses, start=1):
        sets += [
            replace(s, prompt=replace(s.prompt, id=f"r{j}:{s.prompt.id}")) for s in read_responses(folder)
        ]
    return sets


def _write_run_record(job: LabelJob, critic: str | None, hits: int, misses: int, *, with_cache: bool) -> None:
    """``<out>/run.json``: what ran and the cache's hits and misses (kept apart from the dataset's bytes)."""
    record = {
        "stage": "label",
        "responses": str(job.responses if job.pairs is None else job.pairs),
        "constitution": str(job.constitution)
        if not isinstance(job.constitution, Constitution)
        else job.constitution.name,
        "critic": critic,
        "backend": job.critic.engine if job.critic is not None else None,
        **executor_record(job.ray),
        "cache": str(job.cache) if job.cache and with_cache else None,
        "cache_hits": hits,
        "cache_misses": misses,
    }
    write_run_record(job.out, record)


__all__ = ["LabelJob", "LabelResult", "run_label"]
