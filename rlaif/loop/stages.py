"""The stages of one round. Each builds its config (what its fingerprint covers), names its inputs, and runs.

Stages read the artifacts of the stages before them from the run directory and write their own into their folder;
the runner (:mod:`rlaif.loop.runner`) decides from the manifests whether a stage runs, resumes or is skipped.

This module holds what every stage shares and the feedback stages (generate, label, revise); the training stages
(reward, policy, SFT baseline) live in :mod:`rlaif.loop.stages_train`, the measuring ones (ceiling, evaluate) in
:mod:`rlaif.loop.stages_eval`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.loop.context import RunContext
from rlaif.loop.rundir import StageRef, hash_path, hash_value, read_manifest

log = logging.getLogger("rlaif.loop")

MODEL_DIR = "model"

#: files of a run's ``inputs/`` folder that the stages read
CONSTITUTION_FILE = "constitution.yaml"
TRAIN_PROMPTS = "prompts-train.jsonl"
HELDOUT_PROMPTS = "prompts-heldout.jsonl"


@dataclass
class StageResult:
    """What a stage produced: named output paths and extra manifest fields (summary, throughput)."""

    outputs: dict[str, Path]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stage:
    """One stage of one round, ready to run."""

    name: str
    round: int
    config: dict[str, Any]
    inputs: dict[str, str]
    run: Callable[[Path], StageResult]


def _prev_output(ctx: RunContext, k: int, stage: str, key: str) -> Path | None:
    """An output of ``stage`` in round ``k`` (None when that stage did not run or is not done)."""
    if k < 1:
        return None
    m = read_manifest(StageRef(ctx.run_dir, k, stage).folder)
    if m is None or m.get("status") != "done" or key not in m.get("output_paths", {}):
        return None
    return ctx.run_dir / m["output_paths"][key]


def policy_adapter(ctx: RunContext, k: int) -> Path | None:
    """The policy adapter trained in round ``k`` (None for round 0 = the base model, or when none was trained)."""
    return _prev_output(ctx, k, "policy", "model")


def ray_options(pipeline: Any) -> Any:
    """The :class:`rlaif.scale.RayOptions` of a pipeline: its ``ray:`` section is that config."""
    return pipeline.ray


def model_engine(ctx: RunContext, model: str, adapter: Path | None, role: str = "policy") -> Any:
    """The engine of the generate and label stages: a cached local backend, or (``executor: ray``) a Ray actor
    pool whose workers each build that backend. Both give the same outputs, so the executor is not part of any
    stage's fingerprint."""
    pl = ctx.pipeline
    backend = pl.role(role).backend  # type: ignore[arg-type]
    options = ctx.backend_options(adapter=adapter, role=role)
    if pl.executor == "ray":
        from rlaif.scale import BackendSpec, RayBackendPool

        pool = RayBackendPool(BackendSpec(backend, model, options, str(ctx.cache_path)), ray_options(pl))
        pool.open()
        return pool
    from rlaif.feedback.call_cache import open_backend

    return open_backend(backend, model, options=options, cache=ctx.cache_path)


def _role_config(ctx: RunContext, role: str) -> dict[str, Any]:
    """A role's backend and (only when set) its own options and adapter, for a stage's fingerprint."""
    spec = ctx.pipeline.role(role)  # type: ignore[arg-type]
    extra = spec.fingerprint()
    return {"backend": spec.backend, **({f"{role}_spec": extra} if extra else {})}


def _prompts_hash(rows: list[Any]) -> str:
    return hash_value([[r.id, [(m.role, m.content) for m in r.conversation]] for r in rows])


def _hash_opt(p: Path | None) -> str:
    return hash_path(p) if p is not None else "base"


def _templates_input(ctx: RunContext) -> dict[str, str]:
    """The pipeline's template folder's hash, when it names one: editing a template redoes what renders it."""
    return {"templates": hash_path(ctx.templates_dir)} if ctx.templates_dir is not None else {}


def _with_templates(ctx: RunContext, settings: dict[str, Any]) -> dict[str, Any]:
    """Stage settings that default their template folder to the pipeline's (an explicit one in them wins)."""
    return (
        {"templates": str(ctx.templates_dir), **settings} if ctx.templates_dir is not None else dict(settings)
    )


def _const_hash(inputs_dir: Path) -> str:
    return hash_path(inputs_dir / CONSTITUTION_FILE)


