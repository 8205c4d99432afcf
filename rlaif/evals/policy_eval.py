"""Did alignment happen, and at what cost? Evaluate a policy adapter against a baseline on held-out prompts.

Run it from the command line (``rlaif eval policy --help``), from a pipeline (the loop's ``evaluate`` stage maps its
parameters onto :class:`PolicyEvalConfig`) or from Python::

    from rlaif.evals import PolicyEvalConfig, evaluate_policy
    config = PolicyEvalConfig(prompts="data/prompts/everyday.jsonl", constitution="principles/hhh.yaml")
    result = evaluate_policy(config, policy_adapter="runs/demo/round-1/policy/model", out_dir=Path("out/eval"))
    print(result.win_rates["constitution"].win_rate)

Recipe (one model in memory at a time; every model call goes through the call cache):

1. the **policy** (base model + adapter) answers the held-out prompts (greedy by default) and, for the KL
   monitor, scores its own responses;
2. the **base model** answers the same prompts (cached: identical in every round, so computed once per run) and
   scores the policy's responses (log π_ref);
3. the **baseline** answers them: the base model's responses when ``baseline: base``, otherwise those of the
   adapter folder named (e.g. the previous round's policy);
4. the **critic** judges policy vs baseline under every selected principle in both orders
   (:mod:`rlaif.evals.winrate`), and, when a human preference file is configured, is itself measured against it
   (:mod:`rlaif.evals.agreement`);
5. model-free monitors: rule compliance before/after (:mod:`rlaif.constitution.compliance`), drift (lengths, repetition,
   over-represented phrases vs the base model, refusals: :mod:`rlaif.evals.drift`), and the KL estimate;
6. ``eval.json`` (every number, with intervals) and ``samples.jsonl`` (one row per prompt) are written atomically
   into ``out_dir``.

The KL monitor: for each prompt, log π(y|x) − log π_ref(y|x) of the policy's own response y, summed over its tokens
(nats). With sampled responses (``temperature > 0``) its mean is the usual Monte-Carlo estimate of KL(π ‖ π_ref);
with greedy responses (the default) it is the log-ratio at the policy's mode — a drift indicator on the same scale,
not an unbiased KL. ``eval.json`` says which (``kl.estimator``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rlaif.backends.base import Backend, ScoreRequest
from rlaif.constitution.compliance import ALL, ComplianceReport, compliance_gain, rule_compliance
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError, ModelError, RlaifError
from rlaif.evals.drift import DriftReport, drift_report, words
from rlaif.evals.gate import GateSettings, run_gate
from rlaif.evals.refusal import detect_refusal
from rlaif.evals.winrate import (
    CONSTITUTION,
    CriticReliability,
    PairToCompare,
    PairVerdict,
    WinRate,
    critic_reliability,
    judge_policy_pairs,
    win_rates,
)
from rlaif.feedback.inputs import PromptRow
from rlaif.stats import Estimate, bootstrap_ci

log = logging.getLogger(__name__)

EVAL_FILE = "eval.json"
SAMPLES_FILE = "samples.jsonl"
EVAL_FORMAT = "rlaif-policy-eval/1"
BASE = "base"


class PolicyEvalConfig(BaseModel):
    """How a policy is evaluated (``rlaif eval policy`` options and the loop's ``evaluate`` stage map onto these).

    Relative paths are read relative to the working directory (the loop resolves them against the pipeline file).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompts: Path = Field(
        description="Held-out prompt file (jsonl/json/csv/parquet; see rlaif.feedback.inputs)."
    )
    split: str | None = Field(
        default="heldout", description="Use only rows of this split (None: every row of the file)."
    )
    limit: int | None = Field(
        default=None, ge=1, description="Use only the first N prompts (after the split)."
    )
    constitution: Path = Field(description="Constitution the critic judges by; its rules are checked too.")
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
    templates: Path | None = Field(
        default=None, description="Template folder searched before the shipped prompts/."
    )
    judge_template: str = Field(default="compare", description="The scored comparison template.")
    judge_mode: str = Field(
        default="auto",
        description="How the critic judges: auto, choice-logprobs, top-logprobs or verdict (docs/backends.md).",
    )
    chain_of_thought: bool = Field(
        default=False,
        description="The critic reasons first (template compare_cot), then is scored (clamped).",
    )
    min_choice_mass: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Below this probability on the choices a pair is unlabeled."
    )
    max_new_tokens: int = Field(default=128, ge=1, description="Length cap of each response.")
    temperature: float = Field(
        default=0.0, ge=0.0, description="0 = greedy; > 0 samples (seeded per prompt)."
    )
    seed: int = Field(default=0, description="Seeds sampling (when temperature > 0) and the bootstrap.")
    kl: bool = Field(
        default=True, description="Score the policy's responses under the base model (KL monitor)."
    )
    human_labels: Path | None = Field(
        default=None, description="Human preference file: also measure the critic's agreement with it."
    )
    human_k: int = Field(default=4, ge=1, description="Principles sampled per human pair.")
    human_limit: int | None = Field(default=None, ge=1, description="Use only the first N human pairs.")
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
    batch_pairs: int = Field(
        default=8, ge=1, description="Pairs per critic call (unit of progress and cache commit)."
    )
    batch_prompts: int = Field(
        default=64, ge=1, description="Prompts per generation call (unit of progress and cache commits)."
    )
    bootstrap_resamples: int = Field(default=2000, ge=10, description="Bootstrap resamples per interval.")
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0, description="Interval coverage.")
    cache: Path | None = Field(
        default=None,
        description="Call cache (SQLite). Default: runs/<name>/.rlaif-cache.sqlite inside a run directory "
        "(so the base model's responses are computed once per run), else <out>/../.rlaif-cache.sqlite.",
    )
    use_cache: bool = Field(default=True, description="Read and write the call cache.")


