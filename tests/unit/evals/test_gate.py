"""The critic gate on scripted critics: an oracle passes, a position-biased critic is stopped, and off means off."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from rlaif.backends.base import ScoreRequest, ScoreResult
from rlaif.backends.mock import MockBackend
from rlaif.constitution import Constitution, load_constitution
from rlaif.evals.gate import (
    CriticGateError,
    GateSettings,
    card_lines,
    default_gold,
    enforce,
    run_gate,
)
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[3]
CHOSEN = {json.loads(line)["chosen"] for line in (ROOT / "data/gold/pairs.jsonl").read_text().splitlines()}


class OracleCritic(MockBackend):
    """Knows the gold set: prefers whichever response is a gold 'chosen' one."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out = []
        for r in requests:
            first = re.search(r"<response_a>\n([\s\S]*?)\n</response_a>", r.prompt)
            a_good = first is not None and first.group(1) in CHOSEN
            out.append(ScoreResult((-0.1, -2.5) if a_good else (-2.5, -0.1), (1, 1)))
        return out


class FirstCritic(MockBackend):
    """Always prefers the first-shown response."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return [ScoreResult((-0.2, -1.8), (1, 1)) for _ in requests]


@pytest.fixture(scope="module")
def hhh() -> Constitution:
    return load_constitution(ROOT / "principles/hhh.yaml")


def test_default_gold_is_the_shipped_file() -> None:
    assert default_gold().resolve() == (ROOT / "data/gold/pairs.jsonl").resolve()


def test_an_oracle_passes_and_its_result_is_recorded(hhh: Constitution) -> None:
    result = run_gate(OracleCritic("oracle"), TemplateSet.load(), hhh, GateSettings())
    assert result.passed and result.n == 48 and result.n_labeled == 48
    assert result.accuracy is not None and result.accuracy.value == 1.0 and result.accuracy.low > 0.9
    d = enforce(result)  # no exception: the result as the labels' stats record it
    assert d["passed"] is True and d == result.to_dict()
    (line,) = card_lines({"critic_gate": d})
    assert "100.0%" in line and "passed" in line


def test_a_position_biased_critic_is_stopped_with_a_clear_message(hhh: Constitution) -> None:
    with pytest.raises(CriticGateError) as e:
        enforce(run_gate(FirstCritic("first"), TemplateSet.load(), hhh, GateSettings(k=1)))
    text = str(e.value)
    assert "critic gate: mock:first fails on the gold set" in text
    assert "accuracy 50.0%" in text and "label.gate.enabled: false" in text


def test_a_low_bar_lets_a_weak_critic_pass(hhh: Constitution) -> None:
    low = GateSettings(min_accuracy=0.0, k=1)
    assert enforce(run_gate(FirstCritic(), TemplateSet.load(), hhh, low))["passed"] is True


def test_a_user_gold_file_in_another_layout(tmp_path: Path, hhh: Constitution) -> None:
    gold = tmp_path / "mine.jsonl"
    rows = [
        {"input": f"Question {i}?", "output_1": "Tokyo." if i % 2 else "Rome.", "output_2": "x", "label": 1}
        for i in range(6)
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_gate(FirstCritic(), TemplateSet.load(), hhh, GateSettings(gold=str(gold), k=1))
    assert result.n == 6 and result.gold == str(gold) and not result.passed


def test_pipeline_gate_settings_are_validated(tmp_path: Path) -> None:
    from rlaif.errors import DataFileError
    from rlaif.loop import load_pipeline

    base = ROOT / "pipelines/smoke.yaml"
    lp = load_pipeline(base, ["label.gate.min_accuracy=0.7", "label.gate.enabled=false"])
    assert lp.pipeline.label.gate.min_accuracy == 0.7 and lp.pipeline.label.gate.enabled is False
    with pytest.raises(DataFileError):
        load_pipeline(base, ["label.gate.min_accuracy=2"])


def test_the_gate_asks_the_way_the_stage_will(hhh: Constitution, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage's judge mode, chain of thought, markers, batch calibration and choice-mass threshold reach the
    gold-set benchmark (the judge mode used to be dropped: the gate judged in auto mode)."""
    from rlaif.evals.judge_bench import run as bench_run
    from rlaif.feedback.judge import JudgeConfig

    seen: list[object] = []
    real = bench_run.judge_with_critic

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(args[4])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bench_run, "judge_with_critic", spy)
    judge = JudgeConfig(
        mode="choice-logprobs", markers=("K", "Q"), batch_calibration=True, min_choice_mass=0.1
    )
    run_gate(OracleCritic("oracle"), TemplateSet.load(), hhh, GateSettings(k=1), seed=3, judge=judge)
    (config,) = seen
    assert (config.judge_mode, config.markers, config.batch_calibration) == (
        "choice-logprobs",
        ("K", "Q"),
        True,
    )  # type: ignore[attr-defined]
    assert (config.min_choice_mass, config.k, config.seed, config.chain_of_thought) == (0.1, 1, 3, False)  # type: ignore[attr-defined]
