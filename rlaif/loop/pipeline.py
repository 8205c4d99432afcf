"""Pipeline files: the YAML that describes a whole multi-round run (validated like constitutions).

A pipeline names the models, the constitution, the prompt source and the number of rounds, and gives the
parameters of each stage of a round: generate → label and/or revise → reward model → policy (DPO, PPO or SFT) →
evaluate. The sections ``reward.settings``, ``policy.dpo``/``policy.ppo``/``policy.sft`` and ``evaluate.settings``
are passed to the Python configs of those stages (:class:`rlaif.reward.RewardConfig`,
:class:`rlaif.policy.dpo.DPOConfig`, :class:`rlaif.policy.ppo.PPOConfig`,
:class:`rlaif.evals.PolicyEvalConfig`); the loop fills in what it owns (models, data paths, output folders,
the adapter to continue from) and every other field is checked against those configs before anything runs.

Every field is documented in ``docs/pipelines.md``; ``rlaif run PIPELINE key=value ...`` overrides any field by its
dotted path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from rlaif.backends.spec import ModelSpec
from rlaif.errors import RlaifError
from rlaif.feedback.label_config import LabelConfig
from rlaif.resources import shipped_dir
from rlaif.strict import StrictConfig


@dataclass(frozen=True)
class RoleSpec:
    """A role's resolved model: backend, model, options and adapter (see :meth:`Pipeline.role`)."""

    role: str
    backend: str
    model: str
    options: dict[str, Any]
    adapter: str | None = None
    own: bool = False  # set by its own spec (not the shared models.backend and options)

    def fingerprint(self) -> dict[str, Any]:
        """What of this role enters a stage's fingerprint beyond the model name and backend (empty by default, so
        pipelines without role specs keep their fingerprints)."""
        out: dict[str, Any] = {}
        if self.own and self.options:
            out["options"] = {k: v for k, v in sorted(self.options.items()) if k != "api_key"}
        if self.adapter:
            out["adapter"] = self.adapter
        return out


def _spec(value: str | ModelSpec | None) -> ModelSpec | None:
    return ModelSpec(model=value) if isinstance(value, str) else value


class Models(StrictConfig):
    """Which models play which part. Self-alignment (the default): the critic and the reward model's base are the
    policy's own base model. Each role may name its own backend: ``critic: {backend: openai, model: ...}``."""

    policy: str | ModelSpec = Field(
        default="smollm2", description="base model of the policy (alias, local path or hub id), or a spec"
    )
    critic: str | ModelSpec | None = Field(
        default=None,
        description="critic model or spec; null = the policy's base model on the policy's backend",
    )
    reward: str | ModelSpec | None = Field(
        default=None,
        description="reward model base or spec; null = reward_base, else the policy's base model",
    )
    reward_base: str | None = Field(
        default=None, description="reward model base; null = the policy's base model"
    )
    backend: str = Field(default="transformers", description="engine for generation and the critic")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="extra options of the backend")
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:N or mps")
    dtype: str = Field(default="auto", description="auto, float32, bfloat16 or float16")
    trust_remote_code: bool = Field(
        default=False, description="allow custom modelling code shipped with a model"
    )


class Prompts(StrictConfig):
    """Where prompts come from and how they split into training and held-out prompts."""

    files: list[str] = Field(
        min_length=1, description="prompt files (jsonl/json/parquet/csv) or local HF datasets"
    )
    field_map: dict[str, str] = Field(default_factory=dict, description="our name -> the file's column name")
    heldout_split: str = Field(default="heldout", description="rows whose `split` is this are held out")
    max_train: int | None = Field(default=None, ge=1, description="use at most this many training prompts")
    max_heldout: int | None = Field(default=None, ge=1, description="use at most this many held-out prompts")
    skip_bad_rows: bool = Field(
        default=False, description="skip malformed rows (reported) instead of stopping"
    )


