"""Seconds per PPO step on the embedded model, split into rollout / reward scoring / log-probabilities / optimisation,
with each phase's tokens/s and effective GFLOP/s, so that the next optimisation target is visible.

Workload: SmolLM2-135M-Instruct with a LoRA adapter (r=16, all linear layers), prompts from
``data/prompts/style.jsonl`` + ``everyday.jsonl`` (train split), rule reward (style constitution, ``concise``),
``rollout_batch`` 8 responses of at most 48 tokens sampled at temperature 1, 2 PPO epochs in minibatches of 4,
value head on the policy. The first step is reported but left out of the means (warm-up).

Phases:
* rollout: sampling the responses (decode: one forward per new token over the batch, KV cache);
* reward: scoring the responses (rules: regular expressions and counts; no model);
* logprobs: the rollout policy's log-probs and values, and the reference's (adapter off): 2 forwards over the batch;
* optimise: ``ppo_epochs`` passes of forward + backward over the batch.

Effective GFLOP/s counts 2·P FLOPs per token for a forward and 4·P for a LoRA training step (forward plus the
activation-gradient backward; the frozen weights need no weight gradients), P = parameters. No peer trains PPO on a
CPU (TRL's PPOTrainer was deleted, OpenRLHF/verl need GPUs and Ray), so the numbers stand alone.

Run::

    python benchmarks/bench_ppo.py            # 5 steps
    python benchmarks/bench_ppo.py --quick    # 2 steps
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.training.precision import cpu_model as _cpu_model  # noqa: E402

TARGET_SECONDS_PER_STEP = 30.0
PHASES = ("rollout", "reward", "logprobs", "optimise")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 steps instead of 5")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rollout-batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    args = ap.parse_args()
    steps = args.steps or (2 if args.quick else 5)

    import torch
    import transformers

    from rlaif.policy.ppo import PPOConfig, train_ppo
    from rlaif.training import read_metrics

    with tempfile.TemporaryDirectory() as tmp:
        config = PPOConfig.model_validate(
            {
                "model": args.model,
                "prompts": [
                    str(ROOT / "data/prompts/style.jsonl"),
                    str(ROOT / "data/prompts/everyday.jsonl"),
                ],
                "output_dir": tmp,
                "reward": {
                    "rules": {"constitution": str(ROOT / "principles/style.yaml"), "principles": ["concise"]}
                },
                "max_new_tokens": args.max_new_tokens,
                "rollout_batch": args.rollout_batch,
                "minibatch": 4,
                "ppo_epochs": 2,
                "steps": steps,
                "early_stop_kl": None,
                "optim": {"lr": 5e-4, "schedule": "constant"},
                "run": {"device": args.device, "batch_size": 8, "save_every": 1000},
            }
        )
        t = time.perf_counter()
        result = train_ppo(config, progress=False)
        wall = time.perf_counter() - t
        history = read_metrics(Path(tmp) / "metrics.jsonl")
        from rlaif.models import resolve_model

        resolved = resolve_model(args.model)
    from safetensors import safe_open

    params = 0
    for f in sorted(Path(resolved.path).glob("*.safetensors")):
        with safe_open(str(f), "pt") as sf:
            for k in sf.keys():  # noqa: SIM118 - safe_open has no __iter__
                n = 1
                for d in sf.get_slice(k).get_shape():
                    n *= int(d)
                params += n
    measured = history[1:] if len(history) > 1 else history

    def mean(key: str) -> float:
        return statistics.fmean(float(r[key]) for r in measured)

    gen = mean("tokens/generated")
    batch_tokens = mean("tokens/batch")
    updates = mean("ppo_updates")
    tokens = {
        "rollout": gen,
        "reward": gen,
        "logprobs": 2 * batch_tokens,
        "optimise": batch_tokens * updates * 4 / args.rollout_batch,
    }
    flops_per_token = {"rollout": 2 * params, "reward": 0, "logprobs": 2 * params, "optimise": 4 * params}
    seconds = {p: mean(f"time/{p}") for p in PHASES}
    total = sum(seconds.values())

    print(f"# bench_ppo  {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, device {args.device}"
    )
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}"
    )
    print(f"policy: {resolved.model_id} ({params / 1e6:.1f} M params) + LoRA r=16; value head on the policy")
    print(
        f"workload: {steps} PPO steps x {args.rollout_batch} responses (<= {args.max_new_tokens} new tokens, "
        f"temperature 1), 2 PPO epochs, minibatch 4; mean response {mean('response_length'):.1f} tokens, "
        f"{batch_tokens:.0f} prompt+response tokens per batch; wall {wall:.1f} s (incl. model load and export)"
    )
    print(f"means over steps 2..{steps}" if len(history) > 1 else "one step only (includes warm-up)")
    print()
    print("| phase     | s/step | share |   tokens |  tokens/s | eff. GFLOP/s |")
    print("|-----------|--------|-------|----------|-----------|--------------|")
    for p in PHASES:
        s = seconds[p]
        tps = tokens[p] / s if s > 0 else float("nan")
        gflops = tps * flops_per_token[p] / 1e9
        print(f"| {p:<9} | {s:6.2f} | {s / total:5.0%} | {tokens[p]:8.0f} | {tps:9.1f} | {gflops:12.1f} |")
    print(f"| total     | {total:6.2f} |  100% |          |           |              |")
    print()
    slowest = max(PHASES, key=lambda p: seconds[p])
    print(f"largest phase: {slowest} ({seconds[slowest] / total:.0%} of the step)")
    print(
        f"last step: reward {history[-1]['reward_mean']:.3f}, KL {history[-1]['kl']:.3f}; {result.steps} steps"
    )
    verdict = "pass" if total <= TARGET_SECONDS_PER_STEP else "fail"
    print(f"RESULT bench_ppo seconds_per_step={total:.2f} target=<={TARGET_SECONDS_PER_STEP:g} {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
