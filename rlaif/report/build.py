"""Build the run report: ``report.html`` (self-contained, plots as inline SVG) and ``report.md`` from a run directory.

    rlaif report runs/<name>            # writes runs/<name>/report.html and report.md

The report is rebuilt from the files alone (no model is loaded, nothing is recomputed but summaries), so it takes
well under a second for a run of a few rounds. What a partially finished or older run lacks is marked, never fatal.
Every piece of text that came from a model or a user file is HTML-escaped: responses under judgement are untrusted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from rlaif.report.rundir import STAGES, RunData, StageInfo, read_run, unconfigured_stages
from rlaif.report.section import Section as _Section
from rlaif.report.section import Table as _Table
from rlaif.report.svg import Bar, Series, bar_chart, histogram_chart, line_chart
from rlaif.report.workbench_section import principles_sections

log = logging.getLogger(__name__)

REPORT_HTML = "report.html"
REPORT_MD = "report.md"

# ---------------------------------------------------------------------------------------------------------------
# a tiny document model rendered twice (HTML and markdown)


def _est(d: Any) -> tuple[float, float, float] | None:
    """(value, low, high) of an Estimate-like dict; None when it is not one."""
    if not isinstance(d, dict):
        return None
    v, lo, hi = d.get("value"), d.get("low"), d.get("high")
    if not all(isinstance(x, int | float) for x in (v, lo, hi)):
        return None
    return float(v), float(lo), float(hi)  # type: ignore[arg-type]


def _pct(d: Any) -> str:
    e = _est(d)
    return "n/a" if e is None else f"{100 * e[0]:.1f}% [{100 * e[1]:.1f}, {100 * e[2]:.1f}]"


def _num(d: Any, digits: int = 3) -> str:
    e = _est(d)
    if e is not None:
        return f"{e[0]:.{digits}f} [{e[1]:.{digits}f}, {e[2]:.{digits}f}]"
    if isinstance(d, int | float) and not isinstance(d, bool):
        return f"{d:.{digits}f}" if isinstance(d, float) else str(d)
    return "n/a"


def _bar(d: Any) -> Bar | None:
    e = _est(d)
    return None if e is None else Bar(*e)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _rounded(x: Any, digits: int = 4) -> Any:
    """``x`` with every float rounded to ``digits`` significant digits (for JSON shown in the report)."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: _rounded(v, digits) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v, digits) for v in x]
    return x


def _rate(x: Any) -> str:
    if isinstance(x, int | float) and not isinstance(x, bool):
        return f"{100 * x:.1f}%"
    return _pct(x) if isinstance(x, dict) else "n/a"


# ---------------------------------------------------------------------------------------------------------------
# sections


def _summary(run: RunData, built: str) -> _Section:
    s = _Section("Run", "run")
    r = run.run
    c: dict[str, Any] = r["constitution"] if isinstance(r.get("constitution"), dict) else {}
    rows = [
        ["name", run.name],
        ["status", str(r.get("status", "unknown"))],
        ["rounds", f"{len(run.rounds)} (planned: {r.get('rounds', 'unknown')})"],
        ["rlaif version", str(r.get("rlaif_version", "unknown"))],
        ["created", str(r.get("created", "unknown"))],
        ["constitution", f"{c.get('path', 'unknown')} (hash {str(c.get('hash', '?'))[:12]})"],
        ["report built", built],
    ]
    s.table(["", ""], rows)
    principles = c.get("principles")
    if isinstance(principles, list) and principles:
        s.p(f"Principles ({len(principles)}): " + ", ".join(str(p) for p in principles))
    names = _stage_names(run)
    stages = [
        [f"round {rnd.k}"] + [_stage_cell(name, rnd.stages.get(name)) for name in names] for rnd in run.rounds
    ]
    s.sub("Stages")
    s.table(["round", *names], stages)
    absent = [n for n in STAGES if n not in names]
    if absent:
        s.p(f"Not in this pipeline: {', '.join(absent)}.")
    if not run.rounds:
        s.p("No round has started.")
    return s


def _stage_cell(name: str, st: StageInfo | None) -> str:
    if st is None or st.status == "missing":
        return "not run (yet)"
    return st.status + (f" ({st.seconds:.0f} s)" if st.seconds is not None else "")


