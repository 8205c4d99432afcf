"""The contrast stage as one job: contrastive (RLCD) pairs sampled from a policy and labelled, in one folder.

``rlaif contrast`` builds a :class:`ContrastJob` from its flags, Python builds it directly; both call
:func:`run_contrast`. It samples every prompt under a "follow" and an "oppose" system prompt drawn from the
constitution (through :func:`rlaif.jobs.generate.run_generate`, so exactly as a contrastive generate stage does),
writes ``<out>/responses/data.parquet``, labels each (positive, negative) pair by construction or with a critic
(:func:`rlaif.feedback.contrastive.contrastive_label_run`), writes ``<out>/labels/`` and ``<out>/run.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, InstanceOf

from rlaif.backends.spec import ModelSpec
from rlaif.constitution.schema import Constitution
from rlaif.errors import RlaifError
from rlaif.feedback.contrastive import ContrastConfig, ContrastGenerateConfig
from rlaif.fields import CacheFile
from rlaif.jobs.engine import open_engine, write_run_record
from rlaif.strict import StrictConfig

if TYPE_CHECKING:
    from rlaif.feedback.contrastive import ContrastRun
    from rlaif.feedback.responses import ResponseSet


class ContrastJob(StrictConfig):
    """One contrast run: the prompts, the constitution, the policy (and the critic that may rescore the pairs),
    where the folders go, and how pairs are made (:class:`~rlaif.feedback.contrastive.ContrastConfig`) and sampled
    (:class:`~rlaif.feedback.contrastive.ContrastGenerateConfig`), both nested unchanged."""

    prompts: Path = Field(description="prompt file (jsonl/json/csv/parquet or a local HF dataset folder)")
    constitution: Path | InstanceOf[Constitution] = Field(
        description="the constitution the principles are drawn from: a file, or one already loaded"
    )
    templates: Path | None = Field(
        default=None,
        description="template folder searched before the shipped prompts/ (contrast_positive/negative.j2)",
    )
    out: Path = Field(description="output folder: <out>/responses, <out>/labels and <out>/run.json")
    policy: ModelSpec = Field(description="the policy that answers both sides")
    critic: ModelSpec | None = Field(
        default=None,
        description="the critic that rescores each pair with label_source contrastive+critic (null: none)",
    )
    cache: CacheFile = None
    contrast: ContrastConfig = Field(
        default_factory=ContrastConfig,
        description="principles per prompt, the run seed, tags, pair selection and how pairs are labelled",
    )
    sampling: ContrastGenerateConfig = Field(
        default_factory=ContrastGenerateConfig,
        description="how each side is sampled; its seed is replaced by contrast.seed (one seed drives the "
        "principles and the sampling)",
    )


@dataclass(frozen=True)
class ContrastResult:
    """What :func:`run_contrast` wrote."""

    sets: list[ResponseSet]  #: one per prompt: its positive then its negative samples
    responses: Path  #: <out>/responses/data.parquet
    run: ContrastRun  #: the labelled pairs, the dropped ones and the statistics
    labels: Path  #: <out>/labels/data.parquet
    seconds: float

    @property
    def stats(self) -> dict[str, Any]:
        """The labels' statistics (``<out>/labels/stats.json``): pairs kept (``rows``), ``dropped``, ..."""
        return self.run.stats


def run_contrast(job: ContrastJob) -> ContrastResult:
    """Sample both sides of every prompt, write the responses, label the pairs and write the labels and run.json.

    A run that needs a critic and names none is refused before the policy loads; a run that keeps no pair raises
    :class:`~rlaif.errors.RlaifError` after writing ``<out>/labels/unlabeled.jsonl`` (the reasons).
    """
    from rlaif.constitution import load_constitution
    from rlaif.feedback.contrastive import contrastive_label_run, write_contrast_run
    from rlaif.jobs.generate import ContrastiveGeneration, GenerateJob, run_generate
    from rlaif.prompting import TemplateSet

    started = time.monotonic()
    contrast = job.contrast
    with_critic = contrast.label_source == "contrastive+critic"
    if with_critic and job.critic is None:
        raise RlaifError("label source contrastive+critic needs a critic model", field="critic")
    constitution = (
        job.constitution
        if isinstance(job.constitution, Constitution)
        else load_constitution(job.constitution)
    )
    generated = run_generate(
        GenerateJob(
            prompts=job.prompts,
            out=job.out / "responses",
            policy=job.policy,
            cache=job.cache,
            config=job.sampling.model_copy(update={"seed": contrast.seed}),
            contrastive=ContrastiveGeneration(
                constitution=constitution, templates=job.templates, contrast=contrast
            ),
            write_record=False,
        )
    )
    judge = open_engine(job.critic, cache=job.cache, role="critic") if with_critic and job.critic else None
    try:
        run = contrastive_label_run(
            generated.sets, constitution, contrast, critic=judge, templates=TemplateSet.load(job.templates)
        )
    finally:
        if judge is not None:
            judge.close()
    labels = write_contrast_run(run, job.out / "labels")
    write_run_record(
        job.out, {"stage": "contrast", "prompts": str(job.prompts), "policy": job.policy.model, **run.stats}
    )
    return ContrastResult(generated.sets, generated.path, run, labels, time.monotonic() - started)


__all__ = ["ContrastJob", "ContrastResult", "run_contrast"]
