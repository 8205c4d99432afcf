"""Labeling on a local Ray cluster: 2 workers vs 1 worker on the same input, and the datasets are identical.

Workload: the fixed comparisons of ``benchmarks/_bench_data.py`` (question + two responses of 30-120 words, written for
this project), k principles sampled per pair from ``principles/hhh.yaml``, both answer orders, the embedded
SmolLM2-135M-Instruct critic in float32 on CPU (``--quick``: 8 pairs on a small random Llama built on the fly, a
smoke run of the script, not a measurement).

A local Ray instance with 2 CPUs is started; each worker is a Ray actor with 1 CPU (one torch thread) and its own copy
of the critic. Measured, end to end (pool start and each worker's model load included):

1. **local**: ``label_dataset`` in this process with one torch thread (the same kernels as a 1-CPU worker), the
   reference dataset;
2. **ray x1**: ``--executor ray --workers 1``;
3. **ray x2**: ``--executor ray --workers 2``.

Also measured: the executor's own ceiling, labeling with the free mock critic (k = 4, 32 pairs per batch) so that
only Ray Data, the coordinator actor and the SQLite call cache take time (critic calls/s through the single cache
writer).

Checks: the three datasets (``data.parquet``, ``stats.json``, ``unlabeled.jsonl``, card) are byte-identical, and
ray x2 is at least 1.5x faster than ray x1 in labels/s (2 cores: at most 2x; model loading and Ray's start-up are
the serial part).

Run on an idle machine::

    python benchmarks/bench_ray.py            # 48 pairs, k = 2 (several minutes on 2 CPU cores)
    python benchmarks/bench_ray.py --quick    # 8 pairs on a small random model (under a minute)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.training.precision import cpu_model as _cpu_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import comparisons  # noqa: E402

from rlaif.backends.base import ChatMessage  # noqa: E402
from rlaif.feedback.inputs import PromptRow  # noqa: E402
from rlaif.feedback.responses import ResponseSet  # noqa: E402

OUTPUT_FILES = ("data.parquet", "stats.json", "unlabeled.jsonl", "README.md")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8 pairs on a small random model (smoke run)")
    ap.add_argument("--pairs", type=int, default=None)
    ap.add_argument("-k", type=int, default=2)
    ap.add_argument("--model", default=None, help="critic model (default: smollm2; --quick: a random Llama)")
    ap.add_argument("--batch-pairs", type=int, default=4, help="pairs per backend call = per Ray task")
    ap.add_argument(
        "--mock-pairs", type=int, default=None, help="pairs for the executor-ceiling run (mock critic)"
    )
    args = ap.parse_args()
    n = args.pairs or (8 if args.quick else 48)
    args.mock_pairs = args.mock_pairs or (256 if args.quick else 2048)

    import ray
    import torch
    import transformers

    from rlaif.constitution import load_constitution
    from rlaif.feedback.label_output import write_label_run
    from rlaif.feedback.labeler import LabelConfig, label_dataset
    from rlaif.models import resolve_model
    from rlaif.prompting import TemplateSet
    from rlaif.scale import BackendSpec, RayBackendPool, RayOptions
    from rlaif.testing import build_tiny_model_dir

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    if args.model is not None:
        model = args.model
    elif args.quick:
        model = str(
            build_tiny_model_dir(
                tmp / "model",
                hidden_size=128,
                num_layers=4,
                intermediate_size=256,
                max_position_embeddings=2048,
            )
        )
    else:
        model = "smollm2"
    model_path = str(resolve_model(model).path)  # converted once here, not once per worker
    options = {"device": "cpu", "dtype": "float32", "progress": False}
    spec = BackendSpec("transformers", model_path, options)
    templates = TemplateSet.load()
    constitution = load_constitution(ROOT / "principles" / "hhh.yaml")
    sets = [
        ResponseSet(
            prompt=PromptRow(f"bench-{i:03d}", (ChatMessage("user", c.question),)),
            responses=(c.response_a, c.response_b),
            finish_reasons=("stop", "stop"),
            seed=0,
            policy_model="fixed",
            policy_revision="bench",
        )
        for i, c in enumerate(comparisons(n))
    ]
    config = LabelConfig(k=args.k, batch_pairs=args.batch_pairs, progress=False)
    batches = -(-n // args.batch_pairs)

    print(f"# bench_ray  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(
        f"ray {ray.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"python {platform.python_version()}"
    )
    print(f"critic: {model} (fp32, cpu); workers: 1 CPU = 1 torch thread each")
    print(
        f"workload: {n} pairs x k={args.k} principles (hhh) x 2 orders = {n * args.k * 2} critic prompts "
        f"in {batches} batches of {args.batch_pairs} pairs"
    )

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    timings: dict[str, float] = {}
    per_worker: dict[str, dict[str, int]] = {}
    startup: dict[str, float] = {}
    busy: dict[str, float] = {}
    try:
        from rlaif.backends.transformers_backend import TransformersBackend

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t = time.perf_counter()
        critic = TransformersBackend(model_path, **options)
        run = label_dataset(sets, constitution, critic, templates, config)
        timings["local"] = time.perf_counter() - t
        critic.close()
        torch.set_num_threads(threads)
        write_label_run(run, tmp / "local")
        labels = len(run.rows)

        for workers in (1, 2):
            name = f"ray x{workers}"
            t = time.perf_counter()
            with RayBackendPool(spec, RayOptions(workers=workers)) as pool:
                run = label_dataset(sets, constitution, pool, templates, config)
                per_worker[name] = dict(pool.batches_by_worker)
                startup[name] = max(pool.startup_s.values(), default=0.0)
                busy[name] = max(pool.busy_s.values(), default=0.0)
            timings[name] = time.perf_counter() - t
            write_label_run(run, tmp / name.replace(" ", ""))

        # the executor's own ceiling: a free critic (the mock), so Ray, the coordinator and SQLite are all there is
        mock_sets = [
            ResponseSet(
                prompt=PromptRow(f"m{i:05d}", (ChatMessage("user", f"Question {i}?"),)),
                responses=(f"Answer {i}.", f"Another answer {i}."),
                finish_reasons=("stop", "stop"),
                seed=0,
                policy_model="fixed",
                policy_revision="bench",
            )
            for i in range(args.mock_pairs)
        ]
        mock_config = LabelConfig(k=4, batch_pairs=32, progress=False)
        mock_spec = BackendSpec("mock", "free", cache=str(tmp / "mock-cache.sqlite"))
        t = time.perf_counter()
        with RayBackendPool(mock_spec, RayOptions(workers=2)) as pool:
            mock_run = label_dataset(mock_sets, constitution, pool, templates, mock_config)
            mock_calls = pool.misses
            mock_start = max(pool.startup_s.values(), default=0.0)
            coordinator = pool.coordinator_stats()
        ceiling_s = (
            time.perf_counter() - t - mock_start
        )  # without the backend builds (none to speak of: a mock)
    finally:
        ray.shutdown()

    identical = all(
        (tmp / "local" / f).read_bytes() == (tmp / d / f).read_bytes()
        for d in ("rayx1", "rayx2")
        for f in OUTPUT_FILES
    )
    print()
    print(
        f"| {'executor':<18} | {'seconds':>8} | {'labels/s':>9} | batches per worker | worker start s | worker busy s |"
    )
    print(f"|{'-' * 20}|{'-' * 10}|{'-' * 11}|{'-' * 20}|{'-' * 16}|{'-' * 15}|")
    for name, s in timings.items():
        split = ", ".join(str(v) for v in per_worker.get(name, {}).values()) or "-"
        label = "local (1 thread)" if name == "local" else name
        up = f"{startup[name]:.1f}" if name in startup else "-"
        work = f"{busy[name]:.1f}" if name in busy else "-"
        print(f"| {label:<18} | {s:8.2f} | {labels / s:9.2f} | {split:<18} | {up:>14} | {work:>13} |")
    speedup = timings["ray x1"] / timings["ray x2"]
    print()
    print(f"labels: {labels}; datasets byte-identical (local, ray x1, ray x2): {identical}")
    print(f"speed-up of 2 workers over 1: {speedup:.2f}x (2 cores: at most 2x)")
    print(
        "worker start = the slowest worker's backend build (imports + model load); busy = its time on batches"
    )
    if args.quick:
        print(
            "(--quick: a smoke run of the script on a small random model; the speed-up is not a measurement)"
        )
    print(
        f"executor ceiling (mock critic, 2 workers, k=4, 32 pairs per batch): {len(mock_run.rows)} labels, "
        f"{mock_calls} critic calls cached through the coordinator in {ceiling_s:.1f} s (Ray job and actor start "
        "included) = "
        f"{len(mock_run.rows) / ceiling_s:.0f} labels/s, {mock_calls / ceiling_s:.0f} calls/s"
    )
    sqlite_rate = (coordinator["rows_read"] + coordinator["rows_written"]) / max(coordinator["cache_s"], 1e-9)
    print(
        f"coordinator: {coordinator['cache_s']:.2f} s in SQLite for {coordinator['rows_read']:.0f} lookups + "
        f"{coordinator['rows_written']:.0f} writes = {sqlite_rate:.0f} cache rows/s for one writer"
    )
    print()
    ok = speedup >= 1.5
    print(f"RESULT bench_ray speedup_2_vs_1_workers={speedup:.2f} target=>=1.5 {'pass' if ok else 'fail'}")
    print(f"RESULT bench_ray identical_datasets={identical} target==True {'pass' if identical else 'fail'}")
    print(
        f"info: bench_ray executor_ceiling_calls_per_s={mock_calls / ceiling_s:.0f} (reported, not a target)"
    )
    print(f"info: bench_ray coordinator_sqlite_rows_per_s={sqlite_rate:.0f} (reported, not a target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
