"""``rlaif generate``: sample n responses per prompt from a policy model.

    rlaif generate --prompts data/prompts/smoke.jsonl --policy smollm2 -n 2 -o out/responses

The flags build a :class:`rlaif.jobs.generate.GenerateJob` (its ``config`` a
:class:`rlaif.feedback.responses.GenerateConfig`) and :func:`rlaif.jobs.generate.run_generate` runs it. Writes
``<out>/data.parquet`` (one row per prompt: the responses, their finish reasons, the seed, the policy and the
sampling parameters; see :mod:`rlaif.feedback.responses`) and ``<out>/run.json``. Every call is seeded and cached in
``<out>/../.rlaif-cache.sqlite`` (or ``--cache``), so a killed run resumes where it stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlaif.cli._common import cache_group, cache_under_out, executor_group, model_group, parse_field_map
from rlaif.cli.config_options import config_group, job_options, one_option
from rlaif.feedback.responses import GenerateConfig
from rlaif.jobs.generate import GenerateJob

if TYPE_CHECKING:
    from rlaif.jobs.generate import GenerateResult


def command(*, job: GenerateJob) -> None:
    """Sample n responses per prompt from a policy model (seeded, cached, resumable).

    With --executor ray the policy runs on a pool of Ray workers (--workers, --gpus-per-worker, --address); the responses are the same as with the local executor.
    """
    from rlaif.jobs.generate import run_generate

    _summary(run_generate(job))


command = job_options(
    GenerateJob,
    command="generate",
    skip={"contrastive": "rlaif contrast", "write_record": "always written"},
    groups={
        "policy": model_group("policy", default="smollm2", help="Policy model: alias, local path or hub id."),
        "cache": cache_group(),
        "ray": executor_group(),
        "config": config_group(GenerateConfig),
        "field_map": one_option(
            "field",
            list[str] | None,
            None,
            help="Map a field: OUR=THEIRS (prompt, id, split). Repeatable.",
            build=parse_field_map,
        ),
    },
    derive={"cache": cache_under_out},
)(command)


def _summary(result: GenerateResult) -> None:
    from rich.console import Console
    from rich.table import Table

    sets = result.sets
    responses = result.responses
    cut = sum(r == "length" for s in sets for r in s.finish_reasons)
    table = Table(title="rlaif generate", show_header=False)
    table.add_row("prompts", str(len(sets)))
    table.add_row("responses", str(responses))
    table.add_row("hit max_new_tokens", f"{cut} ({100 * cut / max(responses, 1):.0f}%)")
    table.add_row("truncated prompts", str(sum(s.truncated for s in sets)))
    if result.cache_hits or result.cache_misses:
        table.add_row("calls from cache / computed", f"{result.cache_hits} / {result.cache_misses}")
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("output", str(result.path.parent))
    Console().print(table)
