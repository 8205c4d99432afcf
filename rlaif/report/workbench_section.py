"""The run report's "Principles" section: ``rlaif inspect`` on each round's labels (see :mod:`rlaif.workbench`).

Kept in its own file so the report builder only lists it. A round without a readable labels dataset is skipped
with a note; nothing here fails the report.
"""

from __future__ import annotations

from typing import Any

from rlaif.errors import RlaifError
from rlaif.report.rundir import RunData


def principles_sections(run: RunData) -> list[Any]:
    """One report section (empty list when no round has labels) with each round's per-principle measures."""
    from rlaif.report.section import Section as _Section
    from rlaif.workbench.inspection import conflict_rows, inspect_labels, principle_rows, summary_lines
    from rlaif.workbench.labels import read_label_table

    s = _Section("Principles", "principles")
    found = False
    for rnd in run.rounds:
        data = rnd.path / "label" / "data.parquet"
        if not data.is_file():
            continue
        try:
            result = inspect_labels(read_label_table(data))
        except RlaifError as e:
            run.notes.append(f"round {rnd.k} labels could not be inspected: {e.problem}")
            continue
        found = True
        s.sub(f"Round {rnd.k}")
        for line in summary_lines(result):
            s.p(line)
        s.table(*principle_rows(result))
        headers, rows = conflict_rows(result, limit=5)
        s.table(headers, rows)
    if not found:
        return []
    s.items.insert(
        0,
        (
            "p",
            "What each principle did to the labels (rlaif inspect): how often it was drawn, decisive, in agreement "
            "with the other principles of the pair and with its rule, and how much of it is position bias; then "
            "the principle pairs that confidently disagreed. 95% intervals over pairs.",
        ),
    )
    return [s]


__all__ = ["principles_sections"]