def _summary(result: Any) -> dict[str, Any]:
    return {
        "steps": result.steps,
        "final": result.final,
        **{k: v for k, v in result.summary.items() if _plain(v)},
    }


def _plain(v: Any) -> bool:
    return isinstance(v, int | float | str | bool) or v is None


# -- generate --------------------------------------------------------------------------------------------------


def _model_spec(ctx: RunContext, model: str, adapter: Path | None, role: str) -> Any:
    """A role's :class:`rlaif.backends.spec.ModelSpec` for a stage job: its backend and every option
    :meth:`RunContext.backend_options` gives it (device, dtype, the shared and own options, the adapter)."""
    from rlaif.backends.spec import ModelSpec

    backend = ctx.pipeline.role(role).backend  # type: ignore[arg-type]
    return ModelSpec(model=model, backend=backend, options=ctx.backend_options(adapter=adapter, role=role))


def generate_stage(ctx: RunContext, k: int) -> Stage:
    """Sample the round-(k-1) policy on the training prompts."""
    pl = ctx.pipeline
    adapter = policy_adapter(ctx, k - 1)
    config = {
        "model": pl.policy_model,
        **_role_config(ctx, "policy"),
        **pl.generate.fingerprint(),
        "seed": pl.seed + k,
    }

    def run(folder: Path) -> StageResult:
        from rlaif.jobs.generate import ContrastiveGeneration, GenerateJob, run_generate

        contrastive = None
        if is_contrastive(ctx):
            contrastive = ContrastiveGeneration(
                constitution=ctx.constitution, templates=ctx.templates_dir, contrast=_contrast_config(ctx, k)
            )
        job = GenerateJob(
            prompts=tuple(ctx.train_prompts),
            out=folder,
            policy=_model_spec(ctx, pl.policy_model, adapter, "policy"),
            cache=ctx.cache_path,
            ray=ray_options(pl) if pl.executor == "ray" else None,
            config=pl.generate.generate_config(seed=pl.seed + k, progress=ctx.progress),
            contrastive=contrastive,
            write_record=False,
        )
        result = run_generate(job)
        n_tokens = sum(len(r.split()) for s in result.sets for r in s.responses)
        return StageResult(
            {"responses": result.path.parent}, {"summary": {"prompts": len(result.sets), "words": n_tokens}}
        )

    inputs = {"prompts": _prompts_hash(ctx.train_prompts), "policy": _hash_opt(adapter)}
    if is_contrastive(ctx):  # the system prompts come from the constitution and the contrast templates
        from rlaif.constitution import constitution_hash

        config["contrast"] = {"k": pl.label.k, "tags": pl.label.tags}
        if pl.label.contrast_select != "paired":
            config["contrast"]["select"] = pl.label.contrast_select
        inputs.update({"constitution": constitution_hash(ctx.constitution), **_templates_input(ctx)})
    return Stage("generate", k, config, inputs, run)


def is_contrastive(ctx: RunContext) -> bool:
    """Whether the pipeline's labels are contrastive (RLCD) pairs, which the generate stage samples."""
    lb = ctx.pipeline.label
    return bool(lb.enabled and lb.label_source.startswith("contrastive"))


def _contrast_config(ctx: RunContext, k: int) -> Any:
    from rlaif.feedback.contrastive import ContrastConfig

    lb = ctx.pipeline.label
    return ContrastConfig(
        k=lb.k,
        seed=ctx.pipeline.seed + k,
        p_chosen=lb.p_chosen,
        label_source=lb.label_source,  # type: ignore[arg-type]  # validated by the pipeline schema
        drop_below=lb.drop_below,
        tags=tuple(lb.tags) if lb.tags else None,
        select=lb.contrast_select,
    )


def _role_fingerprints(ctx: RunContext, critic_role: str) -> dict[str, Any]:
    """Both roles' own specs (only when set), for the revise stage's fingerprint."""
    out: dict[str, Any] = {}
    for role in ("policy", critic_role):
        extra = ctx.pipeline.role(role).fingerprint()  # type: ignore[arg-type]
        if extra:
            out[f"{role}_spec"] = extra
    critic_backend = ctx.pipeline.role(critic_role).backend  # type: ignore[arg-type]
    if critic_backend != ctx.pipeline.models.backend:
        out["critic_backend"] = critic_backend
    return out


