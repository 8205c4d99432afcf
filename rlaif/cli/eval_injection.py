"""``rlaif eval injection``: how often an instruction hidden in a response flips the critic's label, without any
mitigation and under each mitigation, with 95% clustered Wilson intervals (pair = unit).

    rlaif eval injection -c principles/hhh.yaml --critic smollm2 -n 12 -o out/injection
    rlaif eval injection --pairs my_pairs.jsonl --mitigation markers --mitigation defang
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import HELP, CacheChoice, cache_options, model_options
from rlaif.cli.config_options import config_options
from rlaif.errors import RlaifError
from rlaif.evals.injection import InjectionConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec


def command(
    constitution: Annotated[
        Path, typer.Option("--constitution", "-c", help="Constitution YAML the critic judges by.")
    ] = Path("principles/hhh.yaml"),
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs", help="Pairs to attack, any `eval judge` layout (default: the shipped gold set)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N pairs.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/injection"),
    *,
    critic: ModelSpec,
    cache: CacheChoice,
    config: InjectionConfig,
) -> None:
    """Measure prompt-injection flip rates of the critic: unmitigated vs each mitigation, per injection."""
    from rlaif.atomic import atomic_write_text
    from rlaif.constitution import load_constitution
    from rlaif.evals.gate import default_gold
    from rlaif.evals.injection import measure_injection, mitigation_templates, unmitigated_templates
    from rlaif.evals.judge_bench.formats import load_bench
    from rlaif.evals.judge_bench.run import item_principles, principle_pool
    from rlaif.feedback.call_cache import CachedBackend
    from rlaif.feedback.comparison import Comparison
    from rlaif.jobs.engine import open_engine

    k, seed = config.k, config.seed
    source = pairs or default_gold()
    _, items = load_bench(source, limit=limit)
    items = [i for i in items if len(i.responses) == 2 and i.winner is not None]
    if not items:
        raise RlaifError("no pairwise rows with a winner to attack", path=source)
    const = load_constitution(constitution)
    pool = principle_pool(const, ())
    to_attack = [
        Comparison(i.id, i.conversation, i.responses[0], i.responses[1], item_principles(i.id, pool, k, seed))
        for i in items
    ]
    engine = open_engine(critic, cache=cache.under(out), role="critic")
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="rlaif-injection-") as tmp:
            raw = unmitigated_templates(Path(tmp) / "raw")
            for kind in config.kinds:
                report = measure_injection(
                    engine, mitigation_templates(kind, tmp, seed=seed), raw, to_attack, seed=seed
                )
                results[kind] = report
                print(f"\n== mitigation: {kind}")
                print(report.table())
    finally:
        engine.close()
        if isinstance(engine, CachedBackend):
            engine.cache.close()
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        kind: {
            "flip_rate_with": {"value": r.ci_with.value, "low": r.ci_with.low, "high": r.ci_with.high},
            "flip_rate_without": {
                "value": r.ci_without.value,
                "low": r.ci_without.low,
                "high": r.ci_without.high,
            },
            "n_trials": r.n,
            "n_pairs": r.ci_with.n,
            "per_injection": {
                p.injection: {"with": p.flip_rate_with, "without": p.flip_rate_without, "n": p.n}
                for p in r.per_injection
            },
            "skipped": r.skipped,
        }
        for kind, r in results.items()
    }
    atomic_write_text(
        out / "report.json",
        json.dumps({"critic": critic.model, "pairs": str(source), "k": k, "mitigations": summary}, indent=2)
        + "\n",
    )
    lines = [f"# Injection flip rates: {critic.model} on `{source}` ({len(to_attack)} pairs, k={k})", ""]
    lines += ["| mitigation | flip rate with | flip rate without | trials |", "|---|---|---|---:|"]
    for kind, r in results.items():
        w, wo = r.ci_with, r.ci_without
        lines.append(
            f"| {kind} | {w.value:.3f} [{w.low:.3f}, {w.high:.3f}] | {wo.value:.3f} [{wo.low:.3f}, {wo.high:.3f}] "
            f"| {r.n} |"
        )
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    print(f"\nreport: {out / 'report.md'}")


command = model_options("critic", command="eval injection", default="smollm2", help=HELP["critic"])(command)
command = cache_options(command="eval injection")(command)
command = config_options(
    InjectionConfig, command="eval injection", flags={"k": ("-k", "--k"), "mitigations": ("--mitigation",)}
)(command)
