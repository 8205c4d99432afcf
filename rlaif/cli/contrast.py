"""``rlaif contrast``: contrastive principle-conditioned pairs (RLCD), labelled by construction or by a critic.

    rlaif contrast --prompts data/prompts/plain.jsonl -c principles/plain.yaml -o out/contrast --k 2
    rlaif contrast ... --label-source contrastive+critic --critic smollm2 --drop-below 0.3

For each prompt k principles are sampled; the policy answers under a system prompt asking to follow them and under
one asking for the opposite (templates contrast_positive / contrast_negative), with the same seed. Writes
``<out>/responses/data.parquet`` (both sides, with their system prompts and sides) and ``<out>/labels/data.parquet``
(TRL preference columns, the prompt WITHOUT the system prompt, and provenance; see
:mod:`rlaif.feedback.contrastive`). Train on it with ``rlaif train-policy``. The flags build a
:class:`rlaif.jobs.contrast.ContrastJob` and :func:`rlaif.jobs.contrast.run_contrast` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import CacheChoice, TemplatesOpt, cache_options, model_options
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import config_options
from rlaif.feedback.contrastive import ContrastConfig, ContrastGenerateConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec


def command(
    prompts: Annotated[Path, typer.Option("--prompts", help="Prompt file (jsonl/json/csv/parquet).")],
    constitution: Annotated[Path, typer.Option("--constitution", "-c", help="Constitution (YAML).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (responses/ and labels/).")],
    critic: Annotated[
        str, typer.Option("--critic", help="Critic model for contrastive+critic (on the policy's backend).")
    ] = "smollm2",
    templates: TemplatesOpt = None,
    *,
    policy: ModelSpec,
    cache: CacheChoice,
    contrast: ContrastConfig,
    sampling: ContrastGenerateConfig,
) -> None:
    """Make contrastive (RLCD) preference pairs: follow vs oppose the sampled principles, same seed.

    The options from --k to --select are the contrast config's fields, the ones after them the sampling's (its seed
    is --seed)."""
    from rlaif.jobs.contrast import ContrastJob, run_contrast

    with flag_errors("contrast"):
        job = ContrastJob(
            prompts=prompts,
            constitution=constitution,
            templates=templates,
            out=out,
            policy=policy,
            critic=policy.model_copy(update={"model": critic}),
            cache=cache.under(out),
            contrast=contrast,
            sampling=sampling,
        )
    result = run_contrast(job)
    typer.echo(
        f"{result.stats['rows']} contrastive pair(s) from {len(result.sets)} prompt(s), {result.stats['dropped']} "
        f"dropped ({result.seconds:.1f} s) → {result.labels}"
    )


command = model_options(
    "policy", command="contrast", default="smollm2", help="Policy model: alias, local path or hub id."
)(command)
command = cache_options(command="contrast")(command)
command = config_options(ContrastConfig, command="contrast", param="contrast", flags={"tags": ("--tag",)})(
    command
)
command = config_options(
    ContrastGenerateConfig,
    command="contrast",
    param="sampling",
    skip={
        "seed": "one seed (--seed) drives the principles and the sampling",
        "overlong": "contrast prompts are not truncated or skipped by length",
        "max_prompt_tokens": "contrast prompts are not truncated or skipped by length",
    },
)(command)