#: label fields added after pipelines were first fingerprinted: left out while at their defaults, so old runs
#: resume without relabelling
_NEW_LABEL_FIELDS = {
    "judge_mode": "auto",
    "top_logprobs": 20,
    "verdict_samples": 5,
    "verdict_temperature": 1.0,
}


def _label_fields(label: Any) -> dict[str, Any]:
    return {
        k: v
        for k, v in label.model_dump().items()
        if not (k in _NEW_LABEL_FIELDS and v == _NEW_LABEL_FIELDS[k])
    }


# -- label -----------------------------------------------------------------------------------------------------


def _critic(ctx: RunContext, k: int) -> tuple[str, Path | None, str]:
    """The critic's model, adapter and role: the current policy (on the policy's backend) when self-rewarding,
    else the critic role's own model and backend (a policy adapter never goes to it)."""
    pl = ctx.pipeline
    if pl.self_rewarding:
        return pl.policy_model, policy_adapter(ctx, k - 1), "policy"
    return pl.critic_model, None, "critic"


def label_stage(ctx: RunContext, k: int) -> Stage:
    """Label this round's response pairs (and, with ``refresh.relabel``, older rounds' responses again)."""
    from rlaif.constitution import constitution_hash

    pl = ctx.pipeline
    critic, critic_adapter, critic_role = _critic(ctx, k)
    responses = _prev_output(ctx, k, "generate", "responses")
    older = [p for j in range(1, k) if (p := _prev_output(ctx, j, "generate", "responses")) is not None]
    relabel = pl.refresh.pairs == "accumulate" and pl.refresh.relabel
    config = {
        "critic": critic,
        **_role_config(ctx, critic_role),
        **_label_fields(pl.label),
        "seed": pl.seed + k,
    }
    inputs = {
        "responses": _hash_opt(responses),
        "constitution": constitution_hash(ctx.constitution),
        "critic_adapter": _hash_opt(critic_adapter),
        **_templates_input(ctx),
    }
    if relabel:
        inputs["older_responses"] = hash_value([hash_path(p) for p in older])

    def run(folder: Path) -> StageResult:
        from dataclasses import replace

        from rlaif.feedback.labeler import JudgeConfig, LabelConfig, label_dataset, write_label_run
        from rlaif.feedback.remedies import parse_markers
        from rlaif.feedback.responses import read_responses

        assert responses is not None
        lb = pl.label
        sets = read_responses(responses)
        if is_contrastive(ctx):
            return _contrastive_labels(ctx, k, sets, critic, critic_adapter, critic_role, folder)
        if relabel:
            for j, p in enumerate(older, start=1):
                sets += [
                    replace(s, prompt=replace(s.prompt, id=f"r{j}:{s.prompt.id}")) for s in read_responses(p)
                ]
        config_obj = LabelConfig(
            k=lb.k,
            seed=pl.seed + k,
            tags=tuple(lb.tags) if lb.tags else None,
            pairing=lb.pairing,
            best_worst_by=lb.best_worst_by,
            judge=JudgeConfig(
                chain_of_thought=lb.chain_of_thought,
                cot_clamp=lb.cot_clamp,
                cot_max_new_tokens=lb.cot_max_new_tokens,
                min_choice_mass=lb.min_choice_mass,
                seed=pl.seed + k,
                mode=lb.judge_mode,
                top_logprobs=lb.top_logprobs,
                verdict_samples=lb.verdict_samples,
                verdict_temperature=lb.verdict_temperature,
                markers=parse_markers(lb.markers, pl.seed),
                batch_calibration=lb.batch_calibration,
            ),
            min_confidence=lb.min_confidence,
            label_source=lb.label_source,  # type: ignore[arg-type]  # contrastive returned above
            batch_pairs=lb.batch_pairs,
            keep_ties=lb.keep_ties,
            progress=ctx.progress,
        )
        needs_critic = lb.label_source != "rules" or (
            lb.pairing == "best_worst" and lb.best_worst_by == "critic"
        )
        engine = model_engine(ctx, critic, critic_adapter, critic_role) if needs_critic else None
        try:
            gate = None
            if engine is not None:  # the critic gate: stops the run when the critic fails the gold set
                from rlaif.evals.gate import gate_critic

                gate = gate_critic(
                    engine,
                    ctx.template_set(),
                    ctx.constitution,
                    lb.gate,
                    seed=pl.seed + k,
                    judge=config_obj.judge,
                )
            run_ = label_dataset(sets, ctx.constitution, engine, ctx.template_set(), config_obj)
        finally:
            if engine is not None:
                engine.close()
        if gate is not None:
            run_.stats["critic_gate"] = gate
        path = write_label_run(run_, folder)
        stats = run_.stats
        return StageResult(
            {"labels": path.parent},
            {"summary": {k_: stats[k_] for k_ in ("pairs", "rows", "filtered", "unlabeled") if k_ in stats}},
        )

    return Stage("label", k, config, inputs, run)


