"""Rendering the agreement report: Markdown, per-pair dataset rows, and the files written under ``--out``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlaif.evals.agreement_report import PAIRS_DIR, REPORT_JSON, REPORT_MD, AgreementReport
from rlaif.feedback.inputs import PreferencePair
from rlaif.stats import Estimate


def _fmt(e: Estimate | None, pct: bool = True) -> str:
    if e is None:
        return "n/a"
    if pct:
        return f"{100 * e.value:.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}]"
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def markdown(r: AgreementReport) -> str:
    """The report as Markdown: headline numbers, per principle, calibration, rules, unlabeled reasons."""
    c = r.config
    how = "all principles" if c.all_principles else f"k={c.k} sampled principles"
    if c.principles:
        how += f" among {', '.join(c.principles)}"
    lines = [
        "# Critic agreement with human labels",
        "",
        f"- human labels: `{r.source or '(in memory)'}` ({r.n_pairs} pairs)",
        f"- critic: `{r.critic_model}` (revision `{r.critic_revision}`)",
        f"- constitution: {r.constitution_name} (hash `{r.constitution_hash[:12]}`), {how}, both orders"
        + (", chain of thought" if c.chain_of_thought else ""),
        f"- template hash: `{r.template_hash[:12]}`; seed {c.seed}; ties count as "
        + ("half right" if c.ties == "half" else "wrong"),
        f"- labeled: {r.n_labeled} of {r.n_pairs} ({100 * r.coverage:.0f}%)",
        "",
    ]
    if r.accuracy is None:
        lines += ["**No pair was labeled**, so there is nothing to measure. Reasons:", ""]
        lines += [f"- {reason}: {n}" for reason, n in r.unlabeled_reasons.items()]
        return "\n".join(lines) + "\n"
    lines += [
        f"Intervals are {100 * c.confidence:.0f}%: Wilson for rates over pairs, clustered Wilson (pair = unit) for "
        f"rates over judgements, bootstrap ({c.bootstrap_resamples} resamples over pairs) for Brier and ECE.",
        "",
        "| metric | value | what it means |",
        "|---|---|---|",
        f"| accuracy (both orders) | {_fmt(r.accuracy)} | label prefers the human-chosen response |",
        f"| accuracy (order ab only) | {_fmt(r.single_order_accuracy)} | what asking once would give |",
        f"| position bias | {_fmt(r.position_bias)} | same letter in both orders (per judgement) |",
        f"| order consistency | {_fmt(r.order_consistency)} | both orders prefer the same response |",
        f"| pairs consistent under every principle | {_fmt(r.pair_order_consistency)} | |",
        f"| Brier | {_fmt(r.brier, pct=False)} | 0 = perfect, 0.25 = always 0.5 |",
        f"| ECE | {_fmt(r.ece, pct=False)} | mean gap between stated and observed probability |",
        f"| ties (p = 0.5) | {r.ties} (order ab: {r.ties_order_ab}) | |",
        "",
    ]
    if r.position_bias_first is not None:
        first = 100 * r.position_bias_first
        lines += [
            f"Of the position-biased judgements, {first:.0f}% picked the first-shown response in both orders and "
            f"{100 - first:.0f}% the second-shown one.",
            "",
        ]
    lines += [
        "## Per principle",
        "",
        "| principle | n | accuracy | order ab only | position bias | consistency | Brier | ECE |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    for p in r.per_principle:
        lines.append(
            f"| {p.principle} | {p.n} | {_fmt(p.accuracy)} | {_fmt(p.single_order_accuracy)} | "
            f"{_fmt(p.position_bias)} | {_fmt(p.order_consistency)} | {_fmt(p.brier, False)} | {_fmt(p.ece, False)} |"
        )
    lines += [
        "",
        "## Calibration of p(human-chosen)",
        "",
        "Each pair counts twice: p(chosen) with outcome 1 and p(rejected) with outcome 0.",
        "",
        "| predicted | n | mean predicted | observed |",
        "|---|---:|---:|---:|",
    ]
    for b in r.reliability:
        if b.count:
            lines.append(
                f"| {b.low:.1f}–{b.high:.1f} | {b.count} | {b.mean_predicted:.3f} | {b.observed:.3f} |"
            )
    if r.rules:
        lines += [
            "",
            "## Rules vs critic",
            "",
            "Judgements under a principle with a rule, where the rule passes one response and fails the other.",
            "",
            "| principle | judged | rule decisive | critic agrees with rule | rule agrees with human | both pass | both fail |",
            "|---|---:|---:|---|---|---:|---:|",
        ]
        for ra in r.rules:
            lines.append(
                f"| {ra.principle} | {ra.n_judged} | {ra.n_decisive} | {_fmt(ra.critic_agrees)} | "
                f"{_fmt(ra.human_agrees)} | {ra.n_both_pass} | {ra.n_both_fail} |"
            )
    if r.unlabeled_reasons:
        lines += ["", "## Unlabeled pairs", ""]
        lines += [f"- {reason}: {n}" for reason, n in r.unlabeled_reasons.items()]
    wrong = [p.pair_id for p in r.pairs if p.score is not None and p.score < 1.0]
    if wrong:
        shown = ", ".join(wrong[:30]) + (f" … ({len(wrong) - 30} more)" if len(wrong) > 30 else "")
        lines += ["", f"Pairs not (fully) agreeing with the human label: {shown}"]
    return "\n".join(lines) + "\n"


def _prompt_column(pairs: Sequence[PreferencePair]) -> list[Any]:
    """TRL's layout: plain strings unless some conversation has several turns or a system turn (then all lists)."""
    conversational = any(len(p.conversation) > 1 or p.conversation[0].role != "user" for p in pairs)
    if conversational:
        return [[{"role": m.role, "content": m.content} for m in p.conversation] for p in pairs]
    return [p.conversation[0].content for p in pairs]


