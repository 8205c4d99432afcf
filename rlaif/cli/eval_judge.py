"""``rlaif eval judge``: a critic (or reward model) on a judge benchmark in its public layout, with the benchmark's
own metrics beside chance, pick-the-longer and pick-the-shorter.

    rlaif eval judge data/gold/pairs.jsonl -c principles/hhh.yaml --critic smollm2 -k 2 -o out/judge
    rlaif eval judge my_llmbar.jsonl --format llmbar -c principles/hhh.yaml --batch-calibration
    rlaif eval judge rewardbench_rows.jsonl -c principles/hhh.yaml --reward-model runs/rm/model
"""

from __future__ import annotations

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
    JudgeModeOpt,
    NoCacheOpt,
    TemplatesOpt,
    parse_backend_options,
)
from rlaif.errors import RlaifError


def _markers(value: str | None, seed: int) -> tuple[str, str] | None:
    """``--markers``: none, ``random`` (a seeded symbol pair) or two letters such as ``K,Q``."""
    from rlaif.feedback.remedies import parse_markers

    try:
        return parse_markers(value, seed)
    except ValueError as e:
        raise RlaifError(f"--markers: {e}", field="markers") from None


def command(
    data: Annotated[Path, typer.Argument(help="Benchmark file (.jsonl/.json/.csv/.parquet).")],
    constitution: Annotated[
        Path, typer.Option("--constitution", "-c", help="Constitution YAML the critic judges by.")
    ] = Path("principles/hhh.yaml"),
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="trl, transcript, llmbar, judgebench, pandalm, mtbench or rewardbench (default: detected).",
        ),
    ] = None,
    critic: CriticOpt = "smollm2",
    reward_model: Annotated[
        Path | None,
        typer.Option("--reward-model", help="Score with this reward model folder instead of a critic."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Principles sampled per item (an ensemble).")] = 2,
    principle: Annotated[
        list[str] | None, typer.Option("--principle", "-p", help="Only these principle ids (repeat).")
    ] = None,
    cot: Annotated[bool, typer.Option("--cot", help="Chain of thought before the scored answer.")] = False,
    judge_mode: JudgeModeOpt = "auto",
    markers: Annotated[
        str | None,
        typer.Option("--markers", help="Answer markers: 'random', two letters like 'K,Q', or none."),
    ] = None,
    batch_calibration: Annotated[
        bool, typer.Option("--batch-calibration", help="Remove each order's mean log-odds over the batch.")
    ] = False,
    consistency_filter: Annotated[
        bool, typer.Option("--consistency-filter", help="Leave out items whose two orders disagree.")
    ] = False,
    min_choice_mass: Annotated[
        float, typer.Option("--min-choice-mass", help="Unlabeled below this probability on the choices.")
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seeds principle samples and intervals.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N rows.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/judge"),
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    templates: TemplatesOpt = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip malformed rows (logged) instead of stopping.")
    ] = False,
) -> None:
    """Benchmark a critic (or a reward model) as a judge: accuracy over both orders, JudgeBench order-consistent
    accuracy, position bias, MT-Bench agreement with/without ties, soft-label Brier/ECE, best-of-n — each with a 95%
    interval beside chance and the length heuristics on the same pairs."""
    from rlaif.backends.spec import ModelSpec
    from rlaif.evals.judge_bench.bench import BenchJob, run_bench
    from rlaif.evals.judge_bench.formats import FORMATS
    from rlaif.evals.judge_bench.render import metrics_table, verdict_lines
    from rlaif.evals.judge_bench.run import BenchConfig

    if fmt is not None and fmt not in FORMATS:
        raise RlaifError(f"unknown --format {fmt!r}", field="format", hint=f"one of: {', '.join(FORMATS)}")
    config = BenchConfig(
        k=k,
        principles=tuple(principle or ()),
        chain_of_thought=cot,
        markers=_markers(markers, seed),
        batch_calibration=batch_calibration,
        consistency_filter=consistency_filter,
        min_choice_mass=min_choice_mass,
        seed=seed,
        judge_mode=judge_mode,
    )
    options = parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend)
    if reward_model is not None and device != "auto":
        options["device"] = device
    run = BenchJob(
        data=data,
        constitution=constitution,
        fmt=fmt,  # type: ignore[arg-type]  # checked against FORMATS above
        critic=ModelSpec(model=critic, backend=backend, options=options),
        reward_model=reward_model,
        templates=templates,
        cache=cache,
        use_cache=not no_cache,
        limit=limit,
        skip_bad_rows=skip_bad_rows,
        out=out,
        config=config,
    )
    metrics, header, paths = run_bench(run)
    for key, value in header.items():
        print(f"{key}: {value}")
    print("\n".join(metrics_table(metrics)))
    for line in verdict_lines(metrics):
        print(line)
    print(f"report: {paths['markdown']}")
    if metrics.n_labeled == 0:
        raise RlaifError(
            f"the judge labeled none of the {metrics.n_items} items", hint="see the reasons above"
        )
