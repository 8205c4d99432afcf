"""Rewards for the RL engines people scale with: TRL's ``reward_funcs``, verl's ``compute_score`` and an HTTP
reward server that speaks OpenRLHF's remote reward-model protocol (``rlaif serve-reward``).

All three wrap one :class:`Scorer` (a principle-conditioned reward model, or a critic scoring pointwise or against a
reference answer) and one :class:`PrincipleSource` (fixed principles, or sampled per prompt), so they give the same
reward for the same input. See ``docs/interop.md``.
"""

from rlaif.rewards.principles import PrincipleSource
from rlaif.rewards.reward_fn import RewardFunction, build_scorer, reward_function
from rlaif.rewards.scorers import (
    CriticPairwiseScorer,
    CriticPointwiseScorer,
    RewardItem,
    RewardModelScorer,
    Scorer,
)

__all__ = [
    "CriticPairwiseScorer",
    "CriticPointwiseScorer",
    "PrincipleSource",
    "RewardFunction",
    "RewardItem",
    "RewardModelScorer",
    "Scorer",
    "build_scorer",
    "reward_function",
]
