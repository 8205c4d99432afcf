"""The report's sections about the feedback models: the labeler's quality (the label stage's stats.json,
the critic's usage and gate) and the reward model's held-out evaluation."""

from __future__ import annotations

from typing import Any

from rlaif.feedback.card import gate_card_lines
from rlaif.report.cells import _bar, _est, _get, _num, _pct, _rate
from rlaif.report.rundir import RunData, unconfigured_stages
from rlaif.report.section import Section
from rlaif.report.svg import Bar, bar_chart, histogram_chart


def labeler_section(run: RunData) -> Section:
    s = Section("Labeler quality", "labeler")
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
    for rnd in run.rounds:  # the critic gate's verdict on the gold set, per round
        for line in gate_card_lines(rnd.label_stats or {}):
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


def reward_section(run: RunData) -> Section:
    s = Section("Reward model", "reward")
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


__all__ = ["labeler_section", "reward_section"]
