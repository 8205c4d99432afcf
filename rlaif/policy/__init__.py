"""Policy training: DPO on soft AI labels and PPO with principle-conditioned rewards (own code on torch +
transformers + peft + accelerate; see ARCHITECTURE.md on why not TRL)."""

from rlaif.policy.dpo import DPOConfig, EvalSettings, train_dpo
from rlaif.policy.dpo_data import PreferenceData, PreferenceRow, read_preferences
from rlaif.policy.dpo_eval import PolicyEval, evaluate_policy
from rlaif.policy.dpo_loss import PreferenceLoss, preference_loss, sft_nll
from rlaif.policy.model import Policy, generate_greedy, load_policy

__all__ = [
    "DPOConfig",
    "EvalSettings",
    "Policy",
    "PolicyEval",
    "PreferenceData",
    "PreferenceLoss",
    "PreferenceRow",
    "evaluate_policy",
    "generate_greedy",
    "load_policy",
    "preference_loss",
    "read_preferences",
    "sft_nll",
    "train_dpo",
]
