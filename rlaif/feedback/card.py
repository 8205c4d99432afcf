"""The dataset card (``README.md``) of a labels dataset: what made it, how good it looks, and the constitution.

The card is deterministic (no dates, no paths): the same labels give the same card, so a resumed run's output is
byte-identical to an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif.constitution.writing import dump_constitution_yaml
from rlaif.feedback.dataset_io import card_appendix, write_card
from rlaif.feedback.label_stats import LabelStats
from rlaif.feedback.provenance import PROVENANCE_COLUMNS

if TYPE_CHECKING:
    from rlaif.feedback.labeler import LabelRun


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _stats_lines(stats: LabelStats) -> list[str]:
    lines = [
        "| statistic | value |",
        "|---|---|",
        f"| pairs | {stats.pairs} |",
        f"| labelled | {stats.labeled} |",
        f"| rows kept | {stats.rows} |",
        f"| filtered (below min_confidence) | {stats.filtered} |",
        f"| ties dropped (p = 0.5) | {stats.ties_dropped} |",
        f"| unlabeled | {stats.unlabeled} |",
        f"| mean p_chosen | {stats.mean_p_chosen if stats.mean_p_chosen is not None else 'n/a'} |",
    ]
    critic = stats.critic
    if critic:
        lines += [
            f"| position-bias rate (same letter in both orders) | {_pct(critic.position_bias_rate)} |",
            f"| … first letter both orders | {_pct(critic.first_letter_both_orders)} |",
            f"| … second letter both orders | {_pct(critic.second_letter_both_orders)} |",
            f"| order consistency (judgements) | {_pct(critic.order_consistency)} |",
            f"| pairs consistent under every principle | {_pct(critic.pairs_order_consistent)} |",
        ]
    if stats.judge_mode:
        lines.append(f"| judge mode | {stats.judge_mode} |")
    usage = stats.critic_usage
    if usage:
        cost = usage.get("estimated_cost")
        lines += [
            f"| critic requests (failed) | {usage['requests']} ({usage['failed_requests']}) |",
            f"| critic tokens in / out | {usage['input_tokens']} / {usage['output_tokens']} |",
            f"| estimated critic cost | {'n/a (no prices given)' if cost is None else f'{cost:.4f}'} |",
        ]
    rules = stats.rules
    lines += [
        f"| rule checks (sampled principles with a rule) | {rules.checks} |",
        f"| rules that told the responses apart | {rules.discriminating} |",
        f"| critic agrees with a discriminating rule | {_pct(rules.agreement_rate)} of {rules.agreement_compared} |",
    ]
    for reason, count in stats.unlabeled_by_reason.items():
        lines.append(f"| unlabeled: {reason} | {count} |")
    return lines


def _gate_lines(stats: dict[str, Any]) -> list[str]:
    """The critic gate's result (rlaif.evals.gate), with a blank line after it, when the stage ran one."""
    lines = gate_card_lines(stats)
    return [*lines, ""] if lines else []


def gate_card_lines(stats: dict[str, Any]) -> list[str]:
    """Markdown lines for a dataset card or run report: the gate's result, when there is one."""
    gate = stats.get("critic_gate")
    if not isinstance(gate, dict):
        return []
    acc = gate.get("accuracy") or {}
    shown = (
        f"{100 * acc['value']:.1f}% [{100 * acc['low']:.1f}, {100 * acc['high']:.1f}]"
        if {"value", "low", "high"} <= set(acc)
        else "n/a"
    )
    return [
        f"Critic gate: the critic judged the gold set `{gate.get('gold')}` ({gate.get('n_labeled')} of "
        f"{gate.get('n')} pairs) with accuracy {shown} (95% Wilson interval); required lower bound "
        f"{100 * float(gate.get('min_accuracy', 0)):.0f}%: {'passed' if gate.get('passed') else 'failed'}."
    ]


