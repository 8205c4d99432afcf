"""GPU check: DPO, PPO and reward-model training steps, critic scoring and (if present) vLLM generation, in bf16 on
one CUDA device, with random-weight models built from configs (no downloads, no weights on disk beforehand).

    python benchmarks/gpu_check.py                 # ~0.7 B-parameter Llama-shaped model on cuda (a few minutes)
    python benchmarks/gpu_check.py --tiny --device cpu   # dry run of the same code on a tiny model (seconds)

Every phase prints ``RESULT gpu_check <phase>_tokens_per_s=... mfu=... target=... pass|fail``. Training phases count
6·N FLOPs per token (forward + backward; the frozen reference's forward adds 2·N for DPO), inference 2·N, with N
the non-embedding-plus-head parameter count the matmuls see (all weights; attention's sequence-length term is
left out, so MFU is slightly understated). The peak is the card's dense bf16 rate (H100/H200 SXM 989 TFLOP/s,
A100 312); ``GPU_PEAK_TFLOPS`` overrides it. Targets: every phase finite and MFU ≥ 5 % (a broken kernel path or a
host-bound loop shows up as far less); vLLM ≥ 1000 tokens/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEAKS = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
MIN_MFU = 0.05


def _config(tiny: bool) -> Any:
    from transformers import LlamaConfig

    if tiny:
        return LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)  # fmt: skip
    # ~0.70 B parameters: 24 layers x 25.2 M + 2 x 32000 x 1536 embedding/head
    return LlamaConfig(vocab_size=32000, hidden_size=1536, intermediate_size=4096, num_hidden_layers=24,
                       num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=4096,
                       tie_word_embeddings=False)  # fmt: skip


def _peak(device: str) -> float | None:
    if os.environ.get("GPU_PEAK_TFLOPS"):
        return float(os.environ["GPU_PEAK_TFLOPS"]) * 1e12
    if not device.startswith("cuda"):
        return None
    import torch

    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAKS.items() if k in name), None)


class Timer:
    """Wall time of a block, synchronising the CUDA device at both ends."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds = 0.0

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def __enter__(self) -> Timer:
        self._sync()
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self.t


