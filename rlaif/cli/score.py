"""``rlaif score``: rewards of responses from a trained reward model, batched.

    rlaif score --model runs/rm/model --responses out/responses -c principles/style.yaml -p concise -o out/scores.jsonl
    rlaif score --model runs/rm/model --input pairs.jsonl -c principles/style.yaml --normalize -o scores.jsonl

Input: a responses dataset written by ``rlaif generate`` (``--responses``), or a .jsonl/.json/.parquet file
(``--input``) whose rows have ``prompt`` (text or messages) and ``response`` and optionally ``principles`` (ids).
Principles: the row's own, else ``--principle`` (repeat), else every principle of the constitution. Output: one JSON
line per response with ``reward`` (and ``reward_normalized`` with ``--normalize``). Rewards are saved to
``<out>.partial`` every ``--chunk-size`` responses; a killed run, rerun, scores only what is missing
(:mod:`rlaif.reward.score_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaif.cli._common import DeviceOpt, DtypeOpt, ProgressOpt
from rlaif.errors import DataFileError, Problem, RlaifError


def command(
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Reward model folder (train-rm's <out>/model).")
    ],
    constitution: Annotated[
        Path, typer.Option("--constitution", "-c", help="Constitution of the principles.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .jsonl file.")],
    responses: Annotated[
        Path | None, typer.Option("--responses", help="Responses dataset written by `rlaif generate`.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="Rows with prompt, response[, principles].")
    ] = None,
    principle: Annotated[
        list[str] | None, typer.Option("--principle", "-p", help="Principle id to judge by (repeat).")
    ] = None,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Also write (reward - mean) / std of the training responses.")
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Inputs per forward pass.")] = 16,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size", help="Responses scored between two saves (a killed run resumes from the last)."
        ),
    ] = 256,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
) -> None:
    """Score responses with a principle-conditioned reward model."""
    from rlaif.constitution import load_constitution
    from rlaif.reward import RewardModel, resolve_principles
    from rlaif.reward.score_file import ScoreItem, score_to_file

    if (responses is None) == (input_file is None):
        raise RlaifError("give exactly one of --responses and --input", field="--input")
    if chunk_size < 1:
        raise RlaifError(f"--chunk-size must be at least 1, got {chunk_size}", field="--chunk-size")
    const = load_constitution(constitution)
    try:
        default = resolve_principles(list(principle), const) if principle else const.principles
    except ValueError as e:
        raise RlaifError(str(e), path=constitution, field="--principle") from None
    items: list[ScoreItem] = []
    if responses is not None:
        from rlaif.feedback import read_responses

        for rs in read_responses(responses):
            for i, text in enumerate(rs.responses):
                items.append(
                    ScoreItem({"id": rs.prompt.id, "index": i}, default, rs.prompt.conversation, text)
                )
    else:
        from rlaif.feedback.inputs import parse_conversation

        assert input_file is not None
        problems: list[Problem] = []
        from rlaif.reward.data import _records

        _, records = _records(
            input_file, what="input file", hint="check the path (rows with prompt and response)"
        )
        for number, record in records:  # a row that is not valid JSON comes as the exception that says why
            try:
                if isinstance(record, Exception):
                    raise ValueError(str(record))
                if not isinstance(record, dict):
                    raise ValueError("not an object")
                if "prompt" not in record or "response" not in record:
                    raise ValueError("missing column 'prompt' or 'response'")
                if not isinstance(record["response"], str):
                    raise ValueError("column 'response' must be text")
                refs = record.get("principles")
                if refs is not None and not refs:
                    raise ValueError(
                        "empty principles list: name the principles to score by, or leave the column out "
                        "to score by -p (default: every principle)"
                    )
                principles = resolve_principles(refs, const) if refs is not None else default
                items.append(
                    ScoreItem(
                        record, principles, parse_conversation(record["prompt"], "prompt"), record["response"]
                    )
                )
            except ValueError as e:
                problems.append(Problem(f"row {number}: {e}", path=str(input_file), line=number))
        if problems:
            raise DataFileError("", problems=problems[:20], hint="fix these rows")
    if not items:
        raise RlaifError("nothing to score", path=responses or input_file)
    rm = RewardModel.load(model, device=device, dtype=dtype)
    where = next(rm.model.parameters())
    print(
        f"scoring {len(items)} responses with {model} ({where.device}, {str(where.dtype).removeprefix('torch.')})"
    )
    run = score_to_file(
        rm,
        items,
        out,
        batch_size=batch_size,
        normalize=normalize,
        chunk_size=chunk_size,
        progress=None if progress else False,
    )
    for note in run.notes:
        print(note)
    print(
        f"scored {run.scored} responses in {run.seconds:.1f} s ({run.per_second:.1f} responses/s)"
        + (f", {run.reused} reused from a killed run" if run.reused else "")
        + f" -> {out}"
    )
    t = rm.truncation
    if t.conversation_truncated or t.response_truncated:
        print(f"truncated to fit the context: {t.describe()}")
