"""``rlaif eval injection`` as one job: attack benchmark pairs with hidden instructions and measure, for each
mitigation, how often the critic's label flips (see :mod:`rlaif.evals.injection` for the measurement).

The CLI command builds an :class:`InjectionJob` from its flags, Python builds it directly; both call
:func:`run_injection`, which loads the pairs, draws each pair's principles, opens the critic (behind the call cache),
runs :func:`~rlaif.evals.injection.measure_injection` once per mitigation and writes ``<out>/report.json`` and
``<out>/report.md``::

    from rlaif.evals import InjectionConfig, InjectionJob, run_injection

    result = run_injection(InjectionJob(critic="smollm2", limit=12, config=InjectionConfig(mitigations=("markers",))))
    print(result.reports["markers"].table())
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from rlaif.backends.spec import ModelSpec
from rlaif.evals.injection import InjectionConfig, InjectionReport
from rlaif.fields import Limit, SharedCacheFile, UseCache
from rlaif.stats import Estimate
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class InjectionJob(StrictConfig):
    """Everything ``rlaif eval injection`` needs: the pairs, the constitution, the critic, the output folder and
    what to measure."""

    pairs: Path | None = Field(
        default=None,
        description="pairs to attack, any `eval judge` layout; null = the shipped gold set",
    )
    constitution: Path = Field(
        default=Path("principles/hhh.yaml"),
        description="the constitution whose principles the critic judges by",
    )
    critic: ModelSpec = Field(default=ModelSpec(model="smollm2"), description="the critic under attack")
    out: Path = Field(default=Path("out/injection"), description="output folder: report.json, report.md")
    cache: SharedCacheFile = None
    use_cache: UseCache = True
    limit: Limit = None
    config: InjectionConfig = Field(
        default_factory=InjectionConfig,
        description="what is measured: principles per pair, mitigations, seed",
    )


@dataclass(frozen=True)
class InjectionResult:
    """What :func:`run_injection` measured and wrote."""

    reports: dict[str, InjectionReport]  # mitigation -> its report, in the order measured
    source: Path  # the pairs file attacked
    n_pairs: int  # pairs attacked
    paths: dict[str, Path]  # "json" and "markdown": the written reports


def run_injection(job: InjectionJob) -> InjectionResult:
    """Measure the critic's injection flip rates under each mitigation and write the reports.

    Recipe: load the benchmark's pairwise rows with a winner (every user error names its file) → draw each pair's
    principles → open the critic behind the call cache → :func:`~rlaif.evals.injection.measure_injection` per
    mitigation (its templates written in a temporary folder) → :func:`write_injection_report`.
    """
    from rlaif.constitution import load_constitution
    from rlaif.errors import RlaifError
    from rlaif.evals.gate import default_gold
    from rlaif.evals.injection import measure_injection, mitigation_templates, unmitigated_templates
    from rlaif.evals.judge_bench.formats import load_bench
    from rlaif.evals.judge_bench.run import item_principles, principle_pool
    from rlaif.feedback.call_cache import CachedBackend, default_cache_path, open_backend
    from rlaif.feedback.comparison import Comparison

    k, seed = job.config.k, job.config.seed
    source = job.pairs or default_gold()
    _, items = load_bench(source, limit=job.limit)
    items = [i for i in items if len(i.responses) == 2 and i.winner is not None]
    if not items:
        raise RlaifError("no pairwise rows with a winner to attack", path=source)
    pool = principle_pool(load_constitution(job.constitution), ())
    to_attack = [
        Comparison(i.id, i.conversation, i.responses[0], i.responses[1], item_principles(i.id, pool, k, seed))
        for i in items
    ]
    cache_file = (job.cache or default_cache_path(job.out)) if job.use_cache else None
    critic = open_backend(
        job.critic.engine, job.critic.model, options=job.critic.backend_options("critic"), cache=cache_file
    )
    reports: dict[str, InjectionReport] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="rlaif-injection-") as tmp:
            raw = unmitigated_templates(Path(tmp) / "raw")
            for kind in job.config.kinds:
                reports[kind] = measure_injection(
                    critic, mitigation_templates(kind, tmp, seed=seed), raw, to_attack, seed=seed
                )
    finally:
        critic.close()
        if isinstance(critic, CachedBackend):
            critic.cache.close()
    paths = write_injection_report(
        reports, job.out, critic=job.critic.model, source=source, k=k, n_pairs=len(to_attack)
    )
    log.info("injection report written to %s", paths["markdown"])
    return InjectionResult(reports=reports, source=source, n_pairs=len(to_attack), paths=paths)


def _interval(e: Estimate) -> dict[str, float]:
    return {"value": e.value, "low": e.low, "high": e.high}


def injection_summary(reports: dict[str, InjectionReport]) -> dict[str, Any]:
    """The ``mitigations`` part of ``report.json``: per mitigation, both flip rates with their intervals, the
    trial and pair counts, the rates per injection and the skipped trials."""
    return {
        kind: {
            "flip_rate_with": _interval(r.ci_with),
            "flip_rate_without": _interval(r.ci_without),
            "n_trials": r.n,
            "n_pairs": r.ci_with.n,
            "per_injection": {
                p.injection: {"with": p.flip_rate_with, "without": p.flip_rate_without, "n": p.n}
                for p in r.per_injection
            },
            "skipped": r.skipped,
        }
        for kind, r in reports.items()
    }


def write_injection_report(
    reports: dict[str, InjectionReport], out: Path, *, critic: str, source: Path, k: int, n_pairs: int
) -> dict[str, Path]:
    """``<out>/report.json`` (every number) and ``<out>/report.md`` (one row per mitigation), written atomically;
    returns their paths under ``"json"`` and ``"markdown"``."""
    from rlaif.atomic import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    record = {"critic": critic, "pairs": str(source), "k": k, "mitigations": injection_summary(reports)}
    atomic_write_text(paths["json"], json.dumps(record, indent=2) + "\n")
    lines = [f"# Injection flip rates: {critic} on `{source}` ({n_pairs} pairs, k={k})", ""]
    lines += ["| mitigation | flip rate with | flip rate without | trials |", "|---|---|---|---:|"]
    for kind, r in reports.items():
        w, wo = r.ci_with, r.ci_without
        lines.append(
            f"| {kind} | {w.value:.3f} [{w.low:.3f}, {w.high:.3f}] | {wo.value:.3f} [{wo.low:.3f}, {wo.high:.3f}] "
            f"| {r.n} |"
        )
    atomic_write_text(paths["markdown"], "\n".join(lines) + "\n")
    return paths


__all__ = ["InjectionJob", "InjectionResult", "injection_summary", "run_injection", "write_injection_report"]