def _stage_names(run: RunData) -> list[str]:
    """The stages this run's pipeline has (the standard ones it leaves out are listed apart), then any others."""
    absent = unconfigured_stages(run.run.get("pipeline"))
    ran = {n for rnd in run.rounds for n, st in rnd.stages.items() if st.exists}
    names = [n for n in STAGES if n not in absent or n in ran]
    for rnd in run.rounds:
        names += [n for n, st in rnd.stages.items() if n not in names and n not in STAGES and st.exists]
    return names


def _notes(run: RunData) -> _Section:
    s = _Section("What is missing or odd", "notes")
    if not run.notes:
        s.p("Nothing: every stage of every round finished and every file was read.")
    for n in run.notes:
        s.items.append(("li", n))
    return s


def _win_rates(run: RunData) -> _Section:
    s = _Section("Win rate against the baseline", "winrate")
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


def _compliance(run: RunData) -> _Section:
    s = _Section("Rule compliance", "compliance")
    evaluated = [r for r in run.rounds if r.eval is not None and isinstance(r.eval.get("compliance"), list)]
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


def _distillation(run: RunData) -> _Section | None:
    """RL from AI feedback against plain distillation: the round's policy next to the SFT-on-revisions baseline."""
    rounds = [r for r in run.rounds if r.sft_eval is not None and r.eval is not None]
    if not rounds:
        return None
    s = _Section("RL from AI feedback vs distillation", "distillation")
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


def _labeler(run: RunData) -> _Section:
    s = _Section("Labeler quality", "labeler")
    rows = []
    hist_series: list[tuple[str, list[int]]] = []
    edges: list[float] | None = None
    bias_series: dict[str, list[Bar | None]] = {"label stage": [], "evaluation pairs": []}
    for rnd in run.rounds:
        st = rnd.label_stats
        ev_critic = _get(rnd.eval, "labeler", "critic_on_these_pairs")
        bias_series["label stage"].append(
            Bar(float(_get(st, "critic", "position_bias_rate")))
            if isinstance(_get(st, "critic", "position_bias_rate"), int | float)
            else None
        )
        bias_series["evaluation pairs"].append(_bar(_get(ev_critic, "position_bias")))
        if st is None:
            rows.append([f"round {rnd.k}", "missing", "", "", "", "", "", ""])
            continue
        critic = st.get("critic") or {}
        agree = _get(st, "rules", "critic_agreement") or {}
        rows.append(
            [
                f"round {rnd.k}",
                f"{st.get('labeled', '?')} of {st.get('pairs', '?')}",
                str(st.get("unlabeled", "?")),
                _rate(st.get("mean_p_chosen")),
                _rate(critic.get("position_bias_rate")),
                _rate(critic.get("order_consistency")),
                f"{_rate(agree.get('rate'))} of {agree.get('compared', 0)}",
                str(st.get("label_source", "?")),
            ]
        )
        h = st.get("confidence_histogram")
        if isinstance(h, dict) and isinstance(h.get("counts"), list) and isinstance(h.get("edges"), list):
            edges = edges or [float(e) for e in h["edges"]]
            if len(h["counts"]) == len(edges) - 1:
                hist_series.append((f"round {rnd.k}", [int(c) for c in h["counts"]]))
    s.p(
        "From each round's label stage (stats.json): how many pairs got a label, the mean p(chosen), the critic's "
        "position bias (same letter in both orders) and order consistency, and how often the critic agrees with a "
        "rule where the rule tells the two responses apart."
    )
    s.table(
        [
            "round",
            "labeled",
            "unlabeled",
            "mean p(chosen)",
            "position bias",
            "order consistency",
            "critic agrees with rules",
            "source",
        ],
        rows,
    )
    usage_rows = [
        [
            f"round {rnd.k}",
            str(_get(rnd.label_stats, "judge_mode") or "?"),
            str(u.get("requests", "?")),
            str(u.get("failed_requests", "?")),
            f"{u.get('input_tokens', '?')} / {u.get('output_tokens', '?')}",
            "n/a" if u.get("estimated_cost") is None else f"{float(u['estimated_cost']):.4f}",
        ]
        for rnd in run.rounds
        if isinstance(u := _get(rnd.label_stats, "critic_usage"), dict)
    ]
    if usage_rows:
        s.p("The served critic's requests, tokens and estimated cost in each round's label stage.")
        s.table(
            ["round", "judge mode", "requests", "failed", "tokens in / out", "estimated cost"], usage_rows
        )
    from rlaif.feedback.card import gate_card_lines as card_lines

    for rnd in run.rounds:  # the critic gate's verdict on the gold set, per round
        for line in card_lines(rnd.label_stats or {}):
            s.p(f"Round {rnd.k}: {line}")
    if hist_series and edges:
        s.plot(
            histogram_chart(
                "Label confidence |2p − 1|", edges, hist_series, x_label="share of labels per confidence bin"
            )
        )
    if any(b is not None for bars in bias_series.values() for b in bars):
        s.plot(
            bar_chart(
                "Critic position bias (same letter in both orders)",
                [f"round {r.k}" for r in run.rounds],
                list(bias_series.items()),
                y_label="share of judgements",
                y_range=(0.0, 1.0),
            )
        )
    ev_rows = []
    human_rows = []
    for rnd in run.rounds:
        c = _get(rnd.eval, "labeler", "critic_on_these_pairs")
        if isinstance(c, dict):
            agreement = c.get("rule_agreement") or {}
            decisive = c.get("rule_decisive") or {}
            rules = "; ".join(
                f"{k}: {_pct(v)} (n={decisive.get(k, 0)})" for k, v in agreement.items() if v is not None
            )
            ev_rows.append(
                [
                    f"round {rnd.k}",
                    str(c.get("judgements", "?")),
                    _pct(c.get("position_bias")),
                    _pct(c.get("order_consistency")),
                    rules or "no rule decided",
                ]
            )
        h = _get(rnd.eval, "labeler", "human_agreement") or rnd.agreement
        if isinstance(h, dict):
            human_rows.append(
                [
                    f"round {rnd.k}",
                    f"{h.get('n_labeled', '?')} of {h.get('n_pairs', '?')}",
                    _pct(h.get("accuracy")),
                    _pct(h.get("single_order_accuracy")),
                    _pct(h.get("position_bias")),
                    _pct(h.get("order_consistency")),
                    _num(h.get("ece")),
                    _num(h.get("brier")),
                ]
            )
    if ev_rows:
        s.sub("The critic on the evaluation pairs")
        s.table(["round", "judgements", "position bias", "order consistency", "agrees with rules"], ev_rows)
    s.sub("Agreement with human labels")
    if human_rows:
        s.table(
            ["round", "pairs", "accuracy", "order ab only", "position bias", "consistency", "ECE", "Brier"],
            human_rows,
        )
    else:
        s.p("No human preference file was configured, so the critic's accuracy is unknown.")
    return s


