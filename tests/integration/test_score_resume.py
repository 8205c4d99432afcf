"""`rlaif score` killed with SIGKILL mid-run and rerun: the rerun scores only what was not saved, and the output is
byte-identical to an uninterrupted run's. Real CLI in subprocesses on the tiny random model (fp32, CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rlaif.resources import shipped_dir
from rlaif.reward import RewardConfig, train_reward_model
from rlaif.training import OptimSettings, RunSettings

from .conftest import cli_env, sigkill_when

PROMPTS, PER_PROMPT = 100, 4


def _saved(partial: Path) -> int:
    """Rewards on disk in a partial file (header and a torn last line not counted)."""
    if not partial.exists():
        return 0
    n = 0
    for line in partial.read_text().splitlines()[1:]:
        try:
            json.loads(line)
            n += 1
        except json.JSONDecodeError:
            pass
    return n


def test_sigkilled_score_resumes_to_identical_output(tiny_model_dir: Path, tmp_path: Path) -> None:
    style = shipped_dir("principles") / "style.yaml"
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps(
                {"prompt": f"Q{i}?", "chosen": "Calm.", "rejected": "LOUD!", "p_chosen": 0.9,
                 "principles": ["no_exclamations@1"]}
            ) + "\n"
            for i in range(8)
        )
    )  # fmt: skip
    cfg = RewardConfig(
        data=labels,
        constitution=style,
        output_dir=tmp_path / "rm",
        model=str(tiny_model_dir),
        optim=OptimSettings(lr=1e-2),
        val_fraction=0.0,
        run=RunSettings(batch_size=4, epochs=1, device="cpu"),
    )
    model = train_reward_model(cfg, progress=False).model_dir
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps(
                {"prompt": f"Question {q}: how do I do thing {q}?", "response": f"Answer {r} " * (1 + r)}
            )
            + "\n"
            for q in range(PROMPTS)
            for r in range(PER_PROMPT)
        )
    )

    def cmd(out: Path) -> list[str]:
        return [
            sys.executable, "-m", "rlaif.cli.main", "score", "-m", str(model), "-c", str(style),
            "-p", "no_exclamations", "--input", str(rows), "-o", str(out), "--chunk-size", str(PER_PROMPT),
            "--device", "cpu", "--no-progress",
        ]  # fmt: skip

    whole = tmp_path / "whole.jsonl"
    done = subprocess.run(cmd(whole), env=cli_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    out = tmp_path / "scores.jsonl"
    partial = tmp_path / "scores.jsonl.partial"
    sigkill_when(cmd(out), lambda: _saved(partial) >= 3 * PER_PROMPT)
    kept = _saved(partial)
    assert 3 * PER_PROMPT <= kept < PROMPTS * PER_PROMPT and not out.exists()

    again = subprocess.run(cmd(out), env=cli_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed: {kept} of {PROMPTS * PER_PROMPT} rewards reused" in again.stdout
    assert f"scored {PROMPTS * PER_PROMPT - kept} responses in" in again.stdout
    assert out.read_bytes() == whole.read_bytes() and not partial.exists()
