"""The measuring stages of a round: the contrastive ceiling (round 1) and the policy evaluation, whose
:class:`rlaif.jobs.evaluate.EvaluateJob` nests the :class:`rlaif.evals.PolicyEvalConfig` built from the pipeline
(:func:`eval_config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.loop.context import RunContext
from rlaif.loop.stages import (
    CONSTITUTION_FILE,
    HELDOUT_PROMPTS,
    Stage,
    StageResult,
    _const_hash,
    _hash_opt,
    _plain,
    _prev_output,
    _prompts_hash,
    _templates_input,
    _with_templates,
    model_engine,
    policy_adapter,
)

# -- ceiling ---------------------------------------------------------------------------------------------------


def ceiling_stage(ctx: RunContext, k: int) -> Stage:
    """Contrastive pipelines: the base model on the held-out prompts with no system prompt, under the positive one
    (the ceiling distillation aims at) and under the negative one, graded by the rules (greedy, as evaluate)."""
    from rlaif.constitution import constitution_hash

    pl = ctx.pipeline
    max_new = int(pl.evaluate.settings.get("max_new_tokens", 128))
    config = {"model": pl.policy_model, "max_new_tokens": max_new, "seed": pl.seed}
    inputs = {
        "prompts": _prompts_hash(ctx.heldout_prompts),
        "constitution": constitution_hash(ctx.constitution),
        **_templates_input(ctx),
    }

    def run(folder: Path) -> StageResult:
        import json

        from rlaif.atomic import atomic_write_text
        from rlaif.evals.policy_eval_config import PolicyEvalConfig
        from rlaif.feedback.contrastive import measure_ceiling
        from rlaif.feedback.responses import GenerateConfig

        eval_batch = PolicyEvalConfig.model_fields["batch_prompts"].default

        gen = GenerateConfig(
            n=1,
            max_new_tokens=max_new,
            temperature=0.0,
            seed=pl.seed,
            batch_prompts=int(pl.evaluate.settings.get("batch_prompts", eval_batch)),  # as evaluate batches
            progress=ctx.progress,
        )
        engine = model_engine(ctx, pl.policy_model, None)
        try:
            result = measure_ceiling(engine, ctx.heldout_prompts, ctx.constitution, ctx.template_set(), gen)
        finally:
            engine.close()
        path = folder / "ceiling.json"
        atomic_write_text(path, json.dumps(result, indent=2, sort_keys=True) + "\n")
        summary = {f"{c}_all": result[c]["compliance"]["all"]["value"] for c in ("none", "positive")}
        return StageResult({"ceiling": path}, {"summary": summary})

    return Stage("ceiling", k, config, inputs, run)


# -- evaluate --------------------------------------------------------------------------------------------------


def eval_config(ctx: RunContext, inputs_dir: Path, *, baseline: Path | None) -> Any:
    """The :class:`rlaif.evals.PolicyEvalConfig` of a round."""
    from rlaif.evals.policy_eval import PolicyEvalConfig

    pl = ctx.pipeline
    owned = {
        "prompts": inputs_dir / HELDOUT_PROMPTS,
        "split": None,
        "constitution": inputs_dir / CONSTITUTION_FILE,
        "model": pl.policy_model,
        "baseline": str(baseline) if baseline is not None else "base",
        "critic": pl.critic_model,
        "backend": pl.role("policy").backend,
        "backend_options": ctx.backend_options(),
        "critic_backend": pl.role("critic").backend,
        "critic_backend_options": ctx.backend_options(role="critic"),
        "seed": pl.seed,
    }
    return PolicyEvalConfig.model_validate({**_with_templates(ctx, pl.evaluate.settings), **owned})


def evaluate_stage(ctx: RunContext, k: int, inputs_dir: Path, *, which: str = "policy") -> Stage:
    """Evaluate round k's policy (or SFT baseline) on the held-out prompts against the base or previous round."""
    pl = ctx.pipeline
    adapter = _prev_output(ctx, k, which, "model")
    baseline = policy_adapter(ctx, k - 1) if pl.evaluate.baseline == "previous" else None
    name = "evaluate" if which == "policy" else f"evaluate-{which}"
    config = {"settings": pl.evaluate.settings, "baseline": pl.evaluate.baseline, "critic": pl.critic_model}
    inputs = {
        "policy": _hash_opt(adapter),
        "baseline": _hash_opt(baseline),
        "prompts": _prompts_hash(ctx.heldout_prompts),
        "constitution": _const_hash(inputs_dir),
        **_templates_input(ctx),
    }

    def run(folder: Path) -> StageResult:
        from rlaif.jobs.evaluate import EvaluateJob, run_evaluate

        job = EvaluateJob(
            out=folder,
            adapter=adapter,
            progress=ctx.progress,
            config=eval_config(ctx, inputs_dir, baseline=baseline),
        )
        result = run_evaluate(job)
        return StageResult(dict(result.paths), {"summary": _eval_summary(result)})

    return Stage(name, k, config, inputs, run)


def _eval_summary(result: Any) -> dict[str, Any]:
    """The scalar fields of a :class:`rlaif.evals.policy_eval.PolicyEvalResult` (its ``eval.json``)."""
    return {k: v for k, v in result.to_dict().items() if _plain(v)}