def _report(
    name: str, tokens: int, seconds: float, flops_per_token: float, peak: float | None, ok: bool
) -> bool:
    rate = tokens / seconds
    mfu = rate * flops_per_token / peak if peak else None
    good = ok and (mfu is None or mfu >= MIN_MFU)
    mfu_s = f"{mfu:.1%}" if mfu is not None else "n/a (unknown peak)"
    print(f"RESULT gpu_check {name}_tokens_per_s={rate:.0f} mfu={mfu_s} target=finite,mfu>={MIN_MFU:.0%} "
          f"{'pass' if good else 'fail'}")  # fmt: skip
    return good


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny model (dry run of the code path)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None, help="prompt + response tokens per sequence")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--no-vllm", action="store_true")
    args = ap.parse_args()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from rlaif.policy.dpo_loss import preference_loss
    from rlaif.training import LoraSettings, attach_lora, token_logprobs
    from rlaif.training.precision import cpu_model, resolve_mixed_precision

    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --tiny --device cpu for a dry run)")
        return 2
    batch = args.batch or (4 if args.tiny else 16)
    seq = args.seq or (32 if args.tiny else 512)
    steps = args.steps or (2 if args.tiny else 5)
    prompt_len = seq // 2
    precision, why = resolve_mixed_precision("auto", dev)
    dtype = torch.bfloat16 if precision == "bf16" or dev.startswith("cuda") else torch.float32
    peak = _peak(dev)
    torch.manual_seed(0)
    cfg = _config(args.tiny)
    gpu = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else cpu_model()
    print(f"# gpu_check  {time.strftime('%Y-%m-%d %H:%M')}  device {dev}: {gpu}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}; weights {dtype} ({why}); "
          f"peak {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s")  # fmt: skip
    model = AutoModelForCausalLM.from_config(cfg, dtype=dtype).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    n_matmul = n_params - cfg.vocab_size * cfg.hidden_size  # the input embedding is a lookup, not a matmul
    print(
        f"model: random Llama-shaped, {n_params / 1e9:.3f} B params; batch {batch} x {seq} tokens, {steps} steps"
    )
    ok_all = True
    lora = LoraSettings(r=16, alpha=32)

    def ids(rows: int, width: int) -> Any:
        return torch.randint(10, cfg.vocab_size, (rows, width), device=dev)

    # critic scoring: a forward over the prompt, logits for the last position only (what the backend computes)
    model.eval()
    prompts = ids(batch * 4, seq)
    with torch.inference_mode():
        model(input_ids=prompts[:2], logits_to_keep=1)
        with Timer(dev) as t:
            for _ in range(steps):
                out = model(input_ids=prompts, logits_to_keep=1).logits
    ok_all &= _report("critic_scoring", prompts.numel() * steps, t.seconds, 2 * n_matmul, peak,
                      bool(torch.isfinite(out).all()))  # fmt: skip

    # DPO: LoRA policy, reference = the same weights with the adapter off, chosen + rejected in one forward
    policy = attach_lora(model, lora)
    policy.train()
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-5)
    x = ids(2 * batch, seq)
    attn = torch.ones_like(x)
    resp = torch.zeros_like(x, dtype=torch.bool)
    resp[:, prompt_len:] = True
    p_chosen = torch.ones(batch, device=dev)

    def dpo_step() -> Any:
        with torch.no_grad(), policy.disable_adapter():
            ref = token_logprobs(policy, x, attn, resp)[0].float().sum(-1)
        pol = token_logprobs(policy, x, attn, resp)[0].float().sum(-1)
        loss = preference_loss(pol[:batch], pol[batch:], ref[:batch], ref[batch:], p_chosen, beta=0.1).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    dpo_step()
    with Timer(dev) as t:
        for _ in range(steps):
            loss = dpo_step()
    ok_all &= _report(
        "dpo_step", x.numel() * steps, t.seconds, 8 * n_matmul, peak, bool(torch.isfinite(loss))
    )

    # PPO: sample responses (rollout), then a clipped-surrogate update of the policy and a value head on top
    gen_new = max(seq - prompt_len, 1)
    with torch.no_grad(), Timer(dev) as t_gen:
        policy.eval()
        rolled = policy.generate(input_ids=ids(batch, prompt_len), attention_mask=None, max_new_tokens=gen_new,
                                 min_new_tokens=gen_new, do_sample=True, pad_token_id=0)  # fmt: skip
    ok_all &= _report("ppo_rollout", batch * gen_new, t_gen.seconds, 2 * n_matmul, peak, True)
    policy.train()
    value_head = torch.nn.Linear(cfg.hidden_size, 1, device=dev, dtype=dtype)
    opt_v = torch.optim.AdamW(value_head.parameters(), lr=1e-5)
    r_attn = torch.ones_like(rolled)
    r_resp = torch.zeros_like(rolled, dtype=torch.bool)
    r_resp[:, prompt_len:] = True
    with torch.no_grad():
        old = token_logprobs(policy, rolled, r_attn, r_resp)[0].float()
    adv = torch.randn_like(old) * r_resp

    def ppo_step() -> Any:
        outp = policy(input_ids=rolled, attention_mask=r_attn, output_hidden_states=True)
        logp = torch.log_softmax(outp.logits[:, :-1].float(), -1).gather(-1, rolled[:, 1:, None])[..., 0]
        ratio = torch.exp(logp - old[:, 1:])
        a = adv[:, 1:]
        pg = -torch.minimum(ratio * a, ratio.clamp(0.8, 1.2) * a)[r_resp[:, 1:]].mean()
        values = value_head(outp.hidden_states[-1]).float()[..., 0]
        vloss = ((values[:, :-1] - a) ** 2)[r_resp[:, 1:]].mean()
        (pg + 0.5 * vloss).backward()
        opt.step()
        opt_v.step()
        opt.zero_grad(set_to_none=True)
        opt_v.zero_grad(set_to_none=True)
        return pg + vloss

    ppo_step()
    with Timer(dev) as t:
        for _ in range(steps):
            loss = ppo_step()
    ok_all &= _report(
        "ppo_update", rolled.numel() * steps, t.seconds, 6 * n_matmul, peak, bool(torch.isfinite(loss))
    )

    # reward model: LoRA + score head, chosen and rejected in one forward, Bradley-Terry loss on soft labels
    cfg.pad_token_id = 0
    cfg.num_labels = 1
    rm = AutoModelForSequenceClassification.from_config(cfg, dtype=dtype).to(dev)
    rm = attach_lora(rm, lora, task_type="SEQ_CLS")
    rm.train()
    opt_rm = torch.optim.AdamW([p for p in rm.parameters() if p.requires_grad], lr=1e-5)
    xr = ids(2 * batch, seq)

    def rm_step() -> Any:
        r = rm(input_ids=xr, attention_mask=torch.ones_like(xr)).logits[:, 0].float()
        d = r[:batch] - r[batch:]
        loss = -torch.nn.functional.logsigmoid(d).mean()
        loss.backward()
        opt_rm.step()
        opt_rm.zero_grad(set_to_none=True)
        return loss

    rm_step()
    with Timer(dev) as t:
        for _ in range(steps):
            loss = rm_step()
    ok_all &= _report(
        "rm_step", xr.numel() * steps, t.seconds, 6 * n_matmul, peak, bool(torch.isfinite(loss))
    )

    if not args.no_vllm:
        ok_all &= _vllm(cfg, dtype, args.tiny, dev, peak, n_matmul)
    print(
        f"RESULT gpu_check all_phases={'ok' if ok_all else 'some failed'} target=ok {'pass' if ok_all else 'fail'}"
    )
    return 0 if ok_all else 1


