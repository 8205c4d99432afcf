"""``rlaif score``: rewards of responses from a trained reward model, batched.

    rlaif score --model runs/rm/model --responses out/responses -c principles/style.yaml -p concise -o out/scores.jsonl
    rlaif score --model runs/rm/model --input pairs.jsonl -c principles/style.yaml --normalize -o scores.jsonl

Input: a responses dataset written by ``rlaif generate`` (``--responses``), or a .jsonl/.json/.parquet file
(``--input``) whose rows have ``prompt`` (text or messages) and ``response`` and optionally ``principles`` (ids).
Principles: the row's own, else ``--principle`` (repeat), else every principle of the constitution. Output: one JSON
line per response with ``reward`` (and ``reward_normalized`` with ``--normalize``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rlaif.cli._common import DeviceOpt, DtypeOpt, ProgressOpt
from rlaif.errors import DataFileError, Problem, RlaifError


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    from rlaif.reward.data import _records

    _, records = _records(path)
    out = []
    for number, record in records:
        if isinstance(record, Exception) or not isinstance(record, dict):
            raise DataFileError(f"row {number} is not an object", path=path, line=number)
        out.append((number, record))
    return out


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
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
) -> None:
    """Score responses with a principle-conditioned reward model."""
    from rlaif.atomic import atomic_write_text
    from rlaif.constitution import load_constitution
    from rlaif.reward import RewardModel, resolve_principles

    if (responses is None) == (input_file is None):
        raise RlaifError("give exactly one of --responses and --input", field="--input")
    const = load_constitution(constitution)
    default = resolve_principles(list(principle), const) if principle else const.principles
    items: list[tuple[dict[str, Any], Any, Any, str]] = []  # (record, principles, prompt, response)
    if responses is not None:
        from rlaif.feedback import read_responses

        for rs in read_responses(responses):
            for i, text in enumerate(rs.responses):
                items.append(({"id": rs.prompt.id, "index": i}, default, rs.prompt.conversation, text))
    else:
        from rlaif.feedback.inputs import _conversation

        assert input_file is not None
        problems: list[Problem] = []
        for number, record in _rows(input_file):
            try:
                if "prompt" not in record or "response" not in record:
                    raise ValueError("missing column 'prompt' or 'response'")
                if not isinstance(record["response"], str):
                    raise ValueError("column 'response' must be text")
                principles = (
                    resolve_principles(record["principles"], const) if record.get("principles") else default
                )
                items.append(
                    (record, principles, _conversation(record["prompt"], "prompt"), record["response"])
                )
            except ValueError as e:
                problems.append(Problem(f"row {number}: {e}", path=str(input_file), line=number))
        if problems:
            raise DataFileError("", problems=problems[:20], hint="fix these rows")
    if not items:
        raise RlaifError("nothing to score", path=responses or input_file)
    import time

    rm = RewardModel.load(model, device=device, dtype=dtype)
    started = time.perf_counter()
    rewards = rm.score(
        [p for _, p, _, _ in items],
        [c for _, _, c, _ in items],
        [r for _, _, _, r in items],
        batch_size=batch_size,
        progress=None if progress else False,
    )
    lines = []
    for (record, principles, _, _), reward in zip(items, rewards, strict=True):
        row = {**record, "principles_scored": [p.ref for p in principles], "reward": reward}
        if normalize:
            if rm.stats is None:
                raise RlaifError("the reward model has no normalisation statistics", field="--normalize")
            row["reward_normalized"] = rm.stats.normalize(reward)
        lines.append(json.dumps(row, ensure_ascii=False, default=str))
    seconds = time.perf_counter() - started
    atomic_write_text(out, "\n".join(lines) + "\n")
    t = rm.truncation
    where = next(rm.model.parameters())
    print(
        f"scored {len(items)} responses with {model} ({where.device}, {str(where.dtype).removeprefix('torch.')}) "
        f"in {seconds:.1f} s ({len(items) / max(seconds, 1e-9):.1f} responses/s) -> {out}"
    )
    if t.conversation_truncated or t.response_truncated:
        print(f"truncated to fit the context: {t.describe()}")
