"""The shipped smoke pipeline end to end on the embedded model (what CI runs): one round of generate → label →
DPO → evaluate, then the report, then `rlaif status`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_pipeline_runs_and_reports(embedded_model_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "rlaif",
        "run",
        str(ROOT / "pipelines" / "smoke.yaml"),
        "--runs-dir",
        str(runs),
    ]
    done = subprocess.run([*cmd, "--no-progress"], capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "time per stage" in done.stderr
    run_dir = runs / "smoke"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "done" and record["prompts"] == {"train": 6, "heldout": 2}
    for stage in ("generate", "label", "policy", "evaluate"):
        m = json.loads((run_dir / "round-1" / stage / "manifest.json").read_text())
        assert m["status"] == "done" and m["seconds"] > 0, stage
    assert (run_dir / "round-1" / "policy" / "model" / "adapter_model.safetensors").is_file()
    ev = json.loads((run_dir / "round-1" / "evaluate" / "eval.json").read_text())
    assert ev["n_prompts"] == 2 and ev["compliance"]
    # the rerun skips every stage
    again = subprocess.run([*cmd, "--no-progress"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.count("skipped") >= 4, again.stderr[-2000:]
    report = subprocess.run(
        [sys.executable, "-m", "rlaif", "report", str(run_dir)], capture_output=True, text=True, timeout=300
    )
    assert report.returncode == 0, report.stderr[-2000:]
    html = (run_dir / "report.html").read_text()
    assert "<svg" in html and "smoke" in html
    status = subprocess.run(
        [sys.executable, "-m", "rlaif", "status", str(run_dir)], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0 and "done" in status.stdout
