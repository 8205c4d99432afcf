"""``rlaif score-responses``: the critic rates each response 1–10 under sampled principles.

    rlaif score-responses --responses out/responses --constitution principles/hhh.yaml --critic smollm2 \\
        -k 2 -o out/scores

The score is the probability-weighted mean over the score choices (see :mod:`rlaif.feedback.scores`);
``score_normalized`` maps it onto [0, 1] for use as a direct reward. The options from -k on are the fields of
:class:`rlaif.feedback.scores.ScoreConfig`, run by :func:`rlaif.jobs.score_responses.run_score_responses`.
(``rlaif score`` is the reward model's command.)
"""

from __future__ import annotations

from pathlib import Path

from rlaif.cli._common import CACHE_AS_GIVEN, critic_groups
from rlaif.cli.config_options import config_group, job_options
from rlaif.errors import RlaifError
from rlaif.feedback.scores import ScoreConfig
from rlaif.jobs.score_responses import ScoreResponsesJob


def command(*, job: ScoreResponsesJob) -> None:
    """Score each response 1–10 with the critic (probability-weighted mean); write a dataset with the scores."""
    from rlaif.jobs.score_responses import run_score_responses

    run = run_score_responses(job)
    mean = run.mean_score
    print(
        f"scored {len(run.rows)} of {len(run.results)} response(s)"
        + (f", mean score {mean:.3f}" if mean is not None else "")
    )
    for reason, n in sorted(run.unlabeled.items()):
        print(f"unscored: {n} response(s): {reason}")
    print(f"scores: {run.out}")
    if not run.rows:
        raise RlaifError(
            f"the critic scored none of the {len(run.results)} responses",
            hint="see the reasons above; a lower --min-choice-mass or another critic may help",
        )


command = job_options(
    ScoreResponsesJob,
    command="score-responses",
    defaults={"out": Path("out/scores")},
    groups={
        **critic_groups(),
        "config": config_group(ScoreConfig, flags={"k": ("-k", "--k"), "principle_tags": ("--tag",)}),
    },
    derive=CACHE_AS_GIVEN,
)(command)
