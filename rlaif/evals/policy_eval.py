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

This module does the model work; the config lives in :mod:`rlaif.evals.policy_eval_config`, the result types, their
summary and the files in :mod:`rlaif.evals.policy_eval_result` (all importable from here too).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.backends.base import Backend, ScoreRequest
from rlaif.constitution.sampling import principles_by_id
from rlaif.constitution.schema import Constitution, Principle
from rlaif.errors import DataFileError, ModelError, RlaifError
from rlaif.evals.gate import gold_items, run_gate
from rlaif.evals.policy_eval_config import BASE, PolicyEvalConfig
from rlaif.evals.policy_eval_result import (
    EVAL_FILE,
    EVAL_FORMAT,
    SAMPLES_FILE,
    ComplianceRow,
    Kl,
    PolicyEvalResult,
    summarize,
    write_eval,
)
from rlaif.evals.winrate import PairVerdict, judge_policy_pairs
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.inputs import PromptRow

log = logging.getLogger(__name__)


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
    if not ids:
        raise RlaifError(
            "principles is an empty list", field="principles", hint="name at least one, or null for all"
        )
    wanted = {p.id for p in principles_by_id(constitution, ids)}
    return [p for p in constitution.principles if p.id in wanted]


def check_adapter(folder: str | Path, role: str) -> Path:
    """A clear :class:`~rlaif.errors.ModelError` now, instead of a stack trace after minutes, for a bad adapter."""
    from rlaif.models.load import adapter_folder

    try:
        return adapter_folder(folder)
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

    # the evaluation's length cap, temperature, seed and batch size; one response per prompt
    gen = GenerateConfig.from_shared(config, n=1, overlong="truncate", progress=progress)
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


def _generate_and_score(
    backend: Backend,
    prompts: Sequence[PromptRow],
    config: PolicyEvalConfig,
    progress: bool,
    role: str,
    timing: dict[str, float],
    *,
    scored: Sequence[str] | None = None,
) -> tuple[_Generated, list[float] | None]:
    """``role``'s responses, and (with ``config.kl``) log p of ``scored`` (default: those responses) under the same
    backend; the seconds of each step go to ``timing`` as ``generate_<role>`` and ``score_<role>``."""
    out = _generate(backend, prompts, config, progress)
    timing[f"generate_{role}"] = out.seconds
    t = time.perf_counter()
    logprobs = _logprobs(backend, prompts, out.texts if scored is None else scored) if config.kl else None
    timing[f"score_{role}"] = time.perf_counter() - t
    return out, logprobs


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

    The evaluate stage's job (:class:`rlaif.jobs.evaluate.EvaluateJob`, which ``rlaif eval policy`` and the loop
    build) runs through here.

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
    gate_settings = config.critic_gate if config.critic_gate and config.critic_gate.enabled else None
    if (
        gate_settings is not None
    ):  # a missing or malformed gold file stops here, not after minutes of generation
        gold_items(gate_settings)
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
        policy, lp_policy = _generate_and_score(policy_backend, prompts, config, progress, "policy", timing)
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
        base, lp_base = _generate_and_score(
            base_backend, prompts, config, progress, "base", timing, scored=policy.texts
        )
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

        judge = JudgeConfig.from_shared(config, template=config.judge_template, mode=config.judge_mode)
        pairs = [
            Comparison(p.id, p.conversation, a, b)
            for p, a, b in zip(prompts, policy.texts, baseline.texts, strict=True)
        ]
        gate = None
        if gate_settings is not None:
            t = time.perf_counter()
            gate = run_gate(
                critic_backend, templates, constitution, gate_settings, seed=config.seed, judge=judge
            )
            timing["critic_gate"] = time.perf_counter() - t
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
            log.warning("the critic's win rates are not measured: %s", gate.message())
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
                # the critic judged as for the win rates (its judge mode too), by principles of the whole
                # constitution: the human pairs are not the held-out prompts
                AgreementConfig.from_shared(
                    config,
                    k=min(config.human_k, len(constitution.principles)),
                    template=config.judge_template,
                    principles=(),
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
    result.win_rate_skipped = gate.message() if gate is not None and not gate.passed else None
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
