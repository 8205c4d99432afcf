"""The judge modes agree on the embedded SmolLM2-135M critic through transformers (slow: loads the real model).

* top-logprobs p equals choice-logprobs p within 1e-3 for every (pair, principle, order) where both choices are among
  the top 20 listed tokens;
* written verdicts agree in direction with choice-logprobs on at least 90 % of the judgements where choice-logprobs
  is confident (|2p − 1| >= 0.5), when there are any. The numbers are printed (``pytest -s``).

SmolLM2-135M is a weak, position-biased critic: on these pairs its per-order p stays within about 0.3-0.7, so it
gives no confident judgement and the verdict check has nothing to compare (a stronger critic exercises it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import Principle
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, judge_pairs_detailed
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[2]
HELPFUL = Principle(
    id="helpful", compare="Which response answers the question more helpfully?", critique="c", revision="r"
)


def _pairs(n: int) -> list[Comparison]:
    rows = [
        json.loads(line) for line in (ROOT / "data/human_labels/trl_format.jsonl").read_text().splitlines()
    ][:n]
    return [
        Comparison(r["id"], (ChatMessage("user", r["prompt"]),), r["chosen"], r["rejected"], (HELPFUL,))
        for r in rows
    ]


@pytest.mark.slow
def test_modes_agree_on_the_embedded_critic(embedded_model_dir: Path) -> None:
    from rlaif.backends.transformers_backend import TransformersBackend

    templates = TemplateSet.load()
    pairs = _pairs(4)
    critic = TransformersBackend(str(embedded_model_dir), device="cpu", dtype="float32")
    try:
        by_score = judge_pairs_detailed(
            critic, templates, pairs, JudgeConfig(mode="choice-logprobs"), progress=False
        )
        by_top = judge_pairs_detailed(
            critic, templates, pairs, JudgeConfig(mode="top-logprobs"), progress=False
        )
        by_verdict = judge_pairs_detailed(
            critic,
            templates,
            pairs,
            JudgeConfig(mode="verdict", verdict_samples=3, verdict_temperature=0.7, verdict_max_new_tokens=8),
            progress=False,
        )
    finally:
        critic.close()
    compared = max_dp = 0.0
    confident = agree = 0
    for s, t, v in zip(by_score, by_top, by_verdict, strict=True):
        assert isinstance(s.result, SoftLabel)
        js = s.result.judgements[0]
        if isinstance(t.result, SoftLabel):
            jt = t.result.judgements[0]
            for o, (ps, pt) in enumerate(((js.p_ab, jt.p_ab), (js.p_ba, jt.p_ba))):
                if abs(t.choice_mass[0][o] - s.choice_mass[0][o]) < 1e-4:  # both choices were listed
                    compared += 1
                    max_dp = max(max_dp, abs(ps - pt))
                    assert pt == pytest.approx(ps, abs=1e-3)
        if isinstance(v.result, SoftLabel):
            jv = v.result.judgements[0]
            for ps, pv in ((js.p_ab, jv.p_ab), (js.p_ba, jv.p_ba)):
                if abs(2 * ps - 1) >= 0.5:
                    confident += 1
                    agree += (ps - 0.5) * (pv - 0.5) > 0
    print(
        f"\nembedded critic, {len(pairs)} pairs: top-logprobs vs choice-logprobs compared on {int(compared)} "
        f"judgements, max |dp| = {max_dp:.2e}; verdict agrees on {agree} of {confident} confident judgements"
    )
    assert compared > 0
    if confident:
        assert agree / confident >= 0.9