def pair_rows(report: AgreementReport, pairs: Sequence[PreferencePair]) -> list[dict[str, Any]]:
    """Per-pair details as dataset rows: TRL columns, what the critic said, and whether it agreed."""
    by_id = {r.pair_id: r for r in report.pairs}
    prompts = _prompt_column(pairs)
    rows = []
    for pair, prompt in zip(pairs, prompts, strict=True):
        r = by_id[pair.id]
        rows.append(
            {
                "pair_id": pair.id,
                "prompt": prompt,
                "chosen": pair.chosen,
                "rejected": pair.rejected,
                "shown_first": "chosen" if r.chosen_first else "rejected",
                "p_chosen": r.p_chosen,
                "p_chosen_order_ab": r.p_chosen_ab,
                "agreement": r.score,
                "agreement_order_ab": r.score_ab,
                "order_consistent": r.order_consistent,
                "decisive_principle": r.decisive_principle,
                "principles": list(r.principles),
                "judgements": [asdict(j) for j in r.judgements],
                "unlabeled_reason": r.unlabeled_reason,
                "critic_model": report.critic_model,
                "critic_revision": report.critic_revision,
                "constitution_hash": report.constitution_hash,
                "template_hash": report.template_hash,
                "seed": report.config.seed,
            }
        )
    return rows


def write_report(
    report: AgreementReport, pairs: Sequence[PreferencePair], out_dir: str | Path
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``pairs/data.parquet`` (per-pair details) under ``out_dir``."""
    from rlaif.atomic import atomic_write_text
    from rlaif.feedback.dataset_io import write_rows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / REPORT_JSON, "markdown": out / REPORT_MD}
    atomic_write_text(paths["json"], report.to_json())
    atomic_write_text(paths["markdown"], markdown(report))
    paths["pairs"] = write_rows(out / PAIRS_DIR, pair_rows(report, pairs), json_columns=("judgements",))
    return paths
