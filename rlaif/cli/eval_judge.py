"""``rlaif eval judge``: a critic (or reward model) on a judge benchmark in its public layout, with the benchmark's
own metrics beside chance, pick-the-longer and pick-the-shorter.

    rlaif eval judge data/gold/pairs.jsonl -c principles/hhh.yaml --critic smollm2 -k 2 -o out/judge
    rlaif eval judge my_llmbar.jsonl --format llmbar -c principles/hhh.yaml --batch-calibration
    rlaif eval judge rewardbench_rows.jsonl -c principles/hhh.yaml --reward-model runs/rm/model
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlaif.cli._common import CACHE_AS_GIVEN, critic_groups
from rlaif.cli.config_options import config_group, job_options, one_option
from rlaif.errors import RlaifError
from rlaif.evals.judge_bench.bench import BenchJob
from rlaif.evals.judge_bench.run import BenchConfig


def _markers(value: str | None, seed: int) -> tuple[str, str] | None:
    """``--markers``: none, ``random`` (a seeded symbol pair) or two letters such as ``K,Q``."""
    from rlaif.feedback.remedies import parse_markers

    try:
        return parse_markers(value, seed)
    except ValueError as e:
        raise RlaifError(f"--markers: {e}", field="markers") from None


def _config(values: Mapping[str, Any]) -> BenchConfig:
    """The benchmark config with the answer markers of ``--markers``."""
    config: BenchConfig = values["config"]
    return config.model_copy(update={"markers": _markers(values["markers"], config.seed)})


def command(*, job: BenchJob) -> None:
    """Benchmark a critic (or a reward model) as a judge: accuracy over both orders, JudgeBench order-consistent
    accuracy, position bias, MT-Bench agreement with/without ties, soft-label Brier/ECE, best-of-n — each with a 95%
    interval beside chance and the length heuristics on the same pairs.

    Every option from -k on is a field of the benchmark config, described there."""
    from rlaif.evals.judge_bench.bench import run_bench
    from rlaif.evals.judge_bench.render import metrics_table, verdict_lines

    metrics, header, paths = run_bench(job)
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

command = job_options(
    BenchJob,
    command="eval judge",
    arguments={"data"},
    defaults={"constitution": Path("principles/hhh.yaml")},
    flags={"fmt": ("--format",)},
    groups={
        **critic_groups(),
        "markers": one_option(
            "markers", str | None, None, help="Answer markers: 'random', two letters like 'K,Q', or none."
        ),
        "config": config_group(
            BenchConfig,
            flags=FLAGS,
            skip={"markers": "--markers takes 'random' (a pair drawn from --seed), two letters or none"},
        ),
    },
    derive={**CACHE_AS_GIVEN, "config": _config},
)(command)
