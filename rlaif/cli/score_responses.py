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
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import HELP, CacheChoice, TemplatesOpt, cache_options, model_options
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import config_options
from rlaif.errors import RlaifError
from rlaif.feedback.scores import ScoreConfig

if TYPE_CHECKING:
    from rlaif.backends.spec import ModelSpec


def command(
    responses: Annotated[Path, typer.Option("--responses", help="Responses dataset from `rlaif generate`.")],
    constitution: Annotated[Path, typer.Option("--constitution", "-c", help="Constitution YAML.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/scores"),
    templates: TemplatesOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N prompts.")] = None,
    *,
    critic: ModelSpec,
    cache: CacheChoice,
    config: ScoreConfig,
) -> None:
    """Score each response 1–10 with the critic (probability-weighted mean); write a dataset with the scores."""
    from rlaif.jobs.score_responses import ScoreResponsesJob, run_score_responses

    with flag_errors("score-responses"):
        job = ScoreResponsesJob(
            responses=responses,
            constitution=constitution,
            out=out,
            critic=critic,
            templates=templates,
            use_cache=not cache.off,
            cache=cache.path,
            limit=limit,
            config=config,
        )
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


command = model_options("critic", command="score-responses", default="smollm2", help=HELP["critic"])(command)
command = cache_options(command="score-responses")(command)
command = config_options(
    ScoreConfig, command="score-responses", flags={"k": ("-k", "--k"), "principle_tags": ("--tag",)}
)(command)
