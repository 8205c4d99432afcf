"""The generate stage as one job: sample n responses per prompt from a policy and write the responses dataset.

``rlaif generate`` builds a :class:`GenerateJob` from its flags, a pipeline's round from its ``generate:`` section
(with the round's seed and policy adapter), Python builds it directly; all call :func:`run_generate`, which loads
the prompts, opens the policy (a cached local backend or a Ray actor pool, :func:`rlaif.jobs.engine.open_engine`),
samples (plainly, or contrastively: every prompt answered under a "follow" and an "oppose" system prompt drawn from
a constitution, RLCD) and writes ``<out>/data.parquet`` (:mod:`rlaif.feedback.responses`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from rlaif.backends.spec import ModelSpec
from rlaif.constitution import Constitution
from rlaif.errors import RlaifError
from rlaif.feedback.contrastive import ContrastConfig
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.responses import GenerateConfig, ResponseSet
from rlaif.fields import CacheFile, SkipBadRows
from rlaif.jobs.engine import executor_record, open_engine, write_run_record
from rlaif.scale.ray_setup import RayPool
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class ContrastiveGeneration(StrictConfig):
    """Contrastive (RLCD) generation: each prompt answered under a system prompt asking to follow ``contrast.k``
    principles of the constitution and under one asking for their opposite (see
    :func:`rlaif.feedback.contrastive.generate_contrastive`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    constitution: Path | Constitution = Field(
        description="the constitution the principles are drawn from: a file, or one already loaded"
    )
    templates: Path | None = Field(
        default=None,
        description="template folder searched before the shipped prompts/ (contrast_positive/negative.j2)",
    )
    contrast: ContrastConfig = Field(
        default_factory=ContrastConfig,
        description="principles per prompt, their seed, tags and pair selection",
    )


class GenerateJob(StrictConfig):
    """Everything one generate stage needs: the prompts, the policy, where the responses go, and how to sample."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    prompts: Path | tuple[PromptRow, ...] = Field(
        description="a prompt file (jsonl/json/csv/parquet or a local HF dataset folder), or prompts already loaded"
    )
    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="a prompt file's column names: our name (prompt, id, split) -> theirs",
    )
    skip_bad_rows: SkipBadRows = False
    out: Path = Field(description="output folder of the responses dataset (<out>/data.parquet)")
    policy: ModelSpec = Field(
        description="the policy model (a bare name: that model on the transformers backend)"
    )
    cache: CacheFile = None
    ray: RayPool = None
    config: GenerateConfig = Field(default_factory=GenerateConfig, description="how responses are sampled")
    contrastive: ContrastiveGeneration | None = Field(
        default=None, description="sample contrastive (RLCD) pairs instead of n plain responses"
    )
    write_record: bool = Field(
        default=True,
        description="write <out>/run.json (model, backend, executor, cache hits); a pipeline's stage leaves it out "
        "(its folder's bytes are the next stage's input, and the stage manifest records the run)",
    )

    @model_validator(mode="after")
    def _file_options_need_a_file(self) -> GenerateJob:
        if not isinstance(self.prompts, Path) and (self.field_map or self.skip_bad_rows):
            raise ValueError(
                "field_map and skip_bad_rows apply to a prompt file, not to prompts already loaded"
            )
        return self


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`run_generate` produced."""

    sets: list[ResponseSet]  #: one per prompt answered, in prompt order
    path: Path  #: the responses dataset's parquet file
    cache_hits: int
    cache_misses: int
    seconds: float

    @property
    def responses(self) -> int:
        """Responses written (both sides of a contrastive pair count)."""
        return sum(len(s.responses) for s in self.sets)


def run_generate(job: GenerateJob) -> GenerateResult:
    """Load the prompts, sample the policy (plainly or contrastively) and write ``<out>/data.parquet``."""
    from rlaif.feedback.responses import generate_responses, write_responses

    started = time.monotonic()
    rows = _prompts(job)
    contrastive = job.contrastive
    constitution, templates = _contrast_inputs(contrastive) if contrastive is not None else (None, None)
    engine = open_engine(job.policy, cache=job.cache, ray=job.ray, role="policy")
    try:
        if contrastive is not None:
            from rlaif.feedback.contrastive import generate_contrastive

            assert constitution is not None and templates is not None
            sets = generate_contrastive(
                engine, rows, constitution, templates, job.config, contrastive.contrast
            )
        else:
            sets = generate_responses(engine, rows, job.config)
    finally:
        engine.close()
    if not sets:
        raise RlaifError(
            "no prompt was left to answer (all skipped)",
            path=job.prompts if isinstance(job.prompts, Path) else None,
            hint="see the warnings above",
        )
    path = write_responses(job.out, sets)
    cached = engine if job.ray is not None else getattr(engine, "cache", None)
    hits, misses = (cached.hits, cached.misses) if cached is not None else (0, 0)
    if job.write_record:
        _write_record(job, engine.model_id, hits, misses)
    return GenerateResult(sets, path, hits, misses, time.monotonic() - started)


def _prompts(job: GenerateJob) -> list[PromptRow]:
    if not isinstance(job.prompts, Path):
        return list(job.prompts)
    from rlaif.feedback.inputs import load_prompts

    return load_prompts(job.prompts, field_map=job.field_map or None, skip_bad_rows=job.skip_bad_rows)


def _contrast_inputs(contrastive: ContrastiveGeneration) -> tuple[Constitution, Any]:
    from rlaif.prompting import TemplateSet

    constitution = contrastive.constitution
    if isinstance(constitution, Path):
        from rlaif.constitution import load_constitution

        constitution = load_constitution(constitution)
    return constitution, TemplateSet.load(contrastive.templates)


def _write_record(job: GenerateJob, model_id: str, hits: int, misses: int) -> None:
    record = {
        "stage": "generate",
        "prompts": str(job.prompts) if isinstance(job.prompts, Path) else f"{len(job.prompts)} prompt(s)",
        "policy": model_id,
        "backend": job.policy.engine,
        **executor_record(job.ray),
        "cache": str(job.cache) if job.cache else None,
        "cache_hits": hits,
        "cache_misses": misses,
    }
    write_run_record(job.out, record)


__all__ = ["ContrastiveGeneration", "GenerateJob", "GenerateResult", "run_generate"]
