"""``rlaif diff-constitution OLD NEW --responses DIR``: which labels flip, and which principle edit caused each.

    rlaif diff-constitution principles/hhh.yaml my-hhh.yaml -r out/responses -o out/diff --critic smollm2
    rlaif diff-constitution my-hhh.yaml -r out/responses -o out/sens --paraphrases 3     # wording sensitivity
    rlaif diff-constitution my-hhh.yaml -r out/responses -o out/sens --variants mine.yaml

Writes ``diff.md``, ``diff.html`` and ``diff.json`` (with NEW), and ``sensitivity.md/.html/.json`` (with
``--paraphrases`` or ``--variants``). The critic's calls go through the call cache (``<out>/../.rlaif-cache.sqlite``
by default, shared with ``rlaif label``): principles whose question did not change cost nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import HELP, CacheChoice, TemplatesOpt, cache_options, model_options
from rlaif.cli.config_options import config_options
from rlaif.errors import RlaifError
from rlaif.feedback.label_config import LabelConfig
from rlaif.workbench.diff import DiffConstitutionConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec


def command(
    old: Annotated[Path, typer.Argument(help="The constitution as it was (YAML).")],
    new: Annotated[Path | None, typer.Argument(help="The edited constitution (YAML).")] = None,
    responses: Annotated[
        Path, typer.Option("--responses", "-r", help="Responses dataset from `rlaif generate`.")
    ] = Path("out/responses"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports.")] = Path("out/diff"),
    variants: Annotated[
        Path | None,
        typer.Option(
            "--variants", help="YAML: principle id -> list of rewordings you wrote (instead of the critic's)."
        ),
    ] = None,
    templates_dir: TemplatesOpt = None,
    *,
    critic: ModelSpec,
    cache: CacheChoice,
    label: LabelConfig,
    config: DiffConstitutionConfig,
) -> None:
    """Label the responses under OLD and NEW and report every flipped label with the principle change behind it;
    with --paraphrases/--variants, report how stable each principle's labels are when it is reworded.

    -k, --seed and --progress are fields of the label config (as in `rlaif label`); the options from --examples on
    are fields of the diff config."""
    from rlaif.atomic import atomic_write_text
    from rlaif.constitution import load_constitution
    from rlaif.feedback.pairs import make_pairs
    from rlaif.feedback.responses import read_responses
    from rlaif.jobs.engine import open_engine
    from rlaif.prompting import TemplateSet
    from rlaif.workbench.document import write_document

    paraphrases, principle, seed = config.paraphrases, config.principles, label.seed
    if new is None and paraphrases <= 0 and variants is None:
        raise RlaifError(
            "nothing to compare: give NEW, --paraphrases N or --variants FILE",
            field="NEW",
            hint="rlaif diff-constitution OLD.yaml NEW.yaml --responses DIR",
        )
    # read and check every input before a model is loaded
    const_old = load_constitution(old)
    const_new = load_constitution(new) if new is not None else None
    target = const_new or const_old
    variant_texts = None
    if variants is not None:
        from rlaif.workbench.sensitivity import load_variants

        variant_texts = load_variants(variants, target)
    if principle:
        unknown = [p for p in principle if p not in target.principle_ids]
        if unknown:
            raise RlaifError(f"no principle {unknown[0]!r} in {target.name!r}", field="--principle")
    sets = read_responses(responses)
    templates = TemplateSet.load(templates_dir)
    engine = open_engine(critic, cache=cache.under(out), role="critic")
    written: list[Path] = []
    try:
        if const_new is not None:
            from rlaif.workbench.diff import diff_constitutions, diff_document

            result = diff_constitutions(sets, const_old, const_new, engine, templates, label)
            if result.old_name == result.new_name:  # same name and version: tell them apart by file
                result.old_name, result.new_name = f"{result.old_name} ({old})", f"{result.new_name} ({new})"
            written += write_document(diff_document(result, examples=config.examples), out, "diff")
            atomic_write_text(
                out / "diff.json", json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"
            )
            written.append(out / "diff.json")
            print(
                f"{len(result.flips)} of {result.compared} labels flipped; critic prompts computed: "
                f"{result.calls_old} (old) + {result.calls_new} (new), the rest from the cache"
            )
            for pid, n in result.causes().items():
                print(f"  {pid}: {n} flip(s)")
        if paraphrases > 0 or variant_texts is not None:
            from rlaif.workbench.sensitivity import paraphrase, sensitivity, sensitivity_document

            chosen = [p for p in target.principles if not principle or p.id in principle]
            texts = variant_texts or {p.id: paraphrase(engine, p, paraphrases, seed=seed) for p in chosen}
            texts = {pid: t for pid, t in texts.items() if not principle or pid in principle}
            pairs, _ = make_pairs(sets, "first_two")
            results = sensitivity(
                pairs[: config.max_pairs],
                target,
                engine,
                templates,
                texts,
                judge=label.judge_config(),
                fragile_below=config.fragile_below,
            )
            doc = sensitivity_document(results, f"Wording sensitivity: {target.name} v{target.version}")
            written += write_document(doc, out, "sensitivity")
            data = {"pairs": min(len(pairs), config.max_pairs), "principles": [r.to_dict() for r in results]}
            atomic_write_text(out / "sensitivity.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
            written.append(out / "sensitivity.json")
            for r in results:
                from rlaif.workbench.inspection import fmt

                verdict = "FRAGILE" if r.fragile else "stable"
                print(
                    f"  {r.principle}: {len(r.variants)} rewording(s), stability {fmt(r.stability)} {verdict}"
                )
            missing = [p.id for p in chosen if not texts.get(p.id)]
            if missing:
                print(f"  no usable rewording for: {', '.join(missing)}")
    finally:
        engine.close()
    for path in written:
        print(f"wrote {path}")


#: LabelConfig fields `rlaif diff-constitution` offers (both versions are labelled with them; the rest keep
#: `rlaif label`'s defaults)
LABEL_FIELDS = ("k", "seed", "progress")

command = model_options("critic", command="diff-constitution", default="smollm2", help=HELP["critic"])(
    command
)
command = cache_options(command="diff-constitution")(command)
command = config_options(
    LabelConfig,
    command="diff-constitution",
    param="label",
    flags={"k": ("-k", "--k")},
    skip=[field for field in LabelConfig.model_fields if field not in LABEL_FIELDS],
)(command)
command = config_options(
    DiffConstitutionConfig, command="diff-constitution", flags={"principles": ("--principle",)}
)(command)
