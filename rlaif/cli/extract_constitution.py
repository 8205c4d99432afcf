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
from typing import Annotated

import typer

from rlaif.cli._common import (
    BackendOpt,
    BackendOptionOpt,
    CacheOpt,
    CriticOpt,
    DeviceOpt,
    DtypeOpt,
    NoCacheOpt,
    TemplatesOpt,
    cache_path,
    parse_backend_options,
)
from rlaif.errors import RlaifError

CONSTITUTION_FILE = "constitution.yaml"


def command(
    pairs: Annotated[Path, typer.Option("--pairs", help="Preference pairs (prompt, chosen, rejected).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/extracted"),
    critic: CriticOpt = "smollm2",
    name: Annotated[str, typer.Option("--name", help="Name of the extracted constitution.")] = "extracted",
    candidates_per_pair: Annotated[
        int, typer.Option("--candidates-per-pair", help="Principles the critic proposes per pair.")
    ] = 3,
    held_out: Annotated[float, typer.Option("--held-out", help="Share of pairs that test candidates.")] = 0.4,
    test: Annotated[
        float,
        typer.Option("--test", help="Share of pairs that measure the result (never used for selection)."),
    ] = 0.2,
    max_candidates: Annotated[
        int, typer.Option("--max-candidates", help="Deduplicated candidates tested (most proposed first).")
    ] = 20,
    max_principles: Annotated[int, typer.Option("--max-principles", help="Principles kept at most.")] = 8,
    min_agreement: Annotated[
        float, typer.Option("--min-agreement", help="Keep a candidate whose agreement reaches this.")
    ] = 0.6,
    similarity: Annotated[
        float, typer.Option("--similarity", help="Cosine similarity at which two candidates are duplicates.")
    ] = 0.6,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Relevant when the candidate's |2p-1| exceeds this.")
    ] = 0.1,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the split and of which response is shown first.")
    ] = 0,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Length cap of each proposal.")
    ] = 160,
    above_chance: Annotated[
        bool,
        typer.Option("--above-chance", help="Keep only candidates whose agreement interval lies above 50%."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing constitution.yaml.")] = False,
    templates_dir: TemplatesOpt = None,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Propose principles per preference pair with a critic, deduplicate them, keep those that reconstruct
    held-out preferences, and write them as a validated constitution with per-principle metrics."""
    import time

    from rlaif.atomic import atomic_write_text
    from rlaif.feedback.call_cache import open_backend
    from rlaif.feedback.inputs import load_preferences
    from rlaif.prompting import TemplateSet
    from rlaif.workbench.document import write_document
    from rlaif.workbench.extract import ExtractConfig, extract_constitution, extraction_document
    from rlaif.workbench.inspection import fmt

    start = time.perf_counter()
    config = ExtractConfig(
        candidates_per_pair=candidates_per_pair,
        held_out=held_out,
        test=test,
        max_candidates=max_candidates,
        max_principles=max_principles,
        min_agreement=min_agreement,
        similarity=similarity,
        threshold=threshold,
        seed=seed,
        max_new_tokens=max_new_tokens,
        name=name,
        above_chance=above_chance,
    )
    target = out / CONSTITUTION_FILE
    if target.exists() and not force:
        raise RlaifError("output file exists already", path=target, hint="pass --force to overwrite it")
    preferences = load_preferences(pairs)
    templates = TemplateSet.load(templates_dir)
    options = parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend)
    engine = open_backend(backend, critic, options=options, cache=cache_path(out, cache, no_cache))
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
            f"no candidate principle reached agreement {min_agreement:g} on the held-out pairs "
            f"({len(result.candidates)} tested); no constitution written",
            path=out / "extract.md",
            hint="see the candidates in extract.md; use more pairs, a stronger critic or a lower --min-agreement",
        )
    atomic_write_text(target, result.yaml_text)
    print(
        f"wrote {target}: {len(result.constitution.principles)} principle(s); whole constitution on "
        f"{result.test_pairs} test pairs: {fmt(result.test_agreement)}"
    )
