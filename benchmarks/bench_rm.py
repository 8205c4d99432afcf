"""Reward-model training and scoring speed: rlaif's trainer vs a naive loop, batched vs one-by-one scoring.

Training workload: labelled pairs built from ``_bench_data.comparisons`` (a question, two 30-120 word responses)
under 2 principles of ``principles/hhh.yaml``, rendered with the shipped ``rm_input`` template.

Claims:

1. Training: examples/s and peak RSS of ``train_reward_model`` (LoRA, score head trainable, chosen and rejected in
   one left-padded forward, padding only to the longest input of the batch) vs an equally careful hand loop written
   with peft and transformers directly: the same LoRA (r=16, alpha=32, all linear layers, score head trained in
   full), the same left padding to the longest input of the batch, chosen and rejected in one forward, AdamW over
   the trainable weights, the same threads and malloc settings. Each runs in its own process so peak RSS is its
   own. Targets: ours ≥ 1.0× the hand loop's examples/s, and peak RSS ≤ the hand loop's.
2. Scoring: responses/s of ``RewardModel.score`` with the model just trained, in three workloads (see
   ``scoring_workloads``: both answers of a comparison under 2 principles; 4 generated answers per question under
   every principle of a constitution, what ``rlaif score --responses`` does by default; PPO's one answer per
   prompt with 2 principles drawn per prompt), each scored batched with shared prefixes (the default), batched
   with padding only (length-sorted rows of 16), and one response per forward, same model and threads. Target
   ≥ 3× for the default over one-by-one. Each workload's bound (tokens / distinct tokens) is printed beside it: on
   2 CPU cores a single ~200-token forward of the embedded model already runs its matmuls near peak, so the gain
   there is the work not done twice, and it cannot exceed that bound.

Run::

    python benchmarks/bench_rm.py            # embedded SmolLM2-135M (about 4 minutes on 2 CPU cores)
    python benchmarks/bench_rm.py --quick    # tiny random model (seconds)
    python benchmarks/bench_rm.py --scoring-only --rm runs/x/reward/model [--score-dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.training.precision import cpu_model as _cpu_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

PRINCIPLES = ["helpfulness", "honesty"]


def write_labels(path: Path, n: int) -> Path:
    """``n`` labelled pairs (soft labels) as JSON lines."""
    from rlaif.constitution import load_constitution

    ids = list(load_constitution(ROOT / "principles" / "hhh.yaml").principle_ids)
    chosen_ids = [i for i in PRINCIPLES if i in ids] or ids[:2]
    rows = []
    for i, c in enumerate(comparisons(n, seed=0)):
        rows.append(
            {
                "prompt": c.question,
                "chosen": c.response_a,
                "rejected": c.response_b,
                "p_chosen": 0.6 + 0.4 * ((i * 7) % 10) / 10,
                "principles": chosen_ids,
                "prompt_id": f"q{i}",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_ours(model: str, labels: Path, out: Path, steps: int, batch: int, max_length: int) -> dict[str, Any]:
    from rlaif.reward import RewardConfig, train_reward_model
    from rlaif.training import RunSettings

    cfg = RewardConfig(
        data=labels,
        constitution=ROOT / "principles" / "hhh.yaml",
        output_dir=out,
        model=model,
        max_length=max_length,
        val_fraction=0.0,
        norm_stats_max_responses=2,
        run=RunSettings(batch_size=batch, max_steps=steps + 1, device="cpu", save_every=10_000, log_every=1),
    )
    result = train_reward_model(cfg, progress=False)
    from rlaif.training import read_metrics

    recs = [r for r in read_metrics(out / "metrics.jsonl") if r.get("phase") == "train"][
        1:
    ]  # step 1 = warm-up
    secs = sum(batch / r["examples_per_s"] for r in recs)
    return {"examples_per_s": batch * len(recs) / secs, "trainable": result.summary["trainable_parameters"]}


def run_naive(model: str, labels: Path, steps: int, batch: int, max_length: int) -> dict[str, Any]:
    """The careful hand loop: same LoRA, left padding to the batch's longest input, chosen + rejected in one forward."""
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from rlaif.training.cpu_memory import keep_freed_memory

    keep_freed_memory()  # the same malloc settings rlaif's trainer applies to itself

    from rlaif.constitution import load_constitution
    from rlaif.models import load_tokenizer, resolve_model
    from rlaif.prompting import TemplateSet
    from rlaif.reward import load_reward_pairs

    torch.manual_seed(0)
    resolved = resolve_model(model)
    tok = load_tokenizer(resolved)
    net = AutoModelForSequenceClassification.from_pretrained(str(resolved.path), num_labels=1)
    net.config.pad_token_id = tok.pad_token_id
    net = get_peft_model(
        net,
        LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="SEQ_CLS"),
    )
    net.train()
    tok.padding_side = "left"
    opt = torch.optim.AdamW([x for x in net.parameters() if x.requires_grad], lr=1e-4)
    templates = TemplateSet.load()
    pairs = load_reward_pairs(labels, load_constitution(ROOT / "principles" / "hhh.yaml"))

    def enc(texts: list[str]) -> Any:
        return tok(texts, padding="longest", truncation=True, max_length=max_length, return_tensors="pt")

    def render(p: Any, r: str) -> str:
        return templates.render(
            "rm_input", principles=list(p.principles), conversation=p.conversation, response=r
        ).text

    times = []
    for step in range(steps + 1):
        chunk = [pairs[(step * batch + j) % len(pairs)] for j in range(batch)]
        t = time.perf_counter()
        both = net(
            **enc([render(p, p.chosen) for p in chunk] + [render(p, p.rejected) for p in chunk])
        ).logits[:, 0]
        rc, rr = both[: len(chunk)], both[len(chunk) :]
        p = torch.tensor([q.p_chosen for q in chunk])
        d = rc - rr
        loss = -(p * F.logsigmoid(d) + (1 - p) * F.logsigmoid(-d)).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    return {
        "examples_per_s": batch * steps / sum(times[1:]),
        "trainable": sum(x.numel() for x in net.parameters() if x.requires_grad),
    }


