"""``rlaif eval policy``: win rate of a policy adapter vs a baseline, rule compliance, drift monitors.

    rlaif eval policy --prompts data/prompts/everyday.jsonl -c principles/hhh.yaml \\
        --adapter runs/demo/round-1/policy/model --baseline base --critic smollm2 -o out/eval-policy
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlaif.cli._common import (
    BackendOpt,
    BackendOptionOpt,
    CacheOpt,
    DeviceOpt,
    DtypeOpt,
    NoCacheOpt,
    ProgressOpt,
    TemplatesOpt,
    parse_backend_options,
)

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
    prompts: Annotated[
        Path, typer.Option("--prompts", help="Held-out prompt file (jsonl/json/csv/parquet).")
    ],
    constitution: Annotated[
        Path, typer.Option("--constitution", "-c", help="Constitution the critic judges by.")
    ],
    adapter: Annotated[
        Path | None,
        typer.Option(
            "--adapter", "-a", help="The policy's adapter folder (omit: evaluate the base model itself)."
        ),
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="The base policy model.")] = "smollm2",
    baseline: Annotated[
        str,
        typer.Option("--baseline", help="'base' or an adapter folder (e.g. the previous round's policy)."),
    ] = "base",
    critic: Annotated[str, typer.Option("--critic", help="The critic model.")] = "smollm2",
    split: Annotated[str, typer.Option("--split", help="Use rows of this split.")] = "heldout",
    all_splits: Annotated[bool, typer.Option("--all-splits", help="Use every row of the file.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Use only the first N prompts.")] = None,
    principle: Annotated[
        list[str] | None,
        typer.Option("--principle", "-p", help="Judge only under these principle ids (repeat)."),
    ] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules", help="Another constitution whose rules are checked (repeat; no critic calls)."
        ),
    ] = None,
    human: Annotated[
        Path | None,
        typer.Option("--human", help="Human preference file: also measure the critic against it."),
    ] = None,
    human_limit: Annotated[
        int | None, typer.Option("--human-limit", help="Use only the first N human pairs.")
    ] = None,
    human_k: Annotated[int, typer.Option("--human-k", help="Principles sampled per human pair.")] = 4,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Length cap of each response.")
    ] = 128,
    temperature: Annotated[float, typer.Option("--temperature", help="0 = greedy (default).")] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Sampling and bootstrap seed.")] = 0,
    no_kl: Annotated[bool, typer.Option("--no-kl", help="Skip the KL monitor (two scoring passes).")] = False,
    samples: Annotated[int, typer.Option("--samples", help="Example prompts shown in the report.")] = 5,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/eval-policy"),
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    backend: BackendOpt = "transformers",
    backend_option: BackendOptionOpt = None,
    critic_backend: Annotated[
        str, typer.Option("--critic-backend", help="Backend of the critic.")
    ] = "transformers",
    critic_backend_option: Annotated[
        list[str] | None,
        typer.Option(
            "--critic-backend-option",
            help="key=value for the critic's backend (repeat), e.g. base_url=... or input_price_per_mtok=0.15.",
        ),
    ] = None,
    judge_mode: Annotated[
        str, typer.Option("--judge-mode", help="auto, choice-logprobs, top-logprobs or verdict.")
    ] = "auto",
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    templates: TemplatesOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Did alignment happen? Win rate of the policy vs the baseline (critic, both orders, per principle and the
    whole constitution, with ties and 95% intervals), rule compliance before/after, and drift monitors (length,
    repetition, over-represented phrases, refusals, KL). Writes eval.json and samples.jsonl to --out."""
    from rlaif.evals.policy_eval import PolicyEvalConfig, evaluate_policy

    options = parse_backend_options(backend_option, device=device, dtype=dtype, backend=backend)
    critic_options = parse_backend_options(
        critic_backend_option, device=device, dtype=dtype, backend=critic_backend
    )
    config = PolicyEvalConfig(
        prompts=prompts,
        split=None if all_splits else split,
        limit=limit,
        constitution=constitution,
        principles=list(principle) if principle else None,
        compliance_constitutions=list(rules or []),
        model=model,
        baseline=baseline,
        critic=critic,
        backend=backend,
        backend_options=options,
        critic_backend=critic_backend,
        critic_backend_options=critic_options,
        judge_mode=judge_mode,
        templates=templates,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        kl=not no_kl,
        human_labels=human,
        human_limit=human_limit,
        human_k=human_k,
        n_samples=samples,
        cache=cache,
        use_cache=not no_cache,
    )
    result = evaluate_policy(config, policy_adapter=adapter, out_dir=out, progress=progress)
    print_result(result)
