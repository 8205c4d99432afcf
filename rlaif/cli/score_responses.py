"""``rlaif score-responses``: the critic rates each response 1–10 under sampled principles.

    rlaif score-responses --responses out/responses --constitution principles/hhh.yaml --critic smollm2 \\
        -k 2 -o out/scores

The score is the probability-weighted mean over the score choices (see :mod:`rlaif.feedback.scores`);
``score_normalized`` maps it onto [0, 1] for use as a direct reward. Options map onto
:class:`rlaif.feedback.scores.ScoreConfig`, run by :func:`rlaif.jobs.score_responses.run_score_responses`. (``rlaif score`` is the reward model's command.)
"""

from __future__ import annotations

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
    parse_backend_options,
)
from rlaif.errors import RlaifError


def command(
    responses: Annotated[Path, typer.Option("--responses", help="Responses dataset from `rlaif generate`.")],
    constitution: Annotated[Path, typer.Option("--constitution", "-c", help="Constitution YAML.")],
    critic: CriticOpt = "smollm2",
    k: Annotated[
        int, typer.Option("-k", "--k", help="Principles sampled per response (score = their mean).")
    ] = 1,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only principles with this tag (repeat).")
    ] = None,
    min_choice_mass: Annotated[
        float, typer.Option("--min-choice-mass", help="Unscored below this probability on the score choices.")
    ] = 0.0,
    template: Annotated[str, typer.Option("--template", help="Scored template name.")] = "score",
    seed: Annotated[int, typer.Option("--seed", help="Principle sampling seed.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/scores"),
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    templates: TemplatesOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N prompts.")] = None,
) -> None:
    """Score each response 1–10 with the critic (probability-weighted mean); write a dataset with the scores."""
    from rlaif.backends.spec import ModelSpec
    from rlaif.feedback.scores import ScoreConfig
    from rlaif.jobs.score_responses import ScoreResponsesJob, run_score_responses

    config = ScoreConfig(
        template=template,
        k=k,
        min_choice_mass=min_choice_mass,
        principle_tags=tuple(tag) if tag else None,
        seed=seed,
    )
    job = ScoreResponsesJob(
        responses=responses,
        constitution=constitution,
        out=out,
        critic=ModelSpec(
            model=critic,
            backend=backend,
            options=parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend),
        ),
        templates=templates,
        use_cache=not no_cache,
        cache=cache,
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
