"""Faults on the Ray executor: a worker killed mid-batch is retried and the dataset is still exact; a batch that
keeps killing its worker, or that runs out of memory, is named; a dead or missing cluster fails fast."""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend, MockRule
from rlaif.constitution import load_constitution
from rlaif.errors import BackendError, RlaifError
from rlaif.feedback.call_cache import CachedBackend, CallCache
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import LabelConfig, label_dataset
from rlaif.feedback.responses import GenerateConfig, ResponseSet, generate_responses
from rlaif.prompting import TemplateSet
from rlaif.scale import BackendSpec, RayBackendPool, RayOptions, generate_with_ray
from rlaif.testing.ray_faults import kill_worker_on_batch

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (run `make test-ray`)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    PromptRow(f"p{i:02d}", (ChatMessage("user", f"Question {i}: why is the sky blue?"),)) for i in range(12)
]
GEN = GenerateConfig(n=2, max_new_tokens=16, batch_prompts=3, progress=False)
CONFIG = LabelConfig(
    k=2, batch_pairs=3, keep_ties=True, progress=False
)  # 12 pairs: batches 0-3 of 3 pairs, 48 critic calls


@pytest.fixture(scope="module")
def responses() -> list[ResponseSet]:
    return generate_responses(MockBackend("m"), PROMPTS, GEN)


def _rows(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT key, kind, value FROM calls"))


def test_worker_killed_mid_batch_is_retried_and_the_dataset_is_exact(
    responses: list[ResponseSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    const = load_constitution(ROOT / "principles/hhh.yaml")
    local_cache = CachedBackend(MockBackend("m"), CallCache(tmp_path / "local.sqlite"), chunk_size=1 << 30)
    write_label_run(
        label_dataset(responses, const, local_cache, TemplateSet.load(), CONFIG), tmp_path / "local"
    )

    marker = tmp_path / "killed-once"
    # the worker on batch 2 exits inside its score call, before committing
    with (
        kill_worker_on_batch(2, once=marker),
        RayBackendPool(
            BackendSpec("mock", "m", cache=str(tmp_path / "ray.sqlite")), RayOptions(workers=2)
        ) as pool,
    ):
        run = label_dataset(responses, const, pool, TemplateSet.load(), CONFIG)
        [retried] = pool.retried.values()
    assert marker.exists()  # the kill happened
    assert list(retried) == [2] and len(retried[2]) == 2  # batch 2 ran twice, on two different processes
    assert retried[2][0] != retried[2][1]
    write_label_run(run, tmp_path / "ray")
    for name in ("data.parquet", "unlabeled.jsonl", "stats.json", "README.md"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
    # the killed attempt committed nothing; the retry committed its batch once: every call exactly once
    assert _rows(tmp_path / "ray.sqlite") == _rows(tmp_path / "local.sqlite")
    assert len(_rows(tmp_path / "ray.sqlite")) == 48


def test_a_batch_that_keeps_killing_its_worker_is_named(
    responses: list[ResponseSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        kill_worker_on_batch(1),  # no marker: every attempt dies, as an out-of-memory kill would
        RayBackendPool(BackendSpec("mock", "m"), RayOptions(workers=2, max_retries=1)) as pool,
        pytest.raises(RlaifError) as err,
    ):
        label_dataset(
            responses, load_constitution(ROOT / "principles/hhh.yaml"), pool, TemplateSet.load(), CONFIG
        )
    text = str(err.value)
    assert "batch 1 (pairs p03:0-1 … p05:0-1): its worker died 2 time(s) in a row" in text
    assert "out of memory" in text and "--batch-pairs" in text


def test_backend_out_of_memory_names_the_batch(tmp_path: Path) -> None:
    # the mock raises a BackendError for one prompt, as the transformers backend does on a CUDA OOM
    oom = MockRule("Question 7:", error="out of memory while generating a batch of 6 rows x 40 tokens")
    spec = BackendSpec("mock", "m", options={"rules": [oom]})
    with pytest.raises(BackendError) as err:
        generate_with_ray(spec, PROMPTS, GEN, RayOptions(workers=2))
    text = str(err.value)
    assert "batch 2 (3 prompt(s), the first: 'Question 6: why is the sky blue?')" in text
    assert "out of memory while generating" in text and "--batch-prompts" in text


def test_a_worker_that_cannot_build_its_backend_stops_the_run(tmp_path: Path) -> None:
    spec = BackendSpec("mock", "m", options={"no_such_option": 1})
    with pytest.raises(RlaifError) as err:
        generate_with_ray(spec, PROMPTS, GEN, RayOptions(workers=2))
    assert "starting the mock backend on pid" in str(err.value) and "no_such_option" in str(err.value)


def test_unreachable_cluster_fails_fast_naming_the_address() -> None:
    import socket

    from rlaif.scale.ray_setup import connect

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import ray

    ray.shutdown()  # connect() only dials out when this process has no Ray session yet
    try:
        t0 = time.monotonic()
        with pytest.raises(RlaifError) as err:
            connect(RayOptions(address=f"127.0.0.1:{port}"))
        assert time.monotonic() - t0 < 30
        assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in str(err.value)
        assert "ray start --head" in str(err.value)
        assert not ray.is_initialized()
    finally:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
