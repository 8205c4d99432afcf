"""bench_dpo — our DPO trainer against TRL's ``DPOTrainer``: matched pairs, one per configuration.

    python benchmarks/bench_dpo.py                      # 64 pairs, batch 8, gc on and off, 1 repeat
    python benchmarks/bench_dpo.py --quick --repeats 2  # 16 pairs (2 steps), A,B,A,B interleaved

Data: the 64 fixed comparisons of ``benchmarks/_bench_data.py`` (a question and two answers of 30–120 words),
conversational, so both trainers format them with the embedded model's chat template (~103 tokens per sequence).
Model: the embedded SmolLM2-135M-Instruct on the CPU; LoRA r=16, alpha=32 on all linear layers; sigmoid loss,
β = 0.1, lr 1e-4, batch 8, one epoch, no evaluation, no checkpoints.

Matched on both sides, per configuration: the gradient-checkpointing setting (each configuration runs both
trainers with it on, or both with it off), the precision (``--precision auto`` resolves once, in the parent, to
bf16 autocast where the CPU has native bf16 units and full precision elsewhere; both trainers get the result),
torch threads, and the process environment (both workers get the same glibc malloc settings through
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, the same values rlaif's trainer sets itself). The timed
span is the same on both sides: loading the model, tokenizing, training. Each trainer runs in its own process, so
peak RSS (``ru_maxrss``) is its own; with ``--repeats`` the pair runs interleaved (TRL, rlaif, TRL, rlaif, ...)
and the medians are compared.

Gates: speed-up ≥ 1.5× with checkpointing on and with it off; our peak RSS ≤ TRL's in the same configuration; the
first-step loss equal on both sides (policy = reference at step 1, so both must give ln 2 to 1e-3).
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


MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str((1 << 31) - 1)}


def _worker(
    kind: str, n: int, model_dir: str, tmp: Path, *, gc: bool, precision: str, threads: int
) -> dict[str, object]:
    import torch

    from rlaif.training.cpu_memory import keep_freed_memory

    keep_freed_memory()  # both sides: the same malloc settings (also given through the environment)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rows = _rows(n)
    if kind == "trl":
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import DPOConfig as TrlDPOConfig
        from trl import DPOTrainer

        start = time.perf_counter()  # model loading is inside the timed span on both sides
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
            gradient_checkpointing=gc,
            bf16=precision == "bf16",
        )
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
                "gradient_checkpointing": bool(args.gradient_checkpointing), "threads": torch.get_num_threads()}  # fmt: skip
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
            "run": {"batch_size": BATCH, "device": "cpu", "gradient_checkpointing": gc,
                    "mixed_precision": precision, "save_every": 10_000},
        }
    )  # fmt: skip
    start = time.perf_counter()
    result = train_dpo(config, progress=False)
    seconds = time.perf_counter() - start
    from rlaif.training import read_metrics

    first = read_metrics(tmp / kind / "metrics.jsonl")[0]["loss"]
    return {"seconds": seconds, "steps": result.steps, "first_loss": first, "rss_gb": _peak_rss_gb(),
            "layout": result.summary["layout"], "gradient_checkpointing": gc, "threads": torch.get_num_threads()}  # fmt: skip


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


def _median(xs: list[float]) -> float:
    ys = sorted(xs)
    mid = len(ys) // 2
    return ys[mid] if len(ys) % 2 else (ys[mid - 1] + ys[mid]) / 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16 pairs instead of 64")
    ap.add_argument("--pairs", type=int, default=None)
    ap.add_argument(
        "--gc", choices=["on", "off", "both"], default="both", help="gradient checkpointing (both sides)"
    )
    ap.add_argument("--precision", choices=["auto", "no", "bf16"], default="auto", help="both sides")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads for both sides (default: torch's)"
    )
    ap.add_argument("--repeats", type=int, default=1, help="interleaved TRL/rlaif repeats per configuration")
    ap.add_argument("--worker", choices=["trl", "rlaif"], help=argparse.SUPPRESS)
    ap.add_argument("--worker-gc", choices=["on", "off"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.pairs or (16 if args.quick else 64)
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            r = _worker(args.worker, n, args.model_dir, Path(tmp), gc=args.worker_gc == "on",
                        precision=args.precision, threads=args.threads)  # fmt: skip
            print("WORKER " + json.dumps(r))
        return 0

    import os

    import peft
    import torch
    import transformers
    import trl

    from rlaif.models import resolve_model
    from rlaif.training.precision import cpu_model, resolve_mixed_precision

    precision, why = resolve_mixed_precision(args.precision, "cpu")
    threads = args.threads or torch.get_num_threads()
    model_dir = str(resolve_model("smollm2").path)
    print(f"# bench_dpo  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch threads {threads} (both sides), "
          f"load before {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"trl {trl.__version__}, python {platform.python_version()}")  # fmt: skip
    print(
        f"precision: {'bf16 autocast' if precision == 'bf16' else 'fp32'} on both sides ({args.precision}: {why})"
    )
    print(f"workload: {n} pairs (~{_tokens_per_sequence(n, model_dir):.0f} tokens per sequence), batch {BATCH}, "
          f"LoRA r={LORA_R} all-linear, SmolLM2-135M cpu; timed span = model load + tokenize + train, both sides\n")  # fmt: skip
    env = {**os.environ, **MALLOC_ENV}
    gcs = ["on", "off"] if args.gc == "both" else [args.gc]
    runs: dict[tuple[str, str], list[dict[str, object]]] = {}
    for gc in gcs:
        for _ in range(args.repeats):
            for kind in ("trl", "rlaif"):  # interleaved: A, B, A, B ...
                cmd = [sys.executable, __file__, "--worker", kind, "--worker-gc", gc, "--pairs", str(n),
                       "--model-dir", model_dir, "--precision", precision, "--threads", str(threads)]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("WORKER ")), None)
                if proc.returncode != 0 or line is None:
                    print(f"{kind} (gc {gc}) failed:\n{proc.stderr[-3000:]}")
                    return 1
                runs.setdefault((gc, kind), []).append(json.loads(line[len("WORKER ") :]))
    print("| trainer | grad ckpt | runs | steps | median s | pairs/s | peak RSS GB (max) | first loss |")
    print("|---------|-----------|------|-------|----------|---------|-------------------|------------|")
    summary: dict[tuple[str, str], tuple[float, float, float]] = {}
    for (gc, kind), rs in runs.items():
        secs = _median([float(r["seconds"]) for r in rs])  # type: ignore[arg-type]
        rss = max(float(r["rss_gb"]) for r in rs)  # type: ignore[arg-type]
        first = float(rs[0]["first_loss"])  # type: ignore[arg-type]
        summary[(gc, kind)] = (secs, rss, first)
        print(f"| {kind:<7} | {gc:<9} | {len(rs):>4} | {int(rs[0]['steps']):>5} | {secs:>8.1f} | {n / secs:>7.3f} | "
              f"{rss:>17.2f} | {first:>10.4f} |")  # type: ignore[arg-type]  # fmt: skip
    print()
    for gc in gcs:
        (t_s, t_rss, t_loss), (o_s, o_rss, o_loss) = summary[(gc, "trl")], summary[(gc, "rlaif")]
        same = abs(t_loss - o_loss) <= 1e-3
        speedup = t_s / o_s
        print(f"RESULT bench_dpo first_loss_match_gc_{gc}={abs(t_loss - o_loss):.1e} target=<=1e-3 "
              f"{'pass' if same else 'fail'}")  # fmt: skip
        ok = speedup >= 1.5 and same
        print(
            f"RESULT bench_dpo speedup_vs_trl_gc_{gc}={speedup:.2f} target=>=1.5 {'pass' if ok else 'fail'}"
        )
        print(f"RESULT bench_dpo peak_rss_gb_gc_{gc}={o_rss:.2f} target=<={t_rss:.2f} (TRL, gc {gc}) "
              f"{'pass' if o_rss <= t_rss else 'fail'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
