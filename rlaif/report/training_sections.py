"""The report's sections about policy training: reward and KL curves, and the drift and reward-hacking
monitors of each round's evaluation."""

from __future__ import annotations

import json

from rlaif.report.cells import _est, _get, _num, _pct, _rate, _rounded
from rlaif.report.rundir import RunData
from rlaif.report.section import Section
from rlaif.report.svg import Series, histogram_chart, line_chart

_SKIP_METRICS = {"step", "epoch", "phase", "lr", "learning_rate", "batch_in_epoch", "time", "elapsed"}


def training_section(run: RunData) -> Section:
    s = Section("Policy training: reward and KL", "training")
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


def drift_section(run: RunData) -> Section:
    s = Section("Drift and reward-hacking monitors", "drift")
    evaluated = run.evaluated("drift", dict)
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

    def per_round(title: str, y_label: str, *lines: tuple[str, Pts]) -> None:
        """A chart over the rounds of the first line (when it has points) and the others that have points."""
        if lines[0][1]:
            drawn = [series(name, pts) for name, pts in lines if pts]
            s.plot(line_chart(title, drawn, x_label="round", y_label=y_label))

    per_round(
        "Response length per round (mean words, 95% CI)",
        "words",
        ("policy", mean_pts),
        ("base model", base_pts),
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
    per_round("KL monitor per round (nats per response)", "nats", ("policy vs base", kl_pts))
    per_round("Refusal rate per round", "share refused", ("policy", ref_pts), ("base model", ref_base))
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


__all__ = ["drift_section", "training_section"]
