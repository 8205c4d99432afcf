"""``rlaif eval judge``: a critic (or reward model) on a judge benchmark in its public layout, with the benchmark's
own metrics beside chance, pick-the-longer and pick-the-shorter.

    rlaif eval judge data/gold/pairs.jsonl -c principles/hhh.yaml --critic smollm2 -k 2 -o out/judge
    rlaif eval judge my_llmbar.jsonl --format llmbar -c principles/hhh.yaml --batch-calibration
    rlaif eval judge rewardbench_rows.jsonl -c principles/hhh.yaml --reward-model runs/rm/model
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import HELP, CacheChoice, SkipBadRowsOpt, TemplatesOpt, cache_options, model_options
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import config_options
from rlaif.errors import RlaifError
from rlaif.evals.judge_bench.run import BenchConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec


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
    reward_model: Annotated[
        Path | None,
        typer.Option("--reward-model", help="Score with this reward model folder instead of a critic."),
    ] = None,
    markers: Annotated[
        str | None,
        typer.Option("--markers", help="Answer markers: 'random', two letters like 'K,Q', or none."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N rows.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/judge"),
    templates: TemplatesOpt = None,
    skip_bad_rows: SkipBadRowsOpt = False,
    *,
    critic: ModelSpec,
    cache: CacheChoice,
    config: BenchConfig,
) -> None:
    """Benchmark a critic (or a reward model) as a judge: accuracy over both orders, JudgeBench order-consistent
    accuracy, position bias, MT-Bench agreement with/without ties, soft-label Brier/ECE, best-of-n — each with a 95%
    interval beside chance and the length heuristics on the same pairs.

    Every option from -k on is a field of the benchmark config, described there."""
    from rlaif.evals.judge_bench.bench import BenchJob, run_bench
    from rlaif.evals.judge_bench.formats import FORMATS
    from rlaif.evals.judge_bench.render import metrics_table, verdict_lines

    if fmt is not None and fmt not in FORMATS:
        raise RlaifError(f"unknown --format {fmt!r}", field="format", hint=f"one of: {', '.join(FORMATS)}")
    config = config.model_copy(update={"markers": _markers(markers, config.seed)})
    with flag_errors("eval judge"):
        run = BenchJob(
            data=data,
            constitution=constitution,
            fmt=fmt,  # type: ignore[arg-type]  # checked against FORMATS above
            critic=critic,
            reward_model=reward_model,
            templates=templates,
            cache=cache.path,
            use_cache=not cache.off,
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


#: BenchConfig fields whose flag is not ``--`` + the field name with dashes
FLAGS: dict[str, tuple[str, ...]] = {
    "k": ("-k", "--k"),
    "principles": ("--principle", "-p"),
    "chain_of_thought": ("--cot",),
}

command = model_options("critic", command="eval judge", default="smollm2", help=HELP["critic"])(command)
command = cache_options(command="eval judge")(command)
command = config_options(
    BenchConfig,
    command="eval judge",
    flags=FLAGS,
    skip={"markers": "--markers takes 'random' (a pair drawn from --seed), two letters or none"},
)(command)
