"""``rlaif contrast``: contrastive principle-conditioned pairs (RLCD), labelled by construction or by a critic.

    rlaif contrast -p data/prompts/plain.jsonl -c principles/plain.yaml -o out/contrast --k 2
    rlaif contrast ... --label-source contrastive+critic --critic smollm2 --drop-below 0.3

For each prompt k principles are sampled; the policy answers under a system prompt asking to follow them and under
one asking for the opposite (templates contrast_positive / contrast_negative), with the same seed. Writes
``<out>/responses/data.parquet`` (both sides, with their system prompts and sides) and ``<out>/labels/data.parquet``
(TRL preference columns, the prompt WITHOUT the system prompt, and provenance; see
:mod:`rlaif.feedback.contrastive`). Train on it with ``rlaif train-policy``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._common import (
    BackendOpt,
    BackendOptionOpt,
    CacheOpt,
    DeviceOpt,
    DtypeOpt,
    NoCacheOpt,
    ProgressOpt,
    TemplatesOpt,
    cache_path,
    parse_backend_options,
)


def command(
    prompts: Annotated[Path, typer.Option("--prompts", help="Prompt file (jsonl/json/csv/parquet).")],
    constitution: Annotated[Path, typer.Option("--constitution", "-c", help="Constitution (YAML).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (responses/ and labels/).")],
    policy: Annotated[
        str, typer.Option("--policy", help="Policy model: alias, local path or hub id.")
    ] = "smollm2",
    k: Annotated[int, typer.Option("--k", help="Principles sampled per prompt.")] = 2,
    n: Annotated[int, typer.Option("--n", help="Answers per side per prompt (paired by seed).")] = 1,
    p_chosen: Annotated[float, typer.Option("--p-chosen", help="Label by construction, in (0.5, 1].")] = 1.0,
    label_source: Annotated[
        str, typer.Option("--label-source", help="contrastive, or contrastive+critic (the critic rescores).")
    ] = "contrastive",
    critic: Annotated[str, typer.Option("--critic", help="Critic model for contrastive+critic.")] = "smollm2",
    drop_below: Annotated[
        float, typer.Option("--drop-below", help="contrastive+critic: drop pairs with critic p below this.")
    ] = 0.3,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Length cap of each answer.")] = 160,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature.")] = 0.7,
    seed: Annotated[int, typer.Option("--seed", help="Run seed (principles and sampling).")] = 0,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    templates: TemplatesOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
) -> None:
    """Make contrastive (RLCD) preference pairs: follow vs oppose the sampled principles, same seed."""
    from rlaif.cli._validation import flag_errors
    from rlaif.constitution import load_constitution
    from rlaif.feedback.call_cache import open_backend
    from rlaif.feedback.contrastive import (
        ContrastConfig,
        contrastive_label_run,
        generate_contrastive,
        write_contrast_run,
    )
    from rlaif.feedback.inputs import load_prompts
    from rlaif.feedback.responses import GenerateConfig, write_responses
    from rlaif.prompting import TemplateSet

    started = time.monotonic()
    cfg = ContrastConfig(
        k=k,
        seed=seed,
        p_chosen=p_chosen,
        label_source=label_source,
        drop_below=drop_below,
    )
    with flag_errors("contrast"):
        gen = GenerateConfig(
            n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, progress=progress
        )
    const = load_constitution(constitution)
    tset = TemplateSet.load(templates)
    rows = load_prompts(prompts)
    cache_file = cache_path(out, cache, no_cache)
    options = parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend)
    engine = open_backend(backend, policy, options=options, cache=cache_file)
    try:
        sets = generate_contrastive(engine, rows, const, tset, gen, cfg)
    finally:
        engine.close()
    write_responses(out / "responses", sets)
    judge = None
    if label_source == "contrastive+critic":
        judge = open_backend(backend, critic, options=options, cache=cache_file)
    try:
        run = contrastive_label_run(sets, const, cfg, critic=judge, templates=tset)
    finally:
        if judge is not None:
            judge.close()
    path = write_contrast_run(run, out / "labels")
    from rlaif.jobs.engine import write_run_record

    write_run_record(out, {"stage": "contrast", "prompts": str(prompts), "policy": policy, **run.stats})
    typer.echo(
        f"{run.stats['rows']} contrastive pair(s) from {len(sets)} prompt(s), {run.stats['dropped']} dropped "
        f"({time.monotonic() - started:.1f} s) → {path}"
    )
