"""``rlaif revise``: critique → revision data, with every revision checked by the critic.

    rlaif revise --prompts data/prompts/smoke.jsonl --constitution principles/hhh.yaml \\
        --policy smollm2 --critic smollm2 -r 1 -o out/revisions

Writes ``<out>/sft`` (TRL ``messages``: the conversation with the final revision) and ``<out>/pairs`` (TRL
preference pairs: revision vs original, kept when the critic prefers the revision; ``--accept``). The flags build a
:class:`rlaif.jobs.revise.ReviseJob` (options map 1:1 onto its :class:`rlaif.feedback.revise_config.ReviseConfig`)
and :func:`rlaif.jobs.revise.run_revise` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import CacheChoice, TemplatesOpt, cache_options, policy_and_critic_options
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import Form, config_options
from rlaif.feedback.revise_config import ReviseConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec


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
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/revisions"),
    templates: TemplatesOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N prompts.")] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip malformed prompt rows (logged) instead of stopping.")
    ] = False,
    *,
    models: tuple[ModelSpec, ModelSpec],
    cache: CacheChoice,
    config: ReviseConfig,
) -> None:
    """Critique and revise responses under a constitution; write SFT data and critic-checked preference pairs.

    Every option from --rounds on is a field of the revise config (a pipeline's `revise:` section), described there.
    """
    from rlaif.jobs.revise import ReviseJob, run_revise

    policy, critic = models
    cache_file = cache.under(out)
    with flag_errors("revise"):
        job = ReviseJob(
            constitution=constitution,
            out=out,
            prompts=prompts,
            responses=responses,
            policy=policy,
            critic=critic,
            templates=templates,
            use_cache=not cache.off,
            skip_bad_rows=skip_bad_rows,
            limit=limit,
            config=config.model_copy(update={"cache": None if cache_file is None else str(cache_file)}),
        )
    result = run_revise(job)
    print(result.run.stats.summary())
    print(f"SFT data: {result.sft_dir} ({len(result.run.sft_rows)} rows)")
    print(f"preference pairs: {result.pairs_dir} ({len(result.run.pair_rows)} rows)")


#: ReviseConfig fields offered in another form
FORMS = {
    "sft_filter": Form(
        "sft_accepted_only",
        typer.Option("--sft-accepted-only", help="SFT data only from accepted revisions."),
        bool,
        False,
        lambda accepted_only: "accepted" if accepted_only else "all",
    ),
    "drop_truncated": Form(
        "keep_truncated",
        typer.Option("--keep-truncated", help="Keep revisions cut at --revision-max-new-tokens."),
        bool,
        False,
        lambda keep: not keep,
    ),
}

command = policy_and_critic_options(command="revise")(command)
command = cache_options(command="revise")(command)
command = config_options(
    ReviseConfig,
    command="revise",
    flags={"principle_tags": ("--tag",)},
    forms=FORMS,
    skip={"cache": "set by --cache / --no-cache"},
)(command)
