"""``rlaif generate``: sample n responses per prompt from a policy model.

    rlaif generate --prompts data/prompts/smoke.jsonl --policy smollm2 -n 2 -o out/responses

Writes ``<out>/data.parquet`` (one row per prompt: the responses, their finish reasons, the seed, the policy and
the sampling parameters; see :mod:`rlaif.feedback.responses`). Every call is seeded and cached in
``<out>/../.rlaif-cache.sqlite`` (or ``--cache``), so a killed run resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any

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
    write_run_record,
)
from rlaif.errors import RlaifError

log = logging.getLogger(__name__)


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
    from rlaif.feedback.call_cache import open_backend
    from rlaif.feedback.inputs import load_prompts
    from rlaif.feedback.responses import GenerateConfig, generate_responses, write_responses

    started = time.monotonic()
    config = GenerateConfig(
        n=n,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        overlong=overlong,  # type: ignore[arg-type]  # validated by GenerateConfig
        max_prompt_tokens=max_prompt_tokens,
        batch_prompts=batch_prompts,
        progress=progress,
    )
    rows = load_prompts(prompts, field_map=parse_field_map(field), skip_bad_rows=skip_bad_rows)
    cache_file = cache_path(out, cache, no_cache)
    options = parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend)
    on_ray = ray_options(
        executor,
        address=address,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
    )
    engine: Any
    if on_ray is not None:
        from rlaif.scale import BackendSpec, RayBackendPool

        engine = RayBackendPool(
            BackendSpec(backend, policy, options, str(cache_file) if cache_file else None), on_ray
        )
        engine.open()
    else:
        engine = open_backend(backend, policy, options=options, cache=cache_file)
    try:
        sets = generate_responses(engine, rows, config)
    finally:
        engine.close()
    if not sets:
        raise RlaifError(
            "no prompt was left to answer (all skipped)", path=prompts, hint="see the warnings above"
        )
    path = write_responses(out, sets)
    cached = engine if on_ray is not None else getattr(engine, "cache", None)
    write_run_record(
        out,
        {
            "stage": "generate",
            "prompts": str(prompts),
            "policy": engine.model_id,
            "backend": backend,
            "executor": executor,
            **({"workers": workers, "address": address} if on_ray is not None else {}),
            "cache": str(cache_file) if cache_file else None,
            "cache_hits": cached.hits if cached else 0,
            "cache_misses": cached.misses if cached else 0,
        },
    )
    _summary(sets, path, cached, time.monotonic() - started)


def _summary(sets: list[Any], path: Path, cached: Any, elapsed: float) -> None:
    from rich.console import Console
    from rich.table import Table

    responses = sum(len(s.responses) for s in sets)
    cut = sum(r == "length" for s in sets for r in s.finish_reasons)
    table = Table(title="rlaif generate", show_header=False)
    table.add_row("prompts", str(len(sets)))
    table.add_row("responses", str(responses))
    table.add_row("hit max_new_tokens", f"{cut} ({100 * cut / max(responses, 1):.0f}%)")
    table.add_row("truncated prompts", str(sum(s.truncated for s in sets)))
    if cached is not None:
        table.add_row("calls from cache / computed", f"{cached.hits} / {cached.misses}")
    table.add_row("time", f"{elapsed:.1f} s")
    table.add_row("output", str(path.parent))
    Console().print(table)
