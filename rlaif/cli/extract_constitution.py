"""``rlaif extract-constitution --pairs FILE``: a constitution that explains a set of preferences (inverse CAI).

    rlaif extract-constitution --pairs data/human_labels/trl_format.jsonl -o out/extracted --critic smollm2

Writes ``constitution.yaml`` (loads with rlaif's loader; per-principle metrics as comments), ``extract.json`` (every
candidate with its reconstruction agreement, relevance and support) and ``extract.md`` / ``extract.html``. The
preference file is TRL's format (``prompt``, ``chosen``, ``rejected``) or the transcript format. Exit code 1 when no
candidate reconstructs the held-out preferences well enough (the reports are still written).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import HELP, CacheChoice, TemplatesOpt, cache_options, model_options
from rlaif.cli.config_options import config_options
from rlaif.errors import RlaifError
from rlaif.workbench.extract import ExtractConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec

CONSTITUTION_FILE = "constitution.yaml"


def command(
    pairs: Annotated[Path, typer.Option("--pairs", help="Preference pairs (prompt, chosen, rejected).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/extracted"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing constitution.yaml.")] = False,
    templates_dir: TemplatesOpt = None,
    *,
    critic: ModelSpec,
    cache: CacheChoice,
    config: ExtractConfig,
) -> None:
    """Propose principles per preference pair with a critic, deduplicate them, keep those that reconstruct
    held-out preferences, and write them as a validated constitution with per-principle metrics."""
    import time

    from rlaif.atomic import atomic_write_text
    from rlaif.feedback.inputs import load_preferences
    from rlaif.jobs.engine import open_engine
    from rlaif.prompting import TemplateSet
    from rlaif.workbench.document import write_document
    from rlaif.workbench.extract import extract_constitution, extraction_document
    from rlaif.workbench.inspection import fmt

    start = time.perf_counter()
    target = out / CONSTITUTION_FILE
    if target.exists() and not force:
        raise RlaifError("output file exists already", path=target, hint="pass --force to overwrite it")
    preferences = load_preferences(pairs)
    templates = TemplateSet.load(templates_dir)
    engine = open_engine(critic, cache=cache.under(out), role="critic")
    try:
        result = extract_constitution(preferences, engine, templates, config)
    finally:
        engine.close()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "extract.json", json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    md, html = write_document(extraction_document(result), out, "extract")
    for c in result.candidates:
        mark = "kept" if c.selected else "    "
        print(f"{mark} {c.id}: agreement {fmt(c.agreement)}, relevance {fmt(c.relevance)} — {c.text}")
    print(f"wrote {out / 'extract.json'}, {md}, {html} ({time.perf_counter() - start:.1f} s)")
    if result.constitution is None:
        raise RlaifError(
            f"no candidate principle reached agreement {config.min_agreement:g} on the held-out pairs "
            f"({len(result.candidates)} tested); no constitution written",
            path=out / "extract.md",
            hint="see the candidates in extract.md; use more pairs, a stronger critic or a lower --min-agreement",
        )
    atomic_write_text(target, result.yaml_text)
    print(
        f"wrote {target}: {len(result.constitution.principles)} principle(s); whole constitution on "
        f"{result.test_pairs} test pairs: {fmt(result.test_agreement)}"
    )


command = model_options("critic", command="extract-constitution", default="smollm2", help=HELP["critic"])(
    command
)
command = cache_options(command="extract-constitution")(command)
command = config_options(ExtractConfig, command="extract-constitution")(command)
