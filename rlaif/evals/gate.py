"""The critic gate: before a label stage trusts a critic, the critic judges a gold set of clear-cut pairs.

If the lower end of the Wilson 95% interval of its accuracy (both orders averaged, ties half right) falls below
``label.gate.min_accuracy`` (default 0.6), the run stops with :class:`CriticGateError`: labels from such a critic are
close to coin flips, and training on them teaches the policy nothing (or the critic's biases). The shipped gold set
is ``data/gold/pairs.jsonl`` (see its README); ``label.gate.gold`` names the user's own file in any
:mod:`~rlaif.evals.judge_bench.formats` layout. Only ``label.gate.enabled: false`` turns the gate off.

The result goes into the label stage's ``stats.json`` (``critic_gate``), and from there into the dataset card and
the run report.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rlaif.constitution.schema import Constitution
from rlaif.errors import RlaifError
from rlaif.feedback.card import gate_card_lines as card_lines  # written where cards are
from rlaif.feedback.judge import JudgeConfig
from rlaif.feedback.label_config import GateSettings  # a field of LabelConfig, so it lives with it
from rlaif.stats import Estimate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateResult:
    """What the gate measured and decided."""

    passed: bool
    critic: str
    gold: str
    n: int
    n_labeled: int
    accuracy: Estimate | None
    min_accuracy: float
    position_bias: Estimate | None
    length_verdict: str

    def message(self) -> str:
        """One line: the critic, the gold set, its accuracy with interval, and the verdict."""
        acc = self.accuracy
        shown = (
            "no label"
            if acc is None
            else f"{100 * acc.value:.1f}% [{100 * acc.low:.1f}, {100 * acc.high:.1f}]"
        )
        verdict = "passes" if self.passed else "fails"
        return (
            f"critic gate: {self.critic} {verdict} on the gold set {self.gold} ({self.n_labeled} of {self.n} pairs "
            f"judged): accuracy {shown}; the lower 95% bound must reach {100 * self.min_accuracy:.0f}%"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (goes into the label stage's stats.json as ``critic_gate``)."""
        return asdict(self)


class CriticGateError(RlaifError):
    """The critic failed the gate: the run stops before labeling."""


def default_gold() -> Path:
    """The shipped gold set."""
    from rlaif.resources import shipped_dir

    return shipped_dir("data") / "gold" / "pairs.jsonl"


def gold_items(settings: GateSettings) -> tuple[Path, list[Any]]:
    """The gold set's path and its pairs; a missing or malformed file is a :class:`~rlaif.errors.DataFileError`."""
    from rlaif.evals.judge_bench.formats import load_bench

    gold = Path(settings.gold) if settings.gold else default_gold()
    _, items = load_bench(gold)
    return gold, list(items)


def run_gate(
    critic: Any,
    templates: Any,
    constitution: Constitution,
    settings: GateSettings,
    *,
    seed: int = 0,
    progress: bool = False,
    judge: JudgeConfig | None = None,
) -> GateResult:
    """Have ``critic`` (a backend or a critic pool) judge the gold set under ``constitution``; no exception.

    ``judge`` is the stage's :class:`~rlaif.feedback.judge.JudgeConfig`: the gate asks the way the stage will
    (judge mode, chain of thought, answer markers, batch calibration, choice-mass threshold).
    """
    from rlaif.evals.judge_bench.metrics import compute_metrics
    from rlaif.evals.judge_bench.run import BenchConfig, judge_with_critic

    gold, items = gold_items(settings)
    if judge is None:
        config = BenchConfig(k=settings.k, seed=seed)
    else:
        config = BenchConfig.from_shared(judge, k=settings.k, seed=seed, judge_mode=judge.mode)
    verdicts = judge_with_critic(critic, templates, items, constitution, config, progress=progress)
    metrics = compute_metrics(items, verdicts, seed=seed)
    acc = metrics.get("accuracy")
    passed = acc is not None and acc.low >= settings.min_accuracy
    return GateResult(
        passed=passed,
        critic=str(getattr(critic, "model_id", "critic")),
        gold=str(gold),
        n=metrics.n_items,
        n_labeled=metrics.n_labeled,
        accuracy=acc,
        min_accuracy=settings.min_accuracy,
        position_bias=metrics.get("position bias"),
        length_verdict=metrics.length_verdict,
    )


def enforce(result: GateResult) -> dict[str, Any]:
    """The result as recorded in the labels' stats (a dict), or :class:`CriticGateError` with a clear message when
    the critic failed the gate."""
    if result.passed:
        log.info("%s", result.message())
        return result.to_dict()
    raise CriticGateError(
        result.message() + ". Its labels would be close to chance, so the run stops before labeling; "
        "finished stages are kept.",
        field="label.gate",
        hint="use a stronger critic (models.critic), or set label.gate.enabled: false to label anyway",
    )


__all__ = [
    "CriticGateError",
    "GateResult",
    "GateSettings",
    "card_lines",
    "default_gold",
    "enforce",
    "gold_items",
    "run_gate",
]
