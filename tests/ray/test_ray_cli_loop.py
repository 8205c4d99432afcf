"""`rlaif generate/label --executor ray` and `executor: ray` pipelines write what the local executor writes."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (run `make test-ray`)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "data/prompts/smoke.jsonl"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    from rlaif.cli.main import main

    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def test_cli_generate_and_label_on_ray_equal_local(cli: Callable[..., Result], tmp_path: Path) -> None:
    common_gen = ["generate", "--prompts", SMOKE, "--policy", "m", "--backend", "mock", "--n", "3"]
    common_gen += ["--max-new-tokens", "16", "--batch-prompts", "2", "--no-progress"]
    assert cli(*common_gen, "-o", tmp_path / "local/responses").code == 0
    r = cli(*common_gen, "-o", tmp_path / "ray/responses", "--executor", "ray", "--workers", "2")
    assert r.code == 0, r.err
    assert (tmp_path / "local/responses/data.parquet").read_bytes() == (
        tmp_path / "ray/responses/data.parquet"
    ).read_bytes()
    record = json.loads((tmp_path / "ray/responses/run.json").read_text())
    assert record["executor"] == "ray" and record["workers"] == 2 and record["policy"] == "mock:m"

    for where, extra in (("local", []), ("ray", ["--executor", "ray", "--workers", "2"])):
        r = cli(
            "label", "--responses", tmp_path / where / "responses", "--constitution", ROOT / "principles/hhh.yaml",
            "--critic", "m", "--backend", "mock", "-k", "2", "--pairing", "all_pairs", "--batch-pairs", "4",
            "--no-progress", "--keep-ties", "-o", tmp_path / where / "labels", *extra,
        )  # fmt: skip
        assert r.code == 0, r.err
    for name in ("data.parquet", "unlabeled.jsonl", "stats.json", "README.md"):
        assert (tmp_path / "local/labels" / name).read_bytes() == (
            tmp_path / "ray/labels" / name
        ).read_bytes()
    local = json.loads((tmp_path / "local/labels/run.json").read_text())
    remote = json.loads((tmp_path / "ray/labels/run.json").read_text())
    # both caches started empty: every critic call computed once, none read back
    assert remote["cache_misses"] == local["cache_misses"] > 0 and remote["cache_hits"] == 0


def test_cli_address_needs_ray_executor(cli: Callable[..., Result], tmp_path: Path) -> None:
    r = cli("generate", "--prompts", SMOKE, "--backend", "mock", "-o", tmp_path / "x", "--address", "auto")
    assert r.code == 1 and "--address is for --executor ray" in r.err


def _pipeline(tmp: Path, executor: str) -> Path:
    p = tmp / f"{executor}.yaml"
    p.write_text(
        f"""
name: mockloop
models: {{policy: m, backend: mock}}
constitution: principles/hhh.yaml
prompts: {{files: ["{SMOKE}"]}}
generate: {{n: 3, max_new_tokens: 16, batch_prompts: 2}}
label: {{k: 2, pairing: all_pairs, batch_pairs: 4, gate: {{enabled: false}}, keep_ties: true}}
policy: {{method: none}}
evaluate: {{enabled: false}}
executor: {executor}
ray: {{workers: 2, batches_per_task: 2}}
"""
    )
    return p


def test_pipeline_with_ray_executor_equals_local_and_switching_reruns_nothing(tmp_path: Path) -> None:
    from rlaif.loop import load_pipeline, run_pipeline

    run_pipeline(load_pipeline(_pipeline(tmp_path, "local")), runs_dir=tmp_path / "local", progress=False)
    summary = run_pipeline(
        load_pipeline(_pipeline(tmp_path, "ray")), runs_dir=tmp_path / "ray", progress=False
    )
    assert [(t.stage, t.action) for t in summary.timings] == [("generate", "ran"), ("label", "ran")]
    for stage, name in (("generate", "data.parquet"), ("label", "data.parquet"), ("label", "stats.json")):
        a = tmp_path / "local/mockloop/round-1" / stage / name
        b = tmp_path / "ray/mockloop/round-1" / stage / name
        assert a.read_bytes() == b.read_bytes(), (stage, name)
    # the executor is not in any fingerprint: the local run's folder, rerun on Ray, skips every stage
    again = run_pipeline(
        load_pipeline(_pipeline(tmp_path, "ray")), runs_dir=tmp_path / "local", progress=False
    )
    assert [t.action for t in again.timings] == ["skipped", "skipped"]
