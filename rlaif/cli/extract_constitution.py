"""``rlaif extract-constitution --pairs FILE``: a constitution that explains a set of preferences (inverse CAI).

    rlaif extract-constitution --pairs data/human_labels/trl_format.jsonl -o out/extracted --critic smollm2

Writes ``constitution.yaml`` (loads with rlaif's loader; per-principle metrics as comments), ``extract.json`` (every
candidate with its reconstruction agreement, relevance and support) and ``extract.md`` / ``extract.html``. The
preference file is TRL's format (``prompt``, ``chosen``, ``rejected``) or the transcript format. Exit code 1 when no
candidate reconstructs the held-out preferences well enough (the reports are still written). The flags build a
:class:`rlaif.jobs.extract_constitution.ExtractConstitutionJob` and
:func:`rlaif.jobs.extract_constitution.run_extract_constitution` runs it.
"""

from __future__ import annotations

from pathlib import Path

from rlaif.cli._common import cache_under_out, critic_groups
from rlaif.cli.config_options import config_group, job_options
from rlaif.jobs.extract_constitution import ExtractConstitutionJob
from rlaif.workbench.configs import ExtractConfig


def command(*, job: ExtractConstitutionJob) -> None:
    """Propose principles per preference pair with a critic, deduplicate them, keep those that reconstruct
    held-out preferences, and write them as a validated constitution with per-principle metrics."""
    from rlaif.jobs.extract_constitution import run_extract_constitution
    from rlaif.workbench.inspection import fmt

    result = run_extract_constitution(job)
    extraction = result.extraction
    for c in extraction.candidates:
        mark = "kept" if c.selected else "    "
        print(f"{mark} {c.id}: agreement {fmt(c.agreement)}, relevance {fmt(c.relevance)} — {c.text}")
    print(f"wrote {result.report_json}, {result.report_md}, {result.report_html} ({result.seconds:.1f} s)")
    target = result.require_constitution()
    assert extraction.constitution is not None
    print(
        f"wrote {target}: {len(extraction.constitution.principles)} principle(s); whole constitution on "
        f"{extraction.test_pairs} test pairs: {fmt(extraction.test_agreement)}"
    )


command = job_options(
    ExtractConstitutionJob,
    command="extract-constitution",
    defaults={"out": Path("out/extracted")},
    groups={
        **critic_groups(),
        "config": config_group(ExtractConfig),
    },
    derive={"cache": cache_under_out},
)(command)
