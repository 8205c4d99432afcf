"""`rlaif label` killed with SIGKILL and rerun gives byte-identical output; an edited principle recomputes only its calls.

Runs the real CLI in subprocesses on the tiny random model (fp32, CPU, greedy scoring: deterministic).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution import dump_constitution_yaml, load_constitution
from rlaif.feedback.dataset_io import read_rows
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.responses import ResponseSet, write_responses

from .conftest import cli_env, sigkill_when

ROOT = Path(__file__).resolve().parents[2]
PAIRS = 40
K = 2
CALLS = PAIRS * K * 2
OUTPUT_FILES = ("data.parquet", "unlabeled.jsonl", "stats.json", "README.md")


@pytest.fixture(scope="module")
def responses_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resp") / "responses"
    sets = [
        ResponseSet(
            prompt=PromptRow(f"q{i:02d}", (ChatMessage("user", f"Tell me about topic number {i}."),)),
            responses=(f"Topic {i} is interesting because of reason {i % 3}.", f"I do not know about {i}."),
            finish_reasons=("stop", "stop"),
            seed=i,
            policy_model="fixed",
            policy_revision="test",
        )
        for i in range(PAIRS)
    ]
    write_responses(out, sets)
    return out


def _cmd(responses: Path, model: Path, constitution: Path, out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "rlaif.cli.main", "label",
        "--responses", str(responses), "--constitution", str(constitution), "--critic", str(model),
        "--backend", "transformers", "--device", "cpu", "--dtype", "float32",
        "-k", str(K), "--batch-pairs", "1", "-o", str(out), "--cache", str(cache), "--no-progress",
    ]  # fmt: skip


def _cached_rows(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(cache, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _kill_when(cmd: list[str], cache: Path, at_least: int) -> int:
    """Start the command, SIGKILL it once the cache holds ``at_least`` rows; return the rows at kill time."""
    sigkill_when(cmd, lambda: _cached_rows(cache) >= at_least)
    return _cached_rows(cache)


def test_sigkill_resume_is_byte_identical_and_edits_recompute_only_their_calls(
    tiny_model_dir: Path, responses_dir: Path, tmp_path: Path
) -> None:
    hhh = ROOT / "principles" / "hhh.yaml"
    base_out, base_cache = tmp_path / "base" / "labels", tmp_path / "base.sqlite"
    _run(_cmd(responses_dir, tiny_model_dir, hhh, base_out, base_cache))
    base_rows = read_rows(base_out)
    assert len(base_rows) == PAIRS
    assert json.loads((base_out / "run.json").read_text())["cache_misses"] == CALLS

    out, cache = tmp_path / "resumed" / "labels", tmp_path / "resumed.sqlite"
    cmd = _cmd(responses_dir, tiny_model_dir, hhh, out, cache)
    first = _kill_when(cmd, cache, 8)
    assert 8 <= first < CALLS and not (out / "data.parquet").exists()
    second = _kill_when(cmd, cache, first + CALLS // 3)
    assert first < second < CALLS
    _run(cmd)
    record = json.loads((out / "run.json").read_text())
    assert record["cache_hits"] == second and record["cache_misses"] == CALLS - second
    assert _cached_rows(cache) == CALLS  # nothing duplicated, nothing lost
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (base_out / name).read_bytes(), name
    rows = read_rows(out)
    assert [r["pair_id"] for r in rows] == [f"q{i:02d}:0-1" for i in range(PAIRS)]

    # edit one principle's compare text: only the calls whose pair sampled it run again
    edited = tmp_path / "hhh-edited.yaml"
    original = load_constitution(hhh)
    principles = tuple(
        p.model_copy(update={"compare": "Which response is more truthful and candid?"})
        if p.id == "honesty"
        else p
        for p in original.principles
    )
    edited.write_text(dump_constitution_yaml(original.model_copy(update={"principles": principles})))
    _run(_cmd(responses_dir, tiny_model_dir, edited, tmp_path / "edited" / "labels", cache))
    used = sum(any(p.startswith("honesty@") for p in r["principles"]) for r in base_rows)
    assert 0 < used < PAIRS
    record = json.loads((tmp_path / "edited" / "labels" / "run.json").read_text())
    assert record["cache_misses"] == 2 * used
    assert record["cache_hits"] == CALLS - 2 * used
