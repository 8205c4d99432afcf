"""Evaluating a reward model: pairwise accuracy and calibration on held-out labels (overall and per principle),
agreement with a human-labelled preference file, and a steering check (a principle and its negation should order
the same pair oppositely).

    rlaif eval rm --model runs/rm/model --labels out/heldout -c principles/style.yaml --human data/human_labels/x.jsonl

The model's probability that ``chosen`` wins is σ(r_chosen − r_rejected). Accuracy counts a pair right when the
model orders it as the label does (an exact tie, either side, counts half). Calibration pools every pair twice,
(p, chosen won) and (1 − p, rejected lost), so it does not depend on which response is called ``chosen``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from rlaif.constitution.schema import Principle
from rlaif.fields import BatchSize, ConstitutionFile, Limit, Seed
from rlaif.reward.data import RewardRow
from rlaif.reward.inputs import negate_principle
from rlaif.reward.model import RewardModel
from rlaif.stats import (
    Estimate,
    brier,
    clustered_proportion_ci,
    expected_calibration_error,
    proportion_ci,
)
from rlaif.strict import StrictConfig


class RewardEvalConfig(StrictConfig):
    """What ``rlaif eval rm`` evaluates (every part is optional but at least one of labels/human is needed)."""

    labels: Path | None = Field(default=None, description="held-out labels (same format as training labels)")
    constitution: ConstitutionFile
    human: Path | None = Field(default=None, description="human preference file (TRL or transcript format)")
    human_principles: list[str] | None = Field(
        default=None,
        description="principle ids the human pairs are judged under (default: all of the constitution)",
    )
    steering: bool = Field(
        default=True, description="run the principle-vs-negation steering check on the labels"
    )
    batch_size: BatchSize = 16
    limit: Limit = Field(default=None, description="evaluate only the first N pairs of each file")
    resamples: int = Field(default=1000, ge=100, description="bootstrap resamples for the 95% intervals")
    seed: Seed = Field(default=0, description="bootstrap seed")
    bins: int = Field(default=10, ge=2, description="calibration bins (ECE)")


@dataclass(frozen=True)
class PairMetrics:
    """Accuracy and calibration of reward differences on a set of pairs."""

    n: int
    accuracy: Estimate
    ece: float
    brier: float
    mean_abs_error: float  # mean |σ(r_c − r_r) − p_label|
    mean_margin: float  # mean r_c − r_r


@dataclass(frozen=True)
class SteeringResult:
    """Pairs scored under a principle alone and under its negation."""

    n: int
    flip_rate: Estimate  # the two orders disagree
    accuracy_principle: Estimate  # label order under the principle
    accuracy_negation: Estimate  # reversed order under the negation
    per_principle: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class RewardEvalReport:
    """Everything ``rlaif eval rm`` measured."""

    model: str
    labels: PairMetrics | None = None
    per_principle: dict[str, PairMetrics] = field(default_factory=dict)
    human: PairMetrics | None = None
    steering: SteeringResult | None = None
    truncation: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def to_markdown(self) -> str:
        """A readable report."""

        def pct(e: Estimate) -> str:
            return f"{100 * e.value:.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}]"

        def row(name: str, m: PairMetrics) -> str:
            return (
                f"| {name} | {m.n} | {pct(m.accuracy)} | {m.ece:.3f} | {m.brier:.3f} | {m.mean_abs_error:.3f} | "
                f"{m.mean_margin:.3f} |"
            )

        lines = [f"# Reward model evaluation: `{self.model}`", ""]
        if self.labels is not None:
            m = self.labels
            lines += [
                "## Held-out labels",
                "",
                "| principle | pairs | accuracy (95% CI) | ECE | Brier | mean abs error | mean margin |",
                "|---|---|---|---|---|---|---|",
                row("all", m),
                *(row(pid, pm) for pid, pm in sorted(self.per_principle.items())),
                "",
            ]
        if self.steering is not None:
            s = self.steering
            lines += [
                "## Steering: principle vs its negation",
                "",
                f"{s.n} (pair, principle) cases. Order flips under the negation: {pct(s.flip_rate)}; accuracy "
                f"under the principle {pct(s.accuracy_principle)}; under the negation (reversed) "
                f"{pct(s.accuracy_negation)}.",
                "",
                "| principle | cases | flip rate | accuracy | accuracy under negation |",
                "|---|---|---|---|---|",
            ]
            for pid, d in sorted(s.per_principle.items()):
                lines.append(
                    f"| {pid} | {int(d['n'])} | {100 * d['flip_rate']:.1f}% | {100 * d['accuracy']:.1f}% | "
                    f"{100 * d['accuracy_negation']:.1f}% |"
                )
            lines.append("")
        if self.human is not None:
            h = self.human
            lines += [
                "## Agreement with human labels",
                "",
                f"{h.n} pairs: accuracy {pct(h.accuracy)}, ECE {h.ece:.3f}, Brier {h.brier:.3f}.",
                "",
            ]
        t = self.truncation
        if t:
            lines.append(
                f"Inputs: {t.get('inputs', 0)}; conversation truncated in {t.get('conversation_truncated', 0)}, "
                f"response truncated in {t.get('response_truncated', 0)}."
            )
        return "\n".join(lines) + "\n"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _right(diff: float, p_label: float) -> float:
    """1 when the model orders the pair as the label does, 0 when reversed, 0.5 for a tie on either side."""
    if diff == 0 or p_label == 0.5:
        return 0.5
    return 1.0 if (diff > 0) == (p_label > 0.5) else 0.0


def pair_metrics(
    diffs: Sequence[float], labels: Sequence[float], *, resamples: int = 1000, seed: int = 0, bins: int = 10
) -> PairMetrics:
    """Metrics of reward differences r_c − r_r against labels p(chosen ≻ rejected)."""
    probs = [_sigmoid(d) for d in diffs]
    right = [_right(d, p) for d, p in zip(diffs, labels, strict=True)]
    # each pair twice: (p_model, label says chosen wins) and (1 - p_model, the reverse), on the hard label
    outcome = [1 if p > 0.5 else 0 for p in labels]
    sym_p = [round(q, 12) for q in (*probs, *(1.0 - q for q in probs))]
    sym_y = outcome + [1 - y for y in outcome]
    return PairMetrics(
        n=len(diffs),
        accuracy=proportion_ci(right),  # one outcome per pair (ties 1/2): Wilson
        ece=expected_calibration_error(sym_p, sym_y, bins=bins),
        brier=brier(sym_p, sym_y),
        mean_abs_error=sum(abs(q - p) for q, p in zip(probs, labels, strict=True)) / len(diffs),
        mean_margin=sum(diffs) / len(diffs),
    )


def _diffs(
    rm: RewardModel,
    principles: Sequence[Sequence[Principle]],
    pairs: Sequence[RewardRow],
    batch_size: int,
) -> list[float]:
    n = len(pairs)
    rewards = rm.score(
        [*principles, *principles],
        [p.conversation for p in pairs] * 2,
        [p.chosen for p in pairs] + [p.rejected for p in pairs],
        batch_size=batch_size,
    )
    return [rewards[i] - rewards[n + i] for i in range(n)]


def label_metrics(
    rm: RewardModel, pairs: Sequence[RewardRow], config: RewardEvalConfig
) -> tuple[PairMetrics, dict[str, PairMetrics]]:
    """Overall and per-principle metrics of ``pairs`` scored under their own principles."""
    diffs = _diffs(rm, [p.principles for p in pairs], pairs, config.batch_size)
    labels = [p.p_chosen for p in pairs]
    kw = {"resamples": config.resamples, "seed": config.seed, "bins": config.bins}
    overall = pair_metrics(diffs, labels, **kw)
    per: dict[str, PairMetrics] = {}
    for pid in sorted({q.id for p in pairs for q in p.principles}):
        idx = [i for i, p in enumerate(pairs) if any(q.id == pid for q in p.principles)]
        per[pid] = pair_metrics([diffs[i] for i in idx], [labels[i] for i in idx], **kw)
    return overall, per


def steering_check(
    rm: RewardModel, pairs: Sequence[RewardRow], config: RewardEvalConfig
) -> SteeringResult | None:
    """Score each (pair, principle with a negation) under the principle alone and under its negation.

    A case flips when the two reward differences have opposite signs. Pairs whose label is a tie are skipped.
    Returns None when no principle has a negation.
    """
    cases = [(p, q) for p in pairs if p.p_chosen != 0.5 for q in p.principles if q.negation is not None]
    if not cases:
        return None
    case_pairs = [p for p, _ in cases]
    d_pos = _diffs(rm, [(q,) for _, q in cases], case_pairs, config.batch_size)
    d_neg = _diffs(rm, [(negate_principle(q),) for _, q in cases], case_pairs, config.batch_size)
    flips = [1.0 if a * b < 0 else 0.0 for a, b in zip(d_pos, d_neg, strict=True)]
    acc = [_right(a, p.p_chosen) for a, (p, _) in zip(d_pos, cases, strict=True)]
    acc_neg = [_right(-b, p.p_chosen) for b, (p, _) in zip(d_neg, cases, strict=True)]
    per: dict[str, dict[str, float]] = {}
    for pid in sorted({q.id for _, q in cases}):
        idx = [i for i, (_, q) in enumerate(cases) if q.id == pid]
        per[pid] = {
            "n": float(len(idx)),
            "flip_rate": sum(flips[i] for i in idx) / len(idx),
            "accuracy": sum(acc[i] for i in idx) / len(idx),
            "accuracy_negation": sum(acc_neg[i] for i in idx) / len(idx),
        }
    # a pair with several negatable principles gives several nested cases: the pair is the independent unit
    owners = [p.pair_id for p, _ in cases]
    return SteeringResult(
        n=len(cases),
        flip_rate=clustered_proportion_ci(flips, owners),
        accuracy_principle=clustered_proportion_ci(acc, owners),
        accuracy_negation=clustered_proportion_ci(acc_neg, owners),
        per_principle=per,
    )


def human_agreement(
    rm: RewardModel, human: Sequence[Any], principles: Sequence[Principle], config: RewardEvalConfig
) -> PairMetrics:
    """Metrics on human preference pairs (:class:`~rlaif.feedback.PreferencePair`) judged under ``principles``."""
    pairs = [
        RewardRow(i + 1, h.id, h.id, h.conversation, h.chosen, h.rejected, 1.0, tuple(principles))
        for i, h in enumerate(human)
    ]
    diffs = _diffs(rm, [tuple(principles)] * len(pairs), pairs, config.batch_size)
    return pair_metrics(
        [*diffs], [1.0] * len(diffs), resamples=config.resamples, seed=config.seed, bins=config.bins
    )


def _check_something_to_evaluate(config: RewardEvalConfig) -> None:
    from rlaif.errors import RlaifError

    if config.labels is None and config.human is None:
        raise RlaifError(
            "nothing to evaluate", hint="give held-out labels (--labels) and/or a human file (--human)"
        )


def evaluate_reward_model(rm: RewardModel, config: RewardEvalConfig, *, name: str = "") -> RewardEvalReport:
    """Run every evaluation the config asks for."""
    from rlaif.constitution import load_constitution
    from rlaif.errors import RlaifError
    from rlaif.reward.data import load_reward_pairs

    _check_something_to_evaluate(config)
    constitution = load_constitution(config.constitution)
    report = RewardEvalReport(model=name)
    if config.labels is not None:
        pairs = load_reward_pairs(config.labels, constitution, limit=config.limit)
        report.labels, report.per_principle = label_metrics(rm, pairs, config)
        if config.steering:
            report.steering = steering_check(rm, pairs, config)
    if config.human is not None:
        from rlaif.feedback.inputs import load_preferences

        human = load_preferences(config.human)[: config.limit]
        ids = config.human_principles or list(constitution.principle_ids)
        try:
            principles = [constitution.get(i) for i in ids]
        except KeyError as e:
            raise RlaifError(
                f"unknown principle {e.args[0]!r} for the human pairs",
                field="human_principles",
                hint=f"constitution {constitution.name!r} has: {', '.join(constitution.principle_ids)}",
            ) from None
        report.human = human_agreement(rm, human, principles, config)
    report.truncation = rm.truncation.as_dict()
    return report


def write_eval_report(report: RewardEvalReport, out_dir: str | Path) -> dict[str, Path]:
    """``report.json`` and ``report.md`` in ``out_dir`` (atomic)."""
    from rlaif.atomic import atomic_write_text

    out = Path(out_dir)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    atomic_write_text(paths["json"], json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
    atomic_write_text(paths["markdown"], report.to_markdown())
    return paths


class RewardEvalJob(StrictConfig):
    """Everything ``rlaif eval rm`` needs: the reward model folder, where it runs, the output folder and what to
    evaluate."""

    model: Path = Field(description="the reward model folder (train-rm's <out>/model)")
    out: Path = Field(default=Path("out/rm-eval"), description="output folder: report.json, report.md")
    device: str = Field(default="auto", description="where the reward model runs: auto, cpu, cuda, cuda:1")
    dtype: str = Field(
        default="auto", description="the reward model's dtype: auto, float32, bfloat16, float16"
    )
    config: RewardEvalConfig = Field(description="what is evaluated: held-out labels, human pairs, steering")


@dataclass(frozen=True)
class RewardEvalResult:
    """What :func:`run_reward_eval` measured and wrote."""

    report: RewardEvalReport
    paths: dict[str, Path]  # "json" and "markdown"


def run_reward_eval(job: RewardEvalJob) -> RewardEvalResult:
    """Load the job's reward model, run every evaluation its config asks for and write ``<out>/report.json`` and
    ``<out>/report.md``: the one function ``rlaif eval rm`` and Python share.

    A config with nothing to evaluate is an :class:`~rlaif.errors.RlaifError` raised before the model is loaded.
    """
    _check_something_to_evaluate(job.config)
    rm = RewardModel.load(job.model, device=job.device, dtype=job.dtype)
    report = evaluate_reward_model(rm, job.config, name=str(job.model))
    return RewardEvalResult(report=report, paths=write_eval_report(report, job.out))
