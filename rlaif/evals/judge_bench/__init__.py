"""Know your critic: judge benchmarks in their public layouts, their published metrics, chance and length baselines.

>>> from rlaif.evals.judge_bench import load_bench, compute_metrics
"""

from rlaif.evals.judge_bench.formats import FORMATS, BenchItem, detect_format, load_bench
from rlaif.evals.judge_bench.metrics import Metrics, Verdict, best_of_n_credit, compute_metrics
from rlaif.evals.judge_bench.run import (
    BenchConfig,
    judge_with_critic,
    score_with_reward_model,
    verdicts_from_scores,
)

__all__ = [
    "FORMATS",
    "BenchConfig",
    "BenchItem",
    "Metrics",
    "Verdict",
    "best_of_n_credit",
    "compute_metrics",
    "detect_format",
    "judge_with_critic",
    "load_bench",
    "score_with_reward_model",
    "verdicts_from_scores",
]