def _reward(run: RunData) -> _Section:
    s = _Section("Reward model", "reward")
    rows = []
    per: list[list[str]] = []
    for rnd in run.rounds:
        ev = rnd.reward_eval
        if ev is None:
            st = rnd.stages.get("reward")
            if st is not None and st.status != "missing":
                rows.append([f"round {rnd.k}", f"eval.json missing (stage {st.status})", "", "", "", ""])
            continue
        # rlaif eval rm's report.json keeps the held-out numbers under "labels"; a flat layout is read too
        held = ev["labels"] if isinstance(ev.get("labels"), dict) else ev
        steering = next(
            (ev[k] for k in ("steering", "steering_flip_rate", "steering_check") if k in ev), None
        )
        acc = held.get("accuracy")
        rows.append(
            [
                f"round {rnd.k}",
                _pct(acc) if isinstance(acc, dict) else _rate(acc),
                _num(held.get("ece")),
                _num(held.get("brier")),
                _steering(steering),
                str(held.get("n", held.get("n_pairs", "?"))),
            ]
        )
        human = ev.get("human")
        if isinstance(human, dict) and _est(human.get("accuracy")) is not None:
            rows.append(
                [
                    f"round {rnd.k} (human pairs)",
                    _pct(human.get("accuracy")),
                    _num(human.get("ece")),
                    _num(human.get("brier")),
                    "",
                    str(human.get("n", "?")),
                ]
            )
        pp = ev.get("per_principle")
        if isinstance(pp, dict):
            for name, d in pp.items():
                if isinstance(d, dict):
                    acc = d.get("accuracy")
                    per.append(
                        [
                            f"round {rnd.k}",
                            str(name),
                            _pct(acc) if isinstance(acc, dict) else _rate(acc),
                            _num(d.get("ece")),
                            str(d.get("n", "?")),
                        ]
                    )
    if not rows and "reward" in unconfigured_stages(run.run.get("pipeline")):
        s.p("Not in this pipeline: it trains no reward model.")
    elif not rows:
        s.p("No reward model was evaluated in this run (round-<k>/reward/eval.json or eval/report.json).")
        return s
    s.table(["round", "held-out accuracy", "ECE", "Brier", "steering (principle vs negation)", "n"], rows)
    if per:
        s.sub("Per principle")
        s.table(["round", "principle", "accuracy", "ECE", "n"], per)
    return s