def child(args: argparse.Namespace) -> None:
    labels = Path(args.labels)
    if args.which == "ours":
        res = run_ours(args.model, labels, Path(args.out), args.steps, args.batch, args.max_length)
    else:
        res = run_naive(args.model, labels, args.steps, args.batch, args.max_length)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("CHILD " + json.dumps(res))


def scoring_workloads(n: int) -> dict[str, tuple[str, list[Any], list[str], list[str]]]:
    """Three ways a reward model is asked to score ``n`` responses: (description, principles, prompts, responses)."""
    from _bench_data import answer_sets

    from rlaif.constitution import load_constitution, sample_principles

    hhh = load_constitution(ROOT / "principles" / "hhh.yaml")
    style = load_constitution(ROOT / "principles" / "style.yaml")
    comps = comparisons((n + 1) // 2, seed=1)
    sets = answer_sets((n + 3) // 4, 4, seed=2)
    rollouts = comparisons(n, seed=3)
    return {
        "pairs": (
            "both answers of each comparison, the same 2 hhh principles (rlaif eval rm, pair evaluation)",
            [hhh.principles[:2]] * n,
            [x.question for x in comps for _ in (0, 1)][:n],
            [r for x in comps for r in (x.response_a, x.response_b)][:n],
        ),
        "generated": (
            "4 answers per question under every principle of style.yaml (rlaif score --responses of a "
            "generate -n 4 dataset, its default principles)",
            [style.principles] * n,
            [q for q, answers in sets for _ in answers][:n],
            [a for _, answers in sets for a in answers][:n],
        ),
        "ppo": (
            "one answer per prompt, 2 hhh principles drawn per prompt by weight (PPO's reward_model source, k=2)",
            [sample_principles(hhh, 2, seed=i) for i in range(n)],
            [x.question for x in rollouts],
            [x.response_a for x in rollouts],
        ),
    }


def scoring(model_dir: Path, n: int, dtype: str) -> dict[str, dict[str, float]]:
    """Score ``n`` responses of each workload three ways: batched with shared prefixes (the default), batched with
    padding only, one response per forward."""
    from rlaif.backends.prefix_cache import distinct_tokens
    from rlaif.reward import RewardModel

    rm = RewardModel.load(model_dir, device="cpu", dtype=dtype)
    out = {}
    for name, (_, ps, prompts, responses) in scoring_workloads(n).items():
        seqs = rm.encode(ps, prompts, responses)
        rm.score(ps[:2], prompts[:2], responses[:2])  # warm-up
        t = time.perf_counter()
        shared = rm.score(ps, prompts, responses, batch_size=16)
        t_shared = time.perf_counter() - t
        t = time.perf_counter()
        padded = rm.score(ps, prompts, responses, batch_size=16, share_prefix=False)
        t_padded = time.perf_counter() - t
        t = time.perf_counter()
        single = [
            rm.score([ps[i]], [prompts[i]], [responses[i]], batch_size=1, share_prefix=False)[0]
            for i in range(n)
        ]
        t_single = time.perf_counter() - t
        diff = max(abs(a - b) for a, b in zip([*shared, *padded], [*single, *single], strict=True))
        tokens = sum(len(x) for x in seqs)
        out[name] = {
            "batched": n / t_shared,
            "padded": n / t_padded,
            "single": n / t_single,
            "max_abs_diff": diff,
            "tokens": tokens,
            "bound": tokens / distinct_tokens(seqs),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny random model, few steps")
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=None, help="default 512 (--quick: 2048)")
    ap.add_argument("--score-n", type=int, default=None)
    ap.add_argument(
        "--score-dtype", default="float32", help="dtype the reward model scores in (float32, bfloat16)"
    )
    ap.add_argument("--scoring-only", action="store_true", help="skip the training comparison (needs --rm)")
    ap.add_argument(
        "--rm", default=None, help="score with this exported reward model instead of training one"
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--labels", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.which = args.child
        child(args)
        return
    import torch
    import transformers

    work = Path(tempfile.mkdtemp(prefix="bench_rm-"))
    if args.quick:
        from rlaif.testing import build_tiny_model_dir

        model = args.model or str(build_tiny_model_dir(work / "tiny", max_position_embeddings=2048))
    else:
        model = args.model or "smollm2"
    steps = args.steps or (4 if args.quick else 3)
    args.max_length = args.max_length or (2048 if args.quick else 512)
    score_n = args.score_n or (64 if args.quick else 48)
    labels = write_labels(work / "labels.jsonl", max(32, args.batch * (steps + 2)))
    results = {}
    if args.scoring_only and not args.rm:
        raise SystemExit("--scoring-only needs --rm (an exported reward model folder)")
    for which in () if args.scoring_only else ("ours", "naive"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            which,
            "--labels",
            str(labels),
            "--out",
            str(work / "rm"),
            "--model",
            model,
            "--steps",
            str(steps),
            "--batch",
            str(args.batch),
            "--max-length",
            str(args.max_length),
        ]
        env = {
            **os.environ,
            "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
            "MALLOC_TRIM_THRESHOLD_": str((1 << 31) - 1),
        }
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, env=env
        )  # same env, both sides
        line = [x for x in proc.stdout.splitlines() if x.startswith("CHILD ")]
        if proc.returncode != 0 or not line:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit(f"{which} run failed")
        results[which] = json.loads(line[0][6:])
    rm_dir = Path(args.rm) if args.rm else work / "rm" / "model"
    sc = scoring(rm_dir, score_n, args.score_dtype)

    print(
        f"bench_rm: model={model} batch={args.batch} pairs/step, steps={steps} (+1 warm-up), max_length={args.max_length}"
    )
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, threads {torch.get_num_threads()}"
    )
    if results:
        print(f"{'training loop':<44}{'examples/s':>12}{'peak RSS MB':>14}{'trainable':>14}")
        for name, key in (
            ("rlaif train_reward_model (LoRA, dynamic pad)", "ours"),
            ("hand loop (peft LoRA, dynamic left pad)", "naive"),
        ):
            r = results[key]
            print(f"{name:<44}{r['examples_per_s']:>12.3f}{r['peak_rss_mb']:>14.0f}{r['trainable']:>14,}")
    print(f"scoring {score_n} responses per workload, reward model in {args.score_dtype} (responses/s):")
    descriptions = {k: v[0] for k, v in scoring_workloads(2).items()}
    print(
        f"{'workload':<11}{'tokens':>8}{'bound':>7}{'shared':>9}{'padded':>9}{'1-by-1':>9}{'speedup':>9}"
        f"{'max |diff|':>12}"
    )
    for name, r in sc.items():
        print(
            f"{name:<11}{r['tokens']:>8}{r['bound']:>6.2f}x{r['batched']:>9.2f}{r['padded']:>9.2f}{r['single']:>9.2f}"
            f"{r['batched'] / r['single']:>8.2f}x{r['max_abs_diff']:>12.2e}"
        )
    for name, text in descriptions.items():
        print(f"  {name}: {text}")
    print("  bound = tokens / distinct tokens (the most prefix sharing can save); shared = the default path")
    if results:
        speed = results["ours"]["examples_per_s"] / results["naive"]["examples_per_s"]
        rss = results["naive"]["peak_rss_mb"] / results["ours"]["peak_rss_mb"]
        print(
            f"RESULT bench_rm train_speedup_vs_hand_loop={speed:.2f} target=>=1.0 {'pass' if speed >= 1.0 else 'fail'}"
        )
        print(
            f"RESULT bench_rm train_rss_ratio_hand_loop_over_ours={rss:.2f} target=>=1.0 "
            f"{'pass' if rss >= 1.0 else 'fail'}"
        )
    for name, r in sc.items():
        ratio = r["batched"] / r["single"]
        print(
            f"RESULT bench_rm score_batched_speedup[{name}]={ratio:.2f} target=>=3 "
            f"{'pass' if ratio >= 3 else 'fail'} (bound {r['bound']:.2f})"
        )


if __name__ == "__main__":
    main()
