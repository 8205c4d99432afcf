"""The report's sections about the trained policy: win rates against the baseline, rule compliance, RL
from AI feedback against distillation, and before/after examples."""

from __future__ import annotations

from typing import Any

from rlaif.report.cells import _bar, _est, _get, _num, _pct
from rlaif.report.rundir import RunData
from rlaif.report.section import Section
from rlaif.report.svg import Bar, Series, bar_chart, line_chart


def win_rates_section(run: RunData) -> Section:
    s = Section("Win rate against the baseline", "winrate")
    evaluated = [r for r in run.rounds if r.eval is not None]
    if not evaluated:
        s.p("No round has an evaluation yet (round-<k>/evaluate/eval.json missing).")
        return s
    s.p(
        "The critic judges the policy's response against the baseline's on every held-out prompt, under each "
        "principle and under the whole constitution, in both orders. A win needs both orders to prefer the policy, "
        "a loss both to prefer the baseline; otherwise (or for identical responses) it is a tie. Win rate = "
        "(wins + ties/2) / n, with a 95% bootstrap interval over prompts."
    )
    keys: list[str] = ["constitution"]
    for rnd in evaluated:
        for k in _get(rnd.eval, "win_rate", "per_principle") or {}:
            if k not in keys:
                keys.append(k)
    rows = []
    series: list[tuple[str, list[Bar | None]]] = []
    for rnd in evaluated:
        wr = _get(rnd.eval, "win_rate") or {}
        bars: list[Bar | None] = []
        for k in keys:
            d = wr.get("constitution") if k == "constitution" else _get(wr, "per_principle", k)
            bars.append(_bar(_get(d, "win_rate")))
            if isinstance(d, dict):
                rows.append(
                    [
                        f"round {rnd.k}",
                        k,
                        str(d.get("n", "?")),
                        f"{d.get('wins', '?')} / {d.get('ties', '?')} / {d.get('losses', '?')}",
                        _pct(d.get("win_rate")),
                        _pct(d.get("soft")),
                    ]
                )
        series.append((f"round {rnd.k}", bars))
        base = _get(rnd.eval, "baseline", "kind")
        extra = f"; baseline: {base}" if base else ""
        unl = wr.get("unlabeled") or {}
        skipped = wr.get("skipped")
        if isinstance(skipped, str):
            s.p(f"Round {rnd.k}: not judged; {skipped}{extra}.")
            continue
        s.p(
            f"Round {rnd.k}: {_get(rnd.eval, 'n_prompts')} prompts, {wr.get('identical', 0)} identical pairs, "
            f"{sum(unl.values()) if isinstance(unl, dict) else 0} unlabeled{extra}."
        )
    s.plot(
        bar_chart(
            "Win rate vs baseline (95% CI)",
            keys,
            series,
            y_label="win rate",
            y_range=(0.0, 1.0),
            reference=0.5,
        )
    )
    if len(evaluated) > 1:
        pts = [(r.k, _est(_get(r.eval, "win_rate", "constitution", "win_rate"))) for r in evaluated]
        good = [(k, e) for k, e in pts if e is not None]
        if good:
            s.plot(
                line_chart(
                    "Constitution win rate per round",
                    [
                        Series(
                            "constitution",
                            [k for k, _ in good],
                            [e[0] for _, e in good],
                            [e[1] for _, e in good],
                            [e[2] for _, e in good],
                        )
                    ],
                    x_label="round",
                    y_label="win rate",
                    reference=0.5,
                    y_range=(0.0, 1.0),
                )
            )
    s.table(
        ["round", "judged under", "n", "wins / ties / losses", "win rate [95% CI]", "soft win rate"], rows
    )
    return s


