"""Resumable scoring into a file (what `rlaif score` runs): a run killed between chunks keeps what it scored, and the
rerun scores only the rest, with the same output as an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlaif.backends.base import ChatMessage
from rlaif.constitution import load_constitution
from rlaif.reward import RewardConfig, RewardModel, train_reward_model
from rlaif.reward.score_file import ScoreItem, item_key, score_to_file
from rlaif.training import OptimSettings, RunSettings


@pytest.fixture
def rm(tiny_model_dir: Path, labels_file: Path, style_path: Path, tmp_path: Path) -> RewardModel:
    cfg = RewardConfig(
        data=labels_file,
        constitution=style_path,
        output_dir=tmp_path / "rm",
        model=str(tiny_model_dir),
        optim=OptimSettings(lr=1e-2),
        val_fraction=0.0,
        run=RunSettings(batch_size=4, epochs=1, device="cpu"),
    )
    return RewardModel.load(train_reward_model(cfg, progress=False).model_dir, device="cpu")


def _items(style_path: Path) -> list[ScoreItem]:
    style = load_constitution(style_path)
    ps = [[style.get("no_exclamations")], [style.get("concise"), style.get("no_exclamations")]]
    items = []
    for q in range(4):
        for r in range(3):
            items.append(
                ScoreItem(
                    {"id": f"q{q}", "index": r},
                    ps[q % 2],
                    (ChatMessage("user", f"Question number {q}?"),),
                    ["Calm.", "LOUD! LOUD!", f"A longer calm answer number {r}."][r],
                )
            )
    return items


class _Killed(Exception):
    pass


def _killing_after(rm: RewardModel, calls: int) -> list[int]:
    """Make ``rm.score`` fail on call ``calls + 1`` (as a kill between two chunks would); returns the call sizes."""
    sizes: list[int] = []
    real = rm.score

    def score(*args: Any, **kw: Any) -> list[float]:
        if len(sizes) == calls:
            raise _Killed
        sizes.append(len(args[2]))
        return real(*args, **kw)

    rm.score = score  # type: ignore[method-assign]
    return sizes


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_killed_run_resumes_and_matches_an_uninterrupted_one(
    rm: RewardModel, style_path: Path, tmp_path: Path
) -> None:
    items = _items(style_path)
    whole = score_to_file(rm, items, tmp_path / "whole.jsonl", chunk_size=3, normalize=True)
    assert whole.scored == len(items) and whole.reused == 0
    assert not (tmp_path / "whole.jsonl.partial").exists()

    out = tmp_path / "scores.jsonl"
    sizes = _killing_after(rm, 2)
    with pytest.raises(_Killed):
        score_to_file(rm, items, out, chunk_size=3, normalize=True)
    partial = out.with_name("scores.jsonl.partial")
    assert not out.exists() and partial.is_file()
    saved = partial.read_text().splitlines()
    assert json.loads(saved[0])["format"] == "rlaif-score-partial/1"
    assert len(saved) - 1 == sum(sizes) == 6  # two chunks of 3 on disk
    with partial.open("a") as fh:  # a kill in the middle of a write leaves a torn line
        fh.write('{"key": "abc", "rew')

    del rm.score  # the real method again
    calls = _killing_after(rm, 1)  # killed again after one more chunk: the torn line must not swallow it
    with pytest.raises(_Killed):
        score_to_file(rm, items, out, chunk_size=3, normalize=True)
    assert calls == [3]
    del rm.score
    calls = _killing_after(rm, 100)
    run = score_to_file(rm, items, out, chunk_size=3, normalize=True)
    assert run.reused == 9 and run.scored == len(items) - 9 == sum(calls)
    assert any("resumed: 9 of 12" in n for n in run.notes)
    assert not partial.exists()
    a, b = _rows(whole.out), _rows(out)
    assert [{k: v for k, v in r.items() if not k.startswith("reward")} for r in a] == [
        {k: v for k, v in r.items() if not k.startswith("reward")} for r in b
    ]
    assert [r["reward"] for r in a] == pytest.approx([r["reward"] for r in b], abs=1e-5)
    assert [r["reward_normalized"] for r in a] == pytest.approx([r["reward_normalized"] for r in b], abs=1e-4)
    assert [r["principles_scored"] for r in b][:3] == [["no_exclamations@1"]] * 3


def test_partial_file_of_another_model_is_set_aside(
    rm: RewardModel, style_path: Path, tmp_path: Path
) -> None:
    items = _items(style_path)
    out = tmp_path / "scores.jsonl"
    partial = out.with_name("scores.jsonl.partial")
    partial.write_text(
        json.dumps({"fingerprint": "someone-else", "format": "rlaif-score-partial/1"})
        + "\n"
        + json.dumps({"key": item_key(items[0]), "reward": 123.0})
        + "\n"
    )
    run = score_to_file(rm, items, out)
    assert run.reused == 0 and run.scored == len(items)
    assert any("another reward model" in n for n in run.notes)
    assert partial.with_name("scores.jsonl.partial.stale").is_file()
    assert all(r["reward"] != 123.0 for r in _rows(out))


def test_one_prompts_responses_stay_in_one_chunk(rm: RewardModel, style_path: Path, tmp_path: Path) -> None:
    sizes = _killing_after(rm, 100)
    score_to_file(rm, _items(style_path), tmp_path / "s.jsonl", chunk_size=2)
    assert sizes == [3, 3, 3, 3]  # chunks of 2 grow to the 3 responses of a prompt rather than split them


def test_normalize_without_statistics_is_a_clear_error(
    rm: RewardModel, style_path: Path, tmp_path: Path
) -> None:
    from rlaif.errors import RlaifError

    rm.stats = None
    with pytest.raises(RlaifError, match="no normalisation statistics"):
        score_to_file(rm, _items(style_path), tmp_path / "s.jsonl", normalize=True)
    assert not (tmp_path / "s.jsonl").exists()