# ---------------------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Kl:
    """Per-prompt log π(y|x) − log π_ref(y|x) of the policy's response, summarised."""

    estimator: str  # "sampled" (Monte-Carlo KL) or "greedy" (log-ratio at the mode)
    per_response: Estimate
    per_word: float
    values: tuple[float, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class ComplianceRow:
    """One rule-carrying principle: pass rate of the baseline (before) and the policy (after), paired gain."""

    principle: str
    before: Estimate
    after: Estimate
    gain: Estimate


@dataclass
class PolicyEvalResult:
    """Everything one evaluation measured (written to ``eval.json``; per-prompt rows to ``samples.jsonl``)."""

    n_prompts: int
    policy: dict[str, Any]
    baseline: dict[str, Any]
    critic: dict[str, Any]
    constitution: dict[str, Any]
    prompts: dict[str, Any]
    config: dict[str, Any]
    win_rates: dict[str, WinRate]
    identical: int
    unlabeled: dict[str, int]
    compliance: list[ComplianceRow] | None
    drift: DriftReport
    kl: Kl | None
    reliability: CriticReliability
    human_agreement: dict[str, Any] | None
    timing: dict[str, Any]
    samples: list[dict[str, Any]] = field(repr=False, default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    critic_gate: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``eval.json`` (see docs/report.md for its keys)."""
        from rlaif import __version__

        return {
            "format": EVAL_FORMAT,
            "rlaif_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "n_prompts": self.n_prompts,
            "policy": self.policy,
            "baseline": self.baseline,
            "critic": self.critic,
            "constitution": self.constitution,
            "prompts": self.prompts,
            "config": self.config,
            "win_rate": {
                "rule": "win: both orders prefer the policy; loss: both prefer the baseline; tie otherwise",
                "identical": self.identical,
                "unlabeled": self.unlabeled,
                "constitution": asdict(self.win_rates[CONSTITUTION])
                if CONSTITUTION in self.win_rates
                else None,
                "per_principle": {k: asdict(v) for k, v in self.win_rates.items() if k != CONSTITUTION},
                "skipped": _gate_skip_reason(self.critic_gate),
            },
            "compliance": [asdict(c) for c in self.compliance] if self.compliance is not None else None,
            "drift": _drift_dict(self.drift),
            "kl": {k: v for k, v in asdict(self.kl).items() if k != "values"}
            if self.kl is not None
            else None,
            "labeler": {
                "critic_on_these_pairs": asdict(self.reliability),
                "human_agreement": self.human_agreement,
                "critic_gate": self.critic_gate,
            },
            "timing": self.timing,
        }


def _gate_skip_reason(gate: dict[str, Any] | None) -> str | None:
    """Why the win rates were not measured (the critic failed its gold-set gate), or None."""
    if gate is None or gate.get("passed"):
        return None
    acc = gate.get("accuracy") or {}
    shown = (
        f"{100 * acc['value']:.0f}% [{100 * acc['low']:.0f}, {100 * acc['high']:.0f}]"
        if all(isinstance(acc.get(k), int | float) for k in ("value", "low", "high"))
        else "no label"
    )
    return (
        f"the critic's accuracy on the gold set {gate.get('gold')} is {shown}; the lower 95% bound must reach "
        f"{100 * float(gate.get('min_accuracy', 0.5)):.0f}%"
    )


def _drift_dict(d: DriftReport) -> dict[str, Any]:
    return {
        "length_words": {"policy": asdict(d.length_policy), "base": asdict(d.length_base)},
        "repetition": {"policy": asdict(d.repetition_policy), "base": asdict(d.repetition_base)},
        "refusal_rate": {"policy": asdict(d.refusal_policy), "base": asdict(d.refusal_base)},
        "over_represented": [asdict(p) for p in d.over_represented],
    }


# ---------------------------------------------------------------------------------------------------------------
# inputs


def load_heldout_prompts(config: PolicyEvalConfig) -> list[PromptRow]:
    """The held-out prompts (split filter, then limit); refuses an empty set with the splits that do exist."""
    from rlaif.feedback.inputs import load_prompts

    rows = load_prompts(config.prompts)
    kept = [r for r in rows if config.split is None or r.split == config.split]
    if not kept:
        splits = sorted({r.split for r in rows})
        raise DataFileError(
            f"no held-out prompts: none of the {len(rows)} prompt(s) has split {config.split!r} "
            f"(splits in the file: {', '.join(splits)})",
            path=config.prompts,
            field="split",
            hint='mark held-out rows with "split": "heldout", choose another split (--split), or use every '
            "row (--all-splits / split: null)",
        )
    return kept[: config.limit] if config.limit is not None else kept


def select_principles(constitution: Constitution, ids: Sequence[str] | None) -> list[Principle]:
    """The principles to judge under (all, or the named ids in constitution order)."""
    if ids is None:
        return list(constitution.principles)
    known = {p.id for p in constitution.principles}
    missing = [i for i in ids if i not in known]
    if missing:
        raise RlaifError(
            f"no principle {', '.join(repr(m) for m in missing)} in constitution '{constitution.name}'",
            field="principles",
            hint=f"principle ids: {', '.join(p.id for p in constitution.principles)}",
        )
    if not ids:
        raise RlaifError(
            "principles is an empty list", field="principles", hint="name at least one, or null for all"
        )
    wanted = set(ids)
    return [p for p in constitution.principles if p.id in wanted]


def check_adapter(folder: str | Path, role: str) -> Path:
    """A clear :class:`~rlaif.errors.ModelError` now, instead of a stack trace after minutes, for a bad adapter."""
    from rlaif.models.load import _adapter_folder

    try:
        return _adapter_folder(folder)
    except ModelError as e:
        raise ModelError(
            f"the {role} cannot be loaded: {e.problem.message}",
            path=e.problem.path,
            field=role,
            hint=(e.hint or "") + ("; or use 'base' for the base model" if role == "baseline" else ""),
        ) from None


_ROUND_DIR = re.compile(r"round-\d+$")


def default_eval_cache(out_dir: Path) -> Path:
    """Inside a run directory (``runs/<name>/round-<k>/evaluate``) the run-wide cache, else the sibling default."""
    from rlaif.feedback.call_cache import CACHE_FILE_NAME, default_cache_path

    out = out_dir.resolve()
    if _ROUND_DIR.match(out.parent.name):
        return out.parent.parent / CACHE_FILE_NAME
    return default_cache_path(out)


# ---------------------------------------------------------------------------------------------------------------
# model work


@dataclass
class _Generated:
    texts: list[str]
    finish: list[str]
    seconds: float
    revision: str


def _open(kind: str, model: str, options: dict[str, Any], cache: Path | None, role: str) -> Backend:
    from rlaif.feedback.call_cache import open_backend

    try:
        return open_backend(kind, model, options=options, cache=cache)
    except ModelError as e:
        raise ModelError(
            f"the {role} model cannot be loaded: {e.problem.message}",
            path=e.problem.path,
            field=role,
            hint=e.hint,
        ) from None


def _close(backend: Backend) -> None:
    from rlaif.feedback.call_cache import CachedBackend

    backend.close()
    if isinstance(backend, CachedBackend):
        backend.cache.close()


def _generate(
    backend: Backend, prompts: Sequence[PromptRow], config: PolicyEvalConfig, progress: bool
) -> _Generated:
    from rlaif.feedback.responses import GenerateConfig, generate_responses

    gen = GenerateConfig(
        n=1,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        seed=config.seed,
        overlong="truncate",
        batch_prompts=config.batch_prompts,
        progress=progress,
    )
    start = time.perf_counter()
    sets = generate_responses(backend, prompts, gen)
    by_id = {s.prompt.id: s for s in sets}
    missing = [p.id for p in prompts if p.id not in by_id]
    if missing:
        raise RlaifError(f"no response for prompt(s) {', '.join(missing[:5])}", field="prompts")
    return _Generated(
        texts=[by_id[p.id].responses[0] for p in prompts],
        finish=[by_id[p.id].finish_reasons[0] for p in prompts],
        seconds=time.perf_counter() - start,
        revision=backend.model_revision,
    )


def _logprobs(backend: Backend, prompts: Sequence[PromptRow], responses: Sequence[str]) -> list[float]:
    """log p(response | prompt) under ``backend`` (the prompt through its chat template)."""
    requests = [
        ScoreRequest(prompt=backend.format_chat(p.conversation), continuations=(r,))
        for p, r in zip(prompts, responses, strict=True)
    ]
    return [res.logprobs[0] for res in backend.score(requests)]


# ---------------------------------------------------------------------------------------------------------------
# the evaluation


def evaluate_policy(
    config: PolicyEvalConfig,
    *,
    policy_adapter: str | Path | None,
    out_dir: Path,
    progress: bool = True,
) -> PolicyEvalResult:
    """Evaluate ``policy_adapter`` (None: the base model itself) against ``config.baseline``; write into ``out_dir``.

    Every user mistake (no held-out prompts, an unknown principle, an adapter folder that is not one, a model that
    cannot be loaded) is an :class:`~rlaif.errors.RlaifError` raised before the first model is loaded.
    """
    from rlaif.constitution import constitution_hash, load_constitution
    from rlaif.prompting import TemplateSet

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    prompts = load_heldout_prompts(config)
    constitution = load_constitution(config.constitution)
    principles = select_principles(constitution, config.principles)
    extra = [load_constitution(p) for p in config.compliance_constitutions]
    templates = TemplateSet.load(config.templates)
    templates.template_hash("compare_cot" if config.chain_of_thought else config.judge_template)
    adapter = check_adapter(policy_adapter, "policy") if policy_adapter is not None else None
    baseline_adapter = check_adapter(config.baseline, "baseline") if config.baseline != BASE else None
    human = None
    if config.human_labels is not None:
        from rlaif.feedback.inputs import load_preferences

        human = load_preferences(config.human_labels)[: config.human_limit]
    cache = (config.cache or default_eval_cache(out_dir)) if config.use_cache else None
    log.info(
        "evaluating %s against %s on %d held-out prompt(s) from %s; critic %s, %d principle(s) of %s",
        f"adapter {adapter}" if adapter else "the base model",
        "the base model" if baseline_adapter is None else f"adapter {baseline_adapter}",
        len(prompts),
        config.prompts,
        config.critic,
        len(principles),
        constitution.name,
    )
    timing: dict[str, float] = {}

    # 1. the policy: responses, and log π of them
    opts = dict(config.backend_options)
    policy_backend = _open(
        config.backend,
        config.model,
        {**opts, **({"adapter": str(adapter)} if adapter else {})},
        cache,
        "policy",
    )
    try:
        policy = _generate(policy_backend, prompts, config, progress)
        timing["generate_policy"] = policy.seconds
        t = time.perf_counter()
        lp_policy = _logprobs(policy_backend, prompts, policy.texts) if config.kl else None
        timing["score_policy"] = time.perf_counter() - t
    finally:
        _close(policy_backend)

    # 2. the base model: its responses (the drift reference, and the baseline by default), log π_ref
    same_as_critic = (config.backend, config.model, opts) == (
        config.critic_backend,
        config.critic,
        dict(config.critic_backend_options),
    )
    base_backend = _open(config.backend, config.model, opts, cache, "base")
    critic_backend: Backend | None = base_backend if same_as_critic else None
    try:
        base = _generate(base_backend, prompts, config, progress)
        timing["generate_base"] = base.seconds
        t = time.perf_counter()
        lp_base = _logprobs(base_backend, prompts, policy.texts) if config.kl else None
        timing["score_base"] = time.perf_counter() - t
    finally:
        if critic_backend is None:
            _close(base_backend)

    try:
        # 3. the baseline, when it is not the base model
        if baseline_adapter is not None:
            bb = _open(
                config.backend, config.model, {**opts, "adapter": str(baseline_adapter)}, cache, "baseline"
            )
            try:
                baseline = _generate(bb, prompts, config, progress)
                timing["generate_baseline"] = baseline.seconds
            finally:
                _close(bb)
        else:
            baseline = base

        # 4. the critic
        if critic_backend is None:
            critic_backend = _open(
                config.critic_backend, config.critic, dict(config.critic_backend_options), cache, "critic"
            )
        from rlaif.feedback.labeler import JudgeConfig

        judge = JudgeConfig(
            template=config.judge_template,
            chain_of_thought=config.chain_of_thought,
            min_choice_mass=config.min_choice_mass,
            seed=config.seed,
            mode=config.judge_mode,
        )
        pairs = [
            PairToCompare(p.id, p.conversation, a, b)
            for p, a, b in zip(prompts, policy.texts, baseline.texts, strict=True)
        ]
        gate = None
        if config.critic_gate is not None and config.critic_gate.enabled:
            t = time.perf_counter()
            gate = run_gate(
                critic_backend, templates, constitution, config.critic_gate, seed=config.seed, judge=judge
            )
            timing["critic_gate"] = time.perf_counter() - t
            log.info("%s", gate.message())
        t = time.perf_counter()
        verdicts: list[PairVerdict] = []
        if gate is None or gate.passed:
            verdicts = judge_policy_pairs(
                critic_backend,
                templates,
                pairs,
                principles,
                judge,
                batch_pairs=config.batch_pairs,
                progress=progress,
            )
        else:
            log.warning(
                "the critic's win rates are not measured: it failed the gold-set gate (%s)",
                _gate_skip_reason(gate.to_dict()),
            )
        timing["judge"] = time.perf_counter() - t
        human_agreement = None
        if human:
            from rlaif.evals.agreement import AgreementConfig, evaluate_agreement

            t = time.perf_counter()
            report = evaluate_agreement(
                critic_backend,
                templates,
                human,
                constitution,
                AgreementConfig(
                    k=min(config.human_k, len(constitution.principles)),
                    template=config.judge_template,
                    chain_of_thought=config.chain_of_thought,
                    min_choice_mass=config.min_choice_mass,
                    seed=config.seed,
                    bootstrap_resamples=config.bootstrap_resamples,
                    confidence=config.confidence,
                ),
                progress=progress,
                source=str(config.human_labels),
            )
            human_agreement = report.to_dict()
            timing["human_agreement"] = time.perf_counter() - t
        critic_info = {"model": critic_backend.model_id, "revision": critic_backend.model_revision}
    finally:
        if critic_backend is not None:
            _close(critic_backend)

    # 5. model-free monitors and the summary
    result = summarize(
        config,
        prompts,
        policy_texts=policy.texts,
        baseline_texts=baseline.texts,
        base_texts=base.texts,
        policy_finish=policy.finish,
        base_finish=base.finish,
        verdicts=verdicts,
        pairs=pairs,
        principles=principles,
        rule_principles=_rule_principles([constitution, *extra]),
        kl_values=[a - b for a, b in zip(lp_policy, lp_base, strict=True)]
        if lp_policy is not None and lp_base is not None
        else None,
    )
    result.policy = {
        "model": config.model,
        "adapter": str(adapter) if adapter else None,
        "revision": policy.revision,
    }
    result.baseline = {
        "kind": BASE if baseline_adapter is None else "adapter",
        "adapter": str(baseline_adapter) if baseline_adapter else None,
        "revision": baseline.revision,
    }
    result.critic = critic_info
    result.constitution = {
        "name": constitution.name,
        "path": str(config.constitution),
        "hash": constitution_hash(constitution),
        "principles": [p.ref for p in principles],
    }
    result.human_agreement = human_agreement
    result.critic_gate = gate.to_dict() if gate is not None else None
    timing["total"] = time.perf_counter() - t0
    n = len(prompts)
    gen_s = timing["generate_policy"] + timing["generate_base"] + timing.get("generate_baseline", 0.0)
    n_gen = n * (3 if baseline_adapter is not None else 2)
    judged = sum(1 for v in verdicts if v.labeled and not v.identical)
    result.timing = {
        "seconds": {k: round(v, 3) for k, v in timing.items()},
        "throughput": {
            "responses_per_second": round(n_gen / gen_s, 3) if gen_s > 0 else None,
            "pairs_judged_per_second": round(judged / timing["judge"], 3)
            if timing["judge"] > 0 and judged
            else None,
            "critic_prompts": judged * len(principles) * 2,
        },
    }
    result.paths = write_eval(result, out_dir)
    log.info("policy evaluation written to %s (%.1f s)", out_dir, timing["total"])
    return result


def _rule_principles(constitutions: Sequence[Constitution]) -> list[Principle]:
    seen: dict[str, Principle] = {}
    for c in constitutions:
        for p in c.principles:
            if p.rule is not None and p.id not in seen:
                seen[p.id] = p
    return list(seen.values())


def summarize(
    config: PolicyEvalConfig,
    prompts: Sequence[PromptRow],
    *,
    policy_texts: Sequence[str],
    baseline_texts: Sequence[str],
    base_texts: Sequence[str],
    policy_finish: Sequence[str] | None,
    base_finish: Sequence[str] | None,
    verdicts: Sequence[PairVerdict],
    pairs: Sequence[PairToCompare],
    principles: Sequence[Principle],
    rule_principles: Sequence[Principle],
    kl_values: Sequence[float] | None,
) -> PolicyEvalResult:
    """Turn responses and verdicts into a :class:`PolicyEvalResult` (no model calls; used by :func:`evaluate_policy`
    and by tests). Identity fields (policy, baseline, critic, constitution) are left for the caller to fill."""
    rs, conf, seed = config.bootstrap_resamples, config.confidence, config.seed
    rates = win_rates(verdicts, resamples=rs, confidence=conf, seed=seed)
    unlabeled: dict[str, int] = {}
    for v in verdicts:
        if v.unlabeled_reason is not None:
            key = v.unlabeled_reason.split(" (")[0]
            unlabeled[key] = unlabeled.get(key, 0) + 1
    compliance: list[ComplianceRow] | None = None
    if rule_principles:
        before: ComplianceReport = rule_compliance(rule_principles, baseline_texts, seed=seed)
        after: ComplianceReport = rule_compliance(rule_principles, policy_texts, seed=seed)
        compliance = [
            ComplianceRow(
                principle=key,
                before=before.rates[key],
                after=after.rates[key],
                gain=compliance_gain(before, after, key, seed=seed),
            )
            for key in [*(p.id for p in rule_principles), ALL]
        ]
    drift = drift_report(
        policy_texts,
        base_texts,
        policy_finish=policy_finish,
        base_finish=base_finish,
        ngram=config.ngram,
        top_phrases=config.top_phrases,
        seed=seed,
    )
    kl = None
    if kl_values is not None and kl_values:
        n_words = sum(len(words(t)) for t in policy_texts)
        kl = Kl(
            estimator="sampled" if config.temperature > 0 else "greedy",
            per_response=bootstrap_ci(list(kl_values), resamples=rs, confidence=conf, seed=seed),
            per_word=sum(kl_values) / n_words if n_words else 0.0,
            values=tuple(kl_values),
        )
    # no verdicts at all: the critic was not asked (it failed its gate); the rows carry no critic fields
    reliability = critic_reliability(verdicts, pairs if verdicts else [], principles, seed=seed)
    samples = _sample_rows(
        prompts,
        policy_texts,
        baseline_texts,
        base_texts,
        list(verdicts) if verdicts else [None] * len(prompts),
        rule_principles,
        kl_values,
    )
    return PolicyEvalResult(
        n_prompts=len(prompts),
        policy={},
        baseline={},
        critic={},
        constitution={},
        prompts={"path": str(config.prompts), "split": config.split, "n": len(prompts)},
        config=config.model_dump(mode="json"),
        win_rates=rates,
        identical=sum(v.identical for v in verdicts),
        unlabeled=unlabeled,
        compliance=compliance,
        drift=drift,
        kl=kl,
        reliability=reliability,
        human_agreement=None,
        timing={},
        samples=samples,
    )


def _sample_rows(
    prompts: Sequence[PromptRow],
    policy_texts: Sequence[str],
    baseline_texts: Sequence[str],
    base_texts: Sequence[str],
    verdicts: Sequence[PairVerdict | None],
    rule_principles: Sequence[Principle],
    kl_values: Sequence[float] | None,
) -> list[dict[str, Any]]:
    from rlaif.constitution.rules import check_rule

    rows = []
    for i, (p, a, b, base, v) in enumerate(
        zip(prompts, policy_texts, baseline_texts, base_texts, verdicts, strict=True)
    ):
        refusal_a, refusal_b = detect_refusal(a), detect_refusal(b)
        overall = v.overall if v is not None else None
        rows.append(
            {
                "id": p.id,
                "prompt": p.text,
                "policy": a,
                "baseline": b,
                "base": base if base is not b else None,
                "outcome": overall.outcome if overall else None,
                "p_policy": round(overall.p, 6) if overall else None,
                "p_policy_first": round(overall.p_first, 6) if overall else None,
                "p_policy_second": round(overall.p_second, 6) if overall else None,
                "identical": v.identical if v is not None else a == b,
                "unlabeled_reason": v.unlabeled_reason if v is not None else "not judged: the critic failed its gate",
                "per_principle": {
                    ref: {"p": round(j.p, 6), "outcome": j.outcome} for ref, j in v.per_principle.items()
                }
                if v is not None
                else {},
                "words": {"policy": len(words(a)), "baseline": len(words(b))},
                "refusal": {
                    "policy": refusal_a.phrase if refusal_a else None,
                    "baseline": refusal_b.phrase if refusal_b else None,
                },
                "rules": {
                    r.id: {"policy": check_rule(r.rule, a).passed, "baseline": check_rule(r.rule, b).passed}
                    for r in rule_principles
                    if r.rule is not None
                },
                "log_ratio": round(kl_values[i], 6) if kl_values is not None else None,
            }
        )
    return rows


def write_eval(result: PolicyEvalResult, out_dir: Path) -> dict[str, Path]:
    """Write ``eval.json`` and ``samples.jsonl`` atomically into ``out_dir``."""
    from rlaif.atomic import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"eval": out_dir / EVAL_FILE, "samples": out_dir / SAMPLES_FILE}
    atomic_write_text(
        paths["samples"], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.samples)
    )
    atomic_write_text(paths["eval"], json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return paths


__all__ = [
    "BASE",
    "EVAL_FILE",
    "EVAL_FORMAT",
    "SAMPLES_FILE",
    "ComplianceRow",
    "Kl",
    "PolicyEvalConfig",
    "PolicyEvalResult",
    "check_adapter",
    "default_eval_cache",
    "evaluate_policy",
    "load_heldout_prompts",
    "select_principles",
    "summarize",
    "write_eval",
]
