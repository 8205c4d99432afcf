"""Labeling and generation on a local 2-CPU Ray cluster give the local executor's dataset, byte for byte.

The critic and the policy are the scripted mock (deterministic: a character-level model hashed from the text) or the
tiny random transformers model; each pool has 2 workers, each with its own backend.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.backends.mock import MockBackend
from rlaif.constitution import load_constitution
from rlaif.feedback.call_cache import CachedBackend, CallCache
from rlaif.feedback.inputs import PromptRow
from rlaif.feedback.label_output import write_label_run
from rlaif.feedback.labeler import LabelConfig, label_dataset
from rlaif.feedback.responses import GenerateConfig, ResponseSet, generate_responses, write_responses
from rlaif.prompting import TemplateSet
from rlaif.scale import BackendSpec, RayBackendPool, RayOptions, generate_with_ray, label_with_ray

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (run `make test-ray`)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
FILES = ("data.parquet", "unlabeled.jsonl", "stats.json", "README.md")
PROMPTS = [
    PromptRow(f"p{i:02d}", (ChatMessage("user", f"Tell me about topic {i}, briefly."),)) for i in range(14)
]
GEN = GenerateConfig(n=3, max_new_tokens=24, batch_prompts=4, seed=7, progress=False)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load()


@pytest.fixture(scope="module")
def responses() -> list[ResponseSet]:
    return generate_responses(MockBackend("m"), PROMPTS, GEN)


def _label_local(responses: list[ResponseSet], out: Path, config: LabelConfig, cache: Path | None) -> None:
    critic = MockBackend("m")
    engine = CachedBackend(critic, CallCache(cache), chunk_size=1 << 30) if cache else critic
    write_label_run(
        label_dataset(
            responses, load_constitution(ROOT / "principles/hhh.yaml"), engine, TemplateSet.load(), config
        ),
        out,
    )


def _same_files(a: Path, b: Path, names: tuple[str, ...] = FILES) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _cache_rows(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT key, kind, value FROM calls"))


def test_ray_labels_equal_local_labels_and_cache(
    responses: list[ResponseSet], templates: TemplateSet, tmp_path: Path
) -> None:
    # all_pairs: 3 pairs per prompt = 42 pairs in 9 batches of 5; k=2 principles, both orders: 168 critic calls
    config = LabelConfig(k=2, pairing="all_pairs", batch_pairs=5, seed=3, keep_ties=True, progress=False)
    _label_local(responses, tmp_path / "local", config, tmp_path / "local.sqlite")
    spec = BackendSpec("mock", "m", cache=str(tmp_path / "ray.sqlite"))
    with RayBackendPool(spec, RayOptions(workers=2)) as pool:
        run = label_dataset(
            responses, load_constitution(ROOT / "principles/hhh.yaml"), pool, templates, config
        )
        assert (pool.hits, pool.misses) == (0, 168)
        assert sum(pool.batches_by_worker.values()) == 9
        assert pool.cache_rows() == 168
        assert pool.retried == {}
    write_label_run(run, tmp_path / "ray")
    _same_files(tmp_path / "local", tmp_path / "ray")
    assert run.critic_model == "mock:m" and run.rows[0]["critic_model"] == "mock:m"
    # one writer, no lost or duplicated rows: the same keys and values as the local run's cache
    local_rows, ray_rows = _cache_rows(tmp_path / "local.sqlite"), _cache_rows(tmp_path / "ray.sqlite")
    assert len(ray_rows) == 168 and ray_rows == local_rows

    # a second run reads every call back from the cache and writes nothing new
    with RayBackendPool(spec, RayOptions(workers=2, batches_per_task=4)) as pool:
        again = label_dataset(
            responses, load_constitution(ROOT / "principles/hhh.yaml"), pool, templates, config
        )
        assert (pool.hits, pool.misses) == (168, 0)
    write_label_run(again, tmp_path / "again")
    _same_files(tmp_path / "local", tmp_path / "again")
    assert _cache_rows(tmp_path / "ray.sqlite") == local_rows


def test_ray_generation_equals_local(tmp_path: Path) -> None:
    local = generate_responses(MockBackend("m"), PROMPTS, GEN)
    remote = generate_with_ray(BackendSpec("mock", "m"), PROMPTS, GEN, RayOptions(workers=2))
    assert remote == local
    write_responses(tmp_path / "local", local)
    write_responses(tmp_path / "ray", remote)
    _same_files(tmp_path / "local", tmp_path / "ray", ("data.parquet",))


def test_ray_generation_skips_overlong_prompts_like_local() -> None:
    # the mock counts characters: prompts with 2 extra words are over budget and skipped, which shifts the batches
    prompts = [
        PromptRow(f"q{i:02d}", (ChatMessage("user", "Tell me a fact" + " please" * (i % 3)),))
        for i in range(10)
    ]
    config = GenerateConfig(n=2, max_new_tokens=12, batch_prompts=3, max_prompt_tokens=48, overlong="skip")
    local = generate_responses(MockBackend("m"), prompts, config.model_copy(update={"progress": False}))
    remote = generate_with_ray(
        BackendSpec("mock", "m"),
        prompts,
        config.model_copy(update={"progress": False}),
        RayOptions(workers=2),
    )
    assert [s.prompt.id for s in local] == ["q00", "q01", "q03", "q04", "q06", "q07", "q09"]
    assert remote == local


def test_best_worst_by_critic_ranks_on_a_worker(
    responses: list[ResponseSet], templates: TemplateSet, tmp_path: Path
) -> None:
    config = LabelConfig(
        k=2, pairing="best_worst", best_worst_by="critic", batch_pairs=4, keep_ties=True, progress=False
    )
    _label_local(responses, tmp_path / "local", config, None)
    run = label_with_ray(
        responses,
        load_constitution(ROOT / "principles/hhh.yaml"),
        BackendSpec("mock", "m"),
        templates,
        config,
    )
    write_label_run(run, tmp_path / "ray")
    _same_files(tmp_path / "local", tmp_path / "ray")


def test_transformers_workers_equal_local(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The real engine: the tiny random Llama, float32 on CPU, one copy per worker."""
    import torch

    from rlaif.backends.transformers_backend import TransformersBackend

    options = {"device": "cpu", "dtype": "float32"}
    gen = GenerateConfig(n=2, max_new_tokens=8, batch_prompts=3, temperature=1.0, seed=1, progress=False)
    prompts = PROMPTS[:6]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each 1-CPU worker: same kernels, same float summation order
    try:
        policy = TransformersBackend(str(tiny_model_dir), **options)
        local_sets = generate_responses(policy, prompts, gen)
        config = LabelConfig(k=1, batch_pairs=2, keep_ties=True, progress=False)
        const = load_constitution(ROOT / "principles/hhh.yaml")
        local = label_dataset(local_sets, const, policy, TemplateSet.load(), config)
        policy.close()
    finally:
        torch.set_num_threads(threads)
    spec = BackendSpec("transformers", str(tiny_model_dir), options)
    remote_sets = generate_with_ray(spec, prompts, gen, RayOptions(workers=2))
    assert remote_sets == local_sets
    remote = label_with_ray(remote_sets, const, spec, TemplateSet.load(), config, RayOptions(workers=2))
    write_label_run(local, tmp_path / "local")
    write_label_run(remote, tmp_path / "ray")
    _same_files(tmp_path / "local", tmp_path / "ray")