def _steering(x: Any) -> str:
    if isinstance(x, dict):
        if _est(x) is not None:
            return _pct(x)
        if _est(x.get("flip_rate")) is not None:
            return f"flip rate {_pct(x['flip_rate'])} (n={x.get('n', '?')})"
        for k in ("flip_rate", "rate", "value"):
            if k in x:
                return _rate(x[k])
        return ", ".join(f"{k}={v}" for k, v in x.items() if isinstance(v, int | float | str))[:80]
    return _rate(x)


_SKIP_METRICS = {"step", "epoch", "phase", "lr", "learning_rate", "batch_in_epoch", "time", "elapsed"}


def _training(run: RunData) -> _Section:
    s = _Section("Policy training: reward and KL", "training")
    have = [r for r in run.rounds if r.policy_metrics]
    if not have:
        s.p("No policy training metrics (round-<k>/policy/metrics.jsonl).")
        return s
    keys: list[str] = []
    for rnd in have:
        for rec in rnd.policy_metrics:
            for k, v in rec.items():
                if (
                    k not in _SKIP_METRICS
                    and isinstance(v, int | float)
                    and not isinstance(v, bool)
                    and k not in keys
                ):
                    keys.append(k)
    ordered = sorted(keys, key=lambda k: (not ("reward" in k or "kl" in k), k))[:8]
    for key in ordered:
        series = []
        for rnd in have:
            pts = [
                (float(rec["step"]), float(rec[key]))
                for rec in rnd.policy_metrics
                if isinstance(rec.get(key), int | float)
                and isinstance(rec.get("step"), int | float)
                and rec.get("phase", "train") == "train"
            ]
            if pts:
                series.append(Series(f"round {rnd.k}", [p[0] for p in pts], [p[1] for p in pts]))
        if series:
            s.plot(line_chart(key, series, x_label="step", y_label=key, markers=False))
    reward_key = next((k for k in ordered if "reward" in k and "kl" not in k), None)
    kl_key = next((k for k in ordered if k == "kl" or k.endswith("kl") or k.startswith("kl")), None)
    if reward_key and kl_key:
        series = []
        for rnd in have:
            pts = [
                (float(rec[kl_key]), float(rec[reward_key]))
                for rec in rnd.policy_metrics
                if isinstance(rec.get(kl_key), int | float) and isinstance(rec.get(reward_key), int | float)
            ]
            if pts:
                series.append(Series(f"round {rnd.k}", [p[0] for p in pts], [p[1] for p in pts]))
        if series:
            s.plot(
                line_chart(
                    f"{reward_key} vs {kl_key}", series, x_label=kl_key, y_label=reward_key, scatter=True
                )
            )
            s.p(
                "Reward rising while KL grows fast is the classic sign of reward hacking: the policy moves far from "
                "the reference for reward the critic's judgement does not confirm (compare the win rates)."
            )
    summaries = [
        [f"round {r.k}", json.dumps(_rounded(r.policy_summary), sort_keys=True)[:300]]
        for r in have
        if r.policy_summary
    ]
    s.table(["round", "summary.json"], summaries)
    return s


