"""``rlaif contrast``: contrastive principle-conditioned pairs (RLCD), labelled by construction or by a critic.

    rlaif contrast --prompts data/prompts/plain.jsonl -c principles/plain.yaml -o out/contrast --k 2
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
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import CacheChoice, TemplatesOpt, cache_options, model_options
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
    from rlaif.constitution import load_constitution
    from rlaif.feedback.contrastive import contrastive_label_run, generate_contrastive, write_contrast_run
    from rlaif.feedback.inputs import load_prompts
    from rlaif.feedback.responses import write_responses
    from rlaif.jobs.engine import open_engine, write_run_record
    from rlaif.prompting import TemplateSet

    started = time.monotonic()
    gen = sampling.model_copy(update={"seed": contrast.seed})
    const = load_constitution(constitution)
    tset = TemplateSet.load(templates)
    rows = load_prompts(prompts)
    cache_file = cache.under(out)
    engine = open_engine(policy, cache=cache_file, role="policy")
    try:
        sets = generate_contrastive(engine, rows, const, tset, gen, contrast)
    finally:
        engine.close()
    write_responses(out / "responses", sets)
    judge = None
    if contrast.label_source == "contrastive+critic":
        judge = open_engine(policy.model_copy(update={"model": critic}), cache=cache_file, role="critic")
    try:
        run = contrastive_label_run(sets, const, contrast, critic=judge, templates=tset)
    finally:
        if judge is not None:
            judge.close()
    path = write_contrast_run(run, out / "labels")
    write_run_record(out, {"stage": "contrast", "prompts": str(prompts), "policy": policy.model, **run.stats})
    typer.echo(
        f"{run.stats['rows']} contrastive pair(s) from {len(sets)} prompt(s), {run.stats['dropped']} dropped "
        f"({time.monotonic() - started:.1f} s) → {path}"
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
