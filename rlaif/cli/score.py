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

from rlaif.cli.config_options import job_options
from rlaif.jobs.score import ScoreJob


def command(*, job: ScoreJob) -> None:
    """Score responses with a principle-conditioned reward model."""
    from rlaif.jobs.score import run_score

    run = run_score(job)
    for note in run.notes:
        print(note)
    print(
        f"scored {run.scored} responses in {run.seconds:.1f} s ({run.per_second:.1f} responses/s)"
        + (f", {run.reused} reused from a killed run" if run.reused else "")
        + f" -> {job.out}"
    )


command = job_options(ScoreJob, command="score", flags={"principles": ("--principle", "-p")})(command)
