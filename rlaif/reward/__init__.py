"""Principle-conditioned reward models (SALMON-style): train on soft AI labels, score, steer, evaluate, export.

>>> from rlaif.reward import RewardConfig, train_reward_model, RewardModel          # doctest: +SKIP
>>> result = train_reward_model(RewardConfig(data="out/labels", constitution="principles/style.yaml",
...                                          output_dir="runs/rm"))
>>> rm = RewardModel.load(result.model_dir)
>>> rm.score([[principle]], ["How far is the Moon?"], ["About 384,000 km."], normalize=True)

See ``docs/reward.md``. Importing this package does not import torch.
"""

from rlaif.lazy import lazy_exports

#: module -> the public names it gives; each loads on first use (PEP 562), so importing this package stays light
_LAZY: dict[str, tuple[str, ...]] = {
    "rlaif.reward.augment": ("AugmentedRow", "augment_pair", "with_negation_pairs"),
    "rlaif.reward.config": ("AugmentSettings", "RewardConfig"),
    "rlaif.reward.data": ("RewardRow", "load_reward_pairs", "resolve_principles", "split_pairs"),
    "rlaif.reward.evaluate": (
        "RewardEvalConfig",
        "RewardEvalJob",
        "RewardEvalReport",
        "RewardEvalResult",
        "evaluate_reward_model",
        "human_agreement",
        "label_metrics",
        "run_reward_eval",
        "steering_check",
    ),
    "rlaif.reward.export": ("export_reward_model",),
    "rlaif.reward.inputs": ("RewardInputEncoder", "TruncationStats", "negate_principle"),
    "rlaif.reward.loss": ("soft_bradley_terry_loss",),
    "rlaif.reward.model": ("NormStats", "RewardModel", "load_exported", "load_seq_cls_base"),
    "rlaif.reward.score_file": ("ScoreItem", "ScoreRun", "score_to_file"),
    "rlaif.reward.train": ("train_reward_model",),
}

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)

__all__ = sorted(name for names in _LAZY.values() for name in names)
