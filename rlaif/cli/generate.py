"""``rlaif generate``: sample n responses per prompt from a policy model.

    rlaif generate --prompts data/prompts/smoke.jsonl --policy smollm2 -n 2 -o out/responses

The flags build a :class:`rlaif.jobs.generate.GenerateJob` (its ``config`` a
:class:`rlaif.feedback.responses.GenerateConfig`) and :func:`rlaif.jobs.generate.run_generate` runs it. Writes
``<out>/data.parquet`` (one row per prompt: the responses, their finish reasons, the seed, the policy and the
sampling parameters; see :mod:`rlaif.feedback.responses`) and ``<out>/run.json``. Every call is seeded and cached in
``<out>/../.rlaif-cache.sqlite`` (or ``--cache``), so a killed run resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import CacheChoice, cache_options, executor_options, model_options, parse_field_map
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import config_options
from rlaif.feedback.responses import GenerateConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec
    from rlaif.jobs.generate import GenerateResult
    from rlaif.scale.ray_setup import RayOptions


def command(
    prompts: Annotated[
        Path, typer.Option("--prompts", help="Prompt file (jsonl/json/csv/parquet or HF folder).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder of the responses dataset.")],
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="Map a field: OUR=THEIRS (prompt, id, split). Repeatable."),
    ] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip malformed rows instead of stopping.")
    ] = False,
    *,
    policy: ModelSpec,
    cache: CacheChoice,
    ray: RayOptions | None,
    config: GenerateConfig,
) -> None:
    """Sample n responses per prompt from a policy model (seeded, cached, resumable).

    With --executor ray the policy runs on a pool of Ray workers (--workers, --gpus-per-worker, --address); the responses are the same as with the local executor.
    """
    from rlaif.jobs.generate import GenerateJob, run_generate

    with flag_errors("generate"):
        job = GenerateJob(
            prompts=prompts,
            field_map=parse_field_map(field),
            skip_bad_rows=skip_bad_rows,
            out=out,
            policy=policy,
            cache=cache.under(out),
            ray=ray,
            config=config,
        )
    _summary(run_generate(job))


command = model_options(
    "policy", command="generate", default="smollm2", help="Policy model: alias, local path or hub id."
)(command)
command = cache_options(command="generate")(command)
command = executor_options(command="generate")(command)
command = config_options(GenerateConfig, command="generate")(command)


def _summary(result: GenerateResult) -> None:
    from rich.console import Console
    from rich.table import Table

    sets = result.sets
    responses = result.responses
    cut = sum(r == "length" for s in sets for r in s.finish_reasons)
    table = Table(title="rlaif generate", show_header=False)
    table.add_row("prompts", str(len(sets)))
    table.add_row("responses", str(responses))
    table.add_row("hit max_new_tokens", f"{cut} ({100 * cut / max(responses, 1):.0f}%)")
    table.add_row("truncated prompts", str(sum(s.truncated for s in sets)))
    if result.cache_hits or result.cache_misses:
        table.add_row("calls from cache / computed", f"{result.cache_hits} / {result.cache_misses}")
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("output", str(result.path.parent))
    Console().print(table)
