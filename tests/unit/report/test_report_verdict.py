"""The report's first screen (one-sentence result), the critic shown only when validated, the ceiling table, axes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rlaif.report.build import build_report
from rlaif.report.rundir import read_run
from rlaif.report.svg import Series, line_chart
from rlaif.report.verdict import critic_justified, result_sentence
from rlaif.testing.sample_run import write_sample_run


def _all_rules(run: Path, k: int) -> dict:
    ev = json.loads((run / f"round-{k}" / "evaluate" / "eval.json").read_text())
    return next(c for c in ev["compliance"] if c["principle"] == "all")


def test_first_section_states_the_result_with_its_interval(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "demo", rounds=2)
    _, md = build_report(run)
    text = md.read_text()
    first = text.split("## ")[1]
    assert first.startswith("Result")
    row = _all_rules(run, 2)
    sentence = result_sentence(read_run(run))
    assert (
        f"{100 * row['after']['value']:.0f}% of the time against {100 * row['before']['value']:.0f}%"
        in sentence
    )
    assert f"95% CI [{100 * row['gain']['low']:+.0f}, {100 * row['gain']['high']:+.0f}]" in sentence
    assert sentence in first
    # the critic was not validated in the sample run: its win rate comes after the graded results, flagged
    assert "critic not validated" in text
    assert text.index("## Rule compliance") < text.index(
        "## Win rate against the baseline (critic not validated)"
    )


def test_critic_is_justified_only_above_chance(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "demo", rounds=1)
    data = read_run(run)
    assert critic_justified(data)[0] is False
    assert data.rounds[0].eval is not None
    labeler = data.rounds[0].eval.setdefault("labeler", {})
    labeler["human_agreement"] = {"accuracy": {"value": 0.7, "low": 0.6, "high": 0.8, "n": 100}}
    assert critic_justified(data)[0] is True
    labeler["human_agreement"] = {"accuracy": {"value": 0.52, "low": 0.45, "high": 0.6, "n": 100}}
    ok, why = critic_justified(data)
    assert ok is False and "not above chance" in why
    # without human labels, the evaluation's gold-set gate decides
    labeler["human_agreement"] = None
    labeler["critic_gate"] = {"passed": False, "accuracy": {"value": 0.5, "low": 0.36, "high": 0.64, "n": 48}}
    ok, why = critic_justified(data)
    assert ok is False and why == "the critic agrees with the gold set only 50% [36, 64], not above chance"
    labeler["critic_gate"] = {"passed": True, "accuracy": {"value": 0.9, "low": 0.78, "high": 0.96, "n": 48}}
    assert critic_justified(data) == (True, "the critic agrees with the gold set 90% [78, 96], above chance")


def test_ceiling_table_for_contrastive_runs(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "demo", rounds=1)
    comp = {
        "all": {"value": 0.2, "low": 0.1, "high": 0.3, "n": 64},
        "concise": {"value": 0.3, "low": 0.2, "high": 0.4, "n": 64},
    }
    side = {"compliance": comp, "cut": 0.5, "mean_words": 80.0}
    (run / "round-1" / "ceiling").mkdir()
    (run / "round-1" / "ceiling" / "ceiling.json").write_text(
        json.dumps({"n": 64, "none": side, "positive": {**side, "cut": 0.1}, "negative": side})
    )
    _, md = build_report(run)
    text = md.read_text()
    assert "## Context distillation: system prompt → weights" in text
    assert "| all | 20% [10, 30] | 20% [10, 30] | 20% [10, 30] |" in text
    assert "| cut at the token limit | 50% | 10% | 50% |" in text


def test_rate_axis_stays_within_zero_and_one() -> None:
    svg = line_chart("w", [Series("c", [1, 2], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5])], y_range=(0.0, 1.0))
    y_ticks = [float(t) for t in re.findall(r'text-anchor="end" class="tick">(-?[\d.]+)</text>', svg)]
    assert y_ticks and max(y_ticks) == 1.0 and min(y_ticks) == 0.0
    # without a fixed range a flat series at 0.5 would stretch the axis past 1
    loose = line_chart("w", [Series("c", [1, 2], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5])])
    assert max(float(t) for t in re.findall(r'text-anchor="end" class="tick">(-?[\d.]+)</text>', loose)) > 1.0