def _histogram_lines(stats: LabelStats) -> list[str]:
    hist = stats.confidence_histogram
    edges, counts = hist.edges, hist.counts
    top = max(counts) if counts and max(counts) > 0 else 1
    lines = ["```", "confidence |2p−1|   count"]
    for i, c in enumerate(counts):
        bar = "█" * round(30 * c / top)
        lines.append(
            f"[{edges[i]:.1f}, {edges[i + 1]:.1f}{']' if i == len(counts) - 1 else ')'}  {c:6d} {bar}"
        )
    lines.append("```")
    return lines


def label_card(run: LabelRun) -> str:
    """The card's markdown text for a label run."""
    c = run.constitution
    config = run.config
    judge = config.judge_config()
    critic = run.critic_model or "none (rule-only labels)"
    stats = run.label_stats
    size = stats.rows
    size_cat = (
        "n<1K"
        if size < 1000
        else "1K<n<10K"
        if size < 10_000
        else "10K<n<100K"
        if size < 100_000
        else "n>100K"
    )
    fmt = stats.format
    out = [
        "---",
        "tags:",
        "- rlaif",
        "- preference",
        "- ai-feedback",
        "- dpo",
        "task_categories:",
        "- text-generation",
        "size_categories:",
        f"- {size_cat}",
        "configs:",
        "- config_name: default",
        "  data_files: data.parquet",
        "---",
        "",
        f"# AI preference labels: {c.name}",
        "",
        f"Pairwise soft preference labels made by **{critic}** (revision `{run.critic_revision or '-'}`) judging",
        f"pairs of responses under the constitution **{c.name}** (version {c.version}, hash `{c.content_hash()}`).",
        f"Label source: **{config.label_source}**; {config.k} principle(s) sampled per pair (seed {config.seed});",
        f"pairing `{config.pairing}`; template hash `{run.template_hash or '-'}`"
        + (
            f"; chain of thought, clamped to [{judge.cot_clamp[0]}, {judge.cot_clamp[1]}]."
            if judge.chain_of_thought
            else "; each principle asked in both orders and averaged."
            if judge.both_orders
            else "; one order only (position bias not removed)."
        ),
        "",
        "Made with rlaif (`rlaif label`). Load it with",
        '`datasets.load_dataset("parquet", data_files="data.parquet")`; the `prompt`, `chosen` and `rejected`',
        f"columns are TRL's preference format ({fmt}: "
        + (
            "`prompt` is a list of messages, `chosen`/`rejected` one assistant message each"
            if fmt == "conversational"
            else "plain strings"
        )
        + "). `p_chosen` is the soft label, for soft-label DPO or a Bradley-Terry reward model.",
        "",
        "## How the labels were computed",
        "",
        "For each principle and order the critic's log-probabilities of the two answer choices are renormalised:",
        "p_ab = P(A | A shown first), p_ba = P(A | A shown second). The principle's label is (p_ab + p_ba) / 2 and",
        "the pair's label p(A ≻ B) is the mean over its principles. `chosen` is the response with p ≥ 0.5, and",
        "`p_chosen` = max(p, 1 − p).",
        "",
        "## Statistics",
        "",
        *_stats_lines(stats),
        "",
        "Label confidence histogram:",
        "",
        *_histogram_lines(stats),
        "",
        *_gate_lines(run.stats),
        "Small critics are weak judges: read the position-bias rate and order consistency before trusting these",
        "labels, and measure agreement with human labels (`rlaif eval agreement`).",
        "",
        "## Columns",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `prompt`, `chosen`, `rejected` | TRL preference format |",
        *[f"| `{k}` | {v} |" for k, v in PROVENANCE_COLUMNS.items()],
        "",
        "Pairs that were not labelled (and those filtered by `min_confidence`, and ties dropped) are listed with the",
        "reason in `unlabeled.jsonl`; `stats.json` holds the statistics above.",
        "",
        *card_appendix(config.params_record(), dump_constitution_yaml(c)),
    ]
    return "\n".join(out)


def write_label_card(out_dir: str | Path, run: LabelRun) -> Path:
    """Write ``<out_dir>/README.md`` for a label run (atomic)."""
    return write_card(out_dir, label_card(run))


__all__ = ["label_card", "write_label_card"]
