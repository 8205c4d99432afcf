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

from rlaif.cli._common import (
    AddressOpt,
    BackendOpt,
    BackendOptionOpt,
    CacheOpt,
    CpusPerWorkerOpt,
    DeviceOpt,
    DtypeOpt,
    ExecutorOpt,
    GpusPerWorkerOpt,
    NoCacheOpt,
    ProgressOpt,
    WorkersOpt,
    cache_path,
    parse_backend_options,
    parse_field_map,
    ray_options,
)
from rlaif.cli._validation import flag_errors

if TYPE_CHECKING:
    from rlaif.jobs.generate import GenerateResult


def command(
    prompts: Annotated[
        Path, typer.Option("--prompts", help="Prompt file (jsonl/json/csv/parquet or HF folder).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder of the responses dataset.")],
    policy: Annotated[
        str, typer.Option("--policy", help="Policy model: alias, local path or hub id.")
    ] = "smollm2",
    n: Annotated[int, typer.Option("--n", help="Responses per prompt.")] = 2,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Length cap of each response.")
    ] = 256,
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature (0 = greedy).")
    ] = 1.0,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")] = 1.0,
    seed: Annotated[
        int, typer.Option("--seed", help="Base seed; each prompt's seed derives from it and its id.")
    ] = 0,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="Map a field: OUR=THEIRS (prompt, id, split). Repeatable."),
    ] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip malformed rows instead of stopping.")
    ] = False,
    overlong: Annotated[
        str, typer.Option("--overlong", help="Prompts longer than the context: truncate, skip or error.")
    ] = "truncate",
    max_prompt_tokens: Annotated[
        int | None,
        typer.Option("--max-prompt-tokens", help="Prompt token budget (default: context − max new)."),
    ] = None,
    batch_prompts: Annotated[int, typer.Option("--batch-prompts", help="Prompts per backend call.")] = 32,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    gpus_per_worker: GpusPerWorkerOpt = 0.0,
    cpus_per_worker: CpusPerWorkerOpt = 1.0,
) -> None:
    """Sample n responses per prompt from a policy model (seeded, cached, resumable).

    With --executor ray the policy runs on a pool of Ray workers (--workers, --gpus-per-worker, --address); the responses are the same as with the local executor.
    """
    from rlaif.backends.spec import ModelSpec
    from rlaif.feedback.responses import GenerateConfig
    from rlaif.jobs.generate import GenerateJob, run_generate

    with flag_errors("generate"):
        job = GenerateJob(
            prompts=prompts,
            field_map=parse_field_map(field),
            skip_bad_rows=skip_bad_rows,
            out=out,
            policy=ModelSpec(
                model=policy,
                backend=backend,
                options=parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend),
            ),
            cache=cache_path(out, cache, no_cache),
            ray=ray_options(
                executor,
                address=address,
                workers=workers,
                gpus_per_worker=gpus_per_worker,
                cpus_per_worker=cpus_per_worker,
            ),
            config=GenerateConfig(
                n=n,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                overlong=overlong,  # type: ignore[arg-type]  # validated by GenerateConfig
                max_prompt_tokens=max_prompt_tokens,
                batch_prompts=batch_prompts,
                progress=progress,
            ),
        )
    _summary(run_generate(job))


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
