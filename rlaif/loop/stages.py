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
    """The :class:`rlaif.scale.RayOptions` the generate and label stages run on (the pipeline's ``ray:`` section),
    or None with ``executor: local``."""
    return pipeline.ray if pipeline.executor == "ray" else None


def model_engine(ctx: RunContext, model: str, adapter: Path | None, role: str = "policy") -> Any:
    """A role's engine for a stage that is not a job yet (the ceiling): see :func:`rlaif.jobs.engine.open_engine`."""
    from rlaif.jobs.engine import open_engine

    spec = ctx.model_spec(role, model=model, adapter=adapter)
    return open_engine(spec, cache=ctx.cache_path, ray=ray_options(ctx.pipeline), role=role)


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
            policy=ctx.model_spec("policy", model=pl.policy_model, adapter=adapter),
            cache=ctx.cache_path,
            ray=ray_options(pl),
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
    """The round's :class:`~rlaif.feedback.contrastive.ContrastConfig` (generate samples the pairs it labels)."""
    return _round_label_config(ctx, k).contrast_config()


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


#: the label fields every label fingerprint has held since pipelines were first fingerprinted; any other field
#: (judge_mode, both_orders, ... and every field added later) enters only when set away from its default, so an
#: unchanged pipeline file keeps its fingerprint and a new option needs no change here
_ALWAYS_FINGERPRINTED = frozenset(
    {
        "enabled",
        "k",
        "label_source",
        "p_chosen",
        "contrast_select",
        "drop_below",
        "pairing",
        "best_worst_by",
        "tags",
        "chain_of_thought",
        "cot_clamp",
        "cot_max_new_tokens",
        "min_confidence",
        "min_choice_mass",
        "batch_pairs",
        "gate",
        "markers",
        "batch_calibration",
        "keep_ties",
    }
)


def _label_fields(label: Any) -> dict[str, Any]:
    """The label section's fingerprint fields (the run's ``seed`` and ``progress`` are not the file's)."""
    from rlaif.loop.pipeline import RUN_LABEL_FIELDS

    fields = type(label).model_fields
    return {
        k: v
        for k, v in label.model_dump(exclude=set(RUN_LABEL_FIELDS)).items()
        if k in _ALWAYS_FINGERPRINTED or v != fields[k].get_default(call_default_factory=True)
    }


def _round_label_config(ctx: RunContext, k: int) -> Any:
    """Round ``k``'s :class:`~rlaif.feedback.labeler.LabelConfig`: the ``label:`` section with the round's seed
    and the run's progress. ``markers: random`` keeps drawing its letters from the pipeline's own seed (the same
    letters every round), so they are fixed here before the seed becomes the round's."""
    from rlaif.feedback.label_config import LabelConfig
    from rlaif.feedback.remedies import parse_markers

    pl = ctx.pipeline
    fields = pl.label.model_dump(exclude={"enabled"})
    markers = parse_markers(pl.label.markers, pl.seed)
    fields.update(
        seed=pl.seed + k, progress=ctx.progress, markers=",".join(markers) if markers is not None else None
    )
    return LabelConfig.model_validate(fields)


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
        from rlaif.jobs.label import LabelJob, run_label

        assert responses is not None
        label = _round_label_config(ctx, k)
        job = LabelJob(
            out=folder,
            responses=responses,
            older_responses=older if relabel and not label.contrastive else [],
            constitution=ctx.constitution,
            templates=ctx.templates_dir,
            critic=ctx.model_spec(critic_role, model=critic, adapter=critic_adapter)
            if label.needs_critic
            else None,
            cache=ctx.cache_path,
            ray=ray_options(pl),
            run_record=False,
            config=label,
        )
        result = run_label(job)
        return StageResult({"labels": result.data.parent}, {"summary": result.summary})

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
            policy=ctx.model_spec("policy", model=pl.policy_model, adapter=adapter),
            critic=ctx.model_spec(critic_role, model=critic, adapter=critic_adapter),
            templates=ctx.templates_dir,
            config=pl.revise.revise_config(seed=pl.seed + k, cache=str(ctx.cache_path)),
        )
        result = run_revise(job)
        return StageResult(
            {"sft": result.sft_dir, "pairs": result.pairs_dir},
            {"summary": {"sft_rows": len(result.run.sft_rows)}},
        )

    return Stage("revise", k, config, inputs, run)
