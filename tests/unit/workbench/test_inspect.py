"""rlaif inspect: per-principle rates, the agreement matrix and conflicts, hand-worked on four labelled pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.cli.main import main
from rlaif.constitution.schema import Constitution, Principle, Rule
from rlaif.feedback.dataset_io import write_rows
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import LabelConfig, label_dataset
from rlaif.feedback.responses import ResponseSet
from rlaif.prompting import TemplateSet
from rlaif.stats import wilson_ci
from rlaif.workbench.inspection import inspect_labels
from rlaif.workbench.labels import read_label_table, table_from_rows


def j(ref: str, p_ab: float, p_ba: float, rule: tuple[bool, bool] | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"principle": ref, "p_ab": p_ab, "p_ba": p_ba, "source": "critic"}
    if rule is not None:
        rec["rule"] = {"a_passed": rule[0], "b_passed": rule[1]}
    return rec


def row(pair: str, p_a: float, *judgements: dict[str, Any]) -> dict[str, Any]:
    return {
        "pair_id": pair,
        "judgements": json.dumps(list(judgements)),
        "p_chosen": max(p_a, 1 - p_a),
        "a_is_chosen": p_a >= 0.5,
    }


ROWS = [
    row("p1", 0.85, j("x@1", 0.9, 0.9), j("y@1", 0.8, 0.8)),
    row("p2", 0.5, j("x@1", 0.9, 0.9), j("y@1", 0.1, 0.1)),  # x and y confidently opposite
    row("p3", 0.625, j("x@1", 0.8, 0.3), j("z@1", 0.7, 0.7, rule=(True, False))),  # x: same letter twice
    row("p4", 0.3, j("y@1", 0.2, 0.2), j("z@1", 0.4, 0.4, rule=(False, True))),
]


def _value(e: Any) -> float:
    assert e is not None
    return float(e.value)


def test_per_principle_rates_hand_worked() -> None:
    result = inspect_labels(table_from_rows(ROWS), threshold=0.2)
    by = {s.principle: s for s in result.principles}
    assert [s.principle for s in result.principles] == ["x@1", "y@1", "z@1"]
    x, y, z = by["x@1"], by["y@1"], by["z@1"]
    assert (x.drawn, y.drawn, z.drawn) == (3, 3, 2)
    assert x.drawn_rate == wilson_ci(3, 4)
    # |2p-1|: x .8 .8 .1 -> 2/3; y .6 .8 .6 -> 3/3; z .4 and .2 (not above 0.2) -> 1/2
    assert x.decisive == wilson_ci(2, 3) and y.decisive == wilson_ci(3, 3) and z.decisive == wilson_ci(1, 2)
    # leave-one-out: x agrees with y on p1, not p2, with z on p3; y: p1 yes, p2 no, p4 (z .4) yes; z: both
    assert x.agrees_with_ensemble == wilson_ci(2, 3)
    assert y.agrees_with_ensemble == wilson_ci(2, 3)
    assert z.agrees_with_ensemble == wilson_ci(2, 2)
    # z's rule passes A on p3 (critic .7: agrees) and B on p4 (critic .4: agrees); x and y have no rule
    assert z.agrees_with_rule == wilson_ci(2, 2) and x.agrees_with_rule is None
    # x chose the same letter in both orders on p3: 1 of 3
    assert x.position_bias == wilson_ci(1, 3) and not x.mostly_position_bias
    assert y.position_bias == wilson_ci(0, 3)


def test_matrix_and_conflicts() -> None:
    result = inspect_labels(table_from_rows(ROWS), threshold=0.2)
    cells = {(s.first, s.second): s for s in result.matrix}
    xy = cells[("x@1", "y@1")]
    assert xy.together == 2 and xy.agreement == wilson_ci(1, 2) and xy.conflict == wilson_ci(1, 2)
    assert xy.conflict_examples == ("p2",)
    assert cells[("x@1", "z@1")].agreement == wilson_ci(1, 1)
    assert cells[("y@1", "z@1")].conflict == wilson_ci(0, 1)
    assert [f"{c.first} vs {c.second}" for c in result.conflicts] == ["x@1 vs y@1"]
    assert result.pairs == 4 and result.judgements == 8
    d = result.to_dict()
    assert d["conflicts"] == ["x@1 vs y@1"] and d["position_biased"] == []
    assert 0 < d["overall"]["position_bias"]["value"] < d["overall"]["position_bias"]["high"]


def test_mostly_position_bias_and_redundancy_flags() -> None:
    rows = [
        row(f"q{i}", 0.5, j("lazy@1", 0.9, 0.1), j("a@1", 0.9, 0.8), j("b@1", 0.8, 0.9)) for i in range(20)
    ]
    result = inspect_labels(table_from_rows(rows))
    assert [s.principle for s in result.position_biased] == ["lazy@1"]
    assert [(s.first, s.second) for s in result.redundant] == [("a@1", "b@1")]
    text = result.to_markdown()
    assert "mostly position bias" in text and "overlap" in text


SHORT, LONG = "Hi there.", "Hello, it is very nice to meet you today."


def test_reads_a_real_label_run(tmp_path: Path) -> None:
    kind = Principle(id="kind", compare="Which is kinder (Q-KIND)?", critique="c", revision="r")
    short = Principle(
        id="short", compare="Which is shorter (Q-SHORT)?", critique="c", revision="r", rule=Rule(max_words=3)
    )
    critic = MockBackend()
    for q, good, p in (("Q-KIND", LONG, 0.8), ("Q-SHORT", SHORT, 0.9)):
        first = rf"(?s)<response_a>\n{good}\n</response_a>.*\({q}\)"
        second = rf"(?s)<response_b>\n{good}\n</response_b>.*\({q}\)"
        critic.add_score(first, "A", math.log(p), regex=True).add_score(
            first, "B", math.log(1 - p), regex=True
        )
        critic.add_score(second, "A", math.log(1 - p), regex=True).add_score(
            second, "B", math.log(p), regex=True
        )
    sets = [
        ResponseSet(
            PromptRow(f"q{i}", (ChatMessage("user", f"Greet {i}"),)), r, ("stop", "stop"), 1, "m", "1"
        )
        for i, r in enumerate([(SHORT, LONG), (LONG, SHORT), (SHORT, LONG)])
    ]
    run = label_dataset(
        sets,
        Constitution(name="t", principles=(kind, short)),
        critic,
        TemplateSet.load(),
        LabelConfig(k=2, progress=False),
    )
    write_label_run(run, tmp_path / "labels")
    result = inspect_labels(read_label_table(tmp_path / "labels"))
    by = {s.principle: s for s in result.principles}
    assert by["kind@1"].drawn == 3 and by["short@1"].drawn == 3
    # kind prefers LONG, short prefers SHORT, both decisively: they conflict on every pair
    assert [(c.first, c.second, c.conflict.value if c.conflict else None) for c in result.conflicts] == [
        ("kind@1", "short@1", 1.0)
    ]
    assert by["short@1"].agrees_with_rule == wilson_ci(3, 3)
    assert by["kind@1"].position_bias == wilson_ci(0, 3)


def test_cli_inspect_writes_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_rows(tmp_path / "labels", ROWS)
    rc = main(["inspect", str(tmp_path / "labels"), "-o", str(tmp_path / "out")])
    assert rc == 0
    assert "x@1 vs y@1" in capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "inspect.json").read_text())
    assert data["pairs"] == 4 and data["conflicts"] == ["x@1 vs y@1"]
    assert (tmp_path / "out" / "inspect.md").read_text().startswith("# Principles in")


def test_cli_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "data.parquet" in err and "Traceback" not in err
    write_rows(tmp_path / "other", [{"pair_id": "a", "prompt": "x"}])
    assert main(["inspect", str(tmp_path / "other")]) == 1
    err = capsys.readouterr().err
    assert "judgements" in err and "Traceback" not in err
    bad = [dict(ROWS[0], judgements="[{not json")]
    write_rows(tmp_path / "bad", bad)
    assert main(["inspect", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert ":1" in err and "judgements" in err
    assert main(["inspect", str(tmp_path / "labels-none"), "--threshold", "1.5"]) == 1


def test_run_report_has_a_principles_section(tmp_path: Path) -> None:
    from rlaif.report import build_report
    from rlaif.testing.sample_run import write_sample_run

    run = write_sample_run(tmp_path / "demo", rounds=1)
    write_rows(run / "round-1" / "label", ROWS)
    html, md = build_report(run, out_dir=tmp_path / "report")
    text = md.read_text()
    assert "## Principles" in text and "### Round 1" in text
    assert "x@1 vs y@1" in text and 'id="principles"' in html.read_text()
