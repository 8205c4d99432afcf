"""Constitution extraction (inverse CAI) as one job: a constitution that explains a set of preferences.

``rlaif extract-constitution`` builds an :class:`ExtractConstitutionJob` from its flags, Python builds it directly;
both call :func:`run_extract_constitution`. It reads the preference pairs, has the critic propose, deduplicate and
test principles (:func:`rlaif.workbench.extract.extract_constitution`), writes ``extract.json``, ``extract.md`` and
``extract.html`` (every candidate with its metrics) and, when some candidate passed, ``constitution.yaml``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from rlaif.backends.spec import ModelSpec
from rlaif.errors import RlaifError
from rlaif.fields import CacheFile, TemplatesDir
from rlaif.strict import StrictConfig
from rlaif.workbench.configs import ExtractConfig

if TYPE_CHECKING:
    from rlaif.workbench.extract import Extraction

#: the extracted constitution's file name in the output folder
CONSTITUTION_FILE = "constitution.yaml"


class ExtractConstitutionJob(StrictConfig):
    """One extraction: the preference pairs, the critic, where the reports and the constitution go, and how
    (:class:`~rlaif.workbench.extract.ExtractConfig`, nested unchanged)."""

    pairs: Path = Field(
        description="preference pairs: TRL's format (prompt, chosen, rejected) or transcript rows"
    )
    out: Path = Field(description="output folder (constitution.yaml, extract.json/.md/.html)")
    force: bool = Field(default=False, description="overwrite an existing <out>/constitution.yaml")
    templates: TemplatesDir = None
    critic: ModelSpec = Field(description="the critic that proposes and tests the principles")
    cache: CacheFile = None
    config: ExtractConfig = Field(
        default_factory=ExtractConfig, description="the split, the proposals, deduplication and selection"
    )


@dataclass(frozen=True)
class ExtractConstitutionResult:
    """What :func:`run_extract_constitution` found and wrote."""

    extraction: Extraction  #: every candidate with its metrics, and the constitution (None when none passed)
    report_json: Path  #: <out>/extract.json
    report_md: Path  #: <out>/extract.md
    report_html: Path  #: <out>/extract.html
    constitution: Path | None  #: <out>/constitution.yaml, None when no candidate passed (nothing written)
    min_agreement: float  #: the agreement a candidate had to reach on the held-out pairs
    seconds: float

    def require_constitution(self) -> Path:
        """The constitution written; :class:`~rlaif.errors.RlaifError` (pointing at the report) when no candidate
        reconstructed the held-out preferences well enough."""
        if self.constitution is None:
            raise RlaifError(
                f"no candidate principle reached agreement {self.min_agreement:g} on the held-out pairs "
                f"({len(self.extraction.candidates)} tested); no constitution written",
                path=self.report_md,
                hint="see the candidates in extract.md; use more pairs, a stronger critic or a lower --min-agreement",
            )
        return self.constitution


def run_extract_constitution(job: ExtractConstitutionJob) -> ExtractConstitutionResult:
    """Propose principles per preference pair with the critic, deduplicate them, keep those that reconstruct
    held-out preferences, and write the reports and (when any was kept) the constitution with per-principle
    metrics.

    An existing ``constitution.yaml`` without ``force`` and bad input raise :class:`~rlaif.errors.RlaifError`
    before the critic loads. When no candidate passes, the reports are written and ``constitution`` is None (see
    :meth:`ExtractConstitutionResult.require_constitution`).
    """
    from rlaif.atomic import atomic_write_text
    from rlaif.feedback.inputs import load_preferences
    from rlaif.jobs.engine import open_engine
    from rlaif.prompting import TemplateSet
    from rlaif.workbench.document import write_document
    from rlaif.workbench.extract import extract_constitution, extraction_document

    start = time.perf_counter()
    out = job.out
    target = out / CONSTITUTION_FILE
    if target.exists() and not job.force:
        raise RlaifError("output file exists already", path=target, hint="pass --force to overwrite it")
    preferences = load_preferences(job.pairs)
    templates = TemplateSet.load(job.templates)
    engine = open_engine(job.critic, cache=job.cache, role="critic")
    try:
        extraction = extract_constitution(preferences, engine, templates, job.config)
    finally:
        engine.close()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "extract.json", json.dumps(extraction.to_dict(), indent=2, sort_keys=True) + "\n")
    md, html = write_document(extraction_document(extraction), out, "extract")
    written = None
    if extraction.constitution is not None:
        atomic_write_text(target, extraction.yaml_text)
        written = target
    return ExtractConstitutionResult(
        extraction=extraction,
        report_json=out / "extract.json",
        report_md=md,
        report_html=html,
        constitution=written,
        min_agreement=job.config.min_agreement,
        seconds=time.perf_counter() - start,
    )


__all__ = [
    "CONSTITUTION_FILE",
    "ExtractConstitutionJob",
    "ExtractConstitutionResult",
    "run_extract_constitution",
]
