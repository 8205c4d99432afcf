"""``rlaif label``: pairwise soft preference labels from a critic model under a constitution.

    rlaif label --responses out/responses --constitution principles/hhh.yaml --critic smollm2 -k 4 -o out/labels

Writes ``<out>/data.parquet`` (TRL preference columns + provenance), ``unlabeled.jsonl`` (pairs not labelled or
filtered, with the reason), ``stats.json``, the dataset card ``README.md``, and ``run.json`` (cache hits/misses).
Every critic call is cached in ``<out>/../.rlaif-cache.sqlite`` (or ``--cache``): a killed run resumes and gives
byte-identical output; editing one principle recomputes only the calls that used it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    write_run_record,
)
from rlaif.errors import RlaifError

if TYPE_CHECKING:
    from rlaif.feedback.labeler import LabelRun


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
    cot: Annotated[
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
    private: Annotated[
        bool, typer.Option("--private", help="Create the --push-to-hub repo private.")
    ] = False,
) -> None:
    """Label response pairs with soft preferences from a critic (both orders, k principles, cached, resumable).

    With --executor ray the critic runs on a pool of Ray workers (--workers, --gpus-per-worker, --address); the dataset is the same as with the local executor.
    """
    from rlaif.constitution import load_constitution
    from rlaif.feedback.call_cache import open_backend
    from rlaif.feedback.judge import JudgeConfig
    from rlaif.feedback.label_output import write_label_run
    from rlaif.feedback.labeler import LabelConfig, label_dataset
    from rlaif.feedback.responses import read_responses
    from rlaif.prompting import TemplateSet

    started = time.monotonic()
    if pairing not in ("first_two", "all_pairs", "best_worst"):
        raise RlaifError(
            f"unknown pairing {pairing!r}", field="--pairing", hint="first_two, all_pairs or best_worst"
        )
    if best_worst_by not in ("critic", "rules"):
        raise RlaifError(
            f"unknown ranking {best_worst_by!r}", field="--best-worst-by", hint="critic or rules"
        )
    config = LabelConfig(
        k=k,
        seed=seed,
        tags=tuple(tags) if tags else None,
        pairing=pairing,  # type: ignore[arg-type]  # validated by make_pairs
        best_worst_by=best_worst_by,  # type: ignore[arg-type]
        judge=JudgeConfig(
            chain_of_thought=cot,
            cot_clamp=_clamp(cot_clamp),
            cot_max_new_tokens=cot_max_new_tokens,
            both_orders=not one_order,
            min_choice_mass=min_choice_mass,
            seed=seed,
            mode=judge_mode,
            top_logprobs=top_logprobs,
            verdict_samples=verdict_samples,
            verdict_temperature=verdict_temperature,
        ),
        min_confidence=min_confidence,
        label_source=label_source,  # type: ignore[arg-type]  # validated by LabelConfig
        batch_pairs=batch_pairs,
        push_to_hub=push_to_hub,
        progress=progress,
        dataset_format=dataset_format,
        keep_ties=keep_ties,
        push_private=private,
    )
    # every file is read and checked before a model is loaded
    sets = _input_sets(responses, pairs_file, read_responses)
    const = load_constitution(constitution)
    templates = TemplateSet.load(templates_dir)
    if push_to_hub:
        from rlaif.models.exporter import check_hub_reachable

        check_hub_reachable()
    needs_critic = label_source != "rules" or (pairing == "best_worst" and best_worst_by == "critic")
    cache_file = cache_path(out, cache, no_cache)
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
    engine: Any = None
    if needs_critic and on_ray is not None:
        from rlaif.scale import BackendSpec, RayBackendPool

        spec = BackendSpec(backend, critic, options, str(cache_file) if cache_file else None)
        engine = RayBackendPool(spec, on_ray)
        engine.open()
    elif needs_critic:
        engine = open_backend(backend, critic, options=options, cache=cache_file)
    try:
        run = label_dataset(sets, const, engine, templates, config)
        # the call cache's counts: the local cache wrapper's, or the pool's (summed over its workers)
        cached = engine if on_ray is not None and engine is not None else getattr(engine, "cache", None)
        write_run_record(
            out,
            {
                "stage": "label",
                "responses": str(responses if pairs_file is None else pairs_file),
                "constitution": str(constitution),
                "critic": engine.model_id if engine is not None else None,
                "backend": backend,
                "executor": executor,
                **({"workers": workers, "address": address} if on_ray is not None else {}),
                "cache": str(cache_file) if cache_file and engine is not None else None,
                "cache_hits": cached.hits if cached else 0,
                "cache_misses": cached.misses if cached else 0,
            },
        )
        path = write_label_run(run, out)
    finally:
        if engine is not None:
            engine.close()
    _summary(run, path, cached, time.monotonic() - started)


def _input_sets(responses: Path | None, pairs_file: str | None, read_responses: Any) -> Any:
    """The response sets to label: a responses dataset, or the pairs of a preference dataset (``--pairs``)."""
    if (responses is None) == (pairs_file is None):
        raise RlaifError(
            "give exactly one of --responses (from rlaif generate) or --pairs (a preference dataset to relabel)",
            field="--responses",
        )
    if pairs_file is not None:
        from rlaif.feedback.relabel import response_sets_from_pairs

        return response_sets_from_pairs(pairs_file)
    return read_responses(responses)


def _summary(run: LabelRun, path: Path, cached: Any, elapsed: float) -> None:
    from rich.console import Console
    from rich.table import Table

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
    if cached is not None:
        table.add_row("critic calls from cache / computed", f"{cached.hits} / {cached.misses}")
    table.add_row("time", f"{elapsed:.1f} s")
    table.add_row("output", str(path.parent))
    Console().print(table)
