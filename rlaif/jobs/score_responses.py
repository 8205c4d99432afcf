"""The score-responses stage: the critic rates each response of a responses dataset from 1 to 10.

:func:`run_score_responses` reads the responses and the constitution, samples each response's principles, scores
them with the critic (through the call cache), and writes ``<out>/data.parquet`` with its dataset card. The scoring
itself is :mod:`rlaif.feedback.scores`; this module only wires files and the critic to it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import Field

from rlaif.backends.spec import ModelSpec
from rlaif.errors import RlaifError
from rlaif.feedback.judge import Unlabeled
from rlaif.feedback.scores import PointwiseScore, ScoreConfig
from rlaif.fields import ConstitutionFile, Limit, SharedCacheFile, TemplatesDir, UseCache
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class ScoreResponsesJob(StrictConfig):
    """Everything ``rlaif score-responses`` needs."""

    responses: Path = Field(description="responses dataset folder written by `rlaif generate`")
    constitution: ConstitutionFile
    out: Path = Field(description="output folder: data.parquet and its README.md card")
    critic: ModelSpec = Field(default=ModelSpec(model="smollm2"), description="the critic that scores")
    templates: TemplatesDir = None
    cache: SharedCacheFile = None
    use_cache: UseCache = True
    limit: Limit = None
    config: ScoreConfig = Field(default=ScoreConfig(), description="how the responses are scored")


class ScoreResponsesResult(StrictConfig):
    """What a score-responses job produced."""

    model_config = StrictConfig.model_config | {"arbitrary_types_allowed": True}

    results: list[Any] = Field(description="per response, its PointwiseScore or the Unlabeled reason")
    rows: list[dict[str, Any]] = Field(description="the dataset rows written")
    unlabeled: dict[str, int] = Field(description="unscored responses per reason")
    out: Path = Field(description="the output folder")

    @property
    def mean_score(self) -> float | None:
        """The mean score over the scored items (None when none was scored)."""
        scored = [r.score for r in self.results if isinstance(r, PointwiseScore)]
        return sum(scored) / len(scored) if scored else None


def run_score_responses(job: ScoreResponsesJob) -> ScoreResponsesResult:
    """Read the responses, score every response, write ``<out>/data.parquet`` and its card."""
    from rlaif.constitution import constitution_hash, dump_constitution_yaml, load_constitution
    from rlaif.feedback.call_cache import CachedBackend, default_cache_path
    from rlaif.feedback.dataset_io import write_card, write_rows
    from rlaif.feedback.responses import read_responses
    from rlaif.feedback.scores import (
        SCORE_JSON_COLUMNS,
        items_from_responses,
        sample_item_principles,
        score_responses,
        score_rows,
        unlabeled_reasons,
    )
    from rlaif.jobs.engine import open_engine
    from rlaif.prompting import TemplateSet

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
        job.critic.model,
        job.critic.engine,
        job.config.k,
    )
    cache_file = (job.cache or default_cache_path(job.out)) if job.use_cache else None
    critic = open_engine(job.critic, cache=cache_file, role="critic")
    try:
        results: list[PointwiseScore | Unlabeled] = score_responses(critic, items, (), templates, job.config)
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
    return ScoreResponsesResult(results=results, rows=rows, unlabeled=unlabeled, out=out)


def _score_card(
    job: ScoreResponsesJob, run_rows: list[dict[str, Any]], unlabeled: dict[str, int], text: str
) -> str:
    from rlaif.feedback.dataset_io import card_appendix

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
        f"- critic: {job.critic.model} ({job.critic.engine} backend); k = {job.config.k}; seed {job.config.seed}",
        "",
    ]
    for reason, n in sorted(unlabeled.items()):
        lines.append(f"- unscored ({n}): {reason}")
    lines += ["", *card_appendix(run_rows[0]["params"] if run_rows else {}, text)]
    return "\n".join(lines)
