"""The whole ``rlaif eval judge`` run: a benchmark file in, a report out (critic or reward model)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.evals.judge_bench.formats import Format, load_bench
from rlaif.evals.judge_bench.metrics import Metrics, compute_metrics
from rlaif.evals.judge_bench.render import write_report
from rlaif.evals.judge_bench.run import BenchConfig, judge_with_critic, score_with_reward_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchRun:
    """Everything ``rlaif eval judge`` needs.

    Attributes:
        data: the benchmark file (any layout of :mod:`~rlaif.evals.judge_bench.formats`).
        constitution: the constitution whose principles the critic (or reward model) judges by.
        fmt: the layout; None detects it.
        critic: the critic model (alias, hub id or folder); ignored with ``reward_model``.
        reward_model: a reward model folder (``train-rm``'s ``model``): scores instead of a critic.
        backend / backend_options: the critic's backend.
        templates: a template folder searched before the shipped prompts/.
        cache: the call cache; None with ``use_cache=False``.
        limit: only the first ``limit`` rows.
        out: output folder (report.md, report.json).
        config: how the critic judges.
    """

    data: Path
    constitution: Path
    fmt: Format | None = None
    critic: str = "smollm2"
    reward_model: Path | None = None
    backend: str = "transformers"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    templates: Path | None = None
    cache: Path | None = None
    use_cache: bool = True
    limit: int | None = None
    skip_bad_rows: bool = False
    out: Path = Path("out/judge")
    config: BenchConfig = field(default_factory=BenchConfig)


def run_bench(run: BenchRun, *, progress: bool = True) -> tuple[Metrics, dict[str, str], dict[str, Path]]:
    """Load, judge (critic or reward model), measure, write; returns the metrics, report header and paths."""
    from rlaif.constitution import load_constitution
    from rlaif.prompting import TemplateSet

    if run.limit is not None and run.limit < 1:
        raise RlaifError(f"limit must be at least 1, got {run.limit}", field="limit")
    fmt, items = load_bench(run.data, run.fmt, skip_bad_rows=run.skip_bad_rows, limit=run.limit)
    constitution = load_constitution(run.constitution)
    start = time.monotonic()
    header = {"file": f"`{run.data}` (format {fmt})", "constitution": constitution.name}
    if run.reward_model is not None:
        from rlaif.evals.judge_bench.run import principle_pool
        from rlaif.reward import RewardModel

        rm = RewardModel.load(run.reward_model, device=str(run.backend_options.get("device", "auto")))
        principles = principle_pool(constitution, run.config.principles)
        verdicts = score_with_reward_model(rm, items, principles)
        header["judge"] = f"reward model `{run.reward_model}` (all {len(principles)} principles)"
    else:
        from rlaif.feedback.call_cache import CachedBackend, default_cache_path, open_backend

        templates = TemplateSet.load(run.templates)
        cache_file = (run.cache or default_cache_path(run.out)) if run.use_cache else None
        critic = open_backend(run.backend, run.critic, options=dict(run.backend_options), cache=cache_file)
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
                f"critic `{critic.model_id}` on backend {run.backend}, both orders, judge mode {run.config.judge_mode}"
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


__all__ = ["BenchRun", "run_bench"]
