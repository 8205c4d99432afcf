"""Launching trainers in two CPU processes (accelerate launch → torchrun → gloo) and in this one, to compare.

Every test module here is marked ``distributed``. A launch runs ``driver.py`` (see its docstring) under
``accelerate launch --multi_gpu --num_processes 2``: without GPUs that starts two CPU processes that join over gloo.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).with_name("driver.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread: None) -> None:
    """The reference run in this process uses one thread, like each launched one."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    spec: dict[str, Any], folder: Path, *, processes: int = 2, timeout: float = 600
) -> list[dict[str, Any]]:
    """Run ``spec`` in ``processes`` launched processes; returns the per-rank reports (rank order)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "report": str(folder / "reports")}
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(spec))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HOME": str(folder / "hf-home"),  # no user-level accelerate default_config.yaml
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.accelerate_cli",
        "launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        str(DRIVER),
        str(spec_file),
    ]
    proc = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"launch failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return [json.loads((folder / "reports" / f"rank-{r}.json").read_text()) for r in range(processes)]


def run_here(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Run ``spec`` in this (single) process: the reference the launched runs are compared with."""
    mod_spec = importlib.util.spec_from_file_location("rlaif_distributed_driver", DRIVER)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    report: dict[str, Any] = module.run_spec({**spec, "report": str(folder / "reports")})
    return report


def train_records(output_dir: Path, phase: str = "train") -> list[dict[str, Any]]:
    """The ``metrics.jsonl`` records of one phase, in file order."""
    from rlaif.training import read_metrics

    return [r for r in read_metrics(output_dir / "metrics.jsonl") if r.get("phase") == phase]


def assert_curves_match(
    reference: list[dict[str, Any]],
    launched: list[dict[str, Any]],
    keys: list[str],
    *,
    rel: float,
    abs_: float,
) -> float:
    """Step-by-step equality of ``keys`` within ``rel``/``abs_``; returns the largest relative difference seen."""
    assert [r["step"] for r in launched] == [r["step"] for r in reference]
    worst = 0.0
    for ref, got in zip(reference, launched, strict=True):
        for k in keys:
            a, b = float(ref[k]), float(got[k])
            assert b == pytest.approx(a, rel=rel, abs=abs_), (k, ref["step"], a, b)
            worst = max(worst, abs(a - b) / max(abs(a), 1e-12))
    return worst


def assert_rank0_wrote_everything(reports: list[dict[str, Any]]) -> None:
    """Only the main process wrote in the output folders (the others: their own random states only), and every
    process held the same weights at every checkpoint."""
    assert [r["rank"] for r in reports] == list(range(len(reports))) and reports[0]["world"] == len(reports)
    for r in reports[1:]:
        assert r["writes"] == [], r["writes"][:10]
    main = reports[0]["checkpoints"]
    assert main, "no checkpoint was saved"
    for r in reports[1:]:
        assert [(c["step"], c["weights"]) for c in r["checkpoints"]] == [
            (c["step"], c["weights"]) for c in main
        ]
