"""Reward sources for PPO: the principle-conditioned reward model, the critic's pointwise score, rule checks, and
their weighted sum.

Each source scores a batch of (prompt, response) pairs and returns one number per pair. Sources that read
principles draw ``k`` of them **per prompt** (weighted by the principles' weights, seeded by the run seed, the step,
the prompt id and the source), so the constitution steers the reward at RL time and every response to the same
prompt is judged by the same principles.

* ``reward_model``: :class:`rlaif.reward.RewardModel` scores the response under the sampled principles (its input is
  the ``rm_input`` template); with ``normalize`` the scores are standardised with the mean/std the reward model saved
  at training time. Its constitution and template hashes are compared with the configured ones (warn or refuse).
* ``critic_score``: the critic rates the response from 1 to 10 under each sampled principle
  (:func:`rlaif.feedback.scores.score_responses`); the reward is the probability-weighted score mapped onto
  ``[0, 1]`` (minus 0.5 when ``center``). Responses the critic did not really score get the batch mean and are
  counted in the metrics.
* ``rules``: the weighted fraction of the (sampled or all) rule-carrying principles whose rule the response passes,
  in ``[0, 1]``. No model involved.

The total is ``sum(weight_s * reward_s)``, minus ``no_eos_penalty`` for a response that hit the length limit without
ending, then clipped to ``[-clip, clip]`` when ``clip`` is set. Code your own source against :class:`RewardSource`
(see the toy-reward test) and pass it to :func:`rlaif.policy.ppo.train_ppo`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import Field, model_validator

from rlaif.constitution import Constitution, Principle, load_constitution, sample_principles
from rlaif.constitution.rules import check_rule
from rlaif.errors import RlaifError
from rlaif.feedback.inputs import PromptRow
from rlaif.fields import BatchSize, PrinciplesK
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class RewardModelSourceSettings(StrictConfig):
    """Reward = the principle-conditioned reward model's score under ``k`` principles sampled per prompt."""

    path: str = Field(description="reward model folder written by `rlaif train-rm` (adapter + rlaif.json)")
    constitution: str = Field(description="constitution (YAML) the principles are sampled from")
    k: PrinciplesK = Field(default=2, description="principles sampled per prompt")
    tags: list[str] | None = Field(default=None, description="sample only principles with one of these tags")
    normalize: bool = Field(
        default=True, description="standardise scores with the mean/std saved with the reward model"
    )
    weight: float = Field(default=1.0, description="weight of this source in the total reward")
    on_mismatch: Literal["warn", "error"] = Field(
        default="warn",
        description="what to do when the reward model was trained under another constitution or rm_input template",
    )
    batch_size: BatchSize = Field(default=16, description="responses per reward-model forward")


class CriticScoreSourceSettings(StrictConfig):
    """Reward = the critic's pointwise 1-10 score under ``k`` principles sampled per prompt (direct RLAIF)."""

    critic: str = Field(default="smollm2", description="critic model: alias, local path or hub id")
    backend: str = Field(default="transformers", description="transformers, vllm, openai or mock")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="options passed to the backend")
    constitution: str = Field(description="constitution (YAML) the principles are sampled from")
    k: PrinciplesK = Field(default=1, description="principles sampled per prompt")
    tags: list[str] | None = Field(default=None, description="sample only principles with one of these tags")
    template: str = Field(default="score", description="the pointwise template (prompts/score.j2)")
    center: bool = Field(default=True, description="subtract 0.5 from the [0, 1] score")
    weight: float = Field(default=1.0, description="weight of this source in the total reward")
    cache: str | None = Field(default=None, description="call cache file (SQLite); null = no cache")


class RuleSourceSettings(StrictConfig):
    """Reward = weighted fraction of rule-carrying principles the response passes (deterministic checks)."""

    constitution: str = Field(description="constitution (YAML) whose principles carry `rule`s")
    principles: list[str] | None = Field(
        default=None, description="use only these principle ids (default: every principle with a rule)"
    )
    tags: list[str] | None = Field(default=None, description="use only principles with one of these tags")
    k: int | None = Field(
        default=None, ge=1, description="sample k rule principles per prompt (default: check all of them)"
    )
    weight: float = Field(default=1.0, description="weight of this source in the total reward")