def compliance_section(run: RunData) -> Section:
    s = Section("Rule compliance", "compliance")
    evaluated = run.evaluated("compliance", list)
    if not evaluated:
        s.p("No rule-carrying principle was checked (no evaluation yet, or the constitution has no rules).")
        return s
    s.p(
        "Model-free ground truth: the share of responses passing each declarative rule, for the baseline "
        "(before) and the policy (after), with the paired difference's interval."
    )
    rules: list[str] = []
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for rnd in evaluated:
        by = {
            str(c.get("principle")): c for c in (rnd.eval or {}).get("compliance", []) if isinstance(c, dict)
        }
        by_round[rnd.k] = by
        rules += [r for r in by if r not in rules]
    first = evaluated[0]
    series: list[tuple[str, list[Bar | None]]] = [
        (f"baseline (round {first.k})", [_bar(_get(by_round[first.k].get(r), "before")) for r in rules])
    ]
    for rnd in evaluated:
        series.append((f"policy round {rnd.k}", [_bar(_get(by_round[rnd.k].get(r), "after")) for r in rules]))
    s.plot(bar_chart("Rule pass rate (95% CI)", rules, series, y_label="pass rate", y_range=(0.0, 1.0)))
    rows = [
        [r, _pct(_get(by_round[first.k].get(r), "before"))]
        + [
            f"{_pct(_get(by_round[rnd.k].get(r), 'after'))}; gain {_pct(_get(by_round[rnd.k].get(r), 'gain'))}"
            for rnd in evaluated
        ]
        for r in rules
    ]
    s.table(
        ["rule", f"baseline (round {first.k})", *(f"policy round {r.k}; paired gain" for r in evaluated)],
        rows,
    )
    return s


def rl_vs_distillation_section(run: RunData) -> Section | None:
    """RL from AI feedback against plain distillation: the round's policy next to the SFT-on-revisions baseline."""
    rounds = [r for r in run.rounds if r.sft_eval is not None and r.eval is not None]
    if not rounds:
        return None
    s = Section("RL from AI feedback vs distillation", "distillation")
    s.p(
        "The SFT baseline fine-tunes the base model on the critic's revisions (all rounds so far); the policy is "
        "this run's RL-trained model. Both are evaluated against the base model on the same held-out prompts: "
        "if the policy does not beat the SFT baseline, the preference stage added nothing over distillation."
    )
    for rnd in rounds:
        assert rnd.eval is not None and rnd.sft_eval is not None
        pol = {str(c.get("principle")): c for c in rnd.eval.get("compliance") or [] if isinstance(c, dict)}
        sft = {
            str(c.get("principle")): c for c in rnd.sft_eval.get("compliance") or [] if isinstance(c, dict)
        }
        rows = [
            [
                "critic win rate vs base (whole constitution)",
                _pct(_get(rnd.eval, "win_rate", "constitution", "win_rate")),
                _pct(_get(rnd.sft_eval, "win_rate", "constitution", "win_rate")),
            ]
        ]
        for rule in [*pol, *(r for r in sft if r not in pol)]:
            rows.append(
                [
                    f"rule {rule}: pass rate (base {_pct(_get(pol.get(rule) or sft.get(rule), 'before'))})",
                    _pct(_get(pol.get(rule), "after")),
                    _pct(_get(sft.get(rule), "after")),
                ]
            )
        kl = [_num(_get(e, "kl", "per_response")) for e in (rnd.eval, rnd.sft_eval)]
        rows.append(["KL to the base, greedy-sample estimate (nats per response)", *kl])
        s.sub(f"Round {rnd.k}")
        s.table(["measure (95% CI)", f"policy round {rnd.k}", "SFT baseline"], rows)
    return s


def examples_section(run: RunData) -> Section:
    s = Section("Examples: before and after", "examples")
    evaluated = [r for r in run.rounds if r.samples]
    if not evaluated:
        s.p("No samples yet (round-<k>/evaluate/samples.jsonl).")
        return s
    n = _get(evaluated[-1].eval, "config", "n_samples")
    n = n if isinstance(n, int) and n >= 0 else 5
    first = evaluated[0].samples[:n]
    by_round = {r.k: {str(x.get("id")): x for x in r.samples} for r in evaluated}
    for row in first:
        pid = str(row.get("id"))
        blocks: list[tuple[str, str]] = [("prompt", str(row.get("prompt", "")))]
        blocks.append(("base model" if row.get("base") is None else "baseline", str(row.get("baseline", ""))))
        for rnd in evaluated:
            r = by_round[rnd.k].get(pid)
            if r is None:
                continue
            verdict = r.get("outcome") or ("unlabeled" if r.get("unlabeled_reason") else "n/a")
            p = r.get("p_policy")
            tag = f"policy round {rnd.k} — {verdict}" + (
                f", p(policy better) = {p:.2f}" if isinstance(p, float) else ""
            )
            blocks.append((tag, str(r.get("policy", ""))))
        s.example(pid, blocks)
    return s


__all__ = ["compliance_section", "examples_section", "rl_vs_distillation_section", "win_rates_section"]
