"""Policy training: DPO on soft AI labels and PPO with principle-conditioned rewards (own code on torch +
transformers + peft + accelerate; see ARCHITECTURE.md on why not TRL)."""

from rlaif.lazy import lazy_exports

#: module -> the public names it gives; each loads on first use (PEP 562), so importing this package stays light
_LAZY: dict[str, tuple[str, ...]] = {
    "rlaif.policy.dpo": ("DPOConfig", "EvalSettings", "train_dpo"),
    "rlaif.policy.dpo_data": ("PreferenceData", "PreferenceRow", "read_preferences"),
    "rlaif.policy.dpo_eval": ("PolicyEval", "evaluate_policy"),
    "rlaif.policy.dpo_loss": ("PreferenceLoss", "preference_loss", "sft_nll"),
    "rlaif.policy.model": ("Policy", "generate_greedy", "load_policy"),
}

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)

__all__ = sorted(name for names in _LAZY.values() for name in names)
