"""Load test of ``rlaif serve-reward`` on loopback: N concurrent clients, latency and throughput, exactness.

The server runs in this process on 127.0.0.1 (any free port) with a reward model: the one given by ``--rm``, or a
tiny random model's reward model trained on the spot (``--quick``, the default without ``--rm``). ``--clients``
threads each send ``--requests`` requests of ``--items`` items (a question from ``_bench_data`` and one of its
answers), half through OpenRLHF's ``/get_reward`` and half through ``/v1/rewards``. The run is bounded in count
(clients x requests) and in time (``--timeout`` seconds for the whole load; requests not answered by then count as
lost).

It passes (exit 0) only if every request got 200, none was lost, and every reward equals the in-process scorer's for
the same item (``RewardFunction`` called directly, one request's items at a time) to ``--tolerance`` (batching puts
items from several clients in one forward; left padding and position ids make that exact up to floating-point
reordering). It prints and writes (``--out``, JSON) p50/p99 latency, requests/s and items/s, the batches formed, and
the largest reward difference.

Run::

    python benchmarks/bench_serve_reward.py --quick --clients 16 --requests 20
    python benchmarks/bench_serve_reward.py --rm runs/x/reward/model --clients 32 --requests 50 --items 8
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

CHATML = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


def tiny_reward_model(tmp: Path) -> Path:
    """Train a reward model on a tiny random Llama for one epoch of 16 pairs (seconds)."""
    from rlaif.reward import RewardConfig, train_reward_model
    from rlaif.testing import build_tiny_model_dir
    from rlaif.training import OptimSettings, RunSettings

    model = build_tiny_model_dir(tmp / "tiny")
    labels = tmp / "labels.jsonl"
    rows = [
        {
            "prompt": c.question,
            "chosen": c.response_a,
            "rejected": c.response_b,
            "p_chosen": 0.8,
            "principles": ["concise@1"],
            "prompt_id": f"q{i}",
            "pair_id": f"q{i}:0-1",
        }
        for i, c in enumerate(comparisons(16, seed=0))
    ]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = RewardConfig(
        data=labels,
        constitution=ROOT / "principles" / "style.yaml",
        output_dir=tmp / "rm",
        model=str(model),
        optim=OptimSettings(lr=1e-3),
        val_fraction=0.0,
        run=RunSettings(batch_size=4, epochs=1, device="cpu"),
    )
    return Path(train_reward_model(cfg, progress=False).model_dir)


def post(url: str, body: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rm", type=Path, help="exported reward-model folder (default: train a tiny one)")
    ap.add_argument("--quick", action="store_true", help="tiny random model (the default without --rm)")
    ap.add_argument("--constitution", type=Path, default=ROOT / "principles" / "style.yaml")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=20, help="requests per client")
    ap.add_argument("--items", type=int, default=4, help="items per request")
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=300.0, help="bound on the whole load, seconds")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from rlaif.reward import RewardModel
    from rlaif.rewards import reward_function
    from rlaif.rewards.server import RewardServer, ServerSettings

    with tempfile.TemporaryDirectory() as tmp:
        rm_dir = args.rm or tiny_reward_model(Path(tmp))
        fn = reward_function(
            reward_model=RewardModel.load(rm_dir, device=args.device), constitution=args.constitution, k=1
        )
        data = comparisons(max(8, args.clients), seed=1)
        # the work: (client, request) -> items
        work: dict[tuple[int, int], list[tuple[str, str]]] = {}
        for c in range(args.clients):
            for r in range(args.requests):
                comp = data[(c + r) % len(data)]
                work[(c, r)] = [
                    (comp.question, (comp.response_a, comp.response_b)[i % 2] + f" ({r}.{i})")
                    for i in range(args.items)
                ]
        expected = {key: fn([q for q, _ in items], [a for _, a in items]) for key, items in work.items()}

        settings = ServerSettings(max_batch=args.max_batch, max_wait_s=args.max_wait_ms / 1000.0)
        server = RewardServer(fn, port=0, settings=settings).start()
        latencies: list[float] = []
        failures: list[str] = []
        worst = 0.0
        lock = threading.Lock()
        deadline = time.monotonic() + args.timeout

        def client(c: int) -> None:
            nonlocal worst
            for r in range(args.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                items = work[(c, r)]
                t0 = time.perf_counter()
                if r % 2 == 0:
                    prompts = [CHATML.format(q=q) for q, _ in items]
                    body = {
                        "query": [p + a + "<|im_end|>" for p, (_, a) in zip(prompts, items, strict=True)],
                        "prompts": prompts,
                    }
                    status, out = post(server.url + "/get_reward", body, left)
                else:
                    body = {"items": [{"prompt": q, "response": a} for q, a in items]}
                    status, out = post(server.url + "/v1/rewards", body, left)
                dt = time.perf_counter() - t0
                with lock:
                    if status != 200:
                        failures.append(f"client {c} request {r}: HTTP {status} {out.get('error')}")
                        continue
                    latencies.append(dt)
                    got = out["rewards"]
                    if len(got) != len(items):
                        failures.append(f"client {c} request {r}: {len(got)} rewards for {len(items)} items")
                        continue
                    for g, w in zip(got, expected[(c, r)], strict=True):
                        assert w is not None
                        worst = max(worst, abs(g - w))

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(client, c) for c in range(args.clients)]
            wait(futures)
            for f in futures:
                if f.exception() is not None:
                    failures.append(f"client crashed: {f.exception()!r}")
        elapsed = time.perf_counter() - started
        health = server.service.health()
        server.close()

    sent = args.clients * args.requests
    lost = sent - len(latencies) - len(failures)
    lat = sorted(latencies)
    result = {
        "model": str(args.rm) if args.rm else "tiny random Llama (2 layers, hidden 64) reward model",
        "device": args.device,
        "torch_threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "clients": args.clients,
        "requests": sent,
        "items_per_request": args.items,
        "ok": len(latencies),
        "failed": len(failures),
        "lost": lost,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "items_per_s": round(len(latencies) * args.items / elapsed, 2),
        "p50_ms": round(1000 * statistics.median(lat), 2) if lat else None,
        "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2) if lat else None,
        "batches": health["batches"],
        "mean_items_per_batch": round(health["items"] / health["batches"], 2) if health["batches"] else None,
        "max_abs_reward_diff": worst,
        "tolerance": args.tolerance,
    }
    passed = not failures and lost == 0 and worst <= args.tolerance
    result["passed"] = passed
    print(json.dumps(result, indent=2))
    for f in failures[:10]:
        print("FAIL", f, file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