def _drift(run: RunData) -> _Section:
    s = _Section("Drift and reward-hacking monitors", "drift")
    evaluated = [r for r in run.rounds if r.eval is not None and isinstance(r.eval.get("drift"), dict)]
    if not evaluated:
        s.p("No evaluation yet, so no drift monitors.")
        return s
    s.p(
        "Policy responses against the base model's responses to the same held-out prompts: length in words, "
        "repeated word n-grams inside a response, responses that loop, the refusal rate (refusal-phrase detector), "
        "and log π(y|x) − log π_ref(y|x) of the policy's responses (KL monitor; an unbiased KL estimate only for "
        "sampled responses, see 'estimator')."
    )
    rows = []
    Pts = list[tuple[int, tuple[float, float, float]]]
    mean_pts: Pts = []
    base_pts: Pts = []
    kl_pts: Pts = []
    ref_pts: Pts = []
    ref_base: Pts = []
    for rnd in evaluated:
        d = rnd.eval.get("drift", {}) if rnd.eval else {}
        lp, lb = _get(d, "length_words", "policy") or {}, _get(d, "length_words", "base") or {}
        kl = rnd.eval.get("kl") if rnd.eval else None
        rows.append(
            [
                f"round {rnd.k}",
                f"{_num(lp.get('mean'), 1)} (base {_num(lb.get('mean'), 1)})",
                f"{lp.get('p90', 'n/a')} (base {lb.get('p90', 'n/a')})",
                _rate(lp.get("truncated")),
                _pct(_get(d, "repetition", "policy", "repeated_share")),
                _pct(_get(d, "repetition", "policy", "looping")),
                f"{_pct(_get(d, 'refusal_rate', 'policy'))} (base {_rate(_get(d, 'refusal_rate', 'base', 'value'))})",
                (
                    f"{_num(_get(kl, 'per_response'), 2)} nats ({_get(kl, 'estimator')})"
                    if isinstance(kl, dict)
                    else "n/a"
                ),
            ]
        )
        for pts, val in (
            (mean_pts, lp.get("mean")),
            (base_pts, lb.get("mean")),
            (kl_pts, _get(kl, "per_response")),
        ):
            e = _est(val)
            if e is not None:
                pts.append((rnd.k, e))
        e = _est(_get(d, "refusal_rate", "policy"))
        if e is not None:
            ref_pts.append((rnd.k, e))
        e = _est(_get(d, "refusal_rate", "base"))
        if e is not None:
            ref_base.append((rnd.k, e))
    s.table(
        [
            "round",
            "mean words (base)",
            "p90 words (base)",
            "cut at max tokens",
            "repeated 3-grams",
            "looping",
            "refusal rate (base)",
            "KL monitor",
        ],
        rows,
    )

    def series(name: str, pts: list[tuple[int, tuple[float, float, float]]]) -> Series:
        return Series(
            name, [p[0] for p in pts], [p[1][0] for p in pts], [p[1][1] for p in pts], [p[1][2] for p in pts]
        )

    if mean_pts:
        s.plot(
            line_chart(
                "Response length per round (mean words, 95% CI)",
                [series("policy", mean_pts), *([series("base model", base_pts)] if base_pts else [])],
                x_label="round",
                y_label="words",
            )
        )
    last = evaluated[-1]
    lp = _get(last.eval, "drift", "length_words", "policy") or {}
    lb = _get(last.eval, "drift", "length_words", "base") or {}
    if (
        isinstance(lp.get("edges"), list)
        and isinstance(lp.get("counts"), list)
        and isinstance(lb.get("counts"), list)
    ):
        s.plot(
            histogram_chart(
                f"Length distribution, round {last.k} vs base model",
                [float(e) for e in lp["edges"]],
                [("base model", lb["counts"]), (f"policy round {last.k}", lp["counts"])],
                x_label="words per response",
            )
        )
    if kl_pts:
        s.plot(
            line_chart(
                "KL monitor per round (nats per response)",
                [series("policy vs base", kl_pts)],
                x_label="round",
                y_label="nats",
            )
        )
    if ref_pts:
        s.plot(
            line_chart(
                "Refusal rate per round",
                [series("policy", ref_pts), *([series("base model", ref_base)] if ref_base else [])],
                x_label="round",
                y_label="share refused",
            )
        )
    for rnd in evaluated:
        phrases = _get(rnd.eval, "drift", "over_represented") or []
        prow = [
            [
                str(p.get("phrase")),
                str(p.get("policy_count")),
                str(p.get("base_count")),
                f"{p.get('z', 0):.2f}",
            ]
            for p in phrases
            if isinstance(p, dict)
        ]
        s.sub(f"Phrases over-represented vs the base model, round {rnd.k}")
        if prow:
            s.table(["phrase", "policy count", "base count", "log-odds z"], prow)
        else:
            s.p("None significant (z > 1.96).")
    return s