class GenerateStage(StrictConfig):
    """Sampling the policy's responses (round k samples the policy trained in round k-1)."""

    n: int = Field(default=2, ge=1, description="responses per prompt")
    max_new_tokens: int = Field(default=256, ge=1, description="length cap of each response")
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    overlong: Literal["truncate", "skip", "error"] = "truncate"
    batch_prompts: int = Field(
        default=32, ge=1, description="prompts per backend call (unit of progress/resume)"
    )


#: fields of the label section that the run sets: a pipeline file may not
RUN_LABEL_FIELDS = frozenset({"seed", "progress"})


class LabelSection(LabelConfig):
    """Pairwise AI labels: :class:`rlaif.feedback.labeler.LabelConfig` (the fields of ``rlaif label``), plus
    whether the stage runs. The run sets ``seed`` (the pipeline's seed + the round) and ``progress``."""

    enabled: bool = Field(default=True, description="run the label stage")


class ReviseStage(StrictConfig):
    """Critique → revision (SFT data and revision-vs-original pairs)."""

    enabled: bool = False
    rounds: int = Field(default=1, ge=1, description="critique/revision rounds per response")
    max_new_tokens: int = Field(default=128, ge=1)
    few_shot: bool = Field(
        default=True, description="prepend the constitution's examples to critique and revision requests"
    )
    require_both_orders: bool = True

    @field_validator("few_shot", mode="before")
    @classmethod
    def _few_shot_count(cls, value: Any) -> Any:
        # older pipeline files wrote a count here; any count above 0 turns the examples on
        if isinstance(value, int) and not isinstance(value, bool):
            return value > 0
        return value


class RewardStage(StrictConfig):
    """Training the principle-conditioned reward model on this round's labels."""

    enabled: bool = False
    refresh: Literal["continue", "scratch"] = Field(
        default="continue",
        description="continue from the previous round's reward model, or train from scratch",
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="fields of rlaif.reward.RewardConfig")


class PolicyStage(StrictConfig):
    """Fine-tuning the policy."""

    method: Literal["dpo", "ppo", "sft", "none"] = "dpo"
    dpo: dict[str, Any] = Field(default_factory=dict, description="fields of rlaif.policy.dpo.DPOConfig")
    ppo: dict[str, Any] = Field(default_factory=dict, description="fields of rlaif.policy.ppo.PPOConfig")
    sft: dict[str, Any] = Field(
        default_factory=dict, description="fields of DPOConfig for SFT on revisions (loss = sft)"
    )


class EvaluateStage(StrictConfig):
    """Evaluating the round's policy on held-out prompts."""

    enabled: bool = True
    baseline: Literal["base", "previous"] = "base"
    settings: dict[str, Any] = Field(
        default_factory=dict, description="fields of rlaif.evals.PolicyEvalConfig"
    )


class Refresh(StrictConfig):
    """What carries over from one round to the next."""

    pairs: Literal["replace", "accumulate"] = Field(
        default="replace",
        description="train each round on its own fresh pairs (replace) or on all rounds' pairs so far (accumulate)",
    )
    relabel: bool = Field(
        default=False, description="with accumulate: re-label older rounds' pairs with this round's critic"
    )


class RaySection(StrictConfig):
    """Where the Ray executor runs the generate and label stages (used with ``executor: ray``)."""

    address: str | None = Field(
        default=None,
        description="Ray cluster (HOST:PORT, auto, ray://HOST:PORT); null = RAY_ADDRESS or a local Ray instance",
    )
    workers: int = Field(
        default=2, ge=1, description="actors in the pool, each with its own copy of the model"
    )
    gpus_per_worker: float = Field(default=0.0, ge=0.0, description="GPUs per worker (0 on CPU)")
    cpus_per_worker: float = Field(default=1.0, gt=0.0, description="CPUs per worker")
    batches_per_task: int = Field(
        default=1,
        ge=1,
        description="backend batches (generate.batch_prompts / label.batch_pairs) per Ray task; results unchanged",
    )
    max_retries: int = Field(
        default=3, ge=0, description="retries of a batch whose worker died before the run stops and names it"
    )


