"""The run report from fabricated run directories: finished, partial, older-format and broken ones."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from rlaif.errors import RlaifError
from rlaif.report import build_report, read_run
from rlaif.report.svg import Bar, bar_chart, line_chart, nice_ticks
from rlaif.testing.sample_run import write_sample_run


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("runs") / "demo", rounds=2)


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def test_finished_run_report(sample_run: Path, tmp_path: Path) -> None:
    html_path, md_path = build_report(sample_run, out_dir=tmp_path)
    html = html_path.read_text()
    md = md_path.read_text()
    # self-contained: no external resources at all
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html
    # every section, with plots
    for title in ("Win rate against the baseline", "Rule compliance", "Labeler quality", "Reward model",
                  "Policy training: reward and KL", "Drift and reward-hacking monitors", "Examples: before and after",
                  "Time and throughput per stage", "Configuration"):  # fmt: skip
        assert title in html and f"## {title}" in md
    n_plots = html.count('<svg class="plot"')
    assert n_plots >= 12
    assert "Nothing: every stage of every round finished" in html
    # win rates with intervals from eval.json, the same numbers in both files
    ev = json.loads((sample_run / "round-2/evaluate/eval.json").read_text())
    wr = ev["win_rate"]["constitution"]["win_rate"]
    cell = f"{100 * wr['value']:.1f}% [{100 * wr['low']:.1f}, {100 * wr['high']:.1f}]"
    assert cell in html and cell in md
    # examples: the same prompt shown for each round
    first_id = json.loads((sample_run / "round-1/evaluate/samples.jsonl").read_text().splitlines()[0])["id"]
    assert md.count(f"**{first_id}**") == 1
    assert "policy round 1" in md and "policy round 2" in md
    # over-represented phrases of a friendlier policy
    assert "hope this helps" in html


def test_untrusted_text_is_escaped(sample_run: Path, tmp_path: Path) -> None:
    run = _copy(sample_run, tmp_path)
    samples = run / "round-1/evaluate/samples.jsonl"
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    rows[0]["policy"] = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    html, _ = build_report(run)
    text = html.read_text()
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in text


def test_partial_run_marks_what_is_missing(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "partial", rounds=2, finished=False)
    html, md = build_report(run)
    text = md.read_text()
    assert "round 2 stage label is marked running" in text
    assert "round 2: not run (yet): policy, evaluate" in text
    assert "| round 2 | done (42 s) | running |" in text
    assert html.read_text().count('<svg class="plot"') >= 8  # round 1 is fully reported


def test_older_run_without_run_json_and_manifests(sample_run: Path, tmp_path: Path) -> None:
    run = _copy(sample_run, tmp_path)
    (run / "run.json").unlink()
    (run / "round-1/label/manifest.json").unlink()
    (run / "round-2/policy/manifest.json").write_text("{not json")
    ev = json.loads((run / "round-2/evaluate/eval.json").read_text())
    ev["format"] = "rlaif-policy-eval/0"
    del ev["drift"]
    (run / "round-2/evaluate/eval.json").write_text(json.dumps(ev))
    with (run / "round-1/policy/metrics.jsonl").open("a") as fh:
        fh.write('{"step": 21, "kl"')  # torn last line of a killed trainer
    data = read_run(run)
    assert len(data.rounds) == 2
    assert data.rounds[0].stages["label"].status == "incomplete"
    assert data.rounds[1].stages["policy"].status == "incomplete"
    assert len(data.rounds[0].policy_metrics) == 20
    notes = "\n".join(data.notes)
    assert "no run.json" in notes
    assert "folder present but no manifest.json" in notes
    assert "could not be read" in notes
    assert "format 'rlaif-policy-eval/0'" in notes
    assert "line 21 is not JSON" in notes
    _, md = build_report(run)
    assert "configuration unknown" in md.read_text()
    assert "run.json records no pipeline configuration" in md.read_text()


def test_run_json_of_an_older_version(sample_run: Path, tmp_path: Path) -> None:
    run = _copy(sample_run, tmp_path)
    (run / "run.json").write_text(json.dumps({"name": "old", "rounds": 3}))
    data = read_run(run)
    assert len(data.rounds) == 3  # planned rounds are listed, the third as not started
    notes = "\n".join(data.notes)
    assert "run.json has no rlaif_version, created, pipeline, constitution, status" in notes
    assert "round 3: no folder round-3/" in notes
    build_report(run)


def test_unknown_stage_folders_are_shown(sample_run: Path, tmp_path: Path) -> None:
    run = _copy(sample_run, tmp_path)
    folder = run / "round-1" / "sft-baseline"
    folder.mkdir()
    (folder / "manifest.json").write_text(
        json.dumps({"stage": "sft-baseline", "round": 1, "status": "done", "seconds": 7})
    )
    _, md = build_report(run)
    text = md.read_text()
    # revise is not in the sample pipeline: it gets no column, and the report says so (not "missing")
    assert "| round | generate | label | reward | policy | evaluate | sft-baseline |" in text
    assert "Not in this pipeline: revise." in text
    assert "missing" not in text.split("## What is missing or odd")[0].lower().replace(
        "is missing or odd", ""
    )
    assert "done (7 s) |" in text and "| round 2 |" in text
    # the reward model's report (rlaif eval rm layout) with its steering check
    assert "flip rate 55.0% [45.0, 65.0] (n=80)" in text


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(RlaifError, match="run directory not found"):
        build_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RlaifError, match="not a run directory"):
        build_report(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RlaifError, match="not a directory"):
        build_report(tmp_path / "file")


def test_cli_report(sample_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rlaif.cli.main import main

    assert main(["report", str(sample_run), "-o", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and (tmp_path / "r/report.html").is_file()
    assert main(["report", str(tmp_path / "missing")]) == 1
    assert "run directory not found" in capsys.readouterr().err


def test_svg_charts() -> None:
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 7)[-1] >= 7
    svg = bar_chart("t <b>", ["g1", "<g2>"], [("s", [Bar(0.4, 0.3, 0.5), None])], y_range=(0, 1))
    assert svg.count('class="bar"') == 1 and svg.count('class="errorbar"') == 1
    assert "<b>" not in svg and "&lt;g2&gt;" in svg
    from rlaif.report.svg import Series

    line = line_chart("l", [Series("a", [1, 2, 3], [0.1, 0.2, 0.3], [0, 0.1, 0.2], [0.2, 0.3, 0.4])])
    assert 'class="line"' in line and 'class="band"' in line and line.count('class="point"') == 3


def test_sft_baseline_is_shown_next_to_the_policy(sample_run: Path, tmp_path: Path) -> None:
    run = _copy(sample_run, tmp_path)
    sft_dir = run / "round-2" / "evaluate-sft-baseline"
    shutil.copytree(run / "round-2" / "evaluate", sft_dir)
    ev = json.loads((sft_dir / "eval.json").read_text())
    ev["win_rate"]["constitution"]["win_rate"] = {"value": 0.125, "low": 0.0, "high": 0.25, "n": 8}
    (sft_dir / "eval.json").write_text(json.dumps(ev))
    _, md_path = build_report(run, out_dir=tmp_path / "out")
    md = md_path.read_text()
    section = md.split("## RL from AI feedback vs distillation", 1)[1].split("\n## ", 1)[0]
    assert "### Round 2" in section and "### Round 1" not in section  # only the round that has both
    assert "| critic win rate vs base (whole constitution) |" in section and "12.5% [0.0, 25.0]" in section
    plain = _copy(sample_run, tmp_path / "plain")
    _, md_plain = build_report(plain, out_dir=tmp_path / "out-plain")
    assert "RL from AI feedback vs distillation" not in md_plain.read_text()  # no SFT baseline, no section