def _examples(run: RunData) -> _Section:
    s = _Section("Examples: before and after", "examples")
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


def _timing(run: RunData) -> _Section:
    s = _Section("Time and throughput per stage", "timing")
    rows = []
    series: list[tuple[str, list[Bar | None]]] = []
    for rnd in run.rounds:
        bars: list[Bar | None] = []
        for name in _stage_names(run):
            st = rnd.stages.get(name)
            if st is None:
                bars.append(None)
                continue
            bars.append(Bar(st.seconds) if st.seconds is not None else None)
            if st.seconds is not None or st.throughput:
                tp = st.throughput or {}
                per = tp.get("per_second")
                rows.append(
                    [
                        f"round {rnd.k}",
                        name,
                        st.status,
                        f"{st.seconds:.1f}" if st.seconds is not None else "n/a",
                        f"{per:.3g} {tp.get('unit', '')}/s" if isinstance(per, int | float) else "n/a",
                    ]
                )
        series.append((f"round {rnd.k}", bars))
    if not rows:
        s.p("No stage recorded its time (manifests missing).")
        return s
    s.plot(bar_chart("Seconds per stage", _stage_names(run), series, y_label="seconds"))
    s.table(["round", "stage", "status", "seconds", "throughput"], rows)
    total = sum(st.seconds or 0.0 for r in run.rounds for st in r.stages.values())
    s.p(f"Total recorded stage time: {total:.0f} s.")
    return s


def _config(run: RunData) -> _Section:
    s = _Section("Configuration", "config")
    pipeline = run.run.get("pipeline")
    if pipeline is None:
        s.p("run.json records no pipeline configuration.")
    else:
        s.pre(
            "resolved pipeline (run.json)",
            json.dumps(_rounded(pipeline), indent=2, sort_keys=True, default=str),
        )
    return s


