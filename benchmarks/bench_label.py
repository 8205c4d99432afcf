"""End-to-end pairwise labeling: ``label_dataset`` (one cached, prefix-sharing score call per batch) vs a naive labeler.

Workload: 64 pairs (fixed, realistic question + two responses of 30-120 words, from ``benchmarks/_bench_data.py``,
written for this project, so no generation time is mixed into the labeling numbers), k = 4 principles sampled per
pair from ``principles/hhh.yaml``, both answer orders = 512 critic prompts, the embedded SmolLM2-135M-Instruct
critic in float32 on CPU.

Measured:

1. **cold**: ``label_dataset`` over a ``CachedBackend`` with an empty cache (rendering, scoring, labels, stats);
2. **naive**: the same labels computed the way a user without rlaif would: render each (pair, principle, order)
   prompt and run one forward per prompt keeping only the last position's logits (``logits_to_keep=1``), no cache,
   no batching;
3. **warm**: ``label_dataset`` again over the same inputs with the cache filled by the cold run.

Checks: identical labels (max |Δp| ≤ 1e-4), cold ≥ 2.5× naive in labels/s (the shared-prefix bound, printed beside
it, is naive tokens / distinct prompt tokens), warm ≥ 50× cold.

Run::

    python benchmarks/bench_label.py            # 64 pairs (several minutes on 2 CPU cores)
    python benchmarks/bench_label.py --quick    # 12 pairs
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.training.precision import cpu_model as _cpu_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

from rlaif.backends.base import ChatMessage  # noqa: E402
from rlaif.feedback.inputs import PromptRow  # noqa: E402
from rlaif.feedback.responses import ResponseSet  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="12 pairs instead of 64")
    ap.add_argument("--pairs", type=int, default=None)
    ap.add_argument("-k", type=int, default=4)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--batch-pairs", type=int, default=32)
    args = ap.parse_args()
    n = args.pairs or (12 if args.quick else 64)

    import torch
    import transformers

    from rlaif.backends.prefix_cache import distinct_tokens
    from rlaif.backends.transformers_backend import TransformersBackend
    from rlaif.constitution import load_constitution
    from rlaif.feedback.call_cache import CachedBackend, CallCache
    from rlaif.feedback.labeler import LabelConfig, label_dataset
    from rlaif.feedback.pairs import make_pairs
    from rlaif.feedback.soft_labels import ensemble, judgement_from_logprobs
    from rlaif.prompting import TemplateSet, render_for_critic

    t0 = time.perf_counter()
    backend = TransformersBackend(args.model, device="cpu", dtype="float32", progress=False)
    load_s = time.perf_counter() - t0
    templates = TemplateSet.load()
    constitution = load_constitution(ROOT / "principles" / "hhh.yaml")
    sets = [
        ResponseSet(
            prompt=PromptRow(f"bench-{i:03d}", (ChatMessage("user", c.question),)),
            responses=(c.response_a, c.response_b),
            finish_reasons=("stop", "stop"),
            seed=0,
            policy_model="fixed",
            policy_revision="bench",
        )
        for i, c in enumerate(comparisons(n))
    ]
    config = LabelConfig(k=args.k, batch_pairs=args.batch_pairs, progress=False)

    print(f"# bench_label  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}"
    )
    print(
        f"critic: {backend.model_id} ({backend.num_parameters / 1e6:.1f} M params, fp32, cpu); load {load_s:.1f} s"
    )
    print(f"workload: {n} pairs x k={args.k} principles (hhh) x 2 orders = {n * args.k * 2} critic prompts")

    backend.score(
        [
            render_for_critic(
                templates,
                "compare",
                backend,
                conversation="hi",
                response_a="a",
                response_b="b",
                principle=constitution.principles[0],
            ).score_request()
        ]
    )

    with tempfile.TemporaryDirectory() as tmp:
        cache = CallCache(Path(tmp) / "cache.sqlite")
        cached = CachedBackend(backend, cache, chunk_size=1 << 30)
        t = time.perf_counter()
        cold = label_dataset(sets, constitution, cached, templates, config)
        cold_s = time.perf_counter() - t
        misses = cache.misses
        cache.hits = cache.misses = 0
        t = time.perf_counter()
        warm = label_dataset(sets, constitution, cached, templates, config)
        warm_s = time.perf_counter() - t
        warm_hits, warm_misses = cache.hits, cache.misses
        cache.close()
    assert [r["p_chosen"] for r in warm.rows] == [r["p_chosen"] for r in cold.rows]

    # the naive labeler: same pairs, same sampled principles, one full forward per (principle, order)
    pairs, _ = make_pairs(sets, "first_two")
    sampled = {r["pair_id"]: r["principles"] for r in cold.rows}
    by_ref = {p.ref: p for p in constitution.principles}
    tok = backend.tokenizer
    choice_ids = [tok(c, add_special_tokens=False)["input_ids"][0] for c in ("A", "B")]
    naive_p: dict[str, float] = {}
    prompt_ids: list[list[int]] = []
    t = time.perf_counter()
    with torch.inference_mode():
        for pair in pairs:
            judgements = []
            for ref in sampled[pair.pair_id]:
                principle = by_ref[ref]
                orders = []
                for first, second in ((pair.response_a, pair.response_b), (pair.response_b, pair.response_a)):
                    cp = render_for_critic(
                        templates,
                        "compare",
                        backend,
                        conversation=list(pair.conversation),
                        response_a=first,
                        response_b=second,
                        principle=principle,
                    )
                    ids = backend._encode_text(cp.text)
                    prompt_ids.append(ids)
                    out = backend.model(
                        input_ids=torch.tensor([ids]), logits_to_keep=1
                    )  # head at the last only
                    logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
                    orders.append([float(logp[c]) for c in choice_ids])
                judgements.append(
                    judgement_from_logprobs(principle.id, principle.version, orders[0], orders[1])
                )
            naive_p[pair.pair_id] = ensemble(judgements).p
    naive_s = time.perf_counter() - t

    diff = 0.0
    for row in cold.rows:
        p_a = row["p_chosen"] if row["a_is_chosen"] else 1.0 - row["p_chosen"]
        diff = max(diff, abs(p_a - naive_p[row["pair_id"]]))
    naive_tokens = sum(len(p) for p in prompt_ids)
    bound = naive_tokens / distinct_tokens(prompt_ids)
    labels = len(cold.rows)
    speedup = naive_s / cold_s
    warm_ratio = cold_s / warm_s
    print()
    print(f"| {'labeler':<28} | {'seconds':>8} | {'labels/s':>9} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 11}|")
    for name, s in (
        ("naive (1 forward per prompt)", naive_s),
        ("label_dataset, cold cache", cold_s),
        ("label_dataset, warm cache", warm_s),
    ):
        print(f"| {name:<28} | {s:8.2f} | {labels / s:9.2f} |")
    print()
    print(
        f"cold run: {misses} critic prompts computed; warm run: {warm_hits} from cache, {warm_misses} computed"
    )
    print(
        f"shared-prefix bound on the speed-up (naive tokens {naive_tokens} / distinct tokens): {bound:.2f}x"
    )
    print(
        f"speed-up vs naive: {speedup:.2f}x (bound {bound:.2f}x); max |delta p| = {diff:.2e}; "
        f"position-bias rate {cold.stats['critic']['position_bias_rate']:.0%}"
    )
    print()
    ok = speedup >= 2.5 and diff <= 1e-4  # a speed-up only counts when the labels agree
    print(
        f"RESULT bench_label speedup_vs_naive={speedup:.2f} target=>=2.5 {'pass' if ok else 'fail'} (bound {bound:.2f})"
    )
    print(f"RESULT bench_label max_abs_dp={diff:.2e} target=<=1e-4 {'pass' if diff <= 1e-4 else 'fail'}")
    print(
        f"RESULT bench_label warm_vs_cold={warm_ratio:.1f} target=>=50 {'pass' if warm_ratio >= 50 else 'fail'}"
    )
    backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
