"""Critique → revision on the embedded SmolLM2-135M-Instruct: 2 prompts, 1 round, written and loaded back (slow).

About 112 decoded tokens per prompt: ~15 s on an idle 2-core machine (13 tokens/s); the time is printed, not asserted,
because a shared machine can be several times slower.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlaif.constitution import load_constitution
from rlaif.feedback.dataset_io import read_rows
from rlaif.feedback.inputs import load_prompts
from rlaif.feedback.revise import revise
from rlaif.feedback.revise_config import ReviseConfig
from rlaif.feedback.revise_output import write_revise_run
from rlaif.prompting import TemplateSet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smollm2(embedded_model: Any) -> Iterator[Any]:
    from rlaif.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(embedded_model, device="cpu", dtype="float32", progress=False)
    yield backend
    backend.close()


def test_revise_two_prompts_one_round(smollm2: Any, tmp_path: Path) -> None:
    constitution = load_constitution(ROOT / "principles/hhh.yaml")
    prompts = load_prompts(ROOT / "data/prompts/smoke.jsonl")[:2]
    config = ReviseConfig(
        rounds=1,
        response_temperature=0.0,
        response_max_new_tokens=32,
        critique_max_new_tokens=32,
        revision_max_new_tokens=48,
        drop_truncated=False,  # tight caps for speed; a 135M model rarely stops within them
        cache=str(tmp_path / "calls.sqlite"),
    )
    start = time.perf_counter()
    run = revise(smollm2, smollm2, prompts, constitution, TemplateSet.load(), config)
    elapsed = time.perf_counter() - start
    print(f"\nrevise on SmolLM2: {elapsed:.1f} s\n{run.stats.summary()}")
    for rec in run.records:
        print(f"--- {rec.item.id}: {rec.item.response[:80]!r}")
        for r in rec.rounds:
            print(
                f"    [{r.principle}] critique {r.critique[:80]!r}\n    revision {r.revision[:80]!r} ({r.stop})"
            )
    assert run.stats.prompts == 2
    assert all(rec.item.response for rec in run.records)
    assert all(len(rec.rounds) == 1 and rec.rounds[0].critique for rec in run.records)
    assert (
        run.stats.revised
        + run.stats.stop_reasons.get("unchanged", 0)
        + run.stats.stop_reasons.get("empty_revision", 0)
        == 2
    )
    for rec in run.records:
        if rec.revised:
            assert rec.label is not None  # labelled or unlabeled with a reason, never left out
    sft_dir, pairs_dir = write_revise_run(run, tmp_path / "out", constitution)
    assert len(read_rows(sft_dir)) == run.stats.revised
    assert len(read_rows(pairs_dir)) == run.stats.accepted
    # the cache answers the whole rerun: identical rows, and the model is never called
    counting = _CountingBackend(smollm2)
    again = revise(counting, counting, prompts, constitution, TemplateSet.load(), config)
    assert again.sft_rows == run.sft_rows
    assert counting.calls == 0


class _CountingBackend:
    """Delegates to a backend and counts the model calls (generate and score) that reach it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def generate(self, requests: Any) -> Any:
        self.calls += len(requests)
        return self.inner.generate(requests)

    def score(self, requests: Any) -> Any:
        self.calls += len(requests)
        return self.inner.score(requests)

    def close(self) -> None:
        pass  # the module fixture owns the model
