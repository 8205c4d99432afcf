"""``rlaif diff-constitution OLD NEW --responses DIR``: which labels flip, and which principle edit caused each.

    rlaif diff-constitution principles/hhh.yaml my-hhh.yaml -r out/responses -o out/diff --critic smollm2
    rlaif diff-constitution my-hhh.yaml -r out/responses -o out/sens --paraphrases 3     # wording sensitivity
    rlaif diff-constitution my-hhh.yaml -r out/responses -o out/sens --variants mine.yaml

Writes ``diff.md``, ``diff.html`` and ``diff.json`` (with NEW), and ``sensitivity.md/.html/.json`` (with
``--paraphrases`` or ``--variants``). The critic's calls go through the call cache (``<out>/../.rlaif-cache.sqlite``
by default, shared with ``rlaif label``): principles whose question did not change cost nothing. The arguments and
flags build a :class:`rlaif.jobs.diff_constitution.DiffConstitutionJob` and
:func:`rlaif.jobs.diff_constitution.run_diff_constitution` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rlaif.cli._common import cache_under_out, critic_groups
from rlaif.cli.config_options import config_group, job_options
from rlaif.feedback.label_config import LabelConfig
from rlaif.jobs.diff_constitution import DiffConstitutionJob
from rlaif.workbench.configs import DiffConstitutionConfig

if TYPE_CHECKING:
    from rlaif.jobs.diff_constitution import DiffConstitutionResult


def command(*, job: DiffConstitutionJob) -> None:
    """Label the responses under OLD and NEW and report every flipped label with the principle change behind it;
    with --paraphrases/--variants, report how stable each principle's labels are when it is reworded.

    -k, --seed and --progress are fields of the label config (as in `rlaif label`); the options from --examples on
    are fields of the diff config."""
    from rlaif.jobs.diff_constitution import run_diff_constitution

    _summary(run_diff_constitution(job))


#: LabelConfig fields `rlaif diff-constitution` offers (both versions are labelled with them; the rest keep
#: `rlaif label`'s defaults)
LABEL_FIELDS = ("k", "seed", "progress")

command = job_options(
    DiffConstitutionJob,
    command="diff-constitution",
    arguments={"old", "new"},
    defaults={"responses": Path("out/responses"), "out": Path("out/diff")},
    groups={
        **critic_groups(),
        "label": config_group(
            LabelConfig,
            flags={"k": ("-k", "--k")},
            skip=[field for field in LabelConfig.model_fields if field not in LABEL_FIELDS],
        ),
        "config": config_group(DiffConstitutionConfig, flags={"principles": ("--principle",)}),
    },
    derive={"cache": cache_under_out},
)(command)


def _summary(result: DiffConstitutionResult) -> None:
    from rlaif.workbench.inspection import fmt

    diff = result.diff
    if diff is not None:
        print(
            f"{len(diff.flips)} of {diff.compared} labels flipped; critic prompts computed: "
            f"{diff.calls_old} (old) + {diff.calls_new} (new), the rest from the cache"
        )
        for pid, n in diff.causes().items():
            print(f"  {pid}: {n} flip(s)")
    for r in result.sensitivity or ():
        verdict = "FRAGILE" if r.fragile else "stable"
        print(f"  {r.principle}: {len(r.variants)} rewording(s), stability {fmt(r.stability)} {verdict}")
    if result.no_rewording:
        print(f"  no usable rewording for: {', '.join(result.no_rewording)}")
    for path in result.written:
        print(f"wrote {path}")
