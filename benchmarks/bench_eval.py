"""Policy evaluation and report build times: ``evaluate_policy`` on 50 held-out prompts with the embedded model on
this CPU (target ≤ 5 minutes), and ``build_report`` from an existing run (target ≤ 10 s).

Workload: the first 50 prompts of ``data/prompts/everyday.jsonl`` (all splits: the shipped held-out splits are
smaller than 50), policy = SmolLM2-135M-Instruct + a LoRA adapter with small random B matrices (so its responses
differ from the base model's and the critic really judges every pair), baseline = the base model, critic = the same
SmolLM2, constitution ``principles/hhh.yaml``, KL monitor on; greedy, ``--max-new-tokens`` (default 96). The call cache
starts empty (cold: every model call is computed), then the same evaluation runs again warm (the base model's
responses reused across rounds come from this cache). Model loading is included in the timed total.

The report is built from a 3-round run directory: rounds 1–2 fabricated by ``rlaif.testing.sample_run`` and round 3
the real evaluation above.

Run::

    python benchmarks/bench_eval.py                  # 50 prompts, all 11 hhh principles
    python benchmarks/bench_eval.py --quick          # 10 prompts
    python benchmarks/bench_eval.py --principles helpfulness honesty harmlessness
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.training.precision import cpu_model as _cpu_model  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "bench_eval"


def make_adapter(folder: Path, scale: float, seed: int) -> Path:
    """A LoRA adapter on the embedded model whose B matrices are small random numbers (a 'trained' policy)."""
    import torch

    from rlaif.policy.model import load_policy
    from rlaif.training import LoraSettings, export_model

    policy = load_policy("smollm2", lora=LoraSettings(), device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return export_model(policy.model, policy.tokenizer, folder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 prompts instead of 50")
    ap.add_argument("--prompts", type=int, default=None, help="number of prompts (default 50, quick 10)")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--principles", nargs="*", default=None, help="principle ids (default: all of hhh)")
    ap.add_argument("--adapter-scale", type=float, default=0.02)
    args = ap.parse_args()
    n = args.prompts or (10 if args.quick else 50)

    import torch
    import transformers

    from rlaif.evals.policy_eval import PolicyEvalConfig, evaluate_policy
    from rlaif.report import build_report
    from rlaif.testing.sample_run import write_sample_run

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    t = time.perf_counter()
    adapter = make_adapter(OUT / "adapter", args.adapter_scale, seed=0)
    adapter_s = time.perf_counter() - t

    run = OUT / "run"
    write_sample_run(run, rounds=3)
    eval_dir = run / "round-3" / "evaluate"
    shutil.rmtree(eval_dir)
    config = PolicyEvalConfig(
        prompts=ROOT / "data/prompts/everyday.jsonl",
        split=None,
        limit=n,
        constitution=ROOT / "principles/hhh.yaml",
        principles=args.principles,
        max_new_tokens=args.max_new_tokens,
        cache=OUT / "cache.sqlite",
    )
    t, c = time.perf_counter(), time.process_time()
    cold = evaluate_policy(config, policy_adapter=adapter, out_dir=eval_dir, progress=False)
    cold_s, cold_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    warm = evaluate_policy(config, policy_adapter=adapter, out_dir=OUT / "warm", progress=False)
    warm_s = time.perf_counter() - t
    # the warm run reads generations and judgements from the call cache: its verdicts must be the cold run's
    same_warm = repr(warm.win_rates) == repr(cold.win_rates)

    times = []
    for _ in range(3):
        t = time.perf_counter()
        build_report(run)
        times.append(time.perf_counter() - t)
    report_s = max(times)

    secs = cold.timing["seconds"]
    wr = cold.win_rates.get("constitution")
    k = len(cold.constitution["principles"])
    print(f"# bench_eval  {time.strftime('%Y-%m-%d %H:%M')}")
    load = os.getloadavg()
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}"
    )
    print(
        f"workload: {n} prompts x (policy + base) greedy <= {args.max_new_tokens} new tokens; critic: "
        f"{k} principles x 2 orders per pair; KL scoring; adapter built in {adapter_s:.1f} s (not timed)"
    )
    print()
    print("| phase                         |  seconds |")
    print("|-------------------------------|----------|")
    for name, value in secs.items():
        print(f"| {name:<29} | {value:8.1f} |")
    print(f"| evaluate_policy, cold: CPU seconds (all threads) | {cold_cpu:8.1f} |")
    print(f"| evaluate_policy, warm cache   | {warm_s:8.1f} |")
    print(f"| build_report (3 rounds, max of 3) | {report_s:8.3f} |")
    print()
    if wr is not None:
        print(
            f"win rate vs base: {wr.win_rate} ({wr.wins} wins / {wr.ties} ties / {wr.losses} losses); "
            f"identical pairs {cold.identical}; throughput {json.dumps(cold.timing['throughput'])}"
        )
    print()
    print(f"RESULT bench_eval eval_seconds={cold_s:.1f} target=<=300 {'pass' if cold_s <= 300 else 'fail'}")
    # on a shared machine wall time includes waiting for the CPU; CPU time / threads bounds an idle run from below
    est = cold_cpu / max(torch.get_num_threads(), 1)
    print(
        f"RESULT bench_eval cpu_seconds_per_thread={est:.1f} target=<=300 {'pass' if est <= 300 else 'fail'}"
    )
    print(
        f"RESULT bench_eval report_seconds={report_s:.3f} target=<=10 {'pass' if report_s <= 10 else 'fail'}"
    )
    # a warm cache skips generation and judging, so the warm run must take at most half the cold one (and agree)
    ok_warm = warm_s <= 0.5 * cold_s and same_warm
    print(
        f"RESULT bench_eval warm_eval_seconds={warm_s:.1f} target=<={0.5 * cold_s:.0f} (half of cold), same "
        f"verdicts={same_warm} {'pass' if ok_warm else 'fail'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
