"""Running a pipeline: rounds of stages over a run directory, resumable at any point.

``run_pipeline`` loads and checks everything first (pipeline file, stage settings, constitution, prompts, models,
disk space), writes the run's inputs (merged constitution, train / held-out prompts) under ``runs/<name>/inputs``,
then walks the rounds. Each stage is skipped when its manifest says it finished with the same fingerprint,
resumed when it was interrupted, and redone (with everything after it) when its inputs changed.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rlaif.atomic import atomic_write_text
from rlaif.errors import DataFileError, RlaifError
from rlaif.loop import stages as st
from rlaif.loop import stages_eval as st_eval
from rlaif.loop import stages_train as st_train
from rlaif.loop.context import RunContext, load_context
from rlaif.loop.pipeline import Pipeline
from rlaif.loop.rundir import (
    StageRef,
    code_version,
    fail_manifest,
    finish_manifest,
    prepare_stage,
    start_manifest,
)
from rlaif.overrides import apply_overrides
from rlaif.yamlfile import YamlDocument, load_yaml_file, validate_document, validation_problems

log = logging.getLogger("rlaif.loop")

INPUTS = "inputs"
RUN_FILE = "run.json"
PIPELINE_OVERRIDE_HINT = "e.g. rounds=3 policy.method=ppo label.k=4 constitution=[principles/style.yaml]"


@dataclass
class LoadedPipeline:
    """A validated pipeline and the parsed document it came from (for error locations)."""

    pipeline: Pipeline
    doc: YamlDocument
    path: Path | None


def load_pipeline(path: str | Path, overrides: Sequence[str] = ()) -> LoadedPipeline:
    """Read a pipeline file, apply dotted overrides, validate (errors name file, line and field)."""
    p = Path(path)
    doc = load_yaml_file(p, what="pipeline")
    if overrides:
        if not isinstance(doc.data, dict):
            raise DataFileError("a pipeline file must be a mapping of fields", path=str(p), line=1)
        data = apply_overrides(doc.data, overrides, hint=PIPELINE_OVERRIDE_HINT)
        doc = YamlDocument(data, doc.path_label, doc.positions)
    pipeline = validate_document(doc, Pipeline, what="pipeline")
    return LoadedPipeline(pipeline, doc, p)


@dataclass
class StageTiming:
    """How one stage went in this invocation."""

    round: int
    stage: str
    action: str  # ran | resumed | skipped
    seconds: float


@dataclass
class RunSummary:
    """What ``run_pipeline`` did."""

    run_dir: Path
    timings: list[StageTiming] = field(default_factory=list)

    def table(self) -> list[tuple[str, str, str, str]]:
        """Rows (round, stage, action, seconds) for printing."""
        return [(str(t.round), t.stage, t.action, f"{t.seconds:.1f}") for t in self.timings]


def _check_stage_settings(ctx: RunContext, loaded: LoadedPipeline, inputs_dir: Path) -> None:
    """Build every stage config once with placeholder paths, so a bad setting fails before any work."""
    pl = ctx.pipeline
    placeholder = ctx.run_dir / "round-1" / "check"
    checks: list[tuple[tuple[str, ...], Any]] = []
    if pl.reward.enabled:

        def reward_check() -> None:
            from rlaif.prompting import TemplateSet
            from rlaif.reward.inputs import check_reward_template

            config = st_train.reward_config(ctx, inputs_dir, data=placeholder, output_dir=placeholder)
            # a template mistake must not wait for generation and labelling to surface
            check_reward_template(TemplateSet.load(config.templates), config.template)

        checks.append((("reward", "settings"), reward_check))
    if pl.policy.method == "dpo":
        checks.append(
            (
                ("policy", "dpo"),
                lambda: st_train.dpo_config(
                    ctx, pl.policy.dpo, labels=placeholder, output_dir=placeholder, init=None
                ),
            )
        )
    if pl.policy.method == "ppo":
        checks.append(
            (
                ("policy", "ppo"),
                lambda: st_train.ppo_config(
                    ctx,
                    inputs_dir,
                    output_dir=placeholder,
                    init=None,
                    reward=placeholder if pl.reward.enabled else None,
                ),
            )
        )
    if pl.policy.method == "sft" or pl.sft_baseline:
        checks.append(
            (
                ("policy", "sft"),
                lambda: st_train.dpo_config(
                    ctx,
                    {**pl.policy.sft, "loss": "sft"},
                    labels=placeholder,
                    output_dir=placeholder,
                    init=None,
                ),
            )
        )
    if pl.evaluate.enabled:
        checks.append((("evaluate", "settings"), lambda: st_eval.eval_config(ctx, inputs_dir, baseline=None)))
    contrastive = pl.label.enabled and pl.label.label_source.startswith("contrastive")
    if (pl.policy.method == "sft" or pl.sft_baseline) and not pl.revise.enabled and not contrastive:
        raise DataFileError(
            "SFT on revisions needs the revise stage",
            field="revise.enabled",
            path=loaded.doc.path_label,
            hint="set revise.enabled: true",
        )
    if pl.policy.method == "dpo" and not pl.label.enabled:
        raise DataFileError(
            "DPO needs labels: label.enabled is false", field="label.enabled", path=loaded.doc.path_label
        )
    problems = []
    for prefix, build in checks:
        try:
            build()
        except ValidationError as e:
            sub = YamlDocument(
                _dig(loaded.doc.data, prefix),
                loaded.doc.path_label,
                {
                    loc[len(prefix) :]: pos
                    for loc, pos in loaded.doc.positions.items()
                    if loc[: len(prefix)] == prefix
                },
            )
            for prob in validation_problems(e, sub):
                pos = loaded.doc.position(prefix + tuple(prob.field.split(".") if prob.field else ()))
                problems.append(
                    type(prob)(
                        message=prob.message,
                        path=prob.path,
                        line=prob.line or (pos.line if pos else None),
                        column=prob.column,
                        field=".".join(prefix) + (f".{prob.field}" if prob.field else ""),
                    )
                )
    if problems:
        raise DataFileError("invalid stage settings in the pipeline", problems=problems)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data


def _write_inputs(ctx: RunContext, inputs_dir: Path) -> None:
    from rlaif.constitution.writing import dump_constitution_yaml

    inputs_dir.mkdir(parents=True, exist_ok=True)
    text = dump_constitution_yaml(
        ctx.constitution, header="merged by rlaif run from the pipeline's constitution files"
    )
    _write_if_changed(inputs_dir / st.CONSTITUTION_FILE, text)
    for name, rows, split in (
        (st.TRAIN_PROMPTS, ctx.train_prompts, "train"),
        (st.HELDOUT_PROMPTS, ctx.heldout_prompts, "heldout"),
    ):
        lines = "".join(
            json.dumps(
                {
                    "id": r.id,
                    "prompt": [{"role": m.role, "content": m.content} for m in r.conversation],
                    "split": split,
                },
                ensure_ascii=False,
                sort_keys=True,
            )
            + "\n"
            for r in rows
        )
        _write_if_changed(inputs_dir / name, lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)


def _write_run_file(ctx: RunContext, status: str, created: str | None = None) -> None:
    from rlaif.constitution import constitution_hash

    path = ctx.run_dir / RUN_FILE
    old: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {}
    record = {
        "name": ctx.pipeline.name,
        "rlaif_version": code_version(),
        "created": old.get("created") or created or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rounds": ctx.pipeline.rounds,
        "pipeline": ctx.pipeline.model_dump(mode="json"),
        "pipeline_file": str(ctx.pipeline_dir) if ctx.pipeline_dir else None,
        "constitution": {
            "path": str(ctx.run_dir / INPUTS / st.CONSTITUTION_FILE),
            "files": [str(p) for p in ctx.constitution_paths],
            "name": ctx.constitution.name,
            "hash": constitution_hash(ctx.constitution),
            "principles": [p.ref for p in ctx.constitution.principles],
        },
        "prompts": {"train": len(ctx.train_prompts), "heldout": len(ctx.heldout_prompts)},
        "status": status,
    }
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def round_stages(ctx: RunContext, k: int, inputs_dir: Path) -> list[Any]:
    """The stage builders of round ``k`` in order (each is built when its turn comes: it reads earlier outputs)."""
    pl = ctx.pipeline
    builders: list[Any] = [lambda: st.generate_stage(ctx, k)]
    if pl.label.enabled:
        builders.append(lambda: st.label_stage(ctx, k))
    if pl.revise.enabled:
        builders.append(lambda: st.revise_stage(ctx, k))
    if pl.reward.enabled:
        builders.append(lambda: st_train.reward_stage(ctx, k, inputs_dir))
    if pl.policy.method != "none":
        builders.append(lambda: st_train.policy_stage(ctx, k, inputs_dir))
    if k == 1 and pl.evaluate.enabled and st.is_contrastive(ctx):
        builders.append(
            lambda: st_eval.ceiling_stage(ctx, k)
        )  # the untrained model with / without the system prompt
    if pl.sft_baseline:
        builders.append(lambda: st_train.sft_baseline_stage(ctx, k))
    if pl.evaluate.enabled and pl.policy.method != "none":
        builders.append(lambda: st_eval.evaluate_stage(ctx, k, inputs_dir))
    if pl.evaluate.enabled and pl.sft_baseline:
        builders.append(lambda: st_eval.evaluate_stage(ctx, k, inputs_dir, which="sft-baseline"))
    return builders


def run_stage(ctx: RunContext, stage: st.Stage) -> StageTiming:
    """Run, resume or skip one stage, keeping its manifest up to date."""
    ref = StageRef(ctx.run_dir, stage.round, stage.name)
    action, old = prepare_stage(ref, stage.config, stage.inputs)
    if action == "skip":
        log.info("round %d %s: up to date, skipped (%s)", stage.round, stage.name, ref.folder)
        return StageTiming(stage.round, stage.name, "skipped", 0.0)
    attempts = int(old.get("attempts", 0)) + 1 if (old and action == "resume") else 1
    manifest = start_manifest(ref, stage.config, stage.inputs, attempts=attempts)
    if action == "resume" and old is not None:
        manifest["seconds_before"] = old.get("seconds_before")
    log.info(
        "round %d %s: %s → %s",
        stage.round,
        stage.name,
        "resuming" if action == "resume" else "running",
        ref.folder,
    )
    t0 = time.monotonic()
    try:
        result = stage.run(ref.folder)
    except RlaifError as e:
        fail_manifest(ref, manifest, error=str(e), seconds=time.monotonic() - t0)
        raise RlaifError(
            f"round {stage.round}, stage '{stage.name}' failed: {e}",
            hint=f"fix the cause and run the same command again: finished stages are kept and '{stage.name}' resumes",
        ) from e
    except BaseException as e:  # a bug or Ctrl-C: record it, keep the traceback
        fail_manifest(ref, manifest, error=f"{type(e).__name__}: {e}", seconds=time.monotonic() - t0)
        raise
    seconds = time.monotonic() - t0
    finish_manifest(ref, manifest, outputs=result.outputs, seconds=seconds, extra=result.extra)
    log.info("round %d %s: done in %.1f s", stage.round, stage.name, seconds)
    return StageTiming(stage.round, stage.name, "resumed" if action == "resume" else "ran", seconds)


def run_pipeline(
    loaded: LoadedPipeline,
    *,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    only_rounds: int | None = None,
) -> RunSummary:
    """Run (or resume) the pipeline into ``<runs_dir>/<name>``; returns per-stage timings of this invocation."""
    pl = loaded.pipeline
    ray_started = False
    if pl.executor == "ray":
        from rlaif.scale.ray_setup import connect

        _check_executor(loaded)
        # one Ray session for the whole run: every generate/label stage's pool joins it
        ray_started = connect(st.ray_options(pl))
    try:
        return _run(loaded, runs_dir=runs_dir, progress=progress, only_rounds=only_rounds)
    finally:
        if ray_started:
            import ray

            ray.shutdown()


def check_pipeline(loaded: LoadedPipeline, *, runs_dir: str | Path = "runs") -> RunContext:
    """Make every check :func:`run_pipeline` makes before its first stage, and run nothing.

    Inputs (constitutions, prompts), models, free disk, the executor, every stage's settings and the reward-model
    template. Raises the same errors (file, line, field) a real run would; returns the loaded context. The only
    thing written is the (empty) run folder, whose disk is checked.
    """
    pl = loaded.pipeline
    if pl.executor == "ray":
        _check_executor(loaded)
    pipeline_dir = loaded.path.parent if loaded.path is not None else None
    ctx = load_context(pl, Path(runs_dir) / pl.name, pipeline_dir=pipeline_dir, progress=False)
    with tempfile.TemporaryDirectory(prefix="rlaif-check-") as tmp:
        _write_inputs(ctx, Path(tmp))  # the stage configs point at the merged inputs: write them aside
        _check_stage_settings(ctx, loaded, Path(tmp))
    return ctx


def _check_executor(loaded: LoadedPipeline) -> None:
    from rlaif.scale.ray_setup import import_ray

    try:
        import_ray()
    except RlaifError as e:
        raise RlaifError(
            str(e.problem.message), field="executor", path=loaded.doc.path_label, hint=e.hint
        ) from None


def _run(
    loaded: LoadedPipeline,
    *,
    runs_dir: str | Path,
    progress: bool,
    only_rounds: int | None,
) -> RunSummary:
    pl = loaded.pipeline
    run_dir = Path(runs_dir) / pl.name
    pipeline_dir = loaded.path.parent if loaded.path is not None else None
    ctx = load_context(pl, run_dir, pipeline_dir=pipeline_dir, progress=progress)
    inputs_dir = run_dir / INPUTS
    _write_inputs(ctx, inputs_dir)
    _check_stage_settings(ctx, loaded, inputs_dir)
    _write_run_file(ctx, "running")
    summary = RunSummary(run_dir)
    rounds = pl.rounds if only_rounds is None else min(pl.rounds, only_rounds)
    try:
        for k in range(1, rounds + 1):
            for build in round_stages(ctx, k, inputs_dir):
                summary.timings.append(run_stage(ctx, build()))
    except BaseException:
        _write_run_file(ctx, "failed")
        raise
    _write_run_file(ctx, "done" if rounds == pl.rounds else "partial")
    return summary
