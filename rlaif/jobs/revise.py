"""The revise stage as one job: critique → revision of prompts or responses, written as SFT data and checked pairs.

``rlaif revise`` builds a :class:`ReviseJob` from its flags, a pipeline's round from its ``revise:`` section (the
round's responses, seed, policy adapter and critic), Python builds it directly; all call :func:`run_revise`, which
loads the inputs, opens the policy and the critic (one engine when both are the same model on the same backend
with the same options), runs :func:`rlaif.feedback.revise.revise` and writes ``<out>/sft`` and ``<out>/pairs``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from rlaif.backends.spec import ModelSpec
from rlaif.constitution import Constitution
from rlaif.errors import RlaifError
from rlaif.feedback.revise_config import ReviseConfig, ReviseRun
from rlaif.fields import Limit, SkipBadRows, TemplatesDir, UseCache
from rlaif.jobs.engine import open_engine
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class ReviseJob(StrictConfig):
    """Everything one revise stage needs. Give ``prompts`` (the policy answers them first) or ``responses`` (a
    dataset written by ``rlaif generate``). The call cache defaults to ``<out>/../.rlaif-cache.sqlite`` (shared by
    sibling stages); ``config.cache`` names another one."""

    constitution: Path | Constitution = Field(
        description="constitution file (principles and few-shot examples), or one already loaded"
    )
    out: Path = Field(description="output folder: <out>/sft and <out>/pairs")
    prompts: Path | None = Field(
        default=None, description="prompt file; the policy answers each prompt first"
    )
    responses: Path | None = Field(
        default=None, description="responses dataset from `rlaif generate` (instead of prompts)"
    )
    policy: ModelSpec = Field(
        default=ModelSpec(model="smollm2"),
        description="the policy (writes the initial responses and, by default, the revisions); a bare name is "
        "that model on the transformers backend",
    )
    critic: ModelSpec = Field(
        default=ModelSpec(model="smollm2"),
        description="the critic (critiques, and judges each revision against its original); the same spec as "
        "the policy shares one engine",
    )
    templates: TemplatesDir = None
    use_cache: UseCache = Field(
        default=True, description="use the call cache (config.cache, else <out>/../.rlaif-cache.sqlite)"
    )
    skip_bad_rows: SkipBadRows = False
    limit: Limit = None
    config: ReviseConfig = Field(
        default_factory=ReviseConfig, description="how critiques and revisions are made and checked"
    )


@dataclass(frozen=True)
class ReviseResult:
    """What :func:`run_revise` produced: the run (rows, records, statistics) and the two dataset folders."""

    run: ReviseRun
    sft_dir: Path
    pairs_dir: Path


def run_revise(job: ReviseJob) -> ReviseResult:
    """Load the inputs, open the models, revise, and write ``<out>/sft`` and ``<out>/pairs``."""
    from rlaif.feedback.revise import revise, write_revise_run
    from rlaif.prompting import TemplateSet

    if (job.prompts is None) == (job.responses is None):
        raise RlaifError(
            "give either --prompts (the policy answers them first) or --responses (from `rlaif generate`)",
            hint="the two are alternatives: pass exactly one",
        )
    constitution = _constitution(job.constitution)
    templates = TemplateSet.load(job.templates)
    inputs = _inputs(job)
    config = job.config
    if not job.use_cache:
        config = config.model_copy(update={"cache": None})
    elif config.cache is None:
        from rlaif.feedback.call_cache import default_cache_path

        config = config.model_copy(update={"cache": str(default_cache_path(job.out))})
    log.info(
        "revise: %d %s, constitution %s, policy %s, critic %s (%s backend), %d round(s), accept=%s",
        len(inputs),
        "prompt(s)" if job.prompts is not None else "response(s)",
        constitution.name,
        job.policy.model,
        job.critic.model,
        job.critic.engine,
        config.rounds,
        config.accept,
    )
    # the critic's spec is checked before any model loads (a served critic cannot take an adapter)
    job.critic.backend_options("critic")
    policy = open_engine(job.policy, cache=None, role="policy")
    try:
        critic = policy if job.critic == job.policy else open_engine(job.critic, cache=None, role="critic")
    except BaseException:
        policy.close()
        raise
    try:
        run = revise(policy, critic, inputs, constitution, templates, config)
    finally:
        policy.close()
        if critic is not policy:
            critic.close()
    sft_dir, pairs_dir = write_revise_run(run, job.out, constitution)
    return ReviseResult(run, sft_dir, pairs_dir)


def _constitution(value: Path | Constitution) -> Constitution:
    if isinstance(value, Constitution):
        return value
    from rlaif.constitution import load_constitution

    return load_constitution(value)


def _inputs(job: ReviseJob) -> Any:
    from rlaif.feedback.revise_config import responses_to_revise

    if job.prompts is not None:
        from rlaif.feedback.inputs import load_prompts

        return load_prompts(job.prompts, skip_bad_rows=job.skip_bad_rows)[: job.limit]
    from rlaif.feedback.responses import read_responses

    assert job.responses is not None
    return responses_to_revise(read_responses(job.responses)[: job.limit], job.config.response_index)


__all__ = ["ReviseJob", "ReviseResult", "run_revise"]
