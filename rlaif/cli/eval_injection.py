"""``rlaif eval injection``: how often an instruction hidden in a response flips the critic's label, without any
mitigation and under each mitigation, with 95% clustered Wilson intervals (pair = unit).

    rlaif eval injection -c principles/hhh.yaml --critic smollm2 -n 12 -o out/injection
    rlaif eval injection --pairs my_pairs.jsonl --mitigation markers --mitigation defang
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._common import (
    BackendOpt,
    BackendOptionOpt,
    CacheOpt,
    CriticOpt,
    DeviceOpt,
    DtypeOpt,
    NoCacheOpt,
    parse_backend_options,
)
from rlaif.errors import RlaifError


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
    critic: CriticOpt = "smollm2",
    k: Annotated[int, typer.Option("-k", "--k", help="Principles sampled per pair.")] = 1,
    mitigation: Annotated[
        list[str] | None,
        typer.Option(
            "--mitigation", help="neutralize, markers, defang, markers+defang (repeat; default all)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N pairs.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds principle samples and the marker pair.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/injection"),
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Measure prompt-injection flip rates of the critic: unmitigated vs each mitigation, per injection."""
    from rlaif.atomic import atomic_write_text
    from rlaif.constitution import load_constitution
    from rlaif.evals.gate import default_gold
    from rlaif.evals.injection import (
        MITIGATIONS,
        measure_injection,
        mitigation_templates,
        unmitigated_templates,
    )
    from rlaif.evals.judge_bench.formats import load_bench
    from rlaif.evals.judge_bench.run import item_principles, principle_pool
    from rlaif.feedback.call_cache import CachedBackend, default_cache_path, open_backend
    from rlaif.feedback.judge import PairToJudge

    kinds = list(mitigation or MITIGATIONS)
    bad = [m for m in kinds if m not in MITIGATIONS]
    if bad:
        raise RlaifError(
            f"unknown --mitigation {bad[0]!r}", field="mitigation", hint=f"one of: {', '.join(MITIGATIONS)}"
        )
    source = pairs or default_gold()
    _, items = load_bench(source, limit=limit)
    items = [i for i in items if len(i.responses) == 2 and i.winner is not None]
    if not items:
        raise RlaifError("no pairwise rows with a winner to attack", path=source)
    const = load_constitution(constitution)
    pool = principle_pool(const, ())
    to_attack = [
        PairToJudge(
            i.id, i.conversation, i.responses[0], i.responses[1], item_principles(i.id, pool, k, seed)
        )
        for i in items
    ]
    options = parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend)
    cache_file = (cache or default_cache_path(out)) if not no_cache else None
    engine = open_backend(backend, critic, options=options, cache=cache_file)
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="rlaif-injection-") as tmp:
            raw = unmitigated_templates(Path(tmp) / "raw")
            for kind in kinds:
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
        json.dumps({"critic": critic, "pairs": str(source), "k": k, "mitigations": summary}, indent=2) + "\n",
    )
    lines = [f"# Injection flip rates: {critic} on `{source}` ({len(to_attack)} pairs, k={k})", ""]
    lines += ["| mitigation | flip rate with | flip rate without | trials |", "|---|---|---|---:|"]
    for kind, r in results.items():
        w, wo = r.ci_with, r.ci_without
        lines.append(
            f"| {kind} | {w.value:.3f} [{w.low:.3f}, {w.high:.3f}] | {wo.value:.3f} [{wo.low:.3f}, {wo.high:.3f}] "
            f"| {r.n} |"
        )
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    print(f"\nreport: {out / 'report.md'}")
