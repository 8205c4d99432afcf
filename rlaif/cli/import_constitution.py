"""``rlaif import-constitution INPUT``: convert a published constitution format to rlaif's YAML."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="JSON file to import.", show_default=False),
    format: str = typer.Option(
        "auto", "--format", "-f", help="Input format: auto, anthropic ({name: {prompt, edit_request}}) or hf."
    ),
    name: str | None = typer.Option(None, "--name", help="Constitution name (default: the input's stem)."),
    output: Path | None = typer.Option(
        None, "--out", "--output", "-o", help="YAML file to write (default: print to standard output)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT if it exists."),
) -> None:
    """Import a constitution (Anthropic critique/revision JSON or Hugging Face constitutional-ai JSON) as YAML.

    The compare questions, which those formats lack, are generated from the critique requests and marked as such.
    The written file is loaded back to prove it validates.
    """
    from rlaif.constitution import detect_format, dump_constitution_yaml, import_constitution_data
    from rlaif.constitution.importers import IMPORT_FORMATS, import_header, read_json_file
    from rlaif.constitution.loading import load_constitution, load_constitution_text
    from rlaif.constitution.writing import write_text_atomic
    from rlaif.errors import DataFileError, RlaifError

    if format not in IMPORT_FORMATS:
        raise RlaifError(f"unknown --format {format!r}; choose one of {', '.join(IMPORT_FORMATS)}")
    if output is not None:
        # refuse early, before doing the work
        if output.is_dir():
            raise DataFileError("output path is a directory", path=str(output))
        if output.exists() and not force:
            raise DataFileError(
                "output file exists already", path=str(output), hint="pass --force to overwrite it"
            )

    data = read_json_file(input_path)
    fmt = (detect_format(data) or "auto") if format == "auto" else format
    constitution = import_constitution_data(
        data,
        format=fmt,  # type: ignore[arg-type]  # checked against IMPORT_FORMATS above
        name=name or input_path.stem,
        source=str(input_path),
    )
    text = dump_constitution_yaml(constitution, header=import_header(constitution, input_path.name, fmt))

    if output is None:
        if load_constitution_text(text, "<output>") != constitution:  # pragma: no cover - a bug if it happens
            raise RuntimeError("the written YAML does not load back to the same constitution")
        typer.echo(text, nl=False)
        return
    write_text_atomic(output, text, overwrite=force)
    reloaded = load_constitution(output)
    if reloaded != constitution:  # pragma: no cover - a bug if it happens
        raise RuntimeError(f"{output} does not load back to the imported constitution")
    typer.echo(
        f"wrote {output}: constitution {reloaded.name!r}, {len(reloaded.principles)} principles, "
        f"{len(reloaded.examples)} examples, hash {reloaded.short_hash()} (validated)",
        err=True,
    )
