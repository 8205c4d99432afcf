"""``rlaif eval injection``: how often an instruction hidden in a response flips the critic's label, without any
mitigation and under each mitigation, with 95% clustered Wilson intervals (pair = unit).

    rlaif eval injection -c principles/hhh.yaml --critic smollm2 -n 12 -o out/injection
    rlaif eval injection --pairs my_pairs.jsonl --mitigation markers --mitigation defang
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import HELP, CacheChoice, cache_options, model_options
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import config_options
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
    from rlaif.evals.injection_job import InjectionJob, run_injection

    with flag_errors("eval injection", {"mitigations": "--mitigation"}):
        job = InjectionJob(
            pairs=pairs,
            constitution=constitution,
            critic=critic,
            out=out,
            cache=cache.path,
            use_cache=not cache.off,
            limit=limit,
            config=config,
        )
    result = run_injection(job)
    for kind, report in result.reports.items():
        print(f"\n== mitigation: {kind}")
        print(report.table())
    print(f"\nreport: {result.paths['markdown']}")


command = model_options("critic", command="eval injection", default="smollm2", help=HELP["critic"])(command)
command = cache_options(command="eval injection")(command)
command = config_options(
    InjectionConfig, command="eval injection", flags={"k": ("-k", "--k"), "mitigations": ("--mitigation",)}
)(command)
