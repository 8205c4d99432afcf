"""What a policy evaluation measured: the result types, their summary from responses and verdicts
(:func:`summarize`, no model calls) and the files they are written to (``eval.json``, ``samples.jsonl``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rlaif.constitution.compliance import ALL, ComplianceReport, compliance_gain, rule_compliance
from rlaif.constitution.schema import Principle
from rlaif.evals.drift import DriftReport, drift_report, words
from rlaif.evals.policy_eval_config import PolicyEvalConfig
from rlaif.evals.refusal import detect_refusal
from rlaif.evals.winrate import (
    CONSTITUTION,
    CriticReliability,
    PairVerdict,
    WinRate,
    critic_reliability,
    win_rates,
)
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.inputs import PromptRow
from rlaif.stats import Estimate, bootstrap_ci

EVAL_FILE = "eval.json"
SAMPLES_FILE = "samples.jsonl"
EVAL_FORMAT = "rlaif-policy-eval/1"


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
    win_rate_skipped: str | None = None  # why the critic was not asked (it failed critic_gate)

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
                "skipped": self.win_rate_skipped,
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


def _drift_dict(d: DriftReport) -> dict[str, Any]:
    return {
        "length_words": {"policy": asdict(d.length_policy), "base": asdict(d.length_base)},
        "repetition": {"policy": asdict(d.repetition_policy), "base": asdict(d.repetition_base)},
        "refusal_rate": {"policy": asdict(d.refusal_policy), "base": asdict(d.refusal_base)},
        "over_represented": [asdict(p) for p in d.over_represented],
    }


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
    pairs: Sequence[Comparison],
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
                "p_policy_first": round(overall.p_ab, 6) if overall else None,
                "p_policy_second": round(overall.p_ba, 6) if overall else None,
                "identical": v.identical if v is not None else a == b,
                "unlabeled_reason": v.unlabeled_reason
                if v is not None
                else "not judged: the critic failed its gate",
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
    "EVAL_FILE",
    "EVAL_FORMAT",
    "SAMPLES_FILE",
    "ComplianceRow",
    "Kl",
    "PolicyEvalResult",
    "summarize",
    "write_eval",
]
