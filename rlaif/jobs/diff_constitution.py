"""The constitution diff as one job: which labels flip between two constitutions, and why; and how stable each
principle's labels are when it is reworded.

``rlaif diff-constitution`` builds a :class:`DiffConstitutionJob` from its arguments and flags, Python builds it
directly; both call :func:`run_diff_constitution`. It reads and checks every input before the critic loads, labels
the responses under OLD and NEW (:func:`rlaif.workbench.diff.diff_constitutions`) and writes ``diff.md``,
``diff.html`` and ``diff.json``; with paraphrases or variants it judges each principle's rewordings
(:func:`rlaif.workbench.sensitivity.sensitivity`) and writes ``sensitivity.md/.html/.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from rlaif.backends.spec import ModelSpec
from rlaif.errors import RlaifError
from rlaif.feedback.label_config import LabelConfig
from rlaif.fields import TemplatesDir
from rlaif.strict import StrictConfig
from rlaif.workbench.configs import DiffConstitutionConfig

if TYPE_CHECKING:
    from rlaif.constitution import Constitution
    from rlaif.feedback.responses import ResponseSet
    from rlaif.prompting import TemplateSet
    from rlaif.workbench.diff import ConstitutionDiff
    from rlaif.workbench.sensitivity import PrincipleSensitivity


class DiffConstitutionJob(StrictConfig):
    """One diff: the two constitutions (or one, for the wording check), the responses, the critic, where the
    reports go, and how (:class:`~rlaif.feedback.label_config.LabelConfig` and
    :class:`~rlaif.workbench.diff.DiffConstitutionConfig`, nested unchanged)."""

    old: Path = Field(description="the constitution as it was (YAML)")
    new: Path | None = Field(
        default=None, description="the edited constitution (YAML); null: only the wording check of OLD"
    )
    responses: Path = Field(description="responses dataset labelled under both (from rlaif generate)")
    out: Path = Field(description="folder of the reports")
    variants: Path | None = Field(
        default=None,
        description="YAML: principle id -> list of rewordings you wrote (instead of the critic's paraphrases)",
    )
    templates: TemplatesDir = None
    critic: ModelSpec = Field(description="the critic that labels both versions (and paraphrases)")
    cache: Path | None = Field(
        default=None,
        description="SQLite call cache of the critic (principles whose question did not change cost nothing); "
        "null: none",
    )
    label: LabelConfig = Field(
        default_factory=LabelConfig, description="how both versions are labelled (k, seed, judge settings)"
    )
    config: DiffConstitutionConfig = Field(
        default_factory=DiffConstitutionConfig,
        description="the diff report's examples and the wording-sensitivity check",
    )


@dataclass
class DiffConstitutionResult:
    """What :func:`run_diff_constitution` found and wrote."""

    diff: ConstitutionDiff | None = None  #: the flips between OLD and NEW (None without NEW)
    sensitivity: list[PrincipleSensitivity] | None = None  #: per principle (None without the wording check)
    sensitivity_pairs: int = 0  #: pairs judged by the wording check
    no_rewording: list[str] = field(default_factory=list)  #: principles checked that got no usable rewording
    written: list[Path] = field(default_factory=list)  #: the reports, in the order written


def run_diff_constitution(job: DiffConstitutionJob) -> DiffConstitutionResult:
    """Label the responses under OLD and NEW and report every flipped label with the principle change behind it;
    with paraphrases or variants, report how stable each principle's labels are when it is reworded.

    Bad input (nothing to compare, an unknown principle, an unreadable file) raises
    :class:`~rlaif.errors.RlaifError` before the critic loads.
    """
    from rlaif.atomic import atomic_write_text
    from rlaif.constitution import load_constitution
    from rlaif.feedback.responses import read_responses
    from rlaif.jobs.engine import open_engine
    from rlaif.prompting import TemplateSet
    from rlaif.workbench.document import write_document

    config, label = job.config, job.label
    principle = config.principles
    if job.new is None and config.paraphrases <= 0 and job.variants is None:
        raise RlaifError(
            "nothing to compare: give NEW, --paraphrases N or --variants FILE",
            field="NEW",
            hint="rlaif diff-constitution OLD.yaml NEW.yaml --responses DIR",
        )
    # read and check every input before a model is loaded
    const_old = load_constitution(job.old)
    const_new = load_constitution(job.new) if job.new is not None else None
    target = const_new or const_old
    variant_texts = None
    if job.variants is not None:
        from rlaif.workbench.sensitivity import load_variants

        variant_texts = load_variants(job.variants, target)
    if principle:
        unknown = [p for p in principle if p not in target.principle_ids]
        if unknown:
            raise RlaifError(f"no principle {unknown[0]!r} in {target.name!r}", field="--principle")
    sets = read_responses(job.responses)
    templates = TemplateSet.load(job.templates)
    engine = open_engine(job.critic, cache=job.cache, role="critic")
    result = DiffConstitutionResult()
    out = job.out
    try:
        if const_new is not None:
            from rlaif.workbench.diff import diff_constitutions, diff_document

            diff = diff_constitutions(sets, const_old, const_new, engine, templates, label)
            if diff.old_name == diff.new_name:  # same name and version: tell them apart by file
                diff.old_name, diff.new_name = f"{diff.old_name} ({job.old})", f"{diff.new_name} ({job.new})"
            result.diff = diff
            result.written += write_document(diff_document(diff, examples=config.examples), out, "diff")
            atomic_write_text(out / "diff.json", json.dumps(diff.to_dict(), indent=2, sort_keys=True) + "\n")
            result.written.append(out / "diff.json")
        if config.paraphrases > 0 or variant_texts is not None:
            _sensitivity(job, result, sets, target, engine, templates, variant_texts)
    finally:
        engine.close()
    return result


def _sensitivity(
    job: DiffConstitutionJob,
    result: DiffConstitutionResult,
    sets: list[ResponseSet],
    target: Constitution,
    engine: Any,
    templates: TemplateSet,
    variant_texts: dict[str, list[str]] | None,
) -> None:
    """The wording check: judge each chosen principle's rewordings and write the sensitivity reports."""
    from rlaif.atomic import atomic_write_text
    from rlaif.feedback.pairs import make_pairs
    from rlaif.workbench.document import write_document
    from rlaif.workbench.sensitivity import paraphrase, sensitivity, sensitivity_document

    config, out, principle = job.config, job.out, job.config.principles
    chosen = [p for p in target.principles if not principle or p.id in principle]
    texts = variant_texts or {
        p.id: paraphrase(engine, p, config.paraphrases, seed=job.label.seed) for p in chosen
    }
    texts = {pid: t for pid, t in texts.items() if not principle or pid in principle}
    pairs, _ = make_pairs(sets, "first_two")
    results = sensitivity(
        pairs[: config.max_pairs],
        target,
        engine,
        templates,
        texts,
        judge=job.label.judge_config(),
        fragile_below=config.fragile_below,
    )
    doc = sensitivity_document(results, f"Wording sensitivity: {target.name} v{target.version}")
    result.written += write_document(doc, out, "sensitivity")
    result.sensitivity_pairs = min(len(pairs), config.max_pairs)
    data = {"pairs": result.sensitivity_pairs, "principles": [r.to_dict() for r in results]}
    atomic_write_text(out / "sensitivity.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
    result.written.append(out / "sensitivity.json")
    result.sensitivity = results
    result.no_rewording = [p.id for p in chosen if not texts.get(p.id)]


__all__ = ["DiffConstitutionJob", "DiffConstitutionResult", "run_diff_constitution"]
