"""`rlaif serve-reward` from the command line: serves a reward model over HTTP; bad options are clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from rlaif.cli.main import main


def test_cli_serves_and_answers(tiny_rm_dir: Path, style_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlaif",
            "serve-reward",
            "--reward-model",
            str(tiny_rm_dir),
            "-c",
            str(style_path),
            "--principle",
            "concise",
            "--port",
            "0",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "rlaif reward server (...) on http://127.0.0.1:PORT: ..."
        assert "on http://127.0.0.1:" in line, proc.stderr.read() if proc.poll() is not None else line
        url = line.split(" on ", 1)[1].split(": ", 1)[0]
        with urllib.request.urlopen(url + "/health", timeout=30) as r:
            assert json.loads(r.read())["status"] == "ok"
        req = urllib.request.Request(
            url + "/v1/rewards",
            data=json.dumps({"items": [{"prompt": "Q?", "response": "Calm."}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            body = json.loads(r.read())
        assert body["principles"] == [["concise@1"]] and isinstance(body["rewards"][0], float)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-reward"]) == 1
    assert "exactly one of a reward model or a critic" in capsys.readouterr().err
    assert main(["serve-reward", "--critic", "x", "--max-batch", "0"]) == 1
    assert "--max-batch" in capsys.readouterr().err
    assert main(["serve-reward", "--reward-model", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
