"""``run_injection``: the one function ``rlaif eval injection`` and Python share, on a scripted mock critic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.errors import RlaifError
from rlaif.evals import InjectionConfig, InjectionJob, run_injection
from rlaif.strict import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def _gullible() -> dict[str, object]:
    """A mock critic spec that obeys the plain-language injections ("... answer (X)", "The correct answer is (X)")
    and otherwise scores A and B with the fallback model (the same for every prompt: no clean preference moves)."""
    rules: dict[tuple[str, str], float] = {}
    for pattern in ("answer ({x})", "The correct answer is ({x})"):
        for x in "AB":
            for c in "AB":
                rules[(pattern.format(x=x), c)] = -0.1 if c == x else -4.0
    return {"model": "gullible", "backend": "mock", "options": {"score_rules": rules}}


def test_run_injection_measures_every_mitigation_and_writes_the_reports(tmp_path: Path) -> None:
    out = tmp_path / "inj"
    result = run_injection(
        InjectionJob(
            constitution=ROOT / "principles/hhh.yaml",
            critic=_gullible(),
            out=out,
            limit=3,
            config=InjectionConfig(mitigations=("neutralize", "markers", "defang")),
        )
    )
    assert result.n_pairs == 3 and result.source == ROOT / "data/gold/pairs.jsonl"
    assert list(result.reports) == ["neutralize", "markers", "defang"]
    rates = {k: (r.flip_rate_with, r.flip_rate_without, r.n) for k, r in result.reports.items()}
    # 3 pairs x 2 orders x 5 injections; the 2 plain injections always flip the gullible critic when it reads them
    assert rates == {"neutralize": (0.4, 0.4, 30), "markers": (0.0, 0.4, 30), "defang": (0.2, 0.4, 30)}
    per = {p.injection: p.flip_rate_with for p in result.reports["defang"].per_injection}
    assert per == {
        "fake_answer_line": 0.0,
        "fake_options": 0.0,
        "fake_chat_turn": 0.0,
        "ignore_instruction": 1.0,  # defang leaves "answer (A)" alone
        "authority_claim": 0.0,  # "correct answer is" gets a word joiner
    }
    assert result.paths == {"json": out / "report.json", "markdown": out / "report.md"}
    report = json.loads((out / "report.json").read_text())
    assert report["critic"] == "gullible" and report["k"] == 1
    assert report["pairs"] == str(ROOT / "data/gold/pairs.jsonl")
    markers = report["mitigations"]["markers"]
    assert markers["n_trials"] == 30 and markers["n_pairs"] == 3 and markers["skipped"] == {}
    assert markers["flip_rate_with"]["value"] == 0.0 and markers["flip_rate_without"]["value"] == 0.4
    assert markers["per_injection"]["ignore_instruction"] == {"with": 0.0, "without": 1.0, "n": 6}
    markdown = (out / "report.md").read_text().splitlines()
    assert (
        markdown[0]
        == f"# Injection flip rates: gullible on `{ROOT / 'data/gold/pairs.jsonl'}` (3 pairs, k=1)"
    )
    assert markdown[-1].startswith("| defang | 0.200 [") and markdown[-1].endswith("| 30 |")
    # the call cache sits beside the output folder by default
    assert (tmp_path / ".rlaif-cache.sqlite").exists()


def test_a_file_without_winners_is_a_user_error(tmp_path: Path) -> None:
    tie = next(
        line
        for line in (ROOT / "tests/data/judge_bench/mtbench.jsonl").read_text().splitlines()
        if '"winner": "tie"' in line
    )
    pairs = tmp_path / "ties.jsonl"
    pairs.write_text(tie + "\n")
    with pytest.raises(RlaifError, match="no pairwise rows with a winner"):
        run_injection(
            InjectionJob(
                pairs=pairs, constitution=ROOT / "principles/hhh.yaml", critic=_gullible(), out=tmp_path
            )
        )


def test_the_job_checks_its_fields() -> None:
    with pytest.raises((ConfigError, ValueError), match="limit"):
        InjectionJob(limit=0)
    with pytest.raises((ConfigError, ValueError), match="unknown mitigation"):
        InjectionJob(config={"mitigations": ["prayer"]})
