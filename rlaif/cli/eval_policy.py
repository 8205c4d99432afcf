"""``rlaif eval policy``: win rate of a policy adapter vs a baseline, rule compliance, drift monitors.

    rlaif eval policy --prompts data/prompts/everyday.jsonl -c principles/hhh.yaml \\
        --adapter runs/demo/round-1/policy/model --baseline base --critic smollm2 -o out/eval-policy

The flags build a :class:`rlaif.jobs.evaluate.EvaluateJob` (its ``config`` a
:class:`rlaif.evals.PolicyEvalConfig`, whose fields give the options from ``--prompts`` on) and
:func:`rlaif.jobs.evaluate.run_evaluate` runs it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rlaif.cli._common import (
    HELP,
    BackendOptionOpt,
    DeviceOpt,
    DtypeOpt,
    ProgressOpt,
    parse_backend_options,
)
from rlaif.cli._validation import flag_errors
from rlaif.cli.config_options import Form, config_options
from rlaif.evals.policy_eval_config import PolicyEvalConfig

if TYPE_CHECKING:
    from rlaif.evals.policy_eval import PolicyEvalResult
    from rlaif.stats import Estimate


def _cell(e: Estimate | None) -> str:
    return "n/a" if e is None else f"{100 * e.value:.1f} ({100 * e.low:.0f}–{100 * e.high:.0f})"


def print_result(result: PolicyEvalResult) -> None:
    """Win rates per principle, compliance, drift headline numbers, and where the files went."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)
    table = Table(
        title=f"policy vs {result.baseline.get('kind', 'baseline')} on {result.n_prompts} held-out prompts "
        f"(critic {result.critic.get('model')}); % with 95% bootstrap intervals",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name in ("judged under", "n", "wins", "ties", "losses", "win rate", "soft win rate"):
        table.add_column(name, justify="left" if name == "judged under" else "right", no_wrap=True)
    for key, wr in result.win_rates.items():
        table.add_row(
            key, str(wr.n), str(wr.wins), str(wr.ties), str(wr.losses), _cell(wr.win_rate), _cell(wr.soft)
        )
    console.print(table)
    if not result.win_rates:
        console.print("the critic judged no pair (see unlabeled reasons in eval.json)")
    if result.compliance:
        comp = Table(
            title="rule compliance (pass rate)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
        )
        for name in ("rule", "baseline", "policy", "gain (paired)"):
            comp.add_column(name, justify="left" if name == "rule" else "right", no_wrap=True)
        for c in result.compliance:
            comp.add_row(c.principle, _cell(c.before), _cell(c.after), _cell(c.gain))
        console.print(comp)
    d = result.drift
    console.print(
        f"length: {d.length_policy.mean.value:.1f} words (base {d.length_base.mean.value:.1f}); "
        f"refusals: {100 * d.refusal_policy.value:.0f}% (base {100 * d.refusal_base.value:.0f}%); "
        f"repeated {d.repetition_policy.n}-grams: {100 * d.repetition_policy.repeated_share.value:.1f}%"
        + (
            f"; KL monitor: {result.kl.per_response.value:.2f} nats/response ({result.kl.estimator})"
            if result.kl
            else ""
        )
    )
    if d.over_represented:
        console.print(
            "over-represented vs base: " + ", ".join(repr(p.phrase) for p in d.over_represented[:5])
        )
    console.print(f"took {result.timing['seconds']['total']:.0f} s; eval: {result.paths['eval']}")


def command(
    adapter: Annotated[
        Path | None,
        typer.Option(
            "--adapter", "-a", help="The policy's adapter folder (omit: evaluate the base model itself)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/eval-policy"),
    all_splits: Annotated[
        bool, typer.Option("--all-splits", help="Use every row of the file (overrides --split).")
    ] = False,
    backend_option: BackendOptionOpt = None,
    critic_backend_option: Annotated[
        list[str] | None,
        typer.Option(
            "--critic-backend-option",
            help="key=value for the critic's backend (repeat), e.g. base_url=... or input_price_per_mtok=0.15.",
        ),
    ] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
    *,
    config: PolicyEvalConfig,
) -> None:
    """Did alignment happen? Win rate of the policy vs the baseline (critic, both orders, per principle and the
    whole constitution, with ties and 95% intervals), rule compliance before/after, and drift monitors (length,
    repetition, over-represented phrases, refusals, KL). Writes eval.json and samples.jsonl to --out.

    Every option from --prompts on is a field of the evaluation config (a pipeline's `evaluate:` settings),
    described there; --device and --dtype apply to the policy's and the critic's local backends.
    """
    from rlaif.jobs.evaluate import EvaluateJob, run_evaluate

    backends: dict[str, Any] = {
        "backend_options": parse_backend_options(
            backend_option, device=device, dtype=dtype, backend=config.backend
        ),
        "critic_backend_options": parse_backend_options(
            critic_backend_option, device=device, dtype=dtype, backend=config.critic_backend
        ),
    }
    with flag_errors("eval policy"):
        job = EvaluateJob(
            out=out,
            adapter=adapter,
            progress=progress,
            config=config.model_copy(update={**backends, **({"split": None} if all_splits else {})}),
        )
    print_result(run_evaluate(job))


def _as_given(param: str, *decls: str, field: str, annotation: Any, to_field: Any = None) -> Form:
    """A field whose flag takes its value as it is (a path, a repeated value), its help the field's description."""
    info = PolicyEvalConfig.model_fields[field]
    default = inspect.Parameter.empty if info.is_required() else info.get_default(call_default_factory=True)
    return Form(
        param,
        typer.Option(*decls, help=info.description),
        annotation,
        default,
        to_field or (lambda value: value),
    )


#: PolicyEvalConfig fields whose flag is not ``--`` + the field name with dashes
FLAGS: dict[str, tuple[str, ...]] = {
    "limit": ("--limit", "-n"),
    "model": ("--model", "-m"),
    "backend": ("--backend", "-b"),
    "chain_of_thought": ("--cot",),
    "n_samples": ("--samples",),
}

#: PolicyEvalConfig fields offered in another form: files and folders as paths, repeated values
FORMS = {
    "prompts": _as_given("prompts", "--prompts", field="prompts", annotation=Path),
    "constitution": _as_given("constitution", "--constitution", "-c", field="constitution", annotation=Path),
    "principles": _as_given(
        "principle",
        "--principle",
        "-p",
        field="principles",
        annotation=list[str] | None,
        to_field=lambda ids: list(ids) if ids else None,
    ),
    "compliance_constitutions": _as_given(
        "rules",
        "--rules",
        field="compliance_constitutions",
        annotation=list[Path] | None,
        to_field=lambda paths: list(paths or []),
    ),
    "templates": _as_given("templates", "--templates", "-t", field="templates", annotation=Path | None),
    "human_labels": _as_given("human", "--human", field="human_labels", annotation=Path | None),
    "cache": _as_given("cache", "--cache", field="cache", annotation=Path | None),
    "use_cache": Form(
        "no_cache", typer.Option("--no-cache", help=HELP["no_cache"]), bool, False, lambda off: not off
    ),
}

#: PolicyEvalConfig fields with no flag of their own, and why
SKIP = {
    "backend_options": "--backend-option with --device/--dtype (which the critic's options share)",
    "critic_backend_options": "--critic-backend-option with --device/--dtype",
    "critic_gate": "a pipeline's evaluate section gates its critic; measure one with `rlaif eval judge`",
}

command = config_options(PolicyEvalConfig, command="eval policy", flags=FLAGS, forms=FORMS, skip=SKIP)(
    command
)
