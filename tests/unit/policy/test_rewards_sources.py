"""PPO reward sources: rule rewards by hand, per-prompt principle sampling, the weighted total with the no-EOS
penalty and clipping, reward-model provenance checks and normalisation (fake reward model), critic scores on a
scripted critic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution import Principle, constitution_hash, load_constitution
from rlaif.errors import RlaifError
from rlaif.feedback.inputs import PromptRow
from rlaif.policy.rewards import (
    CombinedReward,
    CriticScoreReward,
    CriticScoreSourceSettings,
    RewardModelReward,
    RewardModelSourceSettings,
    RewardSpec,
    RuleReward,
    RuleSourceSettings,
    SourceScores,
    build_reward,
)
from rlaif.prompting import TemplateSet

ROOT = Path(__file__).resolve().parents[3]
STYLE = str(ROOT / "principles/style.yaml")
HHH = str(ROOT / "principles/hhh.yaml")


def rows(*ids: str) -> list[PromptRow]:
    return [PromptRow(i, (ChatMessage("user", f"Question {i}?"),)) for i in ids]


def test_rule_reward_is_the_weighted_pass_fraction() -> None:
    src = RuleReward(RuleSourceSettings(constitution=STYLE, principles=["concise", "no_exclamations"]))
    out = src.score(
        rows("a", "b", "c"), ["Fine, thanks.", "Great to hear!", " ".join(["word"] * 70) + "!"], step=0
    )
    # concise has weight 2, no_exclamations weight 1
    assert out.values == pytest.approx([1.0, 2 / 3, 0.0])
    assert out.principles[0] == ["concise@1", "no_exclamations@1"]
    assert out.metrics["rule_pass/concise"] == pytest.approx(2 / 3)
    assert out.metrics["rule_pass/no_exclamations"] == pytest.approx(1 / 3)


def test_rule_reward_samples_k_principles_per_prompt_deterministically() -> None:
    src = RuleReward(RuleSourceSettings(constitution=STYLE, k=2), seed=3)
    a = src.score(rows("p1", "p2", "p1"), ["x y z w v.", "x y z w v.", "x y z w v."], step=5)
    b = src.score(rows("p1", "p2", "p1"), ["x y z w v.", "x y z w v.", "x y z w v."], step=5)
    assert a.principles == b.principles
    assert all(len(p) == 2 for p in a.principles)
    assert a.principles[0] == a.principles[2]  # same prompt, same step: same principles
    other_steps = {tuple(src.score(rows("p1"), ["x"], step=s).principles[0]) for s in range(12)}
    assert len(other_steps) > 1  # the draw changes from step to step


def test_rule_reward_rejects_bad_principles() -> None:
    with pytest.raises(RlaifError, match="not in"):
        RuleReward(RuleSourceSettings(constitution=STYLE, principles=["nope"]))
    with pytest.raises(RlaifError, match=r"no principle .* carries a rule"):
        RuleReward(RuleSourceSettings(constitution=HHH))
    with pytest.raises(RlaifError, match="k=20"):
        RuleReward(RuleSourceSettings(constitution=STYLE, k=20))


class Const:
    """A source returning fixed values."""

    def __init__(self, name: str, values: list[float], weight: float = 1.0) -> None:
        self.name, self.values, self.weight = name, values, weight

    def score(self, prompts: Sequence[PromptRow], responses: Sequence[str], *, step: int) -> SourceScores:
        return SourceScores(list(self.values), metrics={"seen": float(len(responses))})

    def close(self) -> None:
        pass


def test_combined_reward_weights_penalty_and_clip() -> None:
    combo = CombinedReward(
        [Const("a", [1.0, 2.0, 3.0], weight=0.5), Const("b", [0.0, -4.0, 10.0], weight=2.0)],
        no_eos_penalty=1.5,
        clip=10.0,
    )
    out = combo(rows("x", "y", "z"), ["r1", "r2", "r3"], [True, False, True], step=0)
    # 0.5*1 + 0 = 0.5; 0.5*2 - 8 - 1.5 = -8.5; 0.5*3 + 20 = 21.5 -> clipped to 10
    assert out.total == pytest.approx([0.5, -8.5, 10.0])
    assert out.per_source["b"] == [0.0, -4.0, 10.0]
    assert out.metrics["reward/a"] == pytest.approx(2.0)
    assert out.metrics["a/seen"] == 3.0
    assert out.metrics["no_eos_frac"] == pytest.approx(1 / 3)
    with pytest.raises(RlaifError, match="distinct names"):
        CombinedReward([Const("a", []), Const("a", [])])


def test_combined_reward_keeps_nan_for_the_guard() -> None:
    combo = CombinedReward([Const("a", [math.nan, 1.0])])
    out = combo(rows("x", "y"), ["r1", "r2"], [True, True], step=0)
    assert math.isnan(out.total[0]) and out.total[1] == 1.0


def test_reward_spec_needs_a_source_and_forbids_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="at least one reward source"):
        RewardSpec.model_validate({})
    with pytest.raises(ValidationError, match="extra"):
        RewardSpec.model_validate({"rules": {"constitution": STYLE}, "bogus": 1})
    spec = RewardSpec.model_validate({"rules": {"constitution": STYLE, "principles": ["concise"]}})
    combo = build_reward(spec)
    assert [s.name for s in combo.sources] == ["rules"] and combo.no_eos_penalty == 1.0


class FakeRM:
    """A reward model that rewards short responses; records what it was asked."""

    def __init__(self, constitution_hash: str, template_hash: str, stats: Any = None) -> None:
        self.constitution_hash = constitution_hash
        self.template_hash = template_hash
        self.stats = stats
        self.calls: list[dict[str, Any]] = []

    def score(
        self,
        principles: Sequence[Sequence[Principle]],
        prompts: Sequence[Any],
        responses: Sequence[str],
        *,
        batch_size: int = 16,
        normalize: bool = False,
    ) -> list[float]:
        self.calls.append({"principles": principles, "prompts": prompts, "normalize": normalize})
        raw = [-float(len(r)) for r in responses]
        return [(r + 3.0) / 2.0 for r in raw] if normalize else raw


def _hashes() -> tuple[str, str]:
    return constitution_hash(load_constitution(HHH)), TemplateSet.load().template_hash("rm_input")


def test_reward_model_source_samples_principles_and_normalizes() -> None:
    ch, th = _hashes()
    rm = FakeRM(ch, th, stats=object())
    src = RewardModelReward(RewardModelSourceSettings(path="rm", constitution=HHH, k=2), model=rm)
    assert src.mismatches == []
    out = src.score(rows("p1", "p2"), ["abc", "a"], step=0)
    assert out.values == pytest.approx([0.0, 1.0])  # (-3 + 3) / 2, (-1 + 3) / 2
    (call,) = rm.calls
    assert call["normalize"] is True
    assert [len(ps) for ps in call["principles"]] == [2, 2]
    assert call["prompts"][0] == (ChatMessage("user", "Question p1?"),)
    # no saved statistics: scores are used raw
    raw = RewardModelReward(
        RewardModelSourceSettings(path="rm", constitution=HHH), model=FakeRM(ch, th, stats=None)
    )
    assert raw.score(rows("p1"), ["abc"], step=0).values == [-3.0]


def test_reward_model_provenance_mismatch_warns_or_refuses() -> None:
    ch, th = _hashes()
    with pytest.warns(UserWarning, match="trained under constitution"):
        src = RewardModelReward(
            RewardModelSourceSettings(path="rm", constitution=HHH), model=FakeRM("0" * 64, th)
        )
    assert len(src.mismatches) == 1
    with pytest.raises(RlaifError, match="rm_input template") as err:
        RewardModelReward(
            RewardModelSourceSettings(path="rm", constitution=HHH, on_mismatch="error"),
            model=FakeRM(ch, "f" * 64),
        )
    assert err.value.problem.field == "reward.reward_model"


def test_reward_model_folder_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RlaifError, match="not found"):
        RewardModelReward(RewardModelSourceSettings(path=str(tmp_path / "none"), constitution=HHH))


def test_critic_score_reward_on_a_scripted_critic() -> None:
    mock = MockBackend("critic")
    for n in range(1, 11):
        # "Good answer" gets 10 for sure, anything else 1 for sure
        mock.add_score("Good answer", f"{n}]]", 0.0 if n == 10 else -math.inf)
        mock.add_score("Bad answer", f"{n}]]", 0.0 if n == 1 else -math.inf)
    src = CriticScoreReward(CriticScoreSourceSettings(constitution=HHH, k=2), backend=mock)
    out = src.score(rows("a", "b"), ["Good answer.", "Bad answer."], step=0)
    assert out.values == pytest.approx([0.5, -0.5])  # normalised to [0, 1], centred
    assert out.metrics["critic_unscored"] == 0.0
    assert [len(p) for p in out.principles] == [2, 2]
    assert sum(1 for c in mock.calls if c.kind == "score") == 1  # one batched score call


def test_critic_score_unscored_response_gets_the_batch_mean() -> None:
    mock = MockBackend("critic")
    for n in range(1, 11):
        mock.add_score("Good answer", f"{n}]]", 0.0 if n == 10 else -math.inf)
        mock.add_score("Silence", f"{n}]]", -math.inf)  # every choice impossible: unscored
    src = CriticScoreReward(CriticScoreSourceSettings(constitution=HHH, center=False), backend=mock)
    out = src.score(rows("a", "b"), ["Good answer.", "Silence."], step=0)
    assert out.values == pytest.approx([1.0, 1.0])
    assert out.metrics["critic_unscored"] == 1.0
