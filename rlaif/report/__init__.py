"""The run report: ``report.html`` (self-contained, inline SVG plots) and ``report.md`` built from a run directory.

>>> from rlaif.report import build_report
>>> html, md = build_report(Path("runs/demo"))  # doctest: +SKIP
"""

from rlaif.report.build import REPORT_HTML, REPORT_MD, build_report
from rlaif.report.rundir import RoundInfo, RunData, StageInfo, read_run

__all__ = ["REPORT_HTML", "REPORT_MD", "RoundInfo", "RunData", "StageInfo", "build_report", "read_run"]
