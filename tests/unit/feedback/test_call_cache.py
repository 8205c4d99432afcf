"""The call cache: hits, misses, determinism policy, resumability and many writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from rlaif.atomic import atomic_directory, atomic_write_text
from rlaif.backends.base import (
    ChatMessage,
    Completion,
    GenerationRequest,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)
from rlaif.errors import RlaifError
from rlaif.feedback.call_cache import CachedBackend, CallCache, call_key


class CountingBackend:
    """A deterministic fake that counts the calls reaching it, and can die after N requests."""

    name = "counting"
    model_id = "fake/model"
    model_revision = "r1"

    def __init__(self, die_after: int | None = None) -> None:
        self.generated: list[GenerationRequest] = []
        self.scored: list[ScoreRequest] = []
        self.die_after = die_after

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        out = []
        for r in requests:
            if self.die_after is not None and len(self.generated) >= self.die_after:
                raise KeyboardInterrupt  # stands for a killed process
            self.generated.append(r)
            text = f"echo:{r.prompt if isinstance(r.prompt, str) else r.prompt[-1].content}"
            out.append(
                [Completion(text=text, token_ids=(1, 2), finish_reason="stop", logprobs=(-0.5, -0.25))]
            )
        return out

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        self.scored.extend(requests)
        return [
            ScoreResult(
                logprobs=tuple(-float(len(c)) for c in r.continuations),
                num_tokens=(1,) * len(r.continuations),
            )
            for r in requests
        ]

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        return "".join(m.content for m in messages)

    def close(self) -> None:
        pass


def test_score_hits_after_first_call(tmp_path: Path) -> None:
    inner = CountingBackend()
    backend = CachedBackend(inner, CallCache(tmp_path / "c.sqlite"))
    reqs = [ScoreRequest("p1", (" A", " B")), ScoreRequest("p2", (" A", " BB"))]
    first = backend.score(reqs)
    second = backend.score(reqs)
    assert first == second == [ScoreResult((-2.0, -2.0), (1, 1)), ScoreResult((-2.0, -3.0), (1, 1))]
    assert len(inner.scored) == 2  # the second call never reached the model
    assert (backend.cache.hits, backend.cache.misses) == (2, 2)


def test_generation_cached_only_when_deterministic(tmp_path: Path) -> None:
    inner = CountingBackend()
    backend = CachedBackend(inner, CallCache(tmp_path / "c.sqlite"))
    greedy = GenerationRequest("hi", SamplingParams(temperature=0.0, max_new_tokens=4))
    seeded = GenerationRequest("hi", SamplingParams(temperature=0.7, seed=3))
    unseeded = GenerationRequest("hi", SamplingParams(temperature=0.7))
    for _ in range(2):
        out = backend.generate([greedy, seeded, unseeded])
        assert [c[0].text for c in out] == ["echo:hi"] * 3
        assert out[0][0].logprobs == (-0.5, -0.25)
    # greedy and seeded were answered once; the unseeded sample went to the model both times
    assert len(inner.generated) == 4


def test_key_depends_on_everything_that_matters() -> None:
    base = call_key("score", "m", "r", ["prompt", [" A"]])
    assert base == call_key("score", "m", "r", ["prompt", [" A"]])
    assert (
        len(
            {
                base,
                call_key("score", "m2", "r", ["prompt", [" A"]]),
                call_key("score", "m", "r2", ["prompt", [" A"]]),
                call_key("score", "m", "r", ["prompt!", [" A"]]),
                call_key("score", "m", "r", ["prompt", [" B"]]),
                call_key("generate", "m", "r", ["prompt", [" A"]]),
            }
        )
        == 6
    )


def test_killed_run_keeps_finished_chunks_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    reqs = [GenerationRequest(f"p{i}", SamplingParams(temperature=0.0)) for i in range(10)]
    dying = CachedBackend(CountingBackend(die_after=7), CallCache(path), chunk_size=3)
    with pytest.raises(KeyboardInterrupt):
        dying.generate(reqs)
    assert len(CallCache(path)) == 6  # two full chunks were committed before the "kill"

    inner = CountingBackend()
    resumed = CachedBackend(inner, CallCache(path), chunk_size=3)
    out = resumed.generate(reqs)
    assert [c[0].text for c in out] == [f"echo:p{i}" for i in range(10)]
    assert [r.prompt for r in inner.generated] == ["p6", "p7", "p8", "p9"]


_WRITER = """
import sys
from rlaif.feedback.call_cache import CallCache
cache = CallCache(sys.argv[1])
start = int(sys.argv[2])
for i in range(start, start + 200):
    cache.put_many("score", [(f"k{i}", {"v": i})])
"""


def test_many_processes_write_without_loss_or_duplicates(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    CallCache(path).close()
    # overlapping ranges: keys 100..299 are written by two processes at once
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, path, str(s)]) for s in (0, 100, 300)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    cache = CallCache(path)
    assert len(cache) == 500
    assert cache.get_many(["k0", "k250", "k499"]) == {"k0": {"v": 0}, "k250": {"v": 250}, "k499": {"v": 499}}


def test_corrupt_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RlaifError) as e:
        CallCache(path)
    assert str(path) in str(e.value) and "move it away" in str(e.value)
    assert not isinstance(e.value.__cause__, type(None)) and isinstance(
        e.value.__cause__, sqlite3.DatabaseError
    )


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    from rlaif.atomic import atomic_open

    with pytest.raises(Boom), atomic_open(target) as fh:
        fh.write("half")
        raise Boom
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left behind


def test_atomic_directory_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (target / "a.txt").read_text() == "1"
    with pytest.raises(ValueError), atomic_directory(target) as tmp:
        (tmp / "b.txt").write_text("2")
        raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
