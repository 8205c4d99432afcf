"""How much of a labeling prompt is a shared prefix: the measured input of the 7B-critic estimate in docs/scaling.md.

Renders the critic prompts exactly as ``rlaif label`` sends them (``compare`` template, k principles sampled per pair
from ``principles/hhh.yaml``, both answer orders, pair by pair, principle last) for the fixed comparisons of
``benchmarks/_bench_data.py``, tokenizes them with the embedded SmolLM2 tokenizer (no model forward: seconds), and
measures:

* **token hit rate**: 1 - distinct tokens / total tokens, the share of prompt tokens a prefix-sharing engine does not
  recompute (rlaif's transformers backend reaches it exactly; it is the bound printed by bench_label.py);
* **block hit rate**: the same with vLLM's automatic prefix caching, simulated: a prompt reuses the full 16-token
  blocks of its prefix that an earlier prompt already filled (cache assumed large enough; requests of one scheduler
  step that could share a block may still both compute it, so this is an upper bound for vLLM).

Then it derives, on paper, labels/s per GPU for a 7B critic: FLOPs per label = 2 x 7e9 x computed tokens per label
(+ attention, ~2 % at these lengths, ignored), at an assumed 50 % of an H100 SXM's 989 dense bf16 TFLOP/s.

Run::

    python benchmarks/bench_prefix_hits.py            # 48 comparisons, k = 1, 2, 4
    python benchmarks/bench_prefix_hits.py --quick    # 12 comparisons
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

BLOCK = 16  # vLLM's default KV block size
PARAMS_7B = 7.0e9
H100_BF16_DENSE = 989e12
ASSUMED_MFU = 0.5
SECONDS_PER_DAY = 86400


def block_hits(seqs: list[list[int]], block: int = BLOCK) -> int:
    """Tokens served from cache when ``seqs`` arrive in order and full blocks of a seen prefix are reused."""
    seen: set[tuple[int, ...]] = set()
    hits = 0
    for s in seqs:
        reusable = True
        for end in range(block, len(s) + 1, block):
            key = tuple(s[:end])
            if reusable and key in seen:
                hits += block
            else:
                reusable = False
                seen.add(key)
    return hits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="12 comparisons instead of 48")
    ap.add_argument("--pairs", type=int, default=None)
    args = ap.parse_args()
    n = args.pairs or (12 if args.quick else 48)

    import transformers

    from rlaif.backends.base import ChatMessage
    from rlaif.backends.prefix_cache import distinct_tokens
    from rlaif.constitution import load_constitution, sample_principles
    from rlaif.feedback.labeler import principle_seed
    from rlaif.models import load_tokenizer, resolve_model
    from rlaif.prompting import TemplateSet, render_for_critic

    tok = load_tokenizer(resolve_model("smollm2"))
    templates = TemplateSet.load()
    constitution = load_constitution(ROOT / "principles" / "hhh.yaml")
    items = comparisons(n)

    print(f"# bench_prefix_hits  {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"transformers {transformers.__version__}, python {platform.python_version()}; tokenizer: SmolLM2 (49k BPE)"
    )
    print(f"workload: {n} comparisons (question + two 30-120 word responses), compare template, both orders")
    print()
    print(
        f"| {'k':>2} | {'prompts':>7} | {'tokens/prompt':>13} | {'token hit':>9} | {'block hit':>9} "
        f"| {'computed tok/label':>18} | {'labels/s/H100 (paper)':>21} |"
    )
    print(f"|{'-' * 4}|{'-' * 9}|{'-' * 15}|{'-' * 11}|{'-' * 11}|{'-' * 20}|{'-' * 23}|")
    results = {}
    for k in (1, 2, 4):
        seqs: list[list[int]] = []
        for i, c in enumerate(items):
            principles = sample_principles(constitution, k, seed=principle_seed(0, f"bench-{i:03d}:0-1"))
            conversation = [ChatMessage("user", c.question)]
            for first, second in ((c.response_a, c.response_b), (c.response_b, c.response_a)):
                for p in principles:
                    prompt = render_for_critic(
                        templates,
                        "compare",
                        tok,
                        conversation=conversation,
                        response_a=first,
                        response_b=second,
                        principle=p,
                    )
                    seqs.append(list(tok(prompt.text, add_special_tokens=False)["input_ids"]))
        total = sum(len(s) for s in seqs)
        token_hit = 1 - distinct_tokens(seqs) / total
        block_hit = block_hits(seqs) / total
        computed_per_label = total * (1 - block_hit) / n  # vLLM-realistic: block-level reuse
        flops_per_label = 2 * PARAMS_7B * computed_per_label
        labels_per_s = ASSUMED_MFU * H100_BF16_DENSE / flops_per_label
        results[k] = labels_per_s
        print(
            f"| {k:>2} | {len(seqs):>7} | {total / len(seqs):>13.0f} | {token_hit:>8.1%} | {block_hit:>8.1%} "
            f"| {computed_per_label:>18.0f} | {labels_per_s:>21.0f} |"
        )
    print()
    print(
        f"paper: 7B critic, {ASSUMED_MFU:.0%} of {H100_BF16_DENSE / 1e12:.0f} TFLOP/s (H100 SXM dense bf16), "
        "FLOPs = 2 x params x computed tokens"
    )
    for k, rate in results.items():
        gpus = 1e6 / (rate * SECONDS_PER_DAY)
        print(f"k={k}: {rate:.0f} labels/s per GPU -> 1M comparisons/day needs {gpus:.2f} GPU(s) (paper)")
    print()
    print(f"info: bench_prefix_hits labels_per_s_per_h100_k4_paper={results[4]:.0f} (reported, not a target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