class Pipeline(StrictConfig):
    """A whole run: models, constitution, prompts, rounds and stage parameters."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="run name (runs/<name>)")
    description: str = ""
    seed: int = 0
    rounds: int = Field(default=1, ge=1, le=100)
    models: Models = Models()
    constitution: list[str] = Field(min_length=1, description="constitution file(s); several are merged")
    templates: str | None = Field(
        default=None,
        description="template folder searched before the shipped prompts/ (critic, revision, reward-model and "
        "evaluation templates); editing a template in it redoes the stages that render it",
    )
    prompts: Prompts
    generate: GenerateStage = GenerateStage()
    label: LabelSection = LabelSection()
    revise: ReviseStage = ReviseStage()
    reward: RewardStage = RewardStage()
    policy: PolicyStage = PolicyStage()
    sft_baseline: bool = Field(
        default=False,
        description="also fine-tune on the critic's revisions (SFT) each round, and evaluate it",
    )
    evaluate: EvaluateStage = EvaluateStage()
    refresh: Refresh = Refresh()
    self_rewarding: bool = Field(
        default=False, description="the critic is the current policy (round k-1's adapter)"
    )
    executor: Literal["local", "ray"] = Field(
        default="local", description="where generation and labeling run: this process, or a Ray actor pool"
    )
    ray: RaySection = RaySection()
    min_free_disk_gb: float = Field(
        default=1.0, ge=0.0, description="refuse to start with less free disk space"
    )

    @field_validator("label")
    @classmethod
    def _run_sets_label(cls, v: LabelSection) -> LabelSection:
        owned = sorted(RUN_LABEL_FIELDS & v.model_fields_set)
        if owned:
            raise ValueError(
                f"label.{owned[0]} is set by the run (the seed is the pipeline's seed + the round, progress follows "
                "rlaif run's --progress); remove it"
            )
        return v

    @field_validator("constitution", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @property
    def policy_model(self) -> str:
        """The policy's base model name."""
        return self.role("policy").model

    @property
    def critic_model(self) -> str:
        """The critic's model name."""
        return self.role("critic").model

    @property
    def reward_model_base(self) -> str:
        """The reward model's base model name."""
        return self.role("reward").model

    def role(self, name: Literal["policy", "critic", "reward"]) -> RoleSpec:
        """The resolved model of a role: its own spec, else (critic, reward) the policy's model and backend."""
        m = self.models
        policy = _spec(m.policy)
        assert policy is not None
        spec: ModelSpec
        if name == "policy":
            spec = policy
        elif name == "critic":
            # null = self-alignment: the policy's base model on the policy's backend, never the policy's adapter
            spec = _spec(m.critic) or policy.model_copy(update={"adapter": None})
        else:
            spec = _spec(m.reward) or ModelSpec(model=m.reward_base or policy.model)
        backend = spec.backend or m.backend
        shared = backend == m.backend
        options = {**(m.backend_options if shared else {}), **spec.options}
        own = spec.backend is not None or bool(spec.options)
        return RoleSpec(name, backend, spec.model, options, spec.adapter, own)


def resolve_data_path(name: str, *, pipeline_dir: Path | None) -> Path:
    """Find a data file named in a pipeline: as given (absolute or from the current folder), then next to the
    pipeline file, then among the files shipped with rlaif (``principles/…``, ``data/…``, ``prompts/…``)."""
    p = Path(name).expanduser()
    if p.is_absolute() or p.exists():
        return p
    if pipeline_dir is not None and (pipeline_dir / p).exists():
        return pipeline_dir / p
    parts = p.parts
    if len(parts) > 1 and parts[0] in SHIPPED:
        try:
            shipped = shipped_dir(parts[0]).joinpath(*parts[1:])  # type: ignore[arg-type]
        except RlaifError:
            return p
        if shipped.exists():
            return shipped
    return p


SHIPPED = ("principles", "prompts", "pipelines", "data")
