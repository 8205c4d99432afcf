"""Policy training: DPO on soft AI labels and PPO with principle-conditioned rewards (own code on torch +
transformers + peft + accelerate; see ARCHITECTURE.md on why not TRL)."""

from rlaif.policy.model import Policy, generate_greedy, load_policy

__all__ = ["Policy", "generate_greedy", "load_policy"]
