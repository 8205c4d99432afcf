"""``run_evaluate``: the one wiring ``rlaif eval policy``, a pipeline's evaluate stage and Python share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rlaif
from rlaif.evals.policy_eval import PolicyEvalConfig
from rlaif.jobs import evaluate as evaluate_module
from rlaif.jobs.evaluate import EvaluateJob, run_evaluate
from rlaif.strict import ConfigError

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "data/prompts/smoke.jsonl"
HHH = ROOT / "principles/hhh.yaml"
STYLE = ROOT / "principles/style.yaml"


def _config(**kw: Any) -> PolicyEvalConfig:
    base: dict[str, Any] = {
        "prompts": SMOKE,
        "split": None,
        "limit": 3,
        "constitution": HHH,
        "principles": ["helpfulness"],
        "model": "m",
        "backend": "mock",
        "critic": "m",
        "critic_backend": "mock",
        "use_cache": False,
        "bootstrap_resamples": 100,
    }
    return PolicyEvalConfig(**{**base, **kw})


def test_run_evaluate_writes_eval_and_samples(tmp_path: Path) -> None:
    job = EvaluateJob(out=tmp_path / "eval", progress=False, config=_config())
    result = run_evaluate(job)
    assert result.paths == {"eval": tmp_path / "eval/eval.json", "samples": tmp_path / "eval/samples.jsonl"}
    doc = json.loads(result.paths["eval"].read_text())
    assert doc["n_prompts"] == 3 and doc["policy"]["adapter"] is None
    assert doc["config"]["backend"] == "mock"
    assert len(result.paths["samples"].read_text().splitlines()) == 3
    again = run_evaluate(job.model_copy(update={"out": tmp_path / "again"}))
    assert again.to_dict()["win_rate"] == result.to_dict()["win_rate"]


def test_the_job_is_strict_and_exported_lazily(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config"):
        EvaluateJob(out=tmp_path)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="unknown field"):
        EvaluateJob(out=tmp_path, config=_config(), policy_adapter=None)  # type: ignore[call-arg]
    assert rlaif.EvaluateJob is EvaluateJob and rlaif.run_evaluate is run_evaluate


def test_eval_policy_builds_the_job_from_its_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rlaif.cli.main import main

    jobs: list[EvaluateJob] = []

    def record(job: EvaluateJob) -> Any:
        jobs.append(job)
        return run_evaluate(job)

    monkeypatch.setattr(evaluate_module, "run_evaluate", record)
    out = tmp_path / "eval"
    rc = main(
        [
            "eval", "policy", "--prompts", str(SMOKE), "--all-splits", "-n", "3", "-c", str(HHH),
            "-p", "helpfulness", "--rules", str(STYLE), "-m", "m", "-b", "mock", "--critic", "m",
            "--critic-backend", "mock", "--critic-backend-option", "seed=3", "--no-cache", "--no-kl",
            "--bootstrap-resamples", "100", "--samples", "2", "--no-progress", "-o", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    (job,) = jobs
    assert job == EvaluateJob(
        out=out,
        progress=False,
        config=_config(
            compliance_constitutions=[STYLE],
            critic_backend_options={"seed": 3},
            kl=False,
            n_samples=2,
        ),
    )
    assert (out / "eval.json").is_file() and (out / "samples.jsonl").is_file()


def test_device_and_dtype_reach_both_local_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rlaif.cli.main import main

    jobs: list[EvaluateJob] = []
    monkeypatch.setattr(evaluate_module, "run_evaluate", jobs.append)
    monkeypatch.setattr("rlaif.cli.eval_policy.print_result", lambda result: None)
    args = ["eval", "policy", "--prompts", str(SMOKE), "-c", str(HHH), "-o", str(tmp_path)]
    assert main([*args, "--device", "cpu", "--dtype", "float32", "--backend-option", "batch_size=4"]) == 0
    config = jobs[0].config
    assert config.backend_options == {"device": "cpu", "dtype": "float32", "batch_size": 4}
    assert config.critic_backend_options == {"device": "cpu", "dtype": "float32"}
    assert config.split == "heldout" and config.use_cache and jobs[0].adapter is None
