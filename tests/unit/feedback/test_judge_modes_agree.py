"""The judge modes agree on one critic: a tiny random model through transformers.

top-logprobs p equals choice-logprobs p (within 1e-3) whenever both choices are in the top list, both per order and
for the label; the verdict mode reads the same critic's written answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import Principle
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, Unlabeled, judge_pairs_detailed
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet


@pytest.fixture
def templates() -> TemplateSet:
    return TemplateSet.load()


P1 = Principle(id="kind", compare="Which response is kinder?", critique="c", revision="r")
P2 = Principle(id="clear", compare="Which response is clearer?", critique="c", revision="r")

RESPONSES = [
    ("Hello there, nice to meet you.", "Go away."),
    ("The capital of France is Paris.", "I do not know."),
    ("Water boils at 100 degrees.", "Water is wet, maybe."),
    ("Here is a poem about the sea.", "No."),
]


@pytest.fixture(scope="module")
def critic(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from rlaif.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model_dir), device="cpu", dtype="float32")
    yield backend
    backend.close()


def _pairs() -> list[Comparison]:
    return [
        Comparison(f"q{i}:0-1", (ChatMessage("user", f"Question {i}?"),), a, b, (P1, P2))
        for i, (a, b) in enumerate(RESPONSES)
    ]


def test_top_logprobs_equals_choice_logprobs_when_both_choices_are_listed(
    critic, templates: TemplateSet
) -> None:  # type: ignore[no-untyped-def]
    by_score = judge_pairs_detailed(
        critic, templates, _pairs(), JudgeConfig(mode="choice-logprobs"), progress=False
    )
    # the whole vocabulary (448 tokens) is listed: both choices always are
    by_top = judge_pairs_detailed(
        critic, templates, _pairs(), JudgeConfig(mode="top-logprobs", top_logprobs=448), progress=False
    )
    compared = 0
    for s, t in zip(by_score, by_top, strict=True):
        assert isinstance(s.result, SoftLabel) and isinstance(t.result, SoftLabel)
        assert t.result.p == pytest.approx(s.result.p, abs=1e-3)
        for js, jt in zip(s.result.judgements, t.result.judgements, strict=True):
            assert jt.p_ab == pytest.approx(js.p_ab, abs=1e-3)
            assert jt.p_ba == pytest.approx(js.p_ba, abs=1e-3)
            compared += 2
        # and the mass on the choices is the same too
        for ms, mt in zip(s.choice_mass, t.choice_mass, strict=True):
            assert mt == pytest.approx(ms, abs=1e-4)
    assert compared == 16


def test_with_twenty_listed_a_flat_critic_lists_neither_choice(critic, templates: TemplateSet) -> None:  # type: ignore[no-untyped-def]
    # the random model spreads its probability almost evenly over 448 tokens: "A" and "B" fall outside the top 20,
    # so no label is made up from the bound alone
    by_top = judge_pairs_detailed(
        critic, templates, _pairs(), JudgeConfig(mode="top-logprobs"), progress=False
    )
    for t in by_top:
        assert isinstance(t.result, Unlabeled)
        assert t.result.reason == "neither choice is among the critic's top 20 log-probabilities"


def test_verdict_mode_runs_on_the_same_critic(critic, templates: TemplateSet) -> None:  # type: ignore[no-untyped-def]
    # a random model rarely writes a readable verdict: every pair is labeled or unlabeled with its raw text kept
    judged = judge_pairs_detailed(
        critic,
        templates,
        _pairs()[:2],
        JudgeConfig(mode="verdict", verdict_samples=2, verdict_max_new_tokens=6),
        progress=False,
    )
    for j in judged:
        if isinstance(j.result, Unlabeled):
            assert "could not be parsed" in j.result.reason and j.result.raw
        else:
            assert 0.0 < j.result.p < 1.0
