"""The report's sections about the run itself: its summary and stages, what is missing or odd, time and
throughput per stage, and the resolved configuration."""

from __future__ import annotations

import json
from typing import Any

from rlaif.report.cells import _rounded
from rlaif.report.rundir import STAGES, RunData, StageInfo, unconfigured_stages
from rlaif.report.section import Section
from rlaif.report.svg import Bar, bar_chart


def summary_section(run: RunData, built: str) -> Section:
    s = Section("Run", "run")
    r = run.run
    c: dict[str, Any] = r["constitution"] if isinstance(r.get("constitution"), dict) else {}
    rows = [
        ["name", run.name],
        ["status", str(r.get("status", "unknown"))],
        ["rounds", f"{len(run.rounds)} (planned: {r.get('rounds', 'unknown')})"],
        ["rlaif version", str(r.get("rlaif_version", "unknown"))],
        ["created", str(r.get("created", "unknown"))],
        ["constitution", f"{c.get('path', 'unknown')} (hash {str(c.get('hash', '?'))[:12]})"],
        ["report built", built],
    ]
    s.table(["", ""], rows)
    principles = c.get("principles")
    if isinstance(principles, list) and principles:
        s.p(f"Principles ({len(principles)}): " + ", ".join(str(p) for p in principles))
    names = _stage_names(run)
    stages = [
        [f"round {rnd.k}"] + [_stage_cell(name, rnd.stages.get(name)) for name in names] for rnd in run.rounds
    ]
    s.sub("Stages")
    s.table(["round", *names], stages)
    absent = [n for n in STAGES if n not in names]
    if absent:
        s.p(f"Not in this pipeline: {', '.join(absent)}.")
    if not run.rounds:
        s.p("No round has started.")
    return s


def _stage_cell(name: str, st: StageInfo | None) -> str:
    if st is None or st.status == "missing":
        return "not run (yet)"
    return st.status + (f" ({st.seconds:.0f} s)" if st.seconds is not None else "")


def _stage_names(run: RunData) -> list[str]:
    """The stages this run's pipeline has (the standard ones it leaves out are listed apart), then any others."""
    absent = unconfigured_stages(run.run.get("pipeline"))
    ran = {n for rnd in run.rounds for n, st in rnd.stages.items() if st.exists}
    names = [n for n in STAGES if n not in absent or n in ran]
    for rnd in run.rounds:
        names += [n for n, st in rnd.stages.items() if n not in names and n not in STAGES and st.exists]
    return names


def notes_section(run: RunData) -> Section:
    s = Section("What is missing or odd", "notes")
    if not run.notes:
        s.p("Nothing: every stage of every round finished and every file was read.")
    for n in run.notes:
        s.items.append(("li", n))
    return s


def timing_section(run: RunData) -> Section:
    s = Section("Time and throughput per stage", "timing")
    rows = []
    series: list[tuple[str, list[Bar | None]]] = []
    for rnd in run.rounds:
        bars: list[Bar | None] = []
        for name in _stage_names(run):
            st = rnd.stages.get(name)
            if st is None:
                bars.append(None)
                continue
            bars.append(Bar(st.seconds) if st.seconds is not None else None)
            if st.seconds is not None or st.throughput:
                tp = st.throughput or {}
                per = tp.get("per_second")
                rows.append(
                    [
                        f"round {rnd.k}",
                        name,
                        st.status,
                        f"{st.seconds:.1f}" if st.seconds is not None else "n/a",
                        f"{per:.3g} {tp.get('unit', '')}/s" if isinstance(per, int | float) else "n/a",
                    ]
                )
        series.append((f"round {rnd.k}", bars))
    if not rows:
        s.p("No stage recorded its time (manifests missing).")
        return s
    s.plot(bar_chart("Seconds per stage", _stage_names(run), series, y_label="seconds"))
    s.table(["round", "stage", "status", "seconds", "throughput"], rows)
    total = sum(st.seconds or 0.0 for r in run.rounds for st in r.stages.values())
    s.p(f"Total recorded stage time: {total:.0f} s.")
    return s


def config_section(run: RunData) -> Section:
    s = Section("Configuration", "config")
    pipeline = run.run.get("pipeline")
    if pipeline is None:
        s.p("run.json records no pipeline configuration.")
    else:
        s.pre(
            "resolved pipeline (run.json)",
            json.dumps(_rounded(pipeline), indent=2, sort_keys=True, default=str),
        )
    return s


__all__ = ["config_section", "notes_section", "summary_section", "timing_section"]
