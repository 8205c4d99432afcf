"""The score stage: rewards of responses from a trained principle-conditioned reward model.

:func:`run_score` reads the responses (a dataset from ``rlaif generate``, or a file of ``prompt``/``response`` rows
with optional ``principles``), resolves each one's principles (the row's own, else the job's, else every principle of
the constitution), loads the reward model and scores them with :func:`rlaif.reward.score_file.score_to_file`, which
saves partial results so a killed run resumes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from rlaif.errors import DataFileError, Problem, RlaifError
from rlaif.fields import BatchSize, ConstitutionFile, Progress
from rlaif.strict import StrictConfig

log = logging.getLogger(__name__)


class RewardScoreConfig(StrictConfig):
    """How ``rlaif score`` runs the reward model (each field is one of its options)."""

    normalize: bool = Field(
        default=False, description="also write (reward - mean) / std of the training responses"
    )
    batch_size: BatchSize = 16
    chunk_size: int = Field(
        default=256,
        ge=1,
        description="responses scored between two saves (a killed run resumes from the last)",
    )
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:N or mps")
    dtype: str = Field(default="auto", description="auto, float32, bfloat16 or float16")
    progress: Progress = True


class ScoreJob(RewardScoreConfig):
    """Everything ``rlaif score`` needs: the reward model, the responses, the principles and the output file (and
    how the model runs: the fields of :class:`RewardScoreConfig`)."""

    model: Path = Field(description="reward model folder (train-rm's <out>/model)")
    constitution: ConstitutionFile
    out: Path = Field(description="output .jsonl file (one line per response with its reward)")
    responses: Path | None = Field(default=None, description="responses dataset written by `rlaif generate`")
    input: Path | None = Field(
        default=None, description="a .jsonl/.json/.parquet file of prompt, response[, principles] rows"
    )
    principles: tuple[str, ...] = Field(
        default=(), description="principle ids to judge by when a row names none (empty: every principle)"
    )

    @model_validator(mode="after")
    def _one_input(self) -> ScoreJob:
        if (self.responses is None) == (self.input is None):
            raise ValueError("give exactly one of responses (--responses) and input (--input)")
        return self


def read_score_items(job: ScoreJob) -> list[Any]:
    """The :class:`rlaif.reward.score_file.ScoreItem` list of a job; every bad row is reported (file and line)."""
    from rlaif.constitution import load_constitution
    from rlaif.reward import resolve_principles
    from rlaif.reward.score_file import ScoreItem

    const = load_constitution(job.constitution)
    try:
        default = resolve_principles(list(job.principles), const) if job.principles else const.principles
    except ValueError as e:
        raise RlaifError(str(e), path=job.constitution, field="--principle") from None
    items: list[ScoreItem] = []
    if job.responses is not None:
        from rlaif.feedback import read_responses

        for rs in read_responses(job.responses):
            for i, text in enumerate(rs.responses):
                items.append(
                    ScoreItem({"id": rs.prompt.id, "index": i}, default, rs.prompt.conversation, text)
                )
    else:
        from rlaif.feedback.inputs import parse_conversation, read_records

        assert job.input is not None
        problems: list[Problem] = []
        _, records = read_records(
            job.input, what="input file", hint="check the path (rows with prompt and response)"
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
                problems.append(Problem(f"row {number}: {e}", path=str(job.input), line=number))
        if problems:
            raise DataFileError("", problems=problems[:20], hint="fix these rows")
    if not items:
        raise RlaifError("nothing to score", path=job.responses or job.input)
    return items


def run_score(job: ScoreJob) -> Any:
    """Score the job's responses into ``job.out``; returns the :class:`rlaif.reward.score_file.ScoreRun` (with the
    reward model's truncation counts in ``notes``)."""
    from rlaif.reward import RewardModel
    from rlaif.reward.score_file import score_to_file

    items = read_score_items(job)  # every input is checked before the model loads
    rm = RewardModel.load(job.model, device=job.device, dtype=job.dtype)
    where = next(rm.model.parameters())
    log.info(
        "scoring %d responses with %s (%s, %s)",
        len(items),
        job.model,
        where.device,
        str(where.dtype).removeprefix("torch."),
    )
    run = score_to_file(
        rm,
        items,
        job.out,
        batch_size=job.batch_size,
        normalize=job.normalize,
        chunk_size=job.chunk_size,
        progress=None if job.progress else False,
    )
    t = rm.truncation
    if t.conversation_truncated or t.response_truncated:
        run.notes.append(f"truncated to fit the context: {t.describe()}")
    return run
