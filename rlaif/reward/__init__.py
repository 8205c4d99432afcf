"""Principle-conditioned reward models (SALMON-style): train on soft AI labels, score, steer, evaluate, export.

>>> from rlaif.reward import RewardConfig, train_reward_model, RewardModel          # doctest: +SKIP
>>> result = train_reward_model(RewardConfig(data="out/labels", constitution="principles/style.yaml",
...                                          output_dir="runs/rm"))
>>> rm = RewardModel.load(result.model_dir)
>>> rm.score([[principle]], ["How far is the Moon?"], ["About 384,000 km."], normalize=True)

See ``docs/reward.md``. Importing this package does not import torch.
"""

from rlaif.reward.augment import AugmentedRow, augment_pair, with_negation_pairs
from rlaif.reward.config import AugmentSettings, RewardConfig
from rlaif.reward.data import RewardRow, load_reward_pairs, resolve_principles, split_pairs
from rlaif.reward.evaluate import (
    RewardEvalConfig,
    RewardEvalJob,
    RewardEvalReport,
    RewardEvalResult,
    evaluate_reward_model,
    human_agreement,
    label_metrics,
    run_reward_eval,
    steering_check,
)
from rlaif.reward.export import export_reward_model
from rlaif.reward.inputs import RewardInputEncoder, TruncationStats, negate_principle
from rlaif.reward.loss import soft_bradley_terry_loss
from rlaif.reward.model import NormStats, RewardModel, load_exported, load_seq_cls_base
from rlaif.reward.score_file import ScoreItem, ScoreRun, score_to_file
from rlaif.reward.train import train_reward_model

__all__ = [
    "AugmentSettings",
    "AugmentedRow",
    "NormStats",
    "RewardConfig",
    "RewardEvalConfig",
    "RewardEvalJob",
    "RewardEvalReport",
    "RewardEvalResult",
    "RewardInputEncoder",
    "RewardModel",
    "RewardRow",
    "ScoreItem",
    "ScoreRun",
    "TruncationStats",
    "augment_pair",
    "evaluate_reward_model",
    "export_reward_model",
    "human_agreement",
    "label_metrics",
    "load_exported",
    "load_reward_pairs",
    "load_seq_cls_base",
    "negate_principle",
    "resolve_principles",
    "run_reward_eval",
    "score_to_file",
    "soft_bradley_terry_loss",
    "split_pairs",
    "steering_check",
    "train_reward_model",
    "with_negation_pairs",
]
