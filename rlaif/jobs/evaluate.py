"""The evaluate stage as one job: a policy adapter against a baseline on held-out prompts, written as eval.json.

``rlaif eval policy`` builds an :class:`EvaluateJob` from its flags, a pipeline's round from its ``evaluate:``
section (the round's policy adapter, and the previous round's as the baseline when asked), Python builds it
directly; all call :func:`run_evaluate`, which runs :func:`rlaif.evals.policy_eval.evaluate_policy` and writes
``<out>/eval.json`` and ``<out>/samples.jsonl`` (:mod:`rlaif.evals.policy_eval_result`)::

    from rlaif.evals import PolicyEvalConfig
    from rlaif.jobs.evaluate import EvaluateJob, run_evaluate

    config = PolicyEvalConfig(prompts="data/prompts/everyday.jsonl", constitution="principles/hhh.yaml")
    result = run_evaluate(EvaluateJob(adapter="runs/demo/round-1/policy/model", out="out/eval", config=config))
    print(result.win_rates["constitution"].win_rate)

The models are the config's: the policy is ``config.model`` on ``config.backend`` (with ``config.backend_options``,
plus the job's ``adapter``), the baseline ``config.baseline``, the critic ``config.critic`` on
``config.critic_backend``; the call cache is ``config.cache`` (default: the run-wide one inside a run directory,
else ``<out>/../.rlaif-cache.sqlite``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from rlaif.evals.policy_eval_config import PolicyEvalConfig
from rlaif.strict import StrictConfig

if TYPE_CHECKING:
    from rlaif.evals.policy_eval_result import PolicyEvalResult


class EvaluateJob(StrictConfig):
    """Everything one evaluate stage needs: the policy's adapter, where the evaluation goes, and how to evaluate
    (the models, prompts, constitution and monitors are the config's)."""

    out: Path = Field(description="output folder: <out>/eval.json and <out>/samples.jsonl")
    adapter: Path | None = Field(
        default=None,
        description="the policy's adapter folder, on config.model; null = evaluate the base model itself",
    )
    progress: bool = Field(default=True, description="show progress bars")
    config: PolicyEvalConfig = Field(
        description="how the policy is evaluated: prompts, constitution, models, baseline and monitors"
    )


def run_evaluate(job: EvaluateJob) -> PolicyEvalResult:
    """Evaluate the job's policy against its baseline and write ``<out>/eval.json`` and ``<out>/samples.jsonl``.

    Every user mistake (no held-out prompts, an unknown principle, an adapter folder that is not one, a model that
    cannot be loaded) is an :class:`~rlaif.errors.RlaifError` raised before the first model is loaded.
    """
    from rlaif.evals.policy_eval import evaluate_policy

    return evaluate_policy(job.config, policy_adapter=job.adapter, out_dir=job.out, progress=job.progress)


__all__ = ["EvaluateJob", "run_evaluate"]
