"""``rlaif generate``: sample n responses per prompt from a policy model.

    rlaif generate --prompts data/prompts/smoke.jsonl --policy smollm2 -n 2 -o out/responses

Writes ``<out>/data.parquet`` (one row per prompt: the responses, their finish reasons, the seed, the policy and
the sampling parameters; see :mod:`rlaif.feedback.responses`). Every call is seeded and cached in
``<out>/../.rlaif-cache.sqlite`` (or ``--cache``), so a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from rlaif.errors import RlaifError

log = logging.getLogger(__name__)

CACHE_NAME = ".rlaif-cache.sqlite"


def default_cache_path(out: Path) -> Path:
    """The call cache shared by the stages writing next to ``out``: ``<out>/../.rlaif-cache.sqlite``."""
    return out.resolve().parent / CACHE_NAME


def parse_field_map(items: list[str] | None) -> dict[str, str]:
    """``["prompt=question", "id=qid"]`` → ``{"prompt": "question", "id": "qid"}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise RlaifError(
                f"bad field mapping {item!r}",
                field="--field",
                hint="write OUR=THEIRS, e.g. --field prompt=question",
            )
        if ours.strip() not in ("prompt", "id", "split"):
            raise RlaifError(
                f"unknown field {ours.strip()!r} in --field", field="--field", hint="map prompt, id or split"
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def backend_options(backend: str, device: str, dtype: str) -> dict[str, Any]:
    """Constructor options for the named backend (device and dtype only mean something to local engines)."""
    if backend == "transformers":
        return {"device": device, "dtype": dtype}
    return {}


def open_backend(backend: str, model: str, cache_path: Path | None, *, device: str, dtype: str) -> Any:
    """Build the backend (failing fast on a missing model), wrapped in the call cache unless ``cache_path`` is None.

    The cache commits once per backend call (``chunk_size`` unbounded), so the work between two commits is always
    recomputed in the same batches: a resumed run reproduces an uninterrupted one bit for bit.
    """
    from rlaif.backends.registry import make_backend
    from rlaif.feedback.call_cache import CachedBackend, CallCache

    if backend == "transformers":
        from rlaif.models import resolve_model

        resolve_model(model)  # a missing model or unreachable hub fails here, before any long load
    engine = make_backend(backend, model, **backend_options(backend, device, dtype))
    if cache_path is None:
        return engine
    return CachedBackend(engine, CallCache(cache_path), chunk_size=1 << 30)


def write_run_record(out: Path, record: dict[str, Any]) -> None:
    """``<out>/run.json``: what ran and the cache's hits and misses (not part of the dataset's bytes)."""
    from rlaif.atomic import atomic_write_text

    atomic_write_text(out / "run.json", json.dumps(record, indent=2, sort_keys=True) + "\n")


def command(
    prompts: Annotated[
        Path, typer.Option("--prompts", "-p", help="Prompt file (jsonl/json/csv/parquet or HF folder).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder of the responses dataset.")],
    policy: Annotated[
        str, typer.Option("--policy", help="Policy model: alias, local path or hub id.")
    ] = "smollm2",
    n: Annotated[int, typer.Option("-n", help="Responses per prompt.")] = 2,
    backend: Annotated[
        str, typer.Option("--backend", help="transformers, vllm, openai or mock.")
    ] = "transformers",
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
    batch_prompts: Annotated[int, typer.Option("--batch-prompts", help="Prompts per backend call.")] = 16,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Call cache file (default <out>/../.rlaif-cache.sqlite).")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the call cache.")
    ] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, ...")] = "auto",
    dtype: Annotated[str, typer.Option("--dtype", help="auto, float32, bfloat16, float16.")] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Sample n responses per prompt from a policy model (seeded, cached, resumable)."""
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
    cache_path = None if no_cache else (cache or default_cache_path(out))
    engine = open_backend(backend, policy, cache_path, device=device, dtype=dtype)
    try:
        sets = generate_responses(engine, rows, config)
    finally:
        engine.close()
    if not sets:
        raise RlaifError(
            "no prompt was left to answer (all skipped)", path=prompts, hint="see the warnings above"
        )
    path = write_responses(out, sets)
    cached = getattr(engine, "cache", None)
    write_run_record(
        out,
        {
            "stage": "generate",
            "prompts": str(prompts),
            "policy": engine.model_id,
            "backend": backend,
            "cache": str(cache_path) if cache_path else None,
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