def training_labels(ctx: RunContext, k: int, folder: Path) -> Path:
    """The labels the round-k policy/reward model trains on: this round's, or (accumulate without relabel) every
    round's so far, concatenated into ``folder/train-labels/data.parquet``."""
    pl = ctx.pipeline
    own = _prev_output(ctx, k, "label", "labels")
    if own is None:
        raise RlaifError(f"round {k} has no labels to train on (the label stage did not finish)")
    if pl.refresh.pairs == "replace" or pl.refresh.relabel or k == 1:
        return own
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rlaif.atomic import atomic_directory

    tables = []
    for j in range(1, k + 1):
        p = _prev_output(ctx, j, "label", "labels")
        if p is not None and (p / "data.parquet").is_file():
            tables.append(pq.read_table(p / "data.parquet"))
    merged = pa.concat_tables(tables, promote_options="permissive")
    target = folder / "train-labels"
    with atomic_directory(target) as tmp:
        pq.write_table(merged, tmp / "data.parquet")
    return target


def _contrastive_labels(
    ctx: RunContext,
    k: int,
    sets: list[Any],
    critic: str,
    critic_adapter: Path | None,
    critic_role: str,
    folder: Path,
) -> StageResult:
    """The label stage of a contrastive pipeline: label by construction (or rescored by the critic)."""
    from rlaif.feedback.contrastive import contrastive_label_run, write_contrast_run

    cfg = _contrast_config(ctx, k)
    engine = (
        model_engine(ctx, critic, critic_adapter, critic_role)
        if cfg.label_source == "contrastive+critic"
        else None
    )
    try:
        run_ = contrastive_label_run(
            sets, ctx.constitution, cfg, critic=engine, templates=ctx.template_set() if engine else None
        )
    finally:
        if engine is not None:
            engine.close()
    path = write_contrast_run(run_, folder)
    summary = {k_: run_.stats[k_] for k_ in ("pairs", "rows", "dropped", "mean_p_chosen", "cut_chosen")}
    return StageResult({"labels": path.parent}, {"summary": summary})


# -- revise ----------------------------------------------------------------------------------------------------


def revise_stage(ctx: RunContext, k: int) -> Stage:
    """Critique and revise this round's first response to each prompt."""
    from rlaif.constitution import constitution_hash

    pl = ctx.pipeline
    critic, critic_adapter, critic_role = _critic(ctx, k)
    adapter = policy_adapter(ctx, k - 1)
    responses = _prev_output(ctx, k, "generate", "responses")
    config = {
        "critic": critic,
        "policy": pl.policy_model,
        **_role_fingerprints(ctx, critic_role),
        **pl.revise.fingerprint(),
        "seed": pl.seed + k,
    }
    inputs = {
        "responses": _hash_opt(responses),
        "constitution": constitution_hash(ctx.constitution),
        "policy": _hash_opt(adapter),
        "critic_adapter": _hash_opt(critic_adapter),
        **_templates_input(ctx),
    }

    def run(folder: Path) -> StageResult:
        from rlaif.jobs.revise import ReviseJob, run_revise

        assert responses is not None
        job = ReviseJob(
            constitution=ctx.constitution,
            out=folder,
            responses=responses,
            policy=_model_spec(ctx, pl.policy_model, adapter, "policy"),
            critic=_model_spec(ctx, critic, critic_adapter, critic_role),
            templates=ctx.templates_dir,
            config=pl.revise.revise_config(seed=pl.seed + k, cache=str(ctx.cache_path)),
        )
        result = run_revise(job)
        return StageResult(
            {"sft": result.sft_dir, "pairs": result.pairs_dir},
            {"summary": {"sft_rows": len(result.run.sft_rows)}},
        )

    return Stage("revise", k, config, inputs, run)
