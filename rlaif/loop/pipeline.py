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

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from rlaif.backends.spec import ModelSpec
from rlaif.errors import RlaifError
from rlaif.feedback.label_config import LabelConfig
from rlaif.feedback.responses import GenerateConfig
from rlaif.feedback.revise_config import ReviseConfig
from rlaif.fields import Seed, SkipBadRows, TokenCap
from rlaif.resources import shipped_dir
from rlaif.scale.ray_setup import RayOptions
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
    skip_bad_rows: SkipBadRows = False


#: fields a pipeline's ``generate:`` / ``revise:`` section may not set: the loop owns them (name -> why)
_LOOP_OWNED = {
    "seed": "the loop sets it to the pipeline's seed + the round number; set the top-level seed",
    "progress": "the loop sets it from `rlaif run --progress/--no-progress`",
    "cache": "every stage of a run shares the run's call cache",
    "response_temperature": "the pipeline revises the generate stage's responses: set generate.temperature",
    "response_max_new_tokens": "the pipeline revises the generate stage's responses: set generate.max_new_tokens",
}


def _refuse_loop_owned(value: Any, fields: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        for name in fields:
            if name in value:
                _refuse(name, "{name} is not set in a pipeline file: {why}", why=_LOOP_OWNED[name])
    return value


def _refuse(at: str, message: str, **ctx: Any) -> None:
    """A validation error located at the section's key ``at`` (the YAML error names its line)."""
    raise PydanticCustomError("value_error", message, {"name": at, **ctx, "at": (at,)})


def _changed(config: StrictConfig, legacy: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    """``legacy`` plus every other field set away from its default (fields pipelines could not set before
    enter a fingerprint only when used, so the runs of unchanged pipeline files resume)."""
    out = dict(legacy)
    for name, info in type(config).model_fields.items():
        if name in skip or name in out:
            continue
        value = getattr(config, name)
        if value != info.get_default(call_default_factory=True):
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


class GenerateSection(GenerateConfig):
    """Sampling the policy's responses (round k samples the policy trained in round k-1): the fields of
    :class:`rlaif.feedback.responses.GenerateConfig`, but ``seed`` (the pipeline's seed + the round) and
    ``progress`` (``rlaif run``'s flag), which the loop sets."""

    @model_validator(mode="before")
    @classmethod
    def _loop_owned(cls, value: Any) -> Any:
        return _refuse_loop_owned(value, ("seed", "progress"))

    def fingerprint(self) -> dict[str, Any]:
        """The fields of the generate stage's fingerprint: the six pipelines always had, then any other field
        set away from its default (``seed``, set by the loop, is added by the stage)."""
        legacy = {
            k: getattr(self, k)
            for k in ("n", "max_new_tokens", "temperature", "top_p", "overlong", "batch_prompts")
        }
        return _changed(self, legacy, {"seed", "progress"})

    def generate_config(self, *, seed: int, progress: bool) -> GenerateConfig:
        """The round's :class:`GenerateConfig`: these fields with the loop's seed and progress flag."""
        return GenerateConfig.model_validate({**self.model_dump(), "seed": seed, "progress": progress})


#: fields of the label section that the run sets: a pipeline file may not
RUN_LABEL_FIELDS = frozenset({"seed", "progress"})


class LabelSection(LabelConfig):
    """Pairwise AI labels: :class:`rlaif.feedback.labeler.LabelConfig` (the fields of ``rlaif label``), plus
    whether the stage runs. The run sets ``seed`` (the pipeline's seed + the round) and ``progress``."""

    enabled: bool = Field(default=True, description="run the label stage")


class ReviseSection(ReviseConfig):
    """Critique → revision of each prompt's first response (SFT data and revision-vs-original pairs): the fields of
    :class:`rlaif.feedback.revise_config.ReviseConfig` and ``enabled``.

    Two shorthands older pipeline files use stay valid: ``max_new_tokens`` sets both ``critique_max_new_tokens`` and
    ``revision_max_new_tokens`` (in a pipeline both default to 128, the cap pipelines always had), and
    ``require_both_orders: true/false`` is ``accept: both_orders/mean``. ``few_shot`` may still be a count (any count
    above 0 turns the examples on). ``seed`` (the pipeline's seed + the round), ``cache`` (the run's) and the
    ``response_*`` fields (the generate stage answers) are the loop's.
    """

    enabled: bool = Field(default=False, description="run the revise stage in every round")
    critique_max_new_tokens: TokenCap = Field(
        default=128, description="length cap of each critique (pipelines: 128; `max_new_tokens` sets both)"
    )
    revision_max_new_tokens: TokenCap = Field(
        default=128, description="length cap of each revision (pipelines: 128; `max_new_tokens` sets both)"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, value: Any) -> Any:
        value = _refuse_loop_owned(
            value, ("seed", "cache", "response_temperature", "response_max_new_tokens")
        )
        if not isinstance(value, dict):
            return value
        value = dict(value)
        if "max_new_tokens" in value:
            both = [k for k in ("critique_max_new_tokens", "revision_max_new_tokens") if k in value]
            if both:
                _refuse(
                    "max_new_tokens", "give max_new_tokens (both caps) or {other}, not both", other=both[0]
                )
            cap = value.pop("max_new_tokens")
            value["critique_max_new_tokens"] = value["revision_max_new_tokens"] = cap
        if "require_both_orders" in value:
            if "accept" in value:
                _refuse(
                    "require_both_orders", "give accept or require_both_orders (its older spelling), not both"
                )
            flag = value.pop("require_both_orders")
            if not isinstance(flag, bool):
                _refuse(
                    "require_both_orders",
                    "require_both_orders must be true or false, got {got}",
                    got=repr(flag),
                )
            value["accept"] = "both_orders" if flag else "mean"
        few = value.get("few_shot")
        if isinstance(few, int) and not isinstance(few, bool):  # older files wrote a count of examples
            value["few_shot"] = few > 0
        return value

    def fingerprint(self) -> dict[str, Any]:
        """The fields of the revise stage's fingerprint, as pipelines always wrote them (``max_new_tokens`` while
        both caps agree, ``require_both_orders`` unless ``accept: always``), then any other field set away from
        its default (``seed``, set by the loop, is added by the stage)."""
        legacy: dict[str, Any] = {"enabled": self.enabled, "rounds": self.rounds}
        if self.critique_max_new_tokens == self.revision_max_new_tokens:
            legacy["max_new_tokens"] = self.critique_max_new_tokens
        else:
            legacy["critique_max_new_tokens"] = self.critique_max_new_tokens
            legacy["revision_max_new_tokens"] = self.revision_max_new_tokens
        legacy["few_shot"] = self.few_shot
        if self.accept == "always":
            legacy["accept"] = self.accept
        else:
            legacy["require_both_orders"] = self.accept == "both_orders"
        skip = {"seed", "cache", "accept", "critique_max_new_tokens", "revision_max_new_tokens"}
        return _changed(self, legacy, skip)

    def revise_config(self, *, seed: int, cache: str | None) -> ReviseConfig:
        """The round's :class:`ReviseConfig`: these fields (less ``enabled``) with the loop's seed and cache."""
        fields = self.model_dump(exclude={"enabled"})
        return ReviseConfig.model_validate({**fields, "seed": seed, "cache": cache})


class RewardStage(StrictConfig):
    """Training the principle-conditioned reward model on this round's labels."""

    enabled: bool = Field(default=False, description="train a reward model each round")
    refresh: Literal["continue", "scratch"] = Field(
        default="continue",
        description="continue from the previous round's reward model, or train from scratch",
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="fields of rlaif.reward.RewardConfig")


class PolicyStage(StrictConfig):
    """Fine-tuning the policy."""

    method: Literal["dpo", "ppo", "sft", "none"] = Field(
        default="dpo", description="how the policy is fine-tuned each round (none: generate and label only)"
    )
    dpo: dict[str, Any] = Field(default_factory=dict, description="fields of rlaif.policy.dpo.DPOConfig")
    ppo: dict[str, Any] = Field(default_factory=dict, description="fields of rlaif.policy.ppo.PPOConfig")
    sft: dict[str, Any] = Field(
        default_factory=dict, description="fields of DPOConfig for SFT on revisions (loss = sft)"
    )


class EvaluateStage(StrictConfig):
    """Evaluating the round's policy on held-out prompts."""

    enabled: bool = Field(default=True, description="evaluate each round's policy on the held-out prompts")
    baseline: Literal["base", "previous"] = Field(
        default="base", description="compare against the base model or the previous round's policy"
    )
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


class Pipeline(StrictConfig):
    """A whole run: models, constitution, prompts, rounds and stage parameters."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="run name (runs/<name>)")
    description: str = Field(default="", description="free text shown in the report")
    seed: Seed = Field(default=0, description="run seed; round k's stages use seed + k")
    rounds: int = Field(default=1, ge=1, le=100, description="rounds of generate → label → train → evaluate")
    models: Models = Field(
        default=Models(), description="which models play the policy, critic and reward roles"
    )
    constitution: list[str] = Field(min_length=1, description="constitution file(s); several are merged")
    templates: str | None = Field(
        default=None,
        description="template folder searched before the shipped prompts/ (critic, revision, reward-model and "
        "evaluation templates); editing a template in it redoes the stages that render it",
    )
    prompts: Prompts = Field(description="where the training and held-out prompts come from")
    generate: GenerateSection = Field(
        default=GenerateSection(), description="sampling the policy's responses"
    )
    label: LabelSection = Field(default=LabelSection(), description="pairwise AI labels of the responses")
    revise: ReviseSection = Field(
        default=ReviseSection(), description="critique and revision of the responses"
    )
    reward: RewardStage = Field(default=RewardStage(), description="the reward model stage")
    policy: PolicyStage = Field(default=PolicyStage(), description="the policy fine-tuning stage")
    sft_baseline: bool = Field(
        default=False,
        description="also fine-tune on the critic's revisions (SFT) each round, and evaluate it",
    )
    evaluate: EvaluateStage = Field(default=EvaluateStage(), description="the evaluation stage")
    refresh: Refresh = Field(default=Refresh(), description="what carries over from one round to the next")
    self_rewarding: bool = Field(
        default=False, description="the critic is the current policy (round k-1's adapter)"
    )
    executor: Literal["local", "ray"] = Field(
        default="local", description="where generation and labeling run: this process, or a Ray actor pool"
    )
    ray: RayOptions = Field(default=RayOptions(), description="the Ray executor's cluster and pool")
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
