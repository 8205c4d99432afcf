"""``rlaif label``: pairwise soft preference labels from a critic model under a constitution.

    rlaif label --responses out/responses --constitution principles/hhh.yaml --critic smollm2 -k 4 -o out/labels

Writes ``<out>/data.parquet`` (TRL preference columns + provenance), ``unlabeled.jsonl`` (pairs not labelled or
filtered, with the reason), ``stats.json``, the dataset card ``README.md``, and ``run.json`` (cache hits/misses).
Every critic call is cached in ``<out>/../.rlaif-cache.sqlite`` (or ``--cache``): a killed run resumes and gives
byte-identical output; editing one principle recomputes only the calls that used it.
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
    CriticOpt,
    DeviceOpt,
    DtypeOpt,
    ExecutorOpt,
    GpusPerWorkerOpt,
    JudgeModeOpt,
    NoCacheOpt,
    PriceOpt,
    ProgressOpt,
    TemplatesOpt,
    WorkersOpt,
    cache_path,
    parse_backend_options,
    parse_price,
    ray_options,
)
from rlaif.errors import RlaifError

if TYPE_CHECKING:
    from rlaif.jobs.label import LabelResult


def _clamp(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise RlaifError(
            f"bad --cot-clamp {text!r}", field="--cot-clamp", hint="write LOW,HIGH, e.g. 0.4,0.6"
        ) from None
    return lo, hi


def command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder of the labels dataset.")],
    responses: Annotated[
        Path | None, typer.Option("--responses", "-r", help="Responses dataset from `rlaif generate`.")
    ] = None,
    constitution: Annotated[Path, typer.Option("--constitution", "-c", help="Constitution YAML.")] = Path(
        "principles/hhh.yaml"
    ),
    critic: CriticOpt = "smollm2",
    k: Annotated[int, typer.Option("-k", "--k", help="Principles sampled per pair.")] = 4,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the principle draws (per pair, from the pair id).")
    ] = 0,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", help="Only principles with this tag (repeatable).")
    ] = None,
    chain_of_thought: Annotated[
        bool, typer.Option("--cot", help="Chain of thought: generate reasoning, then score (clamped).")
    ] = False,
    cot_clamp: Annotated[
        str, typer.Option("--cot-clamp", help="Clamp of chain-of-thought probabilities.")
    ] = "0.4,0.6",
    cot_max_new_tokens: Annotated[
        int, typer.Option("--cot-max-new-tokens", help="Reasoning length cap.")
    ] = 256,
    one_order: Annotated[
        bool, typer.Option("--one-order", help="Ask in one order only (to measure position bias).")
    ] = False,
    pairing: Annotated[
        str, typer.Option("--pairing", help="first_two, all_pairs or best_worst.")
    ] = "first_two",
    best_worst_by: Annotated[
        str, typer.Option("--best-worst-by", help="Ranking for best_worst: critic or rules.")
    ] = "critic",
    label_source: Annotated[str, typer.Option("--label-source", help="critic, rules or hybrid.")] = "critic",
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", help="Drop labels with |2p-1| below this.")
    ] = 0.0,
    min_choice_mass: Annotated[
        float,
        typer.Option("--min-choice-mass", help="Unlabeled if the critic puts less mass on the choices."),
    ] = 0.0,
    templates_dir: TemplatesOpt = None,
    batch_pairs: Annotated[
        int, typer.Option("--batch-pairs", help="Pairs per critic call (commit unit).")
    ] = 32,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    judge_mode: JudgeModeOpt = "auto",
    top_logprobs: Annotated[
        int,
        typer.Option("--top-logprobs", help="Top tokens asked for in top-logprobs mode (chat APIs: <= 20)."),
    ] = 20,
    verdict_samples: Annotated[
        int, typer.Option("--verdict-samples", help="Written verdicts sampled per prompt in verdict mode.")
    ] = 5,
    verdict_temperature: Annotated[
        float, typer.Option("--verdict-temperature", help="Their sampling temperature.")
    ] = 1.0,
    price: PriceOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    push_to_hub: Annotated[
        str | None, typer.Option("--push-to-hub", help="Push the dataset to this hub repo when done.")
    ] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    gpus_per_worker: GpusPerWorkerOpt = 0.0,
    cpus_per_worker: CpusPerWorkerOpt = 1.0,
    pairs_file: Annotated[
        str | None,
        typer.Option(
            "--pairs",
            help="Relabel an existing preference dataset instead (TRL or transcript rows; a file or a hub id).",
        ),
    ] = None,
    dataset_format: Annotated[
        str, typer.Option("--format", help="conversational (TRL messages, default), plain (strings) or auto.")
    ] = "conversational",
    keep_ties: Annotated[
        bool, typer.Option("--keep-ties", help="Keep p = 0.5 rows (dropped from hard-label data by default).")
    ] = False,
    push_private: Annotated[
        bool, typer.Option("--private", help="Create the --push-to-hub repo private.")
    ] = False,
    markers: Annotated[
        str | None,
        typer.Option(
            "--markers", help="Swapped answer markers: random (drawn with --seed) or two letters like K,Q."
        ),
    ] = None,
    batch_calibration: Annotated[
        bool,
        typer.Option(
            "--batch-calibration", help="Remove each order's mean log-odds over every batch of pairs."
        ),
    ] = False,
) -> None:
    """Label response pairs with soft preferences from a critic (both orders, k principles, cached, resumable).

    With --executor ray the critic runs on a pool of Ray workers (--workers, --gpus-per-worker, --address); the dataset is the same as with the local executor.
    """
    from pydantic import ValidationError

    from rlaif.backends.spec import ModelSpec
    from rlaif.feedback.label_config import GateSettings, LabelConfig
    from rlaif.jobs.label import LabelJob, run_label
    from rlaif.strict import ConfigError, invalid_config

    options = {
        **parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend),
        **parse_price(price),
    }
    on_ray = ray_options(
        executor,
        address=address,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
    )
    try:
        job = LabelJob(
            out=out,
            responses=responses,
            pairs=pairs_file,
            constitution=constitution,
            templates=templates_dir,
            critic=ModelSpec(model=critic, backend=backend, options=options),
            cache=cache_path(out, cache, no_cache),
            ray=on_ray,
            config=LabelConfig(
                k=k,
                seed=seed,
                tags=tuple(tags) if tags else None,
                pairing=pairing,  # type: ignore[arg-type]  # checked by LabelConfig
                best_worst_by=best_worst_by,  # type: ignore[arg-type]
                label_source=label_source,  # type: ignore[arg-type]
                min_confidence=min_confidence,
                batch_pairs=batch_pairs,
                chain_of_thought=chain_of_thought,
                cot_clamp=_clamp(cot_clamp),
                cot_max_new_tokens=cot_max_new_tokens,
                both_orders=not one_order,
                min_choice_mass=min_choice_mass,
                judge_mode=judge_mode,  # type: ignore[arg-type]
                top_logprobs=top_logprobs,
                verdict_samples=verdict_samples,
                verdict_temperature=verdict_temperature,
                markers=markers,
                batch_calibration=batch_calibration,
                # the command does not gate its critic (measure one with rlaif eval judge); a pipeline does
                gate=GateSettings(enabled=False),
                dataset_format=dataset_format,  # type: ignore[arg-type]
                keep_ties=keep_ties,
                push_to_hub=push_to_hub,
                push_private=push_private,
                progress=progress,
            ),
        )
    except (ValidationError, ConfigError) as e:
        names = {
            n: FLAGS.get(n, "--" + n.replace("_", "-"))
            for n in (*LabelConfig.model_fields, *LabelJob.model_fields)
        }
        raise invalid_config(
            e, what="rlaif label options", names=names, hint="rlaif label --help lists each option's values"
        ) from None
    result = run_label(job)
    _summary(result)


#: LabelConfig fields whose flag is not ``--`` + the field name with dashes
FLAGS = {
    "k": "-k",
    "tags": "--tag",
    "chain_of_thought": "--cot",
    "both_orders": "--one-order",
    "dataset_format": "--format",
    "push_private": "--private",
}


def _summary(result: LabelResult) -> None:
    from rich.console import Console
    from rich.table import Table

    if result.contrastive:
        table = Table(title="rlaif label (contrastive)", show_header=False)
        for key, value in result.summary.items():
            table.add_row(key, str(value))
        table.add_row("time", f"{result.elapsed_s:.1f} s")
        table.add_row("output", str(result.data.parent))
        Console().print(table)
        return
    run = result.run
    s = run.label_stats
    table = Table(title="rlaif label", show_header=False)
    table.add_row("pairs", str(s.pairs))
    table.add_row("rows kept", str(s.rows))
    table.add_row("filtered (min confidence)", str(s.filtered))
    table.add_row("ties dropped (p = 0.5)", str(s.ties_dropped))
    if run.rows and str(run.rows[0].get("policy_model", "")).startswith("pairs:"):
        from rlaif.feedback.relabel import original_agreement

        agreement = original_agreement(run.rows)
        table.add_row(
            "kept / reversed the original label",
            f"{agreement['kept_original']} / {agreement['reversed_original']}",
        )
    table.add_row("unlabeled", str(s.unlabeled))
    for reason, count in s.unlabeled_by_reason.items():
        table.add_row(f"  {reason}", str(count))
    if s.mean_p_chosen is not None:
        table.add_row("mean p_chosen", f"{s.mean_p_chosen:.3f}")
    if s.judge_mode:
        table.add_row("judge mode", str(s.judge_mode))
    usage = s.critic_usage
    if usage:
        table.add_row("critic requests (failed)", f"{usage['requests']} ({usage['failed_requests']})")
        table.add_row("critic tokens in / out", f"{usage['input_tokens']} / {usage['output_tokens']}")
        cost = usage.get("estimated_cost")
        table.add_row("estimated critic cost", "n/a (give --price)" if cost is None else f"{cost:.4f}")
    if s.critic:
        table.add_row("position-bias rate", f"{100 * s.critic.position_bias_rate:.1f}%")
        table.add_row("order consistency", f"{100 * s.critic.order_consistency:.1f}%")
    if s.rules.agreement_compared and s.rules.agreement_rate is not None:
        table.add_row(
            "rule/critic agreement", f"{100 * s.rules.agreement_rate:.1f}% of {s.rules.agreement_compared}"
        )
    if result.cache_hits or result.cache_misses:
        table.add_row("critic calls from cache / computed", f"{result.cache_hits} / {result.cache_misses}")
    table.add_row("time", f"{result.elapsed_s:.1f} s")
    table.add_row("output", str(result.data.parent))
    Console().print(table)
