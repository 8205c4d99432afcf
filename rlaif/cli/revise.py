"""``rlaif revise``: critique → revision data, with every revision checked by the critic.

    rlaif revise --prompts data/prompts/smoke.jsonl --constitution principles/hhh.yaml \\
        --policy smollm2 --critic smollm2 -r 1 -o out/revisions

Writes ``<out>/sft`` (TRL ``messages``: the conversation with the final revision) and ``<out>/pairs`` (TRL
preference pairs: revision vs original, kept when the critic prefers the revision; ``--accept``). The flags build a
:class:`rlaif.jobs.revise.ReviseJob` (options map 1:1 onto its :class:`rlaif.feedback.revise_config.ReviseConfig`)
and :func:`rlaif.jobs.revise.run_revise` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlaif.cli._common import cache_group, policy_and_critic_group
from rlaif.cli.config_options import config_group, job_options, switch
from rlaif.feedback.revise_config import ReviseConfig
from rlaif.jobs.revise import ReviseJob


def command(*, job: ReviseJob) -> None:
    """Critique and revise responses under a constitution; write SFT data and critic-checked preference pairs.

    Every option from --rounds on is a field of the revise config (a pipeline's `revise:` section), described there.
    """
    from rlaif.jobs.revise import run_revise

    result = run_revise(job)
    print(result.run.stats.summary())
    print(f"SFT data: {result.sft_dir} ({len(result.run.sft_rows)} rows)")
    print(f"preference pairs: {result.pairs_dir} ({len(result.run.pair_rows)} rows)")


def _config(values: Mapping[str, Any]) -> ReviseConfig:
    """The revise config with the call cache of ``--cache``/``--no-cache`` (the job's ``use_cache`` says whether
    one is used)."""
    path = values["cache"].under(values["out"])
    config: ReviseConfig = values["config"]
    return config.model_copy(update={"cache": None if path is None else str(path)})


#: ReviseConfig fields offered in another form
FORMS = {
    "sft_filter": switch(
        "sft_accepted_only",
        "SFT data only from accepted revisions.",
        lambda accepted_only: "accepted" if accepted_only else "all",
    ),
    "drop_truncated": switch("keep_truncated", "Keep revisions cut at --revision-max-new-tokens."),
}

command = job_options(
    ReviseJob,
    command="revise",
    defaults={"out": Path("out/revisions")},
    groups={
        "models": policy_and_critic_group(),
        "cache": cache_group(),
        "config": config_group(
            ReviseConfig,
            flags={"principle_tags": ("--tag",)},
            forms=FORMS,
            skip={"cache": "set by --cache / --no-cache"},
        ),
    },
    derive={
        "policy": lambda values: values["models"][0],
        "critic": lambda values: values["models"][1],
        "use_cache": lambda values: not values["cache"].off,
        "config": _config,
    },
)(command)
