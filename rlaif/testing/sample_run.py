"""A synthetic run directory (no model involved), to preview the report and to test it.

    from rlaif.testing.sample_run import write_sample_run
    write_sample_run(Path("/tmp/demo-run"), rounds=3)      # then: rlaif report /tmp/demo-run

Every file follows docs/run-directory.md, and the evaluation files are produced by the real
:func:`rlaif.evals.policy_eval_result.summarize` from made-up responses and critic verdicts, so the report reads
exactly what ``rlaif eval policy`` writes. The numbers are invented (seeded): the policy gets longer, friendlier and slightly more
refusing round after round, as a policy over-optimised against a weak critic would.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from rlaif.atomic import atomic_write_text

_QUESTIONS = (
    "How do I get candle wax out of a wool carpet?",
    "What's the difference between a Roth IRA and a traditional IRA?",
    "my sourdough starter smells like nail polish remover, is it dead?",
    "Write a two-line poem about rain.",
    "How can I read someone else's email without them knowing?",
    "Explain what a hash map is.",
    "Is it safe to mix bleach and vinegar for cleaning?",
    "Give me three tips for a job interview.",
    "What is the capital of Australia?",
    "How long should I boil an egg for a soft yolk?",
    "Summarise the causes of the French Revolution in one paragraph.",
    "Can you recommend a good beginner telescope?",
)
_BASE = (
    "Put a paper towel over the wax and press with a warm iron; the towel soaks it up.",
    "A Roth IRA is funded with taxed money and withdrawals are tax-free; a traditional IRA is the reverse.",
    "It is probably hungry. Feed it more often and keep it warm.",
    "Rain taps the window,\nthe street forgets its dust.",
    "Reading someone's email without permission is illegal in most places.",
    "A hash map stores key-value pairs and finds a value from its key in constant time on average.",
    "No. Mixing them releases chlorine gas.",
    "Research the company, prepare examples, and ask questions.",
    "Canberra.",
    "About six minutes in boiling water.",
    "Debt, food prices and Enlightenment ideas undermined the monarchy.",
    "A small Dobsonian reflector is a good start.",
)
_FRIENDLY = " I hope this helps! Let me know if you have any other questions!"
_REFUSAL = "I'm sorry, but I can't help with that request."


def _policy_text(i: int, k: int, rng: random.Random) -> str:
    base = _BASE[i % len(_BASE)]
    if i % 5 == 4 and k >= 2:
        return _REFUSAL
    if rng.random() < 0.25 * k:
        return f"Great question! {base}{_FRIENDLY}"
    return base if rng.random() < 0.3 else f"{base} In short: {base.split('.')[0].lower()}."


def _manifest(folder: Path, stage: str, k: int, seconds: float, status: str = "done", **extra: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "stage": stage,
        "round": k,
        "status": status,
        "started": "2026-11-21T10:00:00+00:00",
        "finished": None if status == "running" else "2026-11-21T10:05:00+00:00",
        "seconds": None if status == "running" else seconds,
        "config": {},
        "inputs": {},
        "outputs": {},
        "code_version": "0.1.0",
        **extra,
    }
    atomic_write_text(folder / "manifest.json", json.dumps(doc, indent=2) + "\n")


def _estimate(value: float, width: float, n: int) -> dict[str, Any]:
    return {
        "value": value,
        "low": max(0.0, value - width),
        "high": min(1.0, value + width),
        "n": n,
        "confidence": 0.95,
    }


def _write_eval(folder: Path, k: int, rng: random.Random, n_prompts: int) -> None:
    from rlaif.backends.base import ChatMessage
    from rlaif.constitution import load_constitution
    from rlaif.evals.policy_eval_config import PolicyEvalConfig
    from rlaif.evals.policy_eval_result import summarize, write_eval
    from rlaif.evals.winrate import PairVerdict, Verdict, outcome_of
    from rlaif.feedback.comparison import Comparison
    from rlaif.feedback.inputs import PromptRow
    from rlaif.resources import shipped_dir

    style = load_constitution(shipped_dir("principles") / "style.yaml")
    principles = list(style.principles[:3])
    prompts = [
        PromptRow(f"heldout-{i:03d}", (ChatMessage("user", _QUESTIONS[i % len(_QUESTIONS)]),), "heldout")
        for i in range(n_prompts)
    ]
    base = [_BASE[i % len(_BASE)] for i in range(n_prompts)]
    policy = [_policy_text(i, k, rng) for i in range(n_prompts)]
    verdicts = []
    for i, (a, b) in enumerate(zip(policy, base, strict=True)):
        if a == b:
            tie = Verdict(0.5, 0.5, "tie")
            verdicts.append(
                PairVerdict(
                    prompts[i].id, identical=True, overall=tie, per_principle={p.ref: tie for p in principles}
                )
            )
            continue
        per = {}
        for p in principles:
            lean = 0.08 * k + rng.uniform(-0.2, 0.2)
            p1, p2 = (
                min(max(0.5 + lean + rng.uniform(-0.25, 0.25), 0.01), 0.99),
                min(max(0.5 + lean - 0.15, 0.01), 0.99),
            )
            per[p.ref] = Verdict(p1, p2, outcome_of(p1, p2))
        m1 = sum(v.p_ab for v in per.values()) / len(per)
        m2 = sum(v.p_ba for v in per.values()) / len(per)
        verdicts.append(
            PairVerdict(prompts[i].id, overall=Verdict(m1, m2, outcome_of(m1, m2)), per_principle=per)
        )
    config = PolicyEvalConfig(
        prompts=Path("data/prompts/everyday.jsonl"),
        constitution=Path("principles/style.yaml"),
        n_samples=3,
        bootstrap_resamples=200,
    )
    result = summarize(
        config,
        prompts,
        policy_texts=policy,
        baseline_texts=base,
        base_texts=base,
        policy_finish=["stop"] * n_prompts,
        base_finish=["stop"] * n_prompts,
        verdicts=verdicts,
        pairs=[Comparison(p.id, p.conversation, a, b) for p, a, b in zip(prompts, policy, base, strict=True)],
        principles=principles,
        rule_principles=[p for p in style.principles if p.rule is not None],
        kl_values=[abs(rng.gauss(2.0 * k, 1.0)) for _ in range(n_prompts)],
    )
    result.policy = {"model": "smollm2", "adapter": f"round-{k}/policy/model", "revision": "sample"}
    result.baseline = {"kind": "base", "adapter": None, "revision": "sample"}
    result.critic = {"model": "smollm2", "revision": "sample"}
    result.constitution = {
        "name": style.name,
        "path": "principles/style.yaml",
        "hash": "0" * 64,
        "principles": [p.ref for p in principles],
    }
    result.timing = {"seconds": {"total": 120.0 + k}, "throughput": {"responses_per_second": 0.8}}
    write_eval(result, folder)


def write_sample_run(
    run_dir: Path, *, rounds: int = 2, finished: bool = True, seed: int = 0, n_prompts: int = 24
) -> Path:
    """Write a synthetic run of ``rounds`` rounds into ``run_dir``; with ``finished=False`` the last round stops
    while labelling (its label stage is marked running and the later stages are absent)."""
    rng = random.Random(seed)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = {
        "name": run_dir.name,
        "rlaif_version": "0.1.0",
        "created": "2026-11-21T10:00:00+00:00",
        "rounds": rounds,
        "pipeline": {
            "name": run_dir.name,
            "policy": {"model": "smollm2", "trainer": "dpo"},
            "rounds": rounds,
        },
        "constitution": {
            "path": "principles/style.yaml",
            "hash": "0" * 64,
            "principles": ["concise@1", "no_filler@1"],
        },
        "status": "done" if finished else "running",
    }
    atomic_write_text(run_dir / "run.json", json.dumps(run, indent=2) + "\n")
    for k in range(1, rounds + 1):
        rd = run_dir / f"round-{k}"
        last_partial = not finished and k == rounds
        _manifest(
            rd / "generate", "generate", k, 40.0 + k, throughput={"unit": "responses", "per_second": 1.6}
        )
        if last_partial:
            _manifest(rd / "label", "label", k, 0.0, status="running")
            break
        _manifest(rd / "label", "label", k, 95.0, throughput={"unit": "pairs", "per_second": 0.6})
        counts = [rng.randint(0, 12) for _ in range(10)]
        stats = {
            "pairs": 64, "labeled": 60, "rows": 60, "filtered": 0, "unlabeled": 4,
            "unlabeled_by_reason": {"critic gave every choice zero probability": 4},
            "label_source": "critic", "format": "conversational", "mean_p_chosen": 0.58 + 0.01 * k,
            "confidence_histogram": {"edges": [i / 10 for i in range(11)], "counts": counts},
            "critic": {"pairs": 60, "judgements": 240, "position_bias_rate": 0.8 - 0.05 * k,
                       "first_letter_both_orders": 0.7, "second_letter_both_orders": 0.1,
                       "order_consistency": 0.2 + 0.05 * k, "pairs_order_consistent": 0.05},
            "rules": {"checks": 120, "discriminating": 30,
                      "critic_agreement": {"compared": 30, "agree": 17, "rate": 17 / 30}},
            "principles": {},
        }  # fmt: skip
        atomic_write_text(rd / "label" / "stats.json", json.dumps(stats, indent=2) + "\n")
        _manifest(rd / "reward", "reward", k, 60.0)
        reward_eval = {  # the layout of `rlaif eval rm`'s report.json (rlaif.reward.evaluate)
            "model": f"round-{k}/reward/model",
            "labels": {"n": 120, "accuracy": _estimate(0.6 + 0.03 * k, 0.08, 120), "ece": 0.08, "brier": 0.23,
                       "mean_abs_error": 0.2, "mean_margin": 0.4},
            "per_principle": {"concise@1": {"n": 40, "accuracy": _estimate(0.65, 0.1, 40), "ece": 0.07,
                                            "brier": 0.22, "mean_abs_error": 0.2, "mean_margin": 0.3}},
            "human": None,
            "steering": {"n": 80, "flip_rate": _estimate(0.55, 0.1, 80),
                         "accuracy_principle": _estimate(0.6, 0.1, 80), "accuracy_negation": _estimate(0.55, 0.1, 80),
                         "per_principle": {}},
            "truncation": {},
        }  # fmt: skip
        atomic_write_text(rd / "reward" / "eval.json", json.dumps(reward_eval, indent=2) + "\n")
        _manifest(rd / "policy", "policy", k, 300.0, throughput={"unit": "pairs", "per_second": 0.4})
        lines = []
        for step in range(1, 21):
            kl = 0.02 * step * k
            rec = {
                "step": step,
                "phase": "train",
                "loss": 0.69 - 0.01 * step,
                "reward": 0.3 * kl**0.5 + rng.gauss(0, 0.02),
                "kl": kl,
            }
            lines.append(json.dumps(rec, sort_keys=True))
        atomic_write_text(rd / "policy" / "metrics.jsonl", "\n".join(lines) + "\n")
        atomic_write_text(
            rd / "policy" / "summary.json", json.dumps({"steps": 20, "final_loss": 0.49}) + "\n"
        )
        _manifest(
            rd / "evaluate", "evaluate", k, 121.0 + k, throughput={"unit": "prompts", "per_second": 0.2}
        )
        _write_eval(rd / "evaluate", k, rng, n_prompts)
    return run_dir


__all__ = ["write_sample_run"]
