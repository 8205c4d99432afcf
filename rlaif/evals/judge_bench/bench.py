"""The whole ``rlaif eval judge`` run: a benchmark file in, a report out (critic or reward model)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pydantic import Field

from rlaif.backends.spec import ModelSpec
from rlaif.evals.judge_bench.formats import Format, load_bench
from rlaif.evals.judge_bench.metrics import Metrics, compute_metrics
from rlaif.evals.judge_bench.render import write_report
from rlaif.evals.judge_bench.run import BenchConfig, judge_with_critic, score_with_reward_model
from rlaif.fields import ConstitutionFile, Limit, SharedCacheFile, SkipBadRows, TemplatesDir, UseCache
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class BenchJob(StrictConfig):
    """Everything ``rlaif eval judge`` needs."""

    data: Path = Field(description="the benchmark file (any layout of rlaif.evals.judge_bench.formats)")
    constitution: ConstitutionFile
    fmt: Format | None = Field(
        default=None,
        description="the file's layout: trl, transcript, llmbar, judgebench, pandalm, mtbench or rewardbench "
        "(null: detected)",
    )
    critic: ModelSpec = Field(
        default=ModelSpec(model="smollm2"), description="the critic under test (ignored with reward_model)"
    )
    reward_model: Path | None = Field(
        default=None, description="a reward model folder (train-rm's model/): it scores instead of a critic"
    )
    templates: TemplatesDir = None
    cache: SharedCacheFile = None
    use_cache: UseCache = True
    limit: Limit = None
    skip_bad_rows: SkipBadRows = False
    out: Path = Field(default=Path("out/judge"), description="output folder (report.md, report.json)")
    config: BenchConfig = Field(default_factory=BenchConfig, description="how the critic judges")


def run_bench(run: BenchJob, *, progress: bool = True) -> tuple[Metrics, dict[str, str], dict[str, Path]]:
    """Load, judge (critic or reward model), measure, write; returns the metrics, report header and paths."""
    from rlaif.constitution import load_constitution
    from rlaif.prompting import TemplateSet

    fmt, items = load_bench(run.data, run.fmt, skip_bad_rows=run.skip_bad_rows, limit=run.limit)
    constitution = load_constitution(run.constitution)
    start = time.monotonic()
    header = {"file": f"`{run.data}` (format {fmt})", "constitution": constitution.name}
    if run.reward_model is not None:
        from rlaif.evals.judge_bench.run import principle_pool
        from rlaif.reward import RewardModel

        rm = RewardModel.load(run.reward_model, device=str(run.critic.options.get("device", "auto")))
        principles = principle_pool(constitution, run.config.principles)
        verdicts = score_with_reward_model(rm, items, principles)
        header["judge"] = f"reward model `{run.reward_model}` (all {len(principles)} principles)"
    else:
        from rlaif.feedback.call_cache import CachedBackend, default_cache_path, open_backend

        templates = TemplateSet.load(run.templates)
        cache_file = (run.cache or default_cache_path(run.out)) if run.use_cache else None
        critic = open_backend(
            run.critic.engine,
            run.critic.model,
            options=run.critic.backend_options("critic"),
            cache=cache_file,
        )
        try:
            verdicts = judge_with_critic(
                critic,
                templates,
                items,
                constitution,
                run.config,
                template_dir=run.templates,
                progress=progress,
            )
            header["judge"] = (
                f"critic `{critic.model_id}` on backend {run.critic.engine}, both orders, judge mode {run.config.judge_mode}"
            )
        finally:
            critic.close()
            if isinstance(critic, CachedBackend):
                critic.cache.close()
        header["remedies"] = ", ".join(run.config.remedies())
    header["seed"] = str(run.config.seed)
    header["judging time"] = f"{time.monotonic() - start:.0f} s"
    metrics = compute_metrics(items, verdicts, confidence=run.config.confidence, seed=run.config.seed)
    paths = write_report(metrics, header, run.out)
    log.info("judge benchmark report written to %s", paths["markdown"])
    return metrics, header, paths


__all__ = ["BenchJob", "run_bench"]
