"""Judge-benchmark reports: the metric table beside chance and length baselines, as Markdown, text and JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlaif.evals.judge_bench.metrics import Metrics
from rlaif.stats import Estimate

_PROB_METRICS = ("Brier vs soft label", "ECE vs soft label")


def fmt(e: Estimate | None, *, pct: bool = True) -> str:
    """``52.5% [40.1, 64.6]`` (or ``0.213 [0.180, 0.250]`` for a non-percentage)."""
    if e is None:
        return "n/a"
    if pct:
        return f"{100 * e.value:.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}]"
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def metrics_table(m: Metrics) -> list[str]:
    """Markdown rows: metric, judge, chance, pick-the-longer, pick-the-shorter (same pairs), n."""
    lines = [
        "| metric | judge | chance | pick-the-longer | pick-the-shorter | pairs |",
        "|---|---|---|---|---|---:|",
    ]
    for r in m.rows:
        pct = r.name not in _PROB_METRICS
        b = r.baselines
        cells = (fmt(b.chance), fmt(b.longer), fmt(b.shorter)) if b else ("", "", "")
        n = r.estimate.n if r.estimate else 0
        lines.append(f"| {r.name} | {fmt(r.estimate, pct=pct)} | {' | '.join(cells)} | {n} |")
    return lines


def verdict_lines(m: Metrics) -> list[str]:
    """The plain-language verdicts: length detector, at chance, position bias side."""
    out = []
    if m.length_verdict:
        out.append(m.length_verdict)
    if m.chance_verdict:
        out.append(m.chance_verdict)
    if m.position_first_share is not None:
        first = 100 * m.position_first_share
        side, share = ("first", first) if first >= 50 else ("second", 100 - first)
        out.append(f"position-biased pairs picked the {side}-shown response {share:.0f}% of the time")
    for reason, n in m.unlabeled.items():
        out.append(f"unlabeled: {n} item(s): {reason}")
    return out


def to_markdown(m: Metrics, header: dict[str, str]) -> str:
    """The whole report as Markdown; ``header`` is shown as a bullet list first (file, judge, settings)."""
    lines = ["# Judge benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in header.items()]
    lines += [
        f"- items: {m.n_items} ({m.n_labeled} judged, {m.n_human_ties} human ties)",
        "",
        "Intervals are 95%: Wilson for proportions (one outcome per pair), clustered Wilson for per-order "
        "verdicts, cluster bootstrap over pairs for Brier, ECE and the length gap. Chance and the length "
        "heuristics are scored on the same pairs as the judge. Definitions: docs/critics.md.",
        "",
        *metrics_table(m),
        "",
    ]
    lines += [
        f"**{v}**" if v.startswith(("LENGTH", "AT CHANCE", "BELOW CHANCE")) else v for v in verdict_lines(m)
    ]
    return "\n".join(lines) + "\n"


def to_dict(m: Metrics, header: dict[str, str]) -> dict[str, Any]:
    """A JSON-ready dict of the metrics and the header."""
    return {"header": header, **asdict(m)}


def write_report(m: Metrics, header: dict[str, str], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.md`` and ``report.json`` under ``out_dir``."""
    from rlaif.atomic import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "report.md", "json": out / "report.json"}
    atomic_write_text(paths["markdown"], to_markdown(m, header))
    atomic_write_text(paths["json"], json.dumps(to_dict(m, header), indent=2, ensure_ascii=False) + "\n")
    return paths


__all__ = ["fmt", "metrics_table", "to_dict", "to_markdown", "verdict_lines", "write_report"]
