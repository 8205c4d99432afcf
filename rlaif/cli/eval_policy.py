"""``rlaif eval policy``: win rate of a policy adapter vs a baseline, rule compliance, drift monitors.

    rlaif eval policy --prompts data/prompts/everyday.jsonl -c principles/hhh.yaml \\
        --adapter runs/demo/round-1/policy/model --baseline base --critic smollm2 -o out/eval-policy

The flags build a :class:`rlaif.jobs.evaluate.EvaluateJob` (its ``config`` a
:class:`rlaif.evals.PolicyEvalConfig`, whose fields give the options from ``--prompts`` on) and
:func:`rlaif.jobs.evaluate.run_evaluate` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif.cli._common import HELP, critic_backend_option, local_engine_options, parse_backend_options
from rlaif.cli._tables import percent_cell, results_console, results_table
from rlaif.cli.config_options import OptionGroup, config_group, job_options, option, switch
from rlaif.evals.policy_eval_config import PolicyEvalConfig
from rlaif.jobs.evaluate import EvaluateJob

if TYPE_CHECKING:
    from rlaif.evals.policy_eval import PolicyEvalResult


def print_result(result: PolicyEvalResult) -> None:
    """Win rates per principle, compliance, drift headline numbers, and where the files went."""
    console = results_console(120)
    table = results_table(
        f"policy vs {result.baseline.get('kind', 'baseline')} on {result.n_prompts} held-out prompts "
        f"(critic {result.critic.get('model')}); % with 95% bootstrap intervals",
        ("judged under", "n", "wins", "ties", "losses", "win rate", "soft win rate"),
    )
    for key, wr in result.win_rates.items():
        table.add_row(
            key,
            str(wr.n),
            str(wr.wins),
            str(wr.ties),
            str(wr.losses),
            percent_cell(wr.win_rate),
            percent_cell(wr.soft),
        )
    console.print(table)
    if not result.win_rates:
        console.print("the critic judged no pair (see unlabeled reasons in eval.json)")
    if result.compliance:
        comp = results_table("rule compliance (pass rate)", ("rule", "baseline", "policy", "gain (paired)"))
        for c in result.compliance:
            comp.add_row(c.principle, percent_cell(c.before), percent_cell(c.after), percent_cell(c.gain))
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


def command(*, job: EvaluateJob) -> None:
    """Did alignment happen? Win rate of the policy vs the baseline (critic, both orders, per principle and the
    whole constitution, with ties and 95% intervals), rule compliance before/after, and drift monitors (length,
    repetition, over-represented phrases, refusals, KL). Writes eval.json and samples.jsonl to --out.

    Every option from --prompts on is a field of the evaluation config (a pipeline's `evaluate:` settings),
    described there; --device and --dtype apply to the policy's and the critic's local backends.
    """
    from rlaif.jobs.evaluate import run_evaluate

    print_result(run_evaluate(job))


#: how the two models run and which rows are read: options that update the evaluation config
RUN_OPTIONS = OptionGroup(
    (
        option("all_splits", bool, False, help="Use every row of the file (overrides --split)."),
        option("backend_option", list[str] | None, None, help=HELP["backend_option"]),
        critic_backend_option(),
        *local_engine_options(),
    ),
    lambda **given: given,
    {},
)


def _config(values: Mapping[str, Any]) -> PolicyEvalConfig:
    """The evaluation config with the backends' options (``--backend-option``, ``--device``, ``--dtype``) and,
    with ``--all-splits``, no split."""
    config: PolicyEvalConfig = values["config"]
    run = values["run"]
    local = {"device": run["device"], "dtype": run["dtype"]}
    update: dict[str, Any] = {
        "backend_options": parse_backend_options(run["backend_option"], **local, backend=config.backend),
        "critic_backend_options": parse_backend_options(
            run["critic_backend_option"], **local, backend=config.critic_backend
        ),
    }
    if run["all_splits"]:
        update["split"] = None
    return config.model_copy(update=update)


#: PolicyEvalConfig fields whose flag is not ``--`` + the field name with dashes
FLAGS: dict[str, tuple[str, ...]] = {
    "backend": ("--backend", "-b"),
    "chain_of_thought": ("--cot",),
    "n_samples": ("--samples",),
    "principles": ("--principle", "-p"),
    "compliance_constitutions": ("--rules",),
    "human_labels": ("--human",),
}

#: PolicyEvalConfig fields with no flag of their own, and why
SKIP = {
    "backend_options": "--backend-option with --device/--dtype (which the critic's options share)",
    "critic_backend_options": "--critic-backend-option with --device/--dtype",
    "critic_gate": "a pipeline's evaluate section gates its critic; measure one with `rlaif eval judge`",
}

command = job_options(
    EvaluateJob,
    command="eval policy",
    defaults={"out": Path("out/eval-policy")},
    groups={
        "run": RUN_OPTIONS,
        "config": config_group(
            PolicyEvalConfig,
            flags=FLAGS,
            forms={"use_cache": switch("no_cache", HELP["no_cache"])},
            skip=SKIP,
        ),
    },
    derive={"config": _config},
)(command)
