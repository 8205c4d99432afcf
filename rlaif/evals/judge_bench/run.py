"""Judging benchmark items with a critic (both orders, k principles, remedies) or a reward model.

A critic judges each pairwise item once per order (responses[0] first, then second) under ``k`` principles sampled
per item (seeded by the item id), all in ONE :func:`~rlaif.feedback.judge.judge_pairs_detailed` call; a best-of-n
item is judged as chosen-vs-each-rejected comparisons. Remedies (:mod:`rlaif.feedback.remedies`) are applied to the
judgements before they become :class:`~rlaif.evals.judge_bench.metrics.Verdict` objects.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from rlaif.backends.base import Backend
from rlaif.constitution import principles_by_id, sample_principles
from rlaif.constitution.schema import Constitution, Principle
from rlaif.evals.judge_bench.formats import BenchItem
from rlaif.evals.judge_bench.metrics import Verdict
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, Unlabeled, judge_pairs_detailed
from rlaif.feedback.remedies import order_consistent
from rlaif.feedback.soft_labels import PrincipleJudgement
from rlaif.fields import (
    BatchCalibration,
    ChainOfThought,
    Confidence,
    JudgeModeName,
    MinChoiceMass,
    PrinciplesK,
    Seed,
)
from rlaif.prompting import TemplateSet
from rlaif.seeds import crc32_seed
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class BenchConfig(StrictConfig):
    """How the critic judges the benchmark (each field is a ``rlaif eval judge`` option)."""

    k: PrinciplesK = Field(
        default=2, description="principles sampled per item (a principle ensemble: their mean)"
    )
    principles: tuple[str, ...] = Field(
        default=(), description="only these principle ids (sample k among them)"
    )
    chain_of_thought: ChainOfThought = False
    markers: tuple[str, str] | None = Field(
        default=None, description="swapped answer markers, e.g. (K, Q) instead of (A)/(B); null keeps (A)/(B)"
    )
    batch_calibration: BatchCalibration = False
    consistency_filter: bool = Field(
        default=False, description="leave out comparisons whose two orders disagree (they count as unlabeled)"
    )
    min_choice_mass: MinChoiceMass = 0.0
    seed: Seed = Field(default=0, description="seeds the principle sample and the bootstrap")
    confidence: Confidence = 0.95
    judge_mode: JudgeModeName = "auto"

    def remedies(self) -> list[str]:
        """The switched-on remedies, for reports."""
        out = [f"k={self.k}"]
        if self.chain_of_thought:
            out.append("chain of thought")
        if self.markers:
            out.append(f"markers ({self.markers[0]})/({self.markers[1]})")
        if self.batch_calibration:
            out.append("batch calibration")
        if self.consistency_filter:
            out.append("order-consistency filter")
        return out


def principle_pool(constitution: Constitution, ids: Sequence[str]) -> list[Principle]:
    if not ids:
        return list(constitution.principles)
    return principles_by_id(constitution, ids)


def item_principles(item_id: str, pool: Sequence[Principle], k: int, seed: int) -> tuple[Principle, ...]:
    """The ``k`` principles one item is judged under (seeded by its id; all of them when k ≥ the pool)."""
    if k >= len(pool):
        return tuple(pool)
    return tuple(sample_principles(pool, k, seed=crc32_seed(seed, "principles", item_id)))


def judge_with_critic(
    critic: Backend | Any,
    templates: TemplateSet,
    items: Sequence[BenchItem],
    constitution: Constitution,
    config: BenchConfig = BenchConfig(),
    *,
    template_dir: Path | None = None,
    progress: bool = True,
) -> list[Verdict]:
    """One verdict per item from the critic, both orders, with the configured remedies."""
    pool = principle_pool(constitution, config.principles)
    comparisons: list[tuple[int, int]] = []  # (item index, rejected index: 1 for a pair)
    to_judge: list[Comparison] = []
    for ii, item in enumerate(items):
        ps = item_principles(item.id, pool, config.k, config.seed)
        for j in range(1, len(item.responses)):
            comparisons.append((ii, j))
            to_judge.append(
                Comparison(f"{item.id}#{j}", item.conversation, item.responses[0], item.responses[j], ps)
            )
    # (batch_calibration, when on, calibrates over the whole benchmark: it is one call)
    judge_config = JudgeConfig.from_shared(config, both_orders=True, mode=config.judge_mode)
    if hasattr(critic, "judge_batches"):  # a critic pool (the Ray executor): one batch
        judged = [
            jp for _, batch in critic.judge_batches(templates, [to_judge], judge_config) for jp in batch
        ]
    else:
        judged = judge_pairs_detailed(critic, templates, to_judge, judge_config, progress=progress)
    grids: list[list[PrincipleJudgement] | None] = []
    reasons: dict[int, str] = {}
    for (ii, _), j in zip(comparisons, judged, strict=True):
        if isinstance(j.result, Unlabeled):
            reasons.setdefault(ii, j.result.reason)
            grids.append(None)
        else:
            grids.append(list(j.result.judgements))
    per_item: dict[int, list[list[PrincipleJudgement]]] = {}
    for (ii, _), g in zip(comparisons, grids, strict=True):
        if g is None:
            continue
        if config.consistency_filter and not order_consistent(g):
            reasons.setdefault(ii, "order-inconsistent (filtered)")
            continue
        per_item.setdefault(ii, []).append(g)
    verdicts = []
    for ii, item in enumerate(items):
        if ii in reasons:
            verdicts.append(Verdict(item.id, unlabeled=reasons[ii]))
            continue
        gs = per_item[ii]
        if item.best_of_n:
            p_vs = tuple(sum(j.p for j in g) / len(g) for g in gs)
            verdicts.append(Verdict(item.id, p_vs=p_vs))
        else:
            g = gs[0]
            p_ab = sum(j.p_ab for j in g) / len(g)
            p_ba = sum(j.p_ba for j in g) / len(g)
            verdicts.append(Verdict(item.id, p_ab=p_ab, p_ba=p_ba))
    return verdicts


def verdicts_from_scores(items: Sequence[BenchItem], scores: Sequence[Sequence[float]]) -> list[Verdict]:
    """Verdicts from per-response scores (a reward model): p = sigmoid(score difference), no order effects."""
    out = []
    for item, s in zip(items, scores, strict=True):
        if any(not math.isfinite(x) for x in s):
            out.append(
                Verdict(item.id, unlabeled="reward model returned a non-finite score", has_order=False)
            )
            continue
        if item.best_of_n:
            p_vs = tuple(0.5 if s[0] == x else (1.0 if s[0] > x else 0.0) for x in s[1:])
            out.append(Verdict(item.id, p_vs=p_vs, has_order=False))
        else:
            d = max(min(s[0] - s[1], 60.0), -60.0)
            p = 1.0 / (1.0 + math.exp(-d))
            out.append(Verdict(item.id, p_ab=p, p_ba=p, has_order=False))
    return out


def score_with_reward_model(
    rm: Any, items: Sequence[BenchItem], principles: Sequence[Principle], *, batch_size: int = 16
) -> list[Verdict]:
    """Score every response of every item with a reward model under ``principles``; verdicts from the scores."""
    flat_conv, flat_resp, owners = [], [], []
    for ii, item in enumerate(items):
        for r in item.responses:
            flat_conv.append(item.conversation)
            flat_resp.append(r)
            owners.append(ii)
    rewards = rm.score([tuple(principles)] * len(flat_resp), flat_conv, flat_resp, batch_size=batch_size)
    scores: list[list[float]] = [[] for _ in items]
    for ii, r in zip(owners, rewards, strict=True):
        scores[ii].append(float(r))
    return verdicts_from_scores(items, scores)


__all__ = [
    "BenchConfig",
    "item_principles",
    "judge_with_critic",
    "score_with_reward_model",
    "verdicts_from_scores",
]
