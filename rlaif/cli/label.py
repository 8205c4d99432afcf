"""``rlaif label``: pairwise soft preference labels from a critic model under a constitution.

    rlaif label --responses out/responses --constitution principles/hhh.yaml --critic smollm2 -k 4 -o out/labels

Writes ``<out>/data.parquet`` (TRL preference columns + provenance), ``unlabeled.jsonl`` (pairs not labelled or
filtered, with the reason), ``stats.json``, the dataset card ``README.md``, and ``run.json`` (cache hits/misses).
Every critic call is cached in ``<out>/../.rlaif-cache.sqlite`` (or ``--cache``): a killed run resumes and gives
byte-identical output; editing one principle recomputes only the calls that used it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rlaif.cli._common import cache_under_out, critic_groups, executor_group
from rlaif.cli.config_options import Form, comma_pair, config_group, job_options, switch
from rlaif.feedback.label_config import GateSettings, LabelConfig
from rlaif.jobs.label import LabelJob

if TYPE_CHECKING:
    from rlaif.jobs.label import LabelResult


def command(*, job: LabelJob) -> None:
    """Label response pairs with soft preferences from a critic (both orders, k principles, cached, resumable).

    Every option from -k on is a field of the label config (a pipeline's `label:` section), described there.
    With --executor ray the critic runs on a pool of Ray workers (--workers, --gpus-per-worker, --address); the
    dataset is the same as with the local executor.
    """
    from rlaif.jobs.label import run_label

    _summary(run_label(job))


#: LabelConfig fields whose flag is not ``--`` + the field name with dashes
FLAGS: dict[str, tuple[str, ...]] = {
    "k": ("-k", "--k"),
    "tags": ("--tag",),
    "chain_of_thought": ("--cot",),
    "dataset_format": ("--format",),
    "push_private": ("--private",),
    "progress": ("--progress/--no-progress",),
}

#: LabelConfig fields offered in another form
FORMS = {
    "both_orders": switch("one_order", "ask in one order only (to measure position bias)"),
    "cot_clamp": Form(
        "cot_clamp",
        typer.Option("--cot-clamp", help="clamp of each order's chain-of-thought probability: LOW,HIGH"),
        str,
        "0.4,0.6",
        comma_pair("--cot-clamp"),
    ),
}

#: LabelConfig fields with no `rlaif label` flag, and why
PIPELINE_ONLY = {
    **dict.fromkeys(
        ("p_chosen", "contrast_select", "drop_below"),
        "contrastive pairs are sampled by a pipeline's generate stage, which labels them with these",
    ),
    "gate": "`rlaif label` does not gate its critic (measure one with `rlaif eval judge`); a pipeline does",
}

command = job_options(
    LabelJob,
    command="label",
    defaults={"constitution": Path("principles/hhh.yaml")},
    skip={"older_responses": "a pipeline's later rounds", "run_record": "always written"},
    groups={
        **critic_groups(price=True),
        "ray": executor_group(),
        "config": config_group(
            LabelConfig,
            flags=FLAGS,
            forms=FORMS,
            skip=PIPELINE_ONLY,
            fixed={"gate": GateSettings(enabled=False)},
        ),
    },
    derive={"cache": cache_under_out},
)(command)


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
