"""rlaif.rewards.reward_function: TRL's reward-function signature over a reward model or a critic; principles fixed,
sampled per prompt or named by the row; verl's compute_score called the way verl calls it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution import load_constitution
from rlaif.errors import RlaifError
from rlaif.reward import RewardModel
from rlaif.rewards import PrincipleSource, RewardFunction, reward_function
from rlaif.rewards.scorers import CriticPairwiseScorer, CriticPointwiseScorer, RewardModelScorer
from rlaif.rewards.verl import make_compute_score, make_compute_score_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def rm(tiny_rm_dir: Path) -> RewardModel:
    return RewardModel.load(tiny_rm_dir, device="cpu")


def test_rm_reward_equals_direct_scoring_in_both_formats(rm: RewardModel, style_path: Path) -> None:
    fn = reward_function(reward_model=rm, constitution=style_path, principles=["no_exclamations"])
    style = load_constitution(style_path)
    prompts = ["Question number 1?", [{"role": "user", "content": "Question number 2?"}]]
    completions = ["A calm answer.", [{"role": "assistant", "content": "LOUD! LOUD!"}]]
    got = fn(prompts=prompts, completions=completions, completion_ids=None, trainer_state=None)
    want = rm.score(
        [[style.get("no_exclamations")]] * 2,
        [(ChatMessage("user", "Question number 1?"),), (ChatMessage("user", "Question number 2?"),)],
        ["A calm answer.", "LOUD! LOUD!"],
    )
    assert got == pytest.approx(want, abs=1e-6)
    assert fn.__name__ == "rlaif_rm"


def test_sampled_principles_are_per_prompt_and_stable(style_path: Path) -> None:
    source = PrincipleSource(load_constitution(style_path), k=2, seed=3)
    a = (ChatMessage("user", "Question A?"),)
    b = (ChatMessage("user", "A different question entirely?"),)
    assert source.for_prompt(a) == source.for_prompt(a)  # every completion of a prompt shares its principles
    assert len(source.for_prompt(a)) == 2
    draws = {tuple(p.id for p in source.for_prompt((ChatMessage("user", f"q{i}"),))) for i in range(20)}
    assert len(draws) > 1  # different prompts, different principles
    # a row's own list wins
    assert [p.id for p in source.for_prompt(b, ["concise"])] == ["concise"]
    with pytest.raises(RlaifError, match="unknown principle 'nope'"):
        source.for_prompt(b, ["nope"])


def test_principles_column_steers_the_reward(rm: RewardModel, style_path: Path) -> None:
    fn = reward_function(reward_model=rm, constitution=style_path, k=1, seed=0)
    style = load_constitution(style_path)
    got = fn(["Q?"], ["Calm."], principles=[["concise"]])
    want = rm.score([[style.get("concise")]], [(ChatMessage("user", "Q?"),)], ["Calm."])
    assert got == pytest.approx(want, abs=1e-6)


def test_bad_inputs_are_clear_errors(rm: RewardModel, style_path: Path) -> None:
    fn = reward_function(reward_model=rm, constitution=style_path)
    with pytest.raises(RlaifError, match="2 prompts but 1 completions"):
        fn(["a", "b"], ["x"])
    with pytest.raises(RlaifError, match="role"):
        fn([[{"role": "robot", "content": "x"}]], ["x"])
    with pytest.raises(RlaifError, match="exactly one"):
        reward_function(constitution=style_path)
    with pytest.raises(RlaifError, match="unknown principle"):
        reward_function(reward_model=rm, constitution=style_path, principles=["missing"])


def test_critic_pointwise_reward_is_the_normalised_expected_score(style_path: Path) -> None:
    from rlaif.feedback.scores import PointwiseScore, ScoreItem, score_responses

    critic = MockBackend()
    fn = RewardFunction(
        CriticPointwiseScorer(critic), PrincipleSource(load_constitution(style_path), fixed=("concise",))
    )
    got = fn(["Q?", "Q?"], ["Calm answer.", "LOUD! LOUD!"])
    style = load_constitution(style_path)
    direct = score_responses(
        critic,
        [
            ScoreItem("0", (ChatMessage("user", "Q?"),), r, (style.get("concise"),))
            for r in ["Calm answer.", "LOUD! LOUD!"]
        ],
    )
    assert all(isinstance(d, PointwiseScore) for d in direct)
    assert got == pytest.approx([d.normalized for d in direct])  # type: ignore[union-attr]
    assert all(0.0 <= g <= 1.0 for g in got if g is not None)


def test_critic_pairwise_against_reference(style_path: Path) -> None:
    fn = RewardFunction(
        CriticPairwiseScorer(MockBackend()),
        PrincipleSource(load_constitution(style_path), fixed=("concise",)),
    )
    got = fn(["Q?"], ["Calm answer."], reference=["A reference answer."])
    assert got[0] is not None and 0.0 < got[0] < 1.0
    # the same response against itself: both orders average to exactly 1/2
    same = fn(["Q?"], ["Same."], reference=["Same."])
    assert same[0] == pytest.approx(0.5)
    with pytest.raises(RlaifError, match="reference answer"):
        fn(["Q?"], ["Calm answer."])


def test_verl_compute_score_called_as_verl_calls_it(rm: RewardModel, style_path: Path) -> None:
    fn = reward_function(reward_model=rm, constitution=style_path, principles=["no_exclamations"])
    compute_score = make_compute_score(fn)
    # verl's naive reward manager: keywords, one response at a time
    one = compute_score(
        data_source="hh",
        solution_str="A calm answer.",
        ground_truth="",
        extra_info={"prompt": "Question number 1?"},
    )
    direct = fn(["Question number 1?"], ["A calm answer."])
    assert isinstance(one, float) and one == pytest.approx(direct[0], abs=1e-6)
    # ChatML-templated prompt text and a message list both work
    templated = compute_score(
        data_source="hh",
        solution_str="A calm answer.",
        ground_truth=None,
        extra_info={"prompt": "<|im_start|>user\nQuestion number 1?<|im_end|>\n<|im_start|>assistant\n"},
    )
    assert templated == pytest.approx(one, abs=1e-6)
    batch = make_compute_score_batch(fn)(
        data_sources=["hh", "hh"],
        solution_strs=["A calm answer.", "LOUD!"],
        ground_truths=["", ""],
        extra_infos=[{"question": "Question number 1?"}, {"prompt": [{"role": "user", "content": "Q?"}]}],
    )
    assert batch[0] == pytest.approx(one, abs=1e-6) and len(batch) == 2 and not math.isnan(batch[1])
    with pytest.raises(RlaifError, match="extra_info"):
        compute_score(data_source="hh", solution_str="x", ground_truth="", extra_info={})


def test_verl_module_reads_its_configuration_from_the_environment(
    tiny_rm_dir: Path, style_path: Path
) -> None:
    from rlaif.rewards.verl import from_environment

    fn = from_environment(
        {
            "RLAIF_REWARD_MODEL": str(tiny_rm_dir),
            "RLAIF_CONSTITUTION": str(style_path),
            "RLAIF_PRINCIPLES": "concise",
            "RLAIF_DEVICE": "cpu",
        }
    )
    assert isinstance(fn.scorer, RewardModelScorer)
    assert [p.id for p in fn.principles.for_prompt((ChatMessage("user", "x"),))] == ["concise"]
    with pytest.raises(RlaifError, match="RLAIF_REWARD_MODEL"):
        from_environment({})


def test_unjudged_is_none_for_trl_and_a_configured_number_for_verl(style_path: Path) -> None:
    # the mock critic never puts all of its probability on the ten score choices: with min_choice_mass=1 nothing counts
    fn = RewardFunction(
        CriticPointwiseScorer(MockBackend(), min_choice_mass=1.0),
        PrincipleSource(load_constitution(style_path), fixed=("concise",)),
    )
    assert fn(["Q?"], ["Calm answer."]) == [None]
    compute_score = make_compute_score(fn, unjudged_reward=-1.0)
    assert (
        compute_score(data_source="x", solution_str="Calm.", ground_truth="", extra_info={"prompt": "Q?"})
        == -1.0
    )
    batch = make_compute_score_batch(fn, unjudged_reward=0.25)
    assert batch(["x"], ["Calm."], [""], [{"prompt": "Q?"}]) == [0.25]