def _vllm(cfg: Any, dtype: Any, tiny: bool, dev: str, peak: float | None, n_matmul: int) -> bool:
    """vLLM generation on the same random model (saved to a temporary folder), prompts given as token ids."""
    try:
        import vllm
    except ImportError:
        print("vllm: not installed here, skipped")
        return True
    if not dev.startswith("cuda"):
        print("vllm: skipped (CPU dry run)")
        return True
    import torch
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForCausalLM.from_config(cfg, dtype=dtype).save_pretrained(tmp, safe_serialization=True)
        t0 = time.perf_counter()
        llm = vllm.LLM(model=tmp, skip_tokenizer_init=True, dtype="bfloat16", gpu_memory_utilization=0.5,
                       enforce_eager=tiny, seed=0)  # fmt: skip
        startup = time.perf_counter() - t0
        gen = torch.Generator().manual_seed(0)
        prompts = [{"prompt_token_ids": torch.randint(10, cfg.vocab_size, (256,), generator=gen).tolist()}
                   for _ in range(256)]  # fmt: skip
        sp = vllm.SamplingParams(max_tokens=128, ignore_eos=True, temperature=1.0, detokenize=False)
        t = time.perf_counter()
        outs = llm.generate(prompts, sp)
        secs = time.perf_counter() - t
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    rate = tokens / secs
    mfu = rate * 2 * n_matmul / peak if peak else None
    ok = rate >= 1000
    print(
        f"vllm {vllm.__version__}: engine start-up {startup:.0f} s (not timed); 256 prompts x 256 + 128 new tokens"
    )
    print(f"RESULT gpu_check vllm_generate_tokens_per_s={rate:.0f} mfu={f'{mfu:.1%}' if mfu else 'n/a'} "
          f"target=>=1000 {'pass' if ok else 'fail'}")  # fmt: skip
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
