"""``rlaif revise``: critique → revision data, with every revision checked by the critic.

    rlaif revise --prompts data/prompts/smoke.jsonl --constitution principles/hhh.yaml \\
        --policy smollm2 --critic smollm2 -r 1 -o out/revisions

Writes ``<out>/sft`` (TRL ``messages``: the conversation with the final revision) and ``<out>/pairs`` (TRL
preference pairs: revision vs original, kept when the critic prefers the revision; ``--accept``). The flags build a
:class:`rlaif.jobs.revise.ReviseJob` (options map 1:1 onto its :class:`rlaif.feedback.revise_config.ReviseConfig`)
and :func:`rlaif.jobs.revise.run_revise` runs it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._common import (
    BackendOpt,
    BackendOptionOpt,
    CacheOpt,
    DeviceOpt,
    DtypeOpt,
    JudgeModeOpt,
    NoCacheOpt,
    TemplatesOpt,
    parse_backend_options,
)
from rlaif.cli._validation import flag_errors

#: config fields whose flag has another name
_FLAGS = {
    "drop_truncated": "--keep-truncated",
    "sft_filter": "--sft-accepted-only",
    "principle_tags": "--tag",
}


class Accept(StrEnum):
    """When a revision becomes "chosen" over the original."""

    both_orders = "both_orders"
    mean = "mean"
    always = "always"


class Reviser(StrEnum):
    """Who writes the revision."""

    policy = "policy"
    critic = "critic"


def command(
    constitution: Annotated[
        Path,
        typer.Option("--constitution", "-c", help="Constitution YAML (principles and few-shot examples)."),
    ],
    prompts: Annotated[
        Path | None,
        typer.Option(
            "--prompts", help="Prompt file (.jsonl/.json/.csv/.parquet or HF folder); the policy answers."
        ),
    ] = None,
    responses: Annotated[
        Path | None,
        typer.Option("--responses", help="Responses dataset from `rlaif generate` (instead of --prompts)."),
    ] = None,
    policy: Annotated[
        str, typer.Option("--policy", help="Policy model: alias, hub id or local folder.")
    ] = "smollm2",
    critic: Annotated[str, typer.Option("--critic", help="Critic model (critiques, checks).")] = "smollm2",
    rounds: Annotated[int, typer.Option("--rounds", help="Critique → revision rounds per prompt.")] = 1,
    accept: Annotated[
        Accept,
        typer.Option(
            "--accept",
            help="A revision is chosen if the critic prefers it in both orders (both_orders), on average (mean), "
            "or always (the open-recipe assumption; still checked and reported).",
        ),
    ] = Accept.both_orders,
    reviser: Annotated[
        Reviser, typer.Option("--reviser", help="Who writes the revision: the policy (paper) or the critic.")
    ] = Reviser.policy,
    few_shot: Annotated[
        bool,
        typer.Option("--few-shot/--no-few-shot", help="Prepend the constitution's examples as chat turns."),
    ] = True,
    sft_accepted_only: Annotated[
        bool, typer.Option("--sft-accepted-only", help="SFT data only from accepted revisions.")
    ] = False,
    critique_temperature: Annotated[float, typer.Option("--critique-temperature", help="0 = greedy.")] = 0.0,
    critique_max_new_tokens: Annotated[int, typer.Option("--critique-max-new-tokens")] = 256,
    revision_temperature: Annotated[float, typer.Option("--revision-temperature", help="0 = greedy.")] = 0.0,
    revision_max_new_tokens: Annotated[int, typer.Option("--revision-max-new-tokens")] = 384,
    response_temperature: Annotated[
        float, typer.Option("--response-temperature", help="Initial responses (with --prompts).")
    ] = 0.7,
    response_max_new_tokens: Annotated[int, typer.Option("--response-max-new-tokens")] = 256,
    keep_truncated: Annotated[
        bool, typer.Option("--keep-truncated", help="Keep revisions cut at --revision-max-new-tokens.")
    ] = False,
    response_index: Annotated[
        int, typer.Option("--response-index", help="Which response of each prompt to revise (--responses).")
    ] = 0,
    min_choice_mass: Annotated[
        float, typer.Option("--min-choice-mass", help="Unlabeled below this probability on the choices.")
    ] = 0.0,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only principles with this tag (repeat).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Principle sampling and sampled generation.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/revisions"),
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    critic_backend: Annotated[
        str | None,
        typer.Option("--critic-backend", help="The critic's own backend [default: --backend]; e.g. openai."),
    ] = None,
    critic_backend_option: Annotated[
        list[str] | None,
        typer.Option("--critic-backend-option", help="key=value for the critic's backend (repeat)."),
    ] = None,
    judge_mode: JudgeModeOpt = "auto",
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    templates: TemplatesOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N prompts.")] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip malformed prompt rows (logged) instead of stopping.")
    ] = False,
) -> None:
    """Critique and revise responses under a constitution; write SFT data and critic-checked preference pairs."""
    from rlaif.backends.spec import ModelSpec
    from rlaif.feedback.revise_config import ReviseConfig
    from rlaif.jobs.revise import ReviseJob, run_revise

    options = parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend)
    critic_options = (
        parse_backend_options(critic_backend_option, device=device, dtype=dtype, backend=critic_backend)
        if critic_backend is not None and critic_backend != backend
        else {**options, **parse_backend_options(critic_backend_option, backend=critic_backend or backend)}
    )
    with flag_errors("revise", _FLAGS):
        job = ReviseJob(
            constitution=constitution,
            out=out,
            prompts=prompts,
            responses=responses,
            policy=ModelSpec(model=policy, backend=backend, options=options),
            critic=ModelSpec(model=critic, backend=critic_backend or backend, options=critic_options),
            templates=templates,
            use_cache=not no_cache,
            skip_bad_rows=skip_bad_rows,
            limit=limit,
            config=ReviseConfig(
                rounds=rounds,
                accept=accept.value,
                reviser=reviser.value,
                few_shot=few_shot,
                sft_filter="accepted" if sft_accepted_only else "all",
                critique_temperature=critique_temperature,
                critique_max_new_tokens=critique_max_new_tokens,
                revision_temperature=revision_temperature,
                revision_max_new_tokens=revision_max_new_tokens,
                response_temperature=response_temperature,
                response_max_new_tokens=response_max_new_tokens,
                drop_truncated=not keep_truncated,
                response_index=response_index,
                min_choice_mass=min_choice_mass,
                principle_tags=tuple(tag) if tag else None,
                seed=seed,
                cache=str(cache) if cache is not None and not no_cache else None,
                judge_mode=judge_mode,  # type: ignore[arg-type]  # validated by ReviseConfig
            ),
        )
    result = run_revise(job)
    print(result.run.stats.summary())
    print(f"SFT data: {result.sft_dir} ({len(result.run.sft_rows)} rows)")
    print(f"preference pairs: {result.pairs_dir} ({len(result.run.pair_rows)} rows)")
