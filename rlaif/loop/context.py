"""Everything a run's stages share, loaded and checked once before any long work starts."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif.backends.spec import ModelSpec
from rlaif.constitution.schema import Constitution
from rlaif.errors import DataFileError, Problem, RlaifError
from rlaif.feedback.inputs import PromptRow
from rlaif.loop.pipeline import Pipeline, resolve_data_path

if TYPE_CHECKING:
    from rlaif.prompting import TemplateSet

log = logging.getLogger("rlaif.loop")


def merge_constitutions(parts: list[Constitution]) -> Constitution:
    """One constitution from several files (principle ids must stay unique across them)."""
    if len(parts) == 1:
        return parts[0]
    seen: dict[str, str] = {}
    problems = []
    for c in parts:
        for p in c.principles:
            if p.id in seen:
                problems.append(
                    Problem(f"principle id '{p.id}' appears in both '{seen[p.id]}' and '{c.name}'")
                )
            seen[p.id] = c.name
    if problems:
        raise DataFileError("the pipeline's constitutions cannot be merged", problems=problems)
    return Constitution(
        name=" + ".join(c.name for c in parts),
        version="+".join(c.version for c in parts),
        description="; ".join(c.description for c in parts if c.description),
        principles=tuple(p for c in parts for p in c.principles),
        examples=tuple(e for c in parts for e in c.examples),
    )


@dataclass
class RunContext:
    """A validated pipeline with its inputs loaded: constitution, prompts (train / held-out), paths."""

    pipeline: Pipeline
    run_dir: Path
    pipeline_dir: Path | None
    constitution: Constitution
    constitution_paths: list[Path]
    train_prompts: list[PromptRow]
    heldout_prompts: list[PromptRow]
    prompt_paths: list[Path]
    progress: bool = True
    templates_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def template_set(self) -> TemplateSet:
        """The templates of every stage: the pipeline's ``templates`` folder first, then the shipped ones."""
        from rlaif.prompting import TemplateSet

        return TemplateSet.load(self.templates_dir)

    @property
    def cache_path(self) -> Path:
        """The run's call cache (shared by every stage and round)."""
        return self.run_dir / ".rlaif-cache.sqlite"

    def model_spec(
        self, role: str = "policy", *, model: str | None = None, adapter: Path | None = None
    ) -> ModelSpec:
        """A role's :class:`~rlaif.backends.spec.ModelSpec` for a stage job: its backend; the run's device, dtype and
        remote-code setting (local engines), the shared and the role's own options; ``adapter`` (else the role's
        own); ``model`` (else the role's)."""
        m = self.pipeline.models
        spec = self.pipeline.role(role)  # type: ignore[arg-type]
        opts: dict[str, Any] = {}
        if spec.backend == "transformers" and m.device != "auto":
            opts["device"] = m.device
        if spec.backend in ("transformers", "vllm"):
            if m.dtype != "auto":
                opts["dtype"] = m.dtype
            if m.trust_remote_code:
                opts["trust_remote_code"] = True
        opts.update(spec.options)
        chosen = str(adapter) if adapter is not None else spec.adapter
        return ModelSpec(model=model or spec.model, backend=spec.backend, options=opts, adapter=chosen)

    def backend_options(self, *, adapter: Path | None = None, role: str = "policy") -> dict[str, Any]:
        """Options for :func:`rlaif.backends.registry.make_backend` of a role's backend: :meth:`model_spec`'s, with
        the adapter (which only a local backend can load: :meth:`ModelSpec.backend_options` says so clearly)."""
        return self.model_spec(role, adapter=adapter).backend_options(role)


