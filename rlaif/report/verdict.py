"""The report's first screen and the context-distillation comparison.

* :func:`result_section`: one sentence stating the run's result (all-rules compliance on the held-out prompts, before
  and after, with the paired gain's 95% interval), the first thing a reader sees.
* :func:`distillation_section`: for contrastive (RLCD) runs, the untrained model with no system prompt, with the
  positive system prompt (the ceiling distillation aims at) and with the negative one, next to the DPO policy and the
  SFT-on-positive-answers baseline, each graded by the rules on the same held-out prompts.
* :func:`critic_justified`: whether a critic win rate may be shown as a result: only where the critic's measured
  agreement with human labels or with the gold set (the evaluation's critic gate) beats chance (the lower end of
  its interval above 0.5).
"""

from __future__ import annotations

import json
from typing import Any

from rlaif.report.cells import _get
from rlaif.report.rundir import RoundInfo, RunData

ALL = "all"


def _by_rule(ev: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    rows = (ev or {}).get("compliance") or []
    return {str(c.get("principle")): c for c in rows if isinstance(c, dict)}


def _pct(e: Any) -> str:
    if not isinstance(e, dict) or not all(
        isinstance(e.get(k), int | float) for k in ("value", "low", "high")
    ):
        return "n/a"
    return f"{100 * e['value']:.0f}% [{100 * e['low']:.0f}, {100 * e['high']:.0f}]"


def _points(e: Any) -> str:
    if not isinstance(e, dict) or not all(
        isinstance(e.get(k), int | float) for k in ("value", "low", "high")
    ):
        return "n/a"
    return f"{100 * e['value']:+.0f} points (95% CI [{100 * e['low']:+.0f}, {100 * e['high']:+.0f}])"


def ceiling(rnd: RoundInfo) -> dict[str, Any] | None:
    """The ceiling stage's measurements of a round (contrastive runs, round 1), when present."""
    path = rnd.path / "ceiling" / "ceiling.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def critic_justified(run: RunData) -> tuple[bool, str]:
    """Whether the critic's win rate may be shown as a result, and why (or why not): the latest measurement of the
    critic against people (a human preference file) or against the gold set (the evaluation's critic gate)."""
    for rnd in reversed(run.rounds):
        sources = (
            ("human labels", _get(rnd.eval, "labeler", "human_agreement")),
            ("human labels", rnd.agreement),
            ("the gold set", _get(rnd.eval, "labeler", "critic_gate")),
        )
        for what, src in sources:
            acc = _get(src, "accuracy")
            if isinstance(_get(acc, "low"), int | float):
                if acc["low"] > 0.5:
                    return True, f"the critic agrees with {what} {_pct(acc)}, above chance"
                return False, f"the critic agrees with {what} only {_pct(acc)}, not above chance"
    return False, "the critic's agreement with people was not measured in this run"


def result_sentence(run: RunData) -> str:
    """One sentence: the held-out all-rules compliance before → after, and the gain with its interval."""
    evaluated = [r for r in run.rounds if r.eval is not None and ALL in _by_rule(r.eval)]
    if not evaluated:
        return "No result yet: no round has been evaluated on the held-out prompts."
    rnd = evaluated[-1]
    row = _by_rule(rnd.eval)[ALL]
    n_rules = len(_by_rule(rnd.eval)) - 1
    n = _get(rnd.eval, "n_prompts")
    before, after = _get(row, "before", "value"), _get(row, "after", "value")
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return "No result: the evaluation has no all-rules compliance."
    gain = row.get("gain")
    low = _get(gain, "low")
    verdict = (
        "a real gain"
        if isinstance(low, int | float) and low > 0
        else "not distinguishable from no change"
        if isinstance(low, int | float) and _get(gain, "high") >= 0
        else "a loss"
    )
    return (
        f"After {rnd.k} round(s), the policy answers {n} held-out prompts, with no system prompt, passing all "
        f"{n_rules} graded rules {100 * after:.0f}% of the time against {100 * before:.0f}% for the baseline: "
        f"{_points(gain)}, {verdict}."
    )


def result_section(run: RunData, section: Any) -> Any:
    """The first screen: the result in one sentence, then what the critic may and may not be used for."""
    s = section("Result", "result")
    s.p(result_sentence(run))
    ok, why = critic_justified(run)
    if not ok:
        s.p(f"The critic's win rate is not a result of this run: {why}.")
    return s


def distillation_section(run: RunData, section: Any) -> Any | None:
    """Contrastive runs: the untrained model with / without the system prompt next to DPO and SFT distillation."""
    first = next((r for r in run.rounds if ceiling(r) is not None), None)
    if first is None:
        return None
    c = ceiling(first)
    assert c is not None
    last = next((r for r in reversed(run.rounds) if r.eval is not None), None)
    s = section("Context distillation: system prompt → weights", "context-distillation")
    s.p(
        "Training pairs: each training prompt answered under a system prompt asking to follow the sampled principles "
        "(chosen) and under one asking for the opposite (rejected), same seed; the training prompt drops the "
        "system prompt. The untrained model under the positive system prompt is the ceiling distillation aims at; "
        "the SFT baseline trains on the positive answers alone. All graded by the rules on the same held-out "
        "prompts (greedy), which training never read."
    )
    pol, sft = _by_rule(last.eval if last else None), _by_rule(last.sft_eval if last else None)
    rules = [k for k in (c.get("none") or {}).get("compliance", {}) if k != ALL] + [ALL]
    names = {
        "none": "untrained",
        "positive": "untrained + positive system prompt",
        "negative": "untrained + negative system prompt",
    }
    present = [k for k in names if isinstance(c.get(k), dict)]
    headers = ["rule (pass rate, 95% CI)", *(names[k] for k in present)]
    cols = [c[k] for k in present]
    if pol:
        headers.append(f"DPO policy (round {last.k})" if last else "DPO policy")
    if sft:
        headers.append("SFT on positive answers")
    rows = []
    for rule in rules:
        row = [rule] + [_pct(_get(col, "compliance", rule)) for col in cols]
        if pol:
            row.append(_pct(_get(pol.get(rule), "after")))
        if sft:
            row.append(_pct(_get(sft.get(rule), "after")))
        rows.append(row)
    cut = ["cut at the token limit"] + [
        f"{100 * x:.0f}%" if isinstance((x := col.get("cut")), int | float) else "n/a" for col in cols
    ]
    words = ["mean words"] + [str(col.get("mean_words", "n/a")) for col in cols]
    for ev, have in ((last.eval if last else None, pol), (last.sft_eval if last else None, sft)):
        if have:
            t = _get(ev, "drift", "length_words", "policy", "truncated")
            cut.append(f"{100 * t:.0f}%" if isinstance(t, int | float) else "n/a")
            m = _get(ev, "drift", "length_words", "policy", "mean", "value")
            words.append(f"{m:.1f}" if isinstance(m, int | float) else "n/a")
    s.table(headers, [*rows, cut, words])
    return s


__all__ = ["ceiling", "critic_justified", "distillation_section", "result_section", "result_sentence"]
