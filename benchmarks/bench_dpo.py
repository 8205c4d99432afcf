"""bench_dpo — our DPO trainer against TRL 1.16's ``DPOTrainer`` on the same data, model, LoRA and batch size.

    python benchmarks/bench_dpo.py            # 64 pairs, batch 8 (8 optimiser steps per trainer)
    python benchmarks/bench_dpo.py --quick    # 16 pairs (2 steps)

Data: the 64 fixed comparisons of ``benchmarks/_bench_data.py`` (a question and two answers of 30–120 words),
conversational, so both trainers format them with the embedded model's chat template (~103 tokens per sequence,
~170 per pair, system prompt included). Model: the embedded SmolLM2-135M-Instruct, fp32, CPU; LoRA r=16, alpha=32 on all linear layers;
sigmoid loss, β = 0.1, lr 1e-4, batch 8, one epoch, no evaluation, no checkpoints.

Each trainer runs in its own process so peak RSS (``ru_maxrss``) is its own. Timed: the training call, including
data preparation (tokenizing) and, for ours, loading the model (TRL gets its model ready-made: a handicap for us).

- ``trl``: ``DPOTrainer`` with its defaults (gradient checkpointing on), LoRA via ``peft_config``.
- ``rlaif``: ``train_dpo`` with its defaults (shared-prompt forward, length buckets, no checkpointing).
- ``rlaif+gc``: the same with gradient checkpointing on (concatenated forward), for the memory comparison.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

BATCH = 8
LR = 1e-4
BETA = 0.1
LORA_R, LORA_ALPHA = 16, 32


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "prompt": [{"role": "user", "content": c.question}],
            "chosen": [{"role": "assistant", "content": c.response_a}],
            "rejected": [{"role": "assistant", "content": c.response_b}],
            "pair_id": f"bench-{i}",
        }
        for i, c in enumerate(comparisons(n))
    ]


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: kilobytes


def _worker(kind: str, n: int, model_dir: str, tmp: Path) -> dict[str, object]:
    import torch

    torch.manual_seed(0)
    rows = _rows(n)
    if kind == "trl":
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import DPOConfig as TrlDPOConfig
        from trl import DPOTrainer

        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        args = TrlDPOConfig(
            output_dir=str(tmp / "trl"),
            beta=BETA,
            learning_rate=LR,
            per_device_train_batch_size=BATCH,
            num_train_epochs=1,
            max_length=1024,
            report_to=[],
            use_cpu=True,
            save_strategy="no",
            logging_steps=1,
            disable_tqdm=True,
            lr_scheduler_type="linear",
            warmup_steps=0,
        )
        start = time.perf_counter()
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=LoraConfig(
                r=LORA_R, lora_alpha=LORA_ALPHA, target_modules="all-linear", task_type="CAUSAL_LM"
            ),
        )
        out = trainer.train()
        seconds = time.perf_counter() - start
        losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
        return {"seconds": seconds, "steps": out.global_step, "first_loss": losses[0], "rss_gb": _peak_rss_gb(),
                "gradient_checkpointing": bool(args.gradient_checkpointing)}  # fmt: skip
    from rlaif.policy.dpo import DPOConfig, train_dpo

    labels = tmp / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = DPOConfig.model_validate(
        {
            "model": model_dir,
            "labels": str(labels),
            "output_dir": str(tmp / kind),
            "beta": BETA,
            "lora": {"r": LORA_R, "alpha": LORA_ALPHA},
            "optim": {"lr": LR},
            "run": {"batch_size": BATCH, "device": "cpu", "gradient_checkpointing": kind == "rlaif+gc",
                    "save_every": 10_000},
        }
    )  # fmt: skip
    start = time.perf_counter()
    result = train_dpo(config, progress=False)
    seconds = time.perf_counter() - start
    from rlaif.training import read_metrics

    first = read_metrics(tmp / kind / "metrics.jsonl")[0]["loss"]
    return {"seconds": seconds, "steps": result.steps, "first_loss": first, "rss_gb": _peak_rss_gb(),
            "layout": result.summary["layout"], "gradient_checkpointing": kind == "rlaif+gc"}  # fmt: skip


def _tokens_per_sequence(n: int, model_dir: str) -> float:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    total = 0
    for r in _rows(n):
        for side in ("chosen", "rejected"):
            msgs = [*r["prompt"], *r[side]]  # type: ignore[misc]
            total += len(
                tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"]
            )
    return total / (2 * n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16 pairs instead of 64")
    ap.add_argument("--pairs", type=int, default=None)
    ap.add_argument("--only", choices=["trl", "rlaif", "rlaif+gc"], action="append", help="run only these")
    ap.add_argument("--worker", choices=["trl", "rlaif", "rlaif+gc"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.pairs or (16 if args.quick else 64)
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            print("WORKER " + json.dumps(_worker(args.worker, n, args.model_dir, Path(tmp))))
        return 0

    import peft
    import torch
    import transformers
    import trl

    from rlaif.models import resolve_model

    model_dir = str(resolve_model("smollm2").path)
    print(f"# bench_dpo  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {platform.machine()}, torch threads {torch.get_num_threads()}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"trl {trl.__version__}, python {platform.python_version()}")  # fmt: skip
    print(f"workload: {n} pairs (~{_tokens_per_sequence(n, model_dir):.0f} tokens per sequence), batch {BATCH}, "
          f"LoRA r={LORA_R} all-linear, SmolLM2-135M fp32 cpu\n")  # fmt: skip
    results: dict[str, dict[str, object]] = {}
    for kind in args.only or ["trl", "rlaif", "rlaif+gc"]:
        cmd = [sys.executable, __file__, "--worker", kind, "--pairs", str(n), "--model-dir", model_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("WORKER ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{kind} failed:\n{proc.stderr[-3000:]}")
            return 1
        results[kind] = json.loads(line[len("WORKER ") :])
    print("| trainer  | grad ckpt | steps | seconds | s/step | pairs/s | peak RSS GB | first loss |")
    print("|----------|-----------|-------|---------|--------|---------|-------------|------------|")
    for kind, r in results.items():
        secs, steps = float(r["seconds"]), int(r["steps"])  # type: ignore[arg-type]
        print(f"| {kind:<8} | {'on' if r['gradient_checkpointing'] else 'off':<9} | {steps:>5} | {secs:>7.1f} | "
              f"{secs / steps:>6.1f} | {n / secs:>7.3f} | {float(r['rss_gb']):>11.2f} | {float(r['first_loss']):>10.4f} |")  # type: ignore[arg-type]  # fmt: skip
    print()
    if "trl" in results and "rlaif" in results:
        speedup = float(results["trl"]["seconds"]) / float(results["rlaif"]["seconds"])  # type: ignore[arg-type]
        print(
            f"RESULT bench_dpo speedup_vs_trl={speedup:.2f} target=>=1.5 {'pass' if speedup >= 1.5 else 'fail'}"
        )
    if "trl" in results and "rlaif+gc" in results:
        ours, theirs = float(results["rlaif+gc"]["rss_gb"]), float(results["trl"]["rss_gb"])  # type: ignore[arg-type]
        print(
            f"RESULT bench_dpo peak_rss_gc_gb={ours:.2f} target=<={theirs:.2f} {'pass' if ours <= theirs else 'fail'}"
        )
    if "rlaif" in results:
        print(f"RESULT bench_dpo peak_rss_gb={float(results['rlaif']['rss_gb']):.2f} target=<=inf pass")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
