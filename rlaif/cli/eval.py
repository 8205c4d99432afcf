"""``rlaif eval``: evaluations. One subcommand per evaluation, each a small function registered on :data:`app`.

    rlaif eval agreement --human data/human_labels/trl_format.jsonl --constitution principles/hhh.yaml \\
        --critic smollm2 -k 4 -o out/agreement

To add an evaluation (``rlaif eval rm``, ``rlaif eval winrate``), write a function with typer options that builds
its config and calls the evaluation's ``run_*`` function, and decorate it with ``@app.command("<name>")``. Heavy
imports (torch, transformers) stay inside the evaluation module's functions, so ``rlaif --help`` stays light.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from rlaif.evals.agreement import AgreementReport
    from rlaif.stats import Estimate

app = typer.Typer(
    name="eval",
    help="Evaluate: critic agreement with human labels, reward models, policies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Ties(StrEnum):
    """How an exact tie (p = 0.5) counts toward accuracy."""

    half = "half"
    wrong = "wrong"


def _cell(e: Estimate | None) -> str:
    """``52.5 (40–65)``: percent, with the interval in brackets (compact so the table fits 100 columns)."""
    if e is None:
        return "n/a"
    return f"{100 * e.value:.1f} ({100 * e.low:.0f}–{100 * e.high:.0f})"


def _cell3(e: Estimate | None) -> str:
    if e is None:
        return "n/a"
    return f"{e.value:.3f} ({e.low:.3f}–{e.high:.3f})"


def print_agreement(report: AgreementReport, paths: dict[str, Path]) -> None:
    """The overall and per-principle tables, the unlabeled reasons, and where the report went."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 140)  # pipes and log files do not wrap: keep rows on one line
    conf = f"{100 * report.config.confidence:.0f}%"
    table = Table(
        title=f"critic {report.critic_model} vs human labels: {report.n_labeled}/{report.n_pairs} pairs labeled; "
        f"% with {conf} Wilson intervals (pair = unit)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name in ("", "n", "accuracy", "order ab only", "position bias", "consistency", "Brier"):
        table.add_column(name, justify="left" if name == "" else "right", no_wrap=True)
    table.add_row(
        "overall",
        str(report.n_labeled),
        _cell(report.accuracy),
        _cell(report.single_order_accuracy),
        _cell(report.position_bias),
        _cell(report.order_consistency),
        _cell3(report.brier),
        end_section=True,
    )
    for p in report.per_principle:
        table.add_row(
            p.principle,
            str(p.n),
            _cell(p.accuracy),
            _cell(p.single_order_accuracy),
            _cell(p.position_bias),
            _cell(p.order_consistency),
            _cell3(p.brier),
        )
    console.print(table)
    if report.position_bias_first is not None:
        first = 100 * report.position_bias_first
        side, share = ("first", first) if first >= 50 else ("second", 100 - first)
        console.print(f"position-biased judgements picked the {side}-shown response {share:.0f}% of the time")
    if report.ece is not None:
        console.print(
            f"calibration of p(human-chosen): ECE {_cell3(report.ece)}, Brier {_cell3(report.brier)}"
        )
    if report.rules:
        rules = Table(
            title="rules vs critic (judgements where the rule passes exactly one response)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for name in ("principle", "judged", "decisive", "critic agrees with rule", "rule agrees with human"):
            rules.add_column(name, justify="left" if name == "principle" else "right", no_wrap=True)
        for r in report.rules:
            rules.add_row(
                r.principle, str(r.n_judged), str(r.n_decisive), _cell(r.critic_agrees), _cell(r.human_agrees)
            )
        console.print(rules)
    if report.ties:
        how = "half right" if report.config.ties == "half" else "wrong"
        console.print(f"ties (p = 0.5): {report.ties} of {report.n_labeled} pairs, counted as {how}")
    for reason, n in report.unlabeled_reasons.items():
        console.print(f"unlabeled: {n} pair(s): {reason}")
    console.print(f"report: {paths['markdown']}")
    console.print(f"JSON: {paths['json']}; per pair: {paths['pairs']}")


@app.command("agreement")
def agreement(
    human: Annotated[
        Path,
        typer.Option(
            "--human",
            help="Human preference file: TRL (prompt/chosen/rejected, plain or conversational) or transcript "
            "format ('\\n\\nHuman: … \\n\\nAssistant: …' in chosen/rejected); .jsonl/.json/.csv/.parquet.",
        ),
    ],
    constitution: Annotated[
        Path, typer.Option("--constitution", "-c", help="Constitution YAML the critic judges by.")
    ],
    critic: CriticOpt = "smollm2",
    k: Annotated[int, typer.Option("-k", "--k", help="Principles sampled per pair.")] = 4,
    all_principles: Annotated[
        bool, typer.Option("--all-principles", help="Judge every pair under every principle (ignores -k).")
    ] = False,
    principle: Annotated[
        list[str] | None,
        typer.Option("--principle", "-p", help="Only these principle ids (repeat the option)."),
    ] = None,
    cot: Annotated[
        bool,
        typer.Option("--cot", help="Chain of thought: the critic reasons first, then is scored (clamped)."),
    ] = False,
    seed: Annotated[
        int, typer.Option("--seed", help="Seeds display order, principle sample, bootstrap.")
    ] = 0,
    ties: Annotated[
        Ties, typer.Option("--ties", help="An exact tie (p = 0.5) counts as half right or as wrong.")
    ] = Ties.half,
    min_choice_mass: Annotated[
        float,
        typer.Option(
            "--min-choice-mass",
            help="Unlabeled when the critic puts less probability than this on the choices.",
        ),
    ] = 0.0,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="Evaluate only the first N pairs.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/agreement"),
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    templates: TemplatesOpt = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip malformed rows (logged) instead of stopping.")
    ] = False,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples.")] = 2000,
    judge_mode: Annotated[
        str,
        typer.Option(
            "--judge-mode", help="auto, choice-logprobs, top-logprobs or verdict (as you will label)."
        ),
    ] = "auto",
) -> None:
    """How often does the AI critic agree with human preference labels? Accuracy with a 95% interval, position
    bias, order consistency, calibration, per principle; report written to --out."""
    from rlaif.backends.spec import ModelSpec
    from rlaif.evals.agreement import AgreementConfig, AgreementJob, run_agreement

    config = AgreementConfig(
        k=k,
        all_principles=all_principles,
        principles=tuple(principle or ()),
        chain_of_thought=cot,
        min_choice_mass=min_choice_mass,
        ties="half" if ties is Ties.half else "wrong",
        seed=seed,
        bootstrap_resamples=resamples,
        judge_mode=judge_mode,
    )
    run = AgreementJob(
        human=human,
        constitution=constitution,
        critic=ModelSpec(
            model=critic,
            backend=backend,
            options=parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend),
        ),
        out=out,
        templates=templates,
        cache=cache,
        use_cache=not no_cache,
        limit=limit,
        skip_bad_rows=skip_bad_rows,
        agreement=config,
    )
    report, paths = run_agreement(run)
    print_agreement(report, paths)
    if report.n_labeled == 0:
        raise RlaifError(
            f"the critic labeled none of the {report.n_pairs} pairs",
            hint="see the reasons above; a lower --min-choice-mass or another critic may help",
        )


# Further evaluations live in their own modules (``rlaif/cli/eval_<name>.py``, each exposing ``command``) so that
# each stays small; they are registered here when present.
EVAL_SUBCOMMANDS: dict[str, str] = {
    "rm": "eval_rm",
    "policy": "eval_policy",
    "judge": "eval_judge",
    "injection": "eval_injection",
}


def _register_evals() -> None:
    import importlib

    for name, module_name in EVAL_SUBCOMMANDS.items():
        try:
            module = importlib.import_module(f"rlaif.cli.{module_name}")
        except ModuleNotFoundError as e:
            if e.name == f"rlaif.cli.{module_name}":
                continue  # not built yet
            raise
        app.command(name)(module.command)


_register_evals()
