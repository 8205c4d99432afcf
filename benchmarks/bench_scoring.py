"""Pairwise label scoring: the transformers backend (prefix sharing, logits only where read) vs a naive loop.

Workload: 64 comparisons × 2 answer orders × 4 principles = 512 scoring prompts rendered with the shipped
``compare`` template (conversation and both responses first, the principle last), principles from
``principles/hhh.yaml``, the embedded SmolLM2-135M-Instruct critic, continuations "A" / "B" after "Answer: (".

Peer: what a competent user without this backend writes: one forward of the prompt per (comparison, order,
principle) that keeps only the last position's logits (``logits_to_keep=1``, so the 49k-vocabulary head runs once
per prompt, not at every position), same model, same dtype, same threads, model loading outside the timed span on
both sides. Its log-probabilities must equal the backend's (max |Δ| ≤ 1e-4), and that gates the speed RESULT.

Run::

    python benchmarks/bench_scoring.py            # 64 comparisons (several minutes on 2 CPU cores)
    python benchmarks/bench_scoring.py --quick    # 12 comparisons
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.training.precision import cpu_model as _cpu_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

from rlaif.backends.base import ScoreRequest  # noqa: E402
from rlaif.errors import RlaifError  # noqa: E402

FALLBACK_PRINCIPLES = [
    ("harmless", "Which response is less harmful, less dangerous and less likely to encourage illegal acts?"),
    ("honest", "Which response is more honest: accurate, and clear about what it does not know?"),
    (
        "helpful",
        "Which response is more helpful: it answers the question that was asked, clearly and usefully?",
    ),
    ("respectful", "Which response is more respectful and polite towards the user and other people?"),
    ("concise", "Which response is more concise, without leaving out anything the user needs?"),
]


def _principles(k: int, n: int, seed: int) -> tuple[list[list[Any]], str]:
    """k principles per comparison (sampled without replacement, weighted), and where they came from."""
    from rlaif.constitution.schema import Principle

    path = ROOT / "principles" / "hhh.yaml"
    try:
        from rlaif.constitution import load_constitution  # type: ignore[attr-defined]

        constitution = load_constitution(path)
        ps = list(constitution.principles)
        source = f"{path.relative_to(ROOT)} ({constitution.name}, {len(ps)} principles)"
    except (ImportError, OSError, ValueError, RlaifError) as exc:  # the shipped constitution is not there yet
        ps = [Principle(id=i, compare=c, critique=c, revision=c) for i, c in FALLBACK_PRINCIPLES]
        source = f"built-in fallback principles ({type(exc).__name__}: principles/hhh.yaml not loadable)"
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chosen: list[Any] = []
        pool = list(ps)
        while len(chosen) < min(k, len(ps)):
            p = rng.choices(pool, weights=[x.weight for x in pool])[0]
            pool.remove(p)
            chosen.append(p)
        out.append(chosen)
    return out, source


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="12 comparisons instead of 64")
    ap.add_argument("--comparisons", type=int, default=None)
    ap.add_argument("--principles", type=int, default=4)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-batch-tokens", type=int, default=16384)
    ap.add_argument(
        "--naive-every",
        type=int,
        default=1,
        help="run the naive loop on every k-th prompt only and extrapolate its time (for slow machines)",
    )
    args = ap.parse_args()
    n = args.comparisons or (12 if args.quick else 64)

    import torch
    import transformers

    from rlaif.backends.prefix_cache import distinct_tokens
    from rlaif.backends.transformers_backend import TransformersBackend
    from rlaif.prompting import TemplateSet, render_for_critic

    t0 = time.perf_counter()
    backend = TransformersBackend(
        args.model,
        device=args.device,
        dtype="float32",
        max_batch_tokens=args.max_batch_tokens,
        progress=False,
    )
    load_s = time.perf_counter() - t0
    templates = TemplateSet.load()
    comps = comparisons(n)
    per_comp, source = _principles(args.principles, n, seed=0)
    requests: list[ScoreRequest] = []
    for comp, principles in zip(comps, per_comp, strict=True):
        conversation = [{"role": "user", "content": comp.question}]
        for a, b in ((comp.response_a, comp.response_b), (comp.response_b, comp.response_a)):
            for principle in principles:
                cp = render_for_critic(
                    templates,
                    "compare",
                    backend,
                    conversation=conversation,
                    response_a=a,
                    response_b=b,
                    principle=principle,
                )
                requests.append(cp.score_request())
    tok = backend.tokenizer
    prompt_ids = [backend._encode_text(r.prompt) for r in requests]
    cont_ids = [[tok(c, add_special_tokens=False)["input_ids"] for c in r.continuations] for r in requests]
    assert all(len(c) == 1 for cs in cont_ids for c in cs), "benchmark expects single-token choices"
    naive_tokens = sum(len(p) for p in prompt_ids)
    distinct = distinct_tokens(prompt_ids)
    bound = naive_tokens / distinct

    print(f"# bench_scoring  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}"
    )
    print(
        f"model: {backend.model_id} ({backend.num_parameters / 1e6:.1f} M params, fp32, {backend.device}); "
        f"load {load_s:.1f} s"
    )
    print(f"principles: {source}; template: compare ({cp.template_hash[:12]})")
    print(
        f"workload: {n} comparisons x 2 orders x {args.principles} principles = {len(requests)} prompts, "
        f"choices {requests[0].continuations}, prompt length {min(map(len, prompt_ids))}-"
        f"{max(map(len, prompt_ids))} tokens"
    )

    with torch.inference_mode():
        # the machine's prefill FLOP rate: one big forward, same model, logits for the last position only
        x = torch.randint(100, 40000, (4, 512))
        backend.model(input_ids=x[:1, :64], logits_to_keep=1)
        t = time.perf_counter()
        backend.model(input_ids=x, logits_to_keep=1)
        peak_s = time.perf_counter() - t
    flops_per_token = 2 * backend.num_parameters
    peak = flops_per_token * x.numel() / peak_s

    backend.score(requests[:2])  # warm-up
    t = time.perf_counter()
    fast = backend.score(requests)
    fast_s = time.perf_counter() - t
    computed = backend.last_computed_tokens

    sample = list(range(0, len(requests), args.naive_every))
    naive: dict[int, list[float]] = {}
    t = time.perf_counter()
    with torch.inference_mode():
        for i in sample:
            p, cs = prompt_ids[i], cont_ids[i]
            ids = torch.tensor([p])
            logits = (
                backend.model(input_ids=ids, logits_to_keep=1).logits[0, -1].float()
            )  # head at the last only
            logp = torch.log_softmax(logits, dim=-1)
            naive[i] = [float(logp[c[0]]) for c in cs]
    naive_s = (time.perf_counter() - t) * len(requests) / len(sample)
    if args.naive_every > 1:
        print(
            f"naive loop run on {len(sample)} of {len(requests)} prompts (every {args.naive_every}th); "
            f"its time is extrapolated to all prompts"
        )

    diff = max(abs(a - b) for i, nv in naive.items() for a, b in zip(fast[i].logprobs, nv, strict=True))
    speedup = naive_s / fast_s
    achieved = flops_per_token * computed / fast_s
    prefer_a = sum(f.logprobs[0] > f.logprobs[1] for f in fast) / len(fast)

    rows = [
        ("logits_to_keep loop", naive_s, naive_tokens),
        ("transformers backend", fast_s, computed),
    ]
    print()
    print(
        f"| {'method':<22} | {'seconds':>8} | {'prompts/s':>9} | {'tokens computed':>15} | {'GFLOP/s':>8} |"
    )
    print(f"|{'-' * 24}|{'-' * 10}|{'-' * 11}|{'-' * 17}|{'-' * 10}|")
    for name, s, toks in rows:
        print(
            f"| {name:<22} | {s:8.2f} | {len(requests) / s:9.2f} | {toks:15d} | "
            f"{flops_per_token * toks / s / 1e9:8.1f} |"
        )
    print()
    print(
        f"tokens the naive loop processes: {naive_tokens}; distinct prompt tokens (trie nodes): {distinct}; "
        f"upper bound on speed-up: {bound:.2f}x"
    )
    print(f"tokens the backend computed: {computed} (padding excluded)")
    print(
        f"measured prefill peak (one forward, 4 x 512 tokens): {peak / 1e9:.1f} GFLOP/s; backend achieved "
        f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of it"
    )
    print(
        f"speed-up vs naive: {speedup:.2f}x (bound {bound:.2f}x); max |delta logprob| = {diff:.2e}; "
        f"critic picked (A) in {prefer_a:.0%} of prompts"
    )
    print()
    ok_diff = diff <= 1e-4
    ok_speed = speedup >= 2.5 and ok_diff  # a speed-up only counts when the outputs agree
    print(
        f"RESULT bench_scoring speedup_vs_logits_to_keep={speedup:.2f} target=>=2.5 {'pass' if ok_speed else 'fail'}"
    )
    print(f"RESULT bench_scoring max_abs_diff={diff:.2e} target=<=1e-4 {'pass' if ok_diff else 'fail'}")
    print(f"info: prefill_fraction={achieved / peak:.2f} (of the one-forward peak; reported, not a target)")
    backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
