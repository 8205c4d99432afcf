"""How a policy evaluation is configured: :class:`PolicyEvalConfig` (``rlaif eval policy`` options and the loop's
``evaluate`` stage map onto it; :mod:`rlaif.evals.policy_eval` runs it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from rlaif.evals.gate import GateSettings
from rlaif.fields import (
    BatchPairs,
    BatchPrompts,
    BootstrapResamples,
    ChainOfThought,
    Confidence,
    ConstitutionFile,
    JudgeModeName,
    Limit,
    MinChoiceMass,
    PrinciplesK,
    Seed,
    Temperature,
    TemplatesDir,
    TokenCap,
    UseCache,
)
from rlaif.strict import StrictConfig

#: ``baseline`` value meaning the base model itself (no adapter)
BASE = "base"


class PolicyEvalConfig(StrictConfig):
    """How a policy is evaluated (``rlaif eval policy`` options and the loop's ``evaluate`` stage map onto these).

    Relative paths are read relative to the working directory (the loop resolves them against the pipeline file).
    """

    prompts: Path = Field(
        description="Held-out prompt file (jsonl/json/csv/parquet; see rlaif.feedback.inputs)."
    )
    split: str | None = Field(
        default="heldout", description="Use only rows of this split (None: every row of the file)."
    )
    limit: Limit = Field(default=None, description="Use only the first N prompts (after the split).")
    constitution: ConstitutionFile = Field(
        description="Constitution the critic judges by; its rules are checked too."
    )
    principles: list[str] | None = Field(
        default=None, description="Principle ids to judge under (None: every principle of the constitution)."
    )
    compliance_constitutions: list[Path] = Field(
        default_factory=list, description="Further constitutions whose rules are checked (no critic calls)."
    )
    model: str = Field(
        default="smollm2", description="The base policy model (alias, local folder or hub id)."
    )
    baseline: str = Field(
        default=BASE,
        description="'base' (the base model) or an adapter folder, e.g. the previous round's policy.",
    )
    critic: str = Field(default="smollm2", description="The critic model.")
    backend: str = Field(default="transformers", description="Backend generating the responses.")
    backend_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword options of the generating backend (device, dtype, batch_size...).",
    )
    critic_backend: str = Field(default="transformers", description="Backend of the critic.")
    critic_backend_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the critic's backend."
    )
    templates: TemplatesDir = None
    judge_template: str = Field(default="compare", description="The scored comparison template.")
    judge_mode: JudgeModeName = "auto"
    chain_of_thought: ChainOfThought = False
    min_choice_mass: MinChoiceMass = 0.0
    max_new_tokens: TokenCap = Field(default=128, description="Length cap of each response.")
    temperature: Temperature = Field(default=0.0, description="0 = greedy; > 0 samples (seeded per prompt).")
    seed: Seed = Field(default=0, description="Seeds sampling (when temperature > 0) and the bootstrap.")
    kl: bool = Field(
        default=True, description="Score the policy's responses under the base model (KL monitor)."
    )
    human_labels: Path | None = Field(
        default=None, description="Human preference file: also measure the critic's agreement with it."
    )
    human_k: PrinciplesK = Field(default=4, description="Principles sampled per human pair.")
    human_limit: Limit = Field(default=None, description="Use only the first N human pairs.")
    critic_gate: GateSettings | None = Field(
        default=None,
        description="Before judging, the critic judges a gold set (rlaif.evals.gate); its win rates are measured "
        "only when the lower 95% bound of its gold-set accuracy reaches critic_gate.min_accuracy (0.5: it beats "
        "chance), else skipped with the reason recorded. None: always judge.",
    )
    ngram: int = Field(
        default=3, ge=1, description="n of the repetition monitor and longest over-represented phrase."
    )
    top_phrases: int = Field(default=10, ge=0, description="Over-represented phrases listed.")
    n_samples: int = Field(default=5, ge=0, description="Example prompts shown before/after in the report.")
    batch_pairs: BatchPairs = 8
    batch_prompts: BatchPrompts = 64
    bootstrap_resamples: BootstrapResamples = 2000
    confidence: Confidence = 0.95
    cache: Path | None = Field(
        default=None,
        description="Call cache (SQLite). Default: runs/<name>/.rlaif-cache.sqlite inside a run directory "
        "(so the base model's responses are computed once per run), else <out>/../.rlaif-cache.sqlite.",
    )
    use_cache: UseCache = True


__all__ = ["BASE", "PolicyEvalConfig"]
