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

from collections.abc import Mapping
from typing import Any

import typer

from rlaif.cli._common import cache_group, cache_under_out, model_group
from rlaif.cli.config_options import config_group, job_options, one_option
from rlaif.feedback.contrastive import ContrastConfig, ContrastGenerateConfig
from rlaif.jobs.contrast import ContrastJob


def command(*, job: ContrastJob) -> None:
    """Make contrastive (RLCD) preference pairs: follow vs oppose the sampled principles, same seed.

    The options from --k to --select are the contrast config's fields, the ones after them the sampling's (its seed
    is --seed)."""
    from rlaif.jobs.contrast import run_contrast

    result = run_contrast(job)
    typer.echo(
        f"{result.stats['rows']} contrastive pair(s) from {len(result.sets)} prompt(s), {result.stats['dropped']} "
        f"dropped ({result.seconds:.1f} s) → {result.labels}"
    )


def _critic(values: Mapping[str, Any]) -> Any:
    """The critic for contrastive+critic: ``--critic`` on the policy's backend and options."""
    return values["policy"].model_copy(update={"model": values["critic_model"]})


command = job_options(
    ContrastJob,
    command="contrast",
    groups={
        "policy": model_group("policy", default="smollm2", help="Policy model: alias, local path or hub id."),
        "critic_model": one_option(
            "critic", str, "smollm2", help="Critic model for contrastive+critic (on the policy's backend)."
        ),
        "cache": cache_group(),
        "contrast": config_group(ContrastConfig, flags={"tags": ("--tag",)}),
        "sampling": config_group(
            ContrastGenerateConfig,
            skip={
                "seed": "one seed (--seed) drives the principles and the sampling",
                "overlong": "contrast prompts are not truncated or skipped by length",
                "max_prompt_tokens": "contrast prompts are not truncated or skipped by length",
            },
        ),
    },
    derive={"cache": cache_under_out, "critic": _critic},
)(command)