class RewardSpec(StrictConfig):
    """Where PPO's reward comes from: one or more sources, weighted and summed."""

    reward_model: RewardModelSourceSettings | None = Field(
        default=None, description="a trained principle-conditioned reward model as a reward source"
    )
    critic_score: CriticScoreSourceSettings | None = Field(
        default=None, description="the critic's 1-10 score as a reward source"
    )
    rules: RuleSourceSettings | None = Field(
        default=None, description="the constitution's declarative rules as a reward source"
    )
    no_eos_penalty: float = Field(
        default=1.0,
        ge=0.0,
        description="subtracted from the reward of a response that hit max_new_tokens without ending "
        "(otherwise truncation games length rules)",
    )
    clip: float | None = Field(default=None, gt=0.0, description="clip the total reward to [-clip, clip]")

    @model_validator(mode="after")
    def _one_source(self) -> RewardSpec:
        if self.reward_model is None and self.critic_score is None and self.rules is None:
            raise ValueError("give at least one reward source: reward_model, critic_score or rules")
        return self


@dataclass(frozen=True)
class SourceScores:
    """One source's rewards for a batch, the principles each was judged by, and metrics to log."""

    values: list[float]
    principles: list[list[str]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class RewardSource(Protocol):
    """Anything that turns (prompt, response) pairs into rewards; ``weight`` scales it in the total."""

    name: str
    weight: float

    def score(self, prompts: Sequence[PromptRow], responses: Sequence[str], *, step: int) -> SourceScores:
        """One reward per (prompt, response), in order."""
        ...

    def close(self) -> None:
        """Release models and connections."""
        ...


def principle_seed(seed: int, step: int, prompt_id: str, source: str) -> int:
    """The seed of one prompt's principle draw at one step for one source (stable across runs and platforms)."""
    blob = json.dumps([seed, step, prompt_id, source], separators=(",", ":")).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def _draw(
    pool: Sequence[Principle],
    k: int,
    prompts: Sequence[PromptRow],
    *,
    seed: int,
    step: int,
    source: str,
    tags: Sequence[str] | None = None,
) -> list[list[Principle]]:
    """``k`` weighted principles per prompt (the same for repeated prompts of one step)."""
    return [
        sample_principles(
            list(pool), k, seed=principle_seed(seed, step, p.id, source), tags=list(tags) if tags else None
        )
        for p in prompts
    ]


def _draw_for(
    source: CriticScoreReward | RewardModelReward, prompts: Sequence[PromptRow], step: int
) -> list[list[Principle]]:
    """The principles a sampling source scores each prompt under: ``settings.k`` of its constitution's (with its
    tags), drawn from its seed, the step and its name."""
    return _draw(
        source.constitution.principles,
        source.settings.k,
        prompts,
        seed=source.seed,
        step=step,
        source=source.name,
        tags=source.settings.tags,
    )


# -- rules ------------------------------------------------------------------------------------------------------


class RuleReward:
    """Weighted fraction of rule-carrying principles the response passes."""

    name = "rules"

    def __init__(self, settings: RuleSourceSettings, *, seed: int = 0) -> None:
        constitution = load_constitution(settings.constitution)
        pool = [p for p in constitution.principles if p.rule is not None]
        if settings.principles is not None:
            known = {p.id: p for p in constitution.principles}
            missing = [pid for pid in settings.principles if pid not in known]
            if missing:
                raise RlaifError(
                    f"principle(s) {missing} are not in {settings.constitution}",
                    path=settings.constitution,
                    field="reward.rules.principles",
                    hint=f"known ids: {sorted(known)}",
                )
            ruleless = [pid for pid in settings.principles if known[pid].rule is None]
            if ruleless:
                raise RlaifError(
                    f"principle(s) {ruleless} carry no rule, so a rule reward cannot check them",
                    path=settings.constitution,
                    field="reward.rules.principles",
                )
            pool = [p for p in pool if p.id in set(settings.principles)]
        if settings.tags is not None:
            pool = [p for p in pool if set(settings.tags) & set(p.tags)]
        if not pool:
            raise RlaifError(
                f"no principle of {settings.constitution} carries a rule (after the id/tag filters)",
                path=settings.constitution,
                field="reward.rules",
                hint="rule rewards need principles with a `rule:` block, e.g. principles/style.yaml",
            )
        if settings.k is not None and settings.k > len(pool):
            raise RlaifError(
                f"k={settings.k} but only {len(pool)} rule principle(s) are eligible",
                field="reward.rules.k",
            )
        self.principles = pool
        self.k = settings.k
        self.weight = settings.weight
        self.seed = seed

    def score(self, prompts: Sequence[PromptRow], responses: Sequence[str], *, step: int) -> SourceScores:
        """Weighted pass fraction per response; metrics: the pass rate of each principle over the batch."""
        if self.k is None:
            chosen = [list(self.principles)] * len(prompts)
        else:
            chosen = _draw(self.principles, self.k, prompts, seed=self.seed, step=step, source=self.name)
        values: list[float] = []
        passes: dict[str, list[float]] = {}
        for principles, text in zip(chosen, responses, strict=True):
            total = weight = 0.0
            for p in principles:
                assert p.rule is not None
                ok = check_rule(p.rule, text).passed
                total += p.weight * float(ok)
                weight += p.weight
                passes.setdefault(p.id, []).append(float(ok))
            values.append(total / weight if weight > 0 else 0.0)
        metrics = {f"rule_pass/{pid}": sum(v) / len(v) for pid, v in passes.items()}
        return SourceScores(values, [[p.ref for p in ps] for ps in chosen], metrics)

    def close(self) -> None:
        """Nothing to release."""


# -- critic pointwise score --------------------------------------------------------------------------------------


class CriticScoreReward:
    """The critic's 1-10 score under sampled principles, mapped onto [0, 1] (direct RLAIF)."""

    name = "critic_score"

    def __init__(
        self,
        settings: CriticScoreSourceSettings,
        *,
        seed: int = 0,
        templates: str | Path | None = None,
        backend: Any | None = None,
    ) -> None:
        from rlaif.prompting import TemplateSet

        self.settings = settings
        self.constitution: Constitution = load_constitution(settings.constitution)
        self.templates = TemplateSet.load(Path(templates) if templates else None)
        self.weight = settings.weight
        self.seed = seed
        self._backend = backend
        self._owned = backend is None

    def _critic(self) -> Any:
        if self._backend is None:
            from rlaif.feedback.call_cache import open_backend

            s = self.settings
            self._backend = open_backend(s.backend, s.critic, options=dict(s.backend_options), cache=s.cache)
        return self._backend

    def score(self, prompts: Sequence[PromptRow], responses: Sequence[str], *, step: int) -> SourceScores:
        """Critic scores per response; unscored responses get the batch mean (counted as ``critic_unscored``)."""
        from rlaif.feedback.scores import PointwiseScore, ScoreConfig, ScoreItem, score_responses

        s = self.settings
        chosen = _draw_for(self, prompts, step)
        items = [
            ScoreItem(f"{step}:{i}:{p.id}", p.conversation, text, tuple(ps))
            for i, (p, text, ps) in enumerate(zip(prompts, responses, chosen, strict=True))
        ]
        results = score_responses(
            self._critic(), items, (), self.templates, ScoreConfig(template=s.template, k=s.k, seed=self.seed)
        )
        raw: list[float | None] = [
            r.normalized - (0.5 if s.center else 0.0) if isinstance(r, PointwiseScore) else None
            for r in results
        ]
        scored = [v for v in raw if v is not None]
        fill = sum(scored) / len(scored) if scored else 0.0
        values = [fill if v is None else v for v in raw]
        unscored = len(raw) - len(scored)
        if unscored:
            log.warning("critic_score: %d of %d response(s) unscored at step %d", unscored, len(raw), step)
        return SourceScores(
            values, [[p.ref for p in ps] for ps in chosen], {"critic_unscored": float(unscored)}
        )

    def close(self) -> None:
        """Close the critic backend (when this source opened it)."""
        if self._backend is not None and self._owned:
            self._backend.close()
            cache = getattr(self._backend, "cache", None)
            if cache is not None:
                cache.close()
            self._backend = None


# -- reward model ------------------------------------------------------------------------------------------------


class RewardModelLike(Protocol):
    """What PPO needs of a reward model (:class:`rlaif.reward.RewardModel` fits; tests use a fake)."""

    @property
    def constitution_hash(self) -> str | None:
        """Hash of the constitution the reward model was trained under."""
        ...

    @property
    def template_hash(self) -> str | None:
        """Hash of the rm_input template it was trained with."""
        ...

    def score(
        self,
        principles: Sequence[Sequence[Principle]],
        prompts: Sequence[Any],
        responses: Sequence[str],
        *,
        batch_size: int = 16,
        normalize: bool = False,
    ) -> list[float]:
        """One scalar reward per response."""
        ...


def check_reward_model_provenance(
    rm: RewardModelLike,
    constitution: Constitution,
    *,
    template_hash: str | None,
    on_mismatch: Literal["warn", "error"],
    where: str,
) -> list[str]:
    """Compare the reward model's constitution and template hashes with the configured ones.

    Returns the mismatches (empty when all agree); warns or raises :class:`RlaifError` by ``on_mismatch``.
    """
    from rlaif.constitution import constitution_hash

    problems: list[str] = []
    want = constitution_hash(constitution)
    have = getattr(rm, "constitution_hash", None)
    if have and have != want:
        problems.append(
            f"it was trained under constitution {str(have)[:12]} but the configured one hashes to {want[:12]}"
        )
    have_t = getattr(rm, "template_hash", None)
    if have_t and template_hash and have_t != template_hash:
        problems.append(
            f"it was trained with rm_input template {str(have_t)[:12]} but the configured one hashes to "
            f"{template_hash[:12]}"
        )
    if problems:
        message = f"reward model {where}: " + "; ".join(problems)
        if on_mismatch == "error":
            raise RlaifError(
                message,
                path=where,
                field="reward.reward_model",
                hint="use the constitution and templates the reward model was trained with, retrain it, or set "
                "reward.reward_model.on_mismatch: warn",
            )
        warnings.warn(message + " (its scores may not follow the configured principles)", stacklevel=2)
        log.warning("%s", message)
    return problems


class RewardModelReward:
    """The principle-conditioned reward model under ``k`` principles sampled per prompt."""

    name = "reward_model"

    def __init__(
        self,
        settings: RewardModelSourceSettings,
        *,
        seed: int = 0,
        templates: str | Path | None = None,
        device: str = "auto",
        model: RewardModelLike | None = None,
    ) -> None:
        from rlaif.prompting import TemplateSet

        self.settings = settings
        self.constitution = load_constitution(settings.constitution)
        self.weight = settings.weight
        self.seed = seed
        self.rm: RewardModelLike = (
            model if model is not None else load_reward_model(settings.path, device=device)
        )
        tset = TemplateSet.load(Path(templates) if templates else None)
        self.mismatches = check_reward_model_provenance(
            self.rm,
            self.constitution,
            template_hash=tset.template_hash("rm_input"),
            on_mismatch=settings.on_mismatch,
            where=settings.path,
        )
        if settings.normalize and getattr(self.rm, "stats", None) is None:
            log.warning(
                "reward model %s saved no normalisation statistics: its scores are used as they are",
                settings.path,
            )

    def score(self, prompts: Sequence[PromptRow], responses: Sequence[str], *, step: int) -> SourceScores:
        """Reward-model scores under each prompt's sampled principles."""
        s = self.settings
        chosen = _draw_for(self, prompts, step)
        normalize = s.normalize and getattr(self.rm, "stats", None) is not None
        values = self.rm.score(
            chosen,
            [p.conversation for p in prompts],
            list(responses),
            batch_size=s.batch_size,
            normalize=normalize,
        )
        return SourceScores([float(v) for v in values], [[p.ref for p in ps] for ps in chosen])

    def close(self) -> None:
        """Drop the reward model."""
        self.rm = None  # type: ignore[assignment]


def load_reward_model(path: str | Path, *, device: str = "auto", trainable: bool = False) -> RewardModelLike:
    """Load a reward model folder with :class:`rlaif.reward.RewardModel` (eval mode).

    ``trainable`` keeps a LoRA adapter separate (to train it further, as the value model does); otherwise a
    float32 adapter is merged into the weights for faster scoring.
    """
    try:
        from rlaif.reward import RewardModel
    except ImportError as e:  # pragma: no cover - the reward package ships with rlaif
        raise RlaifError(
            f"the reward-model package is not available: {e}", field="reward.reward_model"
        ) from e
    folder = Path(path)
    if not folder.is_dir():
        raise RlaifError("reward model folder not found", path=folder, field="reward.reward_model.path")
    rm: RewardModelLike = RewardModel.load(folder, device=device, merge_adapter=False if trainable else None)
    return rm


# -- the total ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardBatch:
    """Total rewards of a batch, each source's own rewards, the principles used, and metrics."""

    total: list[float]
    per_source: dict[str, list[float]]
    principles: dict[str, list[list[str]]]
    metrics: dict[str, float]


class CombinedReward:
    """The weighted sum of several sources, with the no-EOS penalty and optional clipping."""

    def __init__(
        self, sources: Sequence[RewardSource], *, no_eos_penalty: float = 0.0, clip: float | None = None
    ) -> None:
        if not sources:
            raise RlaifError("no reward source configured", field="reward")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise RlaifError(f"reward sources need distinct names, got {names}", field="reward")
        self.sources = list(sources)
        self.no_eos_penalty = no_eos_penalty
        self.clip = clip

    def __call__(
        self,
        prompts: Sequence[PromptRow],
        responses: Sequence[str],
        finished: Sequence[bool],
        *,
        step: int,
    ) -> RewardBatch:
        """Score a batch; ``finished[i]`` is false when response ``i`` hit the length limit without ending."""
        n = len(responses)
        total = [0.0] * n
        per_source: dict[str, list[float]] = {}
        principles: dict[str, list[list[str]]] = {}
        metrics: dict[str, float] = {}
        for source in self.sources:
            out = source.score(prompts, responses, step=step)
            if len(out.values) != n:
                raise RlaifError(
                    f"reward source {source.name} returned {len(out.values)} rewards for {n} responses"
                )
            per_source[source.name] = list(out.values)
            principles[source.name] = out.principles
            finite = [v for v in out.values if math.isfinite(v)]
            metrics[f"reward/{source.name}"] = sum(finite) / len(finite) if finite else math.nan
            metrics.update({f"{source.name}/{k}": v for k, v in out.metrics.items()})
            for i, v in enumerate(out.values):
                total[i] += source.weight * v
        unfinished = sum(1 for f in finished if not f)
        for i, done in enumerate(finished):
            if not done:
                total[i] -= self.no_eos_penalty
            if self.clip is not None and math.isfinite(total[i]):
                total[i] = min(max(total[i], -self.clip), self.clip)
        metrics["no_eos_frac"] = unfinished / n if n else 0.0
        return RewardBatch(total, per_source, principles, metrics)

    def close(self) -> None:
        """Close every source."""
        for s in self.sources:
            s.close()


def build_reward(
    spec: RewardSpec,
    *,
    seed: int = 0,
    templates: str | Path | None = None,
    device: str = "auto",
    extra_sources: Sequence[RewardSource] = (),
) -> CombinedReward:
    """The :class:`CombinedReward` a :class:`RewardSpec` describes (plus any sources given in Python)."""
    sources: list[RewardSource] = []
    try:
        if spec.reward_model is not None:
            sources.append(
                RewardModelReward(spec.reward_model, seed=seed, templates=templates, device=device)
            )
        if spec.critic_score is not None:
            sources.append(CriticScoreReward(spec.critic_score, seed=seed, templates=templates))
        if spec.rules is not None:
            sources.append(RuleReward(spec.rules, seed=seed))
    except BaseException:
        for s in sources:
            s.close()
        raise
    sources.extend(extra_sources)
    return CombinedReward(sources, no_eos_penalty=spec.no_eos_penalty, clip=spec.clip)


def source_weights(reward: CombinedReward) -> Mapping[str, float]:
    """Each source's weight by name (for the run summary)."""
    return {s.name: s.weight for s in reward.sources}


__all__ = [
    "CombinedReward",
    "CriticScoreReward",
    "CriticScoreSourceSettings",
    "RewardBatch",
    "RewardModelLike",
    "RewardModelReward",
    "RewardModelSourceSettings",
    "RewardSource",
    "RewardSpec",
    "RuleReward",
    "RuleSourceSettings",
    "SourceScores",
    "build_reward",
    "check_reward_model_provenance",
    "load_reward_model",
    "principle_seed",
    "source_weights",
]