def load_context(
    pipeline: Pipeline, run_dir: Path, *, pipeline_dir: Path | None, progress: bool = True
) -> RunContext:
    """Read and check every input named by the pipeline (fail fast: before any model is loaded)."""
    from rlaif.constitution import load_constitution
    from rlaif.feedback.inputs import load_prompts
    from rlaif.models import resolve_model

    problems: list[Problem] = []
    const_paths = [resolve_data_path(c, pipeline_dir=pipeline_dir) for c in pipeline.constitution]
    prompt_paths = [resolve_data_path(f, pipeline_dir=pipeline_dir) for f in pipeline.prompts.files]
    for i, p in enumerate(const_paths):
        if not p.exists():
            problems.append(Problem("no such file", path=str(p), field=f"constitution[{i}]"))
    for i, p in enumerate(prompt_paths):
        if not p.exists():
            problems.append(
                Problem("no such file or dataset folder", path=str(p), field=f"prompts.files[{i}]")
            )
    templates_dir = None
    if pipeline.templates is not None:
        templates_dir = resolve_data_path(pipeline.templates, pipeline_dir=pipeline_dir)
        if not templates_dir.is_dir():
            what = "is a file, not a template folder" if templates_dir.exists() else "no such template folder"
            problems.append(Problem(what, path=str(templates_dir), field="templates"))
    if problems:
        raise DataFileError("the pipeline names inputs that do not exist", problems=problems)
    if templates_dir is not None:
        _check_templates(templates_dir)
    constitution = merge_constitutions([load_constitution(p) for p in const_paths])
    rows: list[PromptRow] = []
    for p in prompt_paths:
        rows.extend(
            load_prompts(
                p, field_map=pipeline.prompts.field_map or None, skip_bad_rows=pipeline.prompts.skip_bad_rows
            )
        )
    seen: set[str] = set()
    for r in rows:
        if r.id in seen:
            raise DataFileError(
                f"prompt id '{r.id}' appears more than once across the prompt files",
                field="prompts.files",
                hint="give each prompt a unique id",
            )
        seen.add(r.id)
    heldout = [r for r in rows if r.split == pipeline.prompts.heldout_split]
    train = [r for r in rows if r.split != pipeline.prompts.heldout_split]
    if pipeline.prompts.max_train is not None:
        train = train[: pipeline.prompts.max_train]
    if pipeline.prompts.max_heldout is not None:
        heldout = heldout[: pipeline.prompts.max_heldout]
    if not train:
        raise DataFileError("the pipeline has no training prompts", field="prompts")
    if pipeline.evaluate.enabled and not heldout:
        raise DataFileError(
            f"evaluation is on but no prompt has split '{pipeline.prompts.heldout_split}'",
            field="prompts.heldout_split",
            hint="mark held-out prompts with that split, or set evaluate.enabled=false",
        )
    # models: resolving is quick (local folders, the embedded model, or a hub check) and fails fast
    for role in ("policy", "critic", "reward"):
        spec = pipeline.role(role)
        if spec.backend in ("transformers", "vllm"):
            resolve_model(spec.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(run_dir).free / 1e9
    if free_gb < pipeline.min_free_disk_gb:
        raise RlaifError(
            f"only {free_gb:.2f} GB free on the disk of {run_dir}; the pipeline asks for at least "
            f"{pipeline.min_free_disk_gb:g} GB",
            path=run_dir,
            field="min_free_disk_gb",
            hint="free some space, pick another runs folder, or lower min_free_disk_gb",
        )
    return RunContext(
        pipeline=pipeline,
        run_dir=run_dir,
        pipeline_dir=pipeline_dir,
        constitution=constitution,
        constitution_paths=const_paths,
        train_prompts=train,
        heldout_prompts=heldout,
        prompt_paths=prompt_paths,
        progress=progress,
        templates_dir=templates_dir,
    )


def _check_templates(folder: Path) -> None:
    """Every template in the user's folder must compile (strict, sandboxed): a broken one fails the run up front."""
    from rlaif.prompting import list_templates

    broken = [t for t in list_templates(folder) if t.origin == "user" and t.error]
    if broken:
        raise DataFileError(
            f"the pipeline's template folder {folder} holds templates that do not load",
            problems=[Problem(t.error or "", path=str(t.path), field="templates") for t in broken],
        )