# ---------------------------------------------------------------------------------------------------------------
# rendering

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2433;background:#fafbfc}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px} h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}
nav a{margin-right:12px;font-size:13px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;background:#fff}
th,td{border:1px solid #dfe3ea;padding:4px 8px;text-align:left;vertical-align:top} th{background:#f0f3f8}
svg.plot{display:block;margin:10px 0;background:#fff;border:1px solid #e3e7ee;border-radius:4px;max-width:100%;height:auto}
.plot-title{font-size:14px;font-weight:600} .tick,.legend{font-size:11px;fill:#334} .axis-label{font-size:11px;fill:#556}
.grid{stroke:#eef0f4} .axis{stroke:#889} .reference{stroke:#c33;stroke-dasharray:4 3}
.errorbar{stroke:#222;stroke-width:1.3;fill:none} .line{fill:none;stroke-width:2} .band{opacity:.18}
.example{background:#fff;border:1px solid #e3e7ee;border-radius:4px;padding:8px 12px;margin:10px 0}
.example pre,.config pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:6px 8px;margin:2px 0 8px;font-size:12.5px}
.label{font-size:12px;font-weight:600;color:#445} .notes li{color:#8a4b00} .caption{font-size:12px;color:#556;margin:0}
"""

#: a self-check the browser test reads: how many plots drew marks, and any script error (no network, no libraries)
_CHECK_JS = """
window.addEventListener('error', function (e) { document.body.setAttribute('data-error', String(e.message)); });
window.addEventListener('load', function () {
  var n = 0; document.querySelectorAll('svg.plot').forEach(function (svg) {
    var b = svg.getBBox(); if (b.width > 0 && b.height > 0 && svg.querySelector('rect.bar,path.line,circle.point')) n++; });
  document.body.setAttribute('data-plots-rendered', String(n));
  document.body.setAttribute('data-plots', String(document.querySelectorAll('svg.plot').length));
});
"""


def _html(title: str, sections: Sequence[_Section]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(title)}</title><style>{_CSS}</style><script>{_CHECK_JS}</script></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        "<nav>" + "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections) + "</nav>",
    ]
    for s in sections:
        out.append(f'<section id="{s.anchor}" class="{s.anchor}"><h2>{escape(s.title)}</h2>')
        in_list = False
        for item in s.items:
            if isinstance(item, tuple) and item[0] == "li":
                if not in_list:
                    out.append("<ul>")
                    in_list = True
                out.append(f"<li>{escape(item[1])}</li>")
                continue
            if in_list:
                out.append("</ul>")
                in_list = False
            if isinstance(item, _Table):
                head = "".join(f"<th>{escape(h)}</th>" for h in item.headers)
                body = "".join(
                    "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in item.rows
                )
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif item[0] == "p":
                out.append(f"<p>{escape(item[1])}</p>")
            elif item[0] == "h3":
                out.append(f"<h3>{escape(item[1])}</h3>")
            elif item[0] == "svg":
                out.append(item[1])  # built by rlaif.report.svg, every text inside escaped there
            elif item[0] == "example":
                blocks = "".join(
                    f'<div class="label">{escape(label)}</div><pre>{escape(text)}</pre>'
                    for label, text in item[2]
                )
                out.append(f'<div class="example"><div class="label">{escape(item[1])}</div>{blocks}</div>')
            elif item[0] == "pre":
                out.append(
                    f"<details><summary>{escape(item[1])}</summary><pre>{escape(item[2])}</pre></details>"
                )
        if in_list:
            out.append("</ul>")
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(title: str, sections: Sequence[_Section]) -> str:
    out = [f"# {title}", "", "Plots are in report.html (same folder); this file has the tables.", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for item in s.items:
            if isinstance(item, _Table):
                out.append("| " + " | ".join(_md_cell(h) or " " for h in item.headers) + " |")
                out.append("|" + "---|" * len(item.headers))
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in item.rows]
                out.append("")
            elif item[0] == "li":
                out.append(f"- {item[1]}")
            elif item[0] == "p":
                out += [item[1], ""]
            elif item[0] == "h3":
                out += [f"### {item[1]}", ""]
            elif item[0] == "example":
                out += [f"**{item[1]}**", ""]
                for label, text in item[2]:
                    quoted = "\n".join(
                        "> " + line for line in (text or "(empty)").splitlines() or ["(empty)"]
                    )
                    out += [f"*{label}*", "", quoted, ""]
            elif item[0] == "pre":
                out += [
                    f"<details><summary>{item[1]}</summary>",
                    "",
                    "```json",
                    item[2],
                    "```",
                    "",
                    "</details>",
                    "",
                ]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def build_report(run_dir: Path, *, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Read ``run_dir`` and write ``report.html`` and ``report.md`` into ``out_dir`` (default: ``run_dir``).

    Raises :class:`~rlaif.errors.RlaifError` only when ``run_dir`` is not a run directory; everything a partial or
    older run lacks is marked in the report.
    """
    from rlaif.atomic import atomic_write_text

    t0 = time.perf_counter()
    run = read_run(run_dir)
    built = datetime.now(UTC).isoformat(timespec="seconds")
    from rlaif.report.verdict import critic_justified, distillation_section, result_section

    justified, why = critic_justified(run)
    critic = [_win_rates(run)]
    if not justified:
        critic[0].title += " (critic not validated)"
        critic[0].items.insert(0, ("p", f"Not a result: {why}. Shown for inspection only."))
    sections = [
        result_section(run, _Section),
        _summary(run, built),
        _notes(run),
        *(critic if justified else []),
        _compliance(run),
        *[x for x in (distillation_section(run, _Section) or _distillation(run),) if x is not None],
        _labeler(run),
        *principles_sections(run),
        _reward(run),
        _training(run),
        _drift(run),
        _examples(run),
        *([] if justified else critic),  # kept for inspection, after the graded results
        _timing(run),
        _config(run),
    ]
    title = f"rlaif run report: {run.name}"
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out / REPORT_HTML, out / REPORT_MD
    atomic_write_text(html_path, _html(title, sections))
    atomic_write_text(md_path, _markdown(title, sections))
    log.info("report of %s written to %s (%.2f s)", run.name, html_path, time.perf_counter() - t0)
    return html_path, md_path


__all__ = ["REPORT_HTML", "REPORT_MD", "build_report"]
