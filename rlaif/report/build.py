"""Build the run report: ``report.html`` (self-contained, plots as inline SVG) and ``report.md`` from a run directory.

    rlaif report runs/<name>            # writes runs/<name>/report.html and report.md

The report is rebuilt from the files alone (no model is loaded, nothing is recomputed but summaries), so it takes
well under a second for a run of a few rounds. What a partially finished or older run lacks is marked, never fatal.
Every piece of text that came from a model or a user file is HTML-escaped: responses under judgement are untrusted.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from rlaif.atomic import atomic_write_text
from rlaif.report.feedback_sections import labeler_section, reward_section
from rlaif.report.policy_sections import (
    compliance_section,
    examples_section,
    rl_vs_distillation_section,
    win_rates_section,
)
from rlaif.report.render import render_html, render_markdown
from rlaif.report.run_sections import config_section, notes_section, summary_section, timing_section
from rlaif.report.rundir import read_run
from rlaif.report.section import Section
from rlaif.report.training_sections import drift_section, training_section
from rlaif.report.verdict import critic_justified, distillation_section, result_section
from rlaif.report.workbench_section import principles_sections

log = logging.getLogger(__name__)

REPORT_HTML = "report.html"
REPORT_MD = "report.md"


def build_report(run_dir: Path, *, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Read ``run_dir`` and write ``report.html`` and ``report.md`` into ``out_dir`` (default: ``run_dir``).

    Raises :class:`~rlaif.errors.RlaifError` only when ``run_dir`` is not a run directory; everything a partial or
    older run lacks is marked in the report.
    """
    t0 = time.perf_counter()
    run = read_run(run_dir)
    built = datetime.now(UTC).isoformat(timespec="seconds")
    justified, why = critic_justified(run)
    critic = [win_rates_section(run)]
    if not justified:
        critic[0].title += " (critic not validated)"
        critic[0].items.insert(0, ("p", f"Not a result: {why}. Shown for inspection only."))
    sections = [
        result_section(run, Section),
        summary_section(run, built),
        notes_section(run),
        *(critic if justified else []),
        compliance_section(run),
        *[
            x
            for x in (distillation_section(run, Section) or rl_vs_distillation_section(run),)
            if x is not None
        ],
        labeler_section(run),
        *principles_sections(run),
        reward_section(run),
        training_section(run),
        drift_section(run),
        examples_section(run),
        *([] if justified else critic),  # kept for inspection, after the graded results
        timing_section(run),
        config_section(run),
    ]
    title = f"rlaif run report: {run.name}"
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out / REPORT_HTML, out / REPORT_MD
    atomic_write_text(html_path, render_html(title, sections))
    atomic_write_text(md_path, render_markdown(title, sections))
    log.info("report of %s written to %s (%.2f s)", run.name, html_path, time.perf_counter() - t0)
    return html_path, md_path


__all__ = ["REPORT_HTML", "REPORT_MD", "build_report"]
