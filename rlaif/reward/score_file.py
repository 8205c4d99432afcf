"""Score many responses into a JSON-lines file, resumably: what ``rlaif score`` runs.

Responses are scored in chunks (rows that share a prompt and principles stay together, so prefix sharing works within
a chunk); after each chunk its rewards are appended to ``<out>.partial`` and flushed to disk. A killed run leaves that
file behind; the next run with the same reward model (same exported files and dtype) reuses every reward it holds,
keyed by the row's principles, conversation and response, and scores only the rest. The output file itself is written
atomically at the end, and the partial file removed. A partial file from another model or dtype is set aside
(renamed ``.stale``) and scoring starts over, saying so.

>>> run = score_to_file(rm, items, "scores.jsonl")                        # doctest: +SKIP
>>> run.scored, run.reused, run.seconds
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.atomic import atomic_write_text
from rlaif.backends.base import ChatMessage
from rlaif.constitution import Principle
from rlaif.errors import RlaifError
from rlaif.reward.model import RewardModel

#: responses per chunk: each chunk's rewards are on disk before the next starts
DEFAULT_CHUNK = 256


@dataclass(frozen=True)
class ScoreItem:
    """One response to score: the record it came from (copied to the output), its principles and conversation."""

    record: Mapping[str, Any]
    principles: Sequence[Principle]
    conversation: tuple[ChatMessage, ...]
    response: str


@dataclass
class ScoreRun:
    """What :func:`score_to_file` did."""

    out: Path
    rewards: list[float]
    scored: int = 0
    reused: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        """Responses scored per second in this run (reused ones not counted)."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def item_key(item: ScoreItem) -> str:
    """What a reward depends on besides the model: the principles' content, the conversation and the response."""
    payload = json.dumps(
        [
            [p.content_hash() for p in item.principles],
            [[m.role, m.content] for m in item.conversation],
            item.response,
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def model_fingerprint(rm: RewardModel) -> str:
    """The reward model's identity for resuming: its exported files (name, size, modification time) and dtype."""
    files: list[tuple[str, int, int]] = []
    if rm.folder is not None:
        for f in sorted(rm.folder.iterdir()):
            if f.is_file():
                st = f.stat()
                files.append((f.name, st.st_size, st.st_mtime_ns))
    dtype = str(next(rm.model.parameters()).dtype)
    payload = json.dumps({"files": files, "dtype": dtype, "template": rm.template_hash}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def _read_partial(path: Path, fingerprint: str) -> tuple[dict[str, float], str | None]:
    """Rewards already on disk (key → reward), and a note when the file could not be used."""
    if not path.is_file():
        return {}, None
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    try:
        header = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        header = {}
    if not isinstance(header, dict) or header.get("fingerprint") != fingerprint:
        stale = path.with_name(path.name + ".stale")
        os.replace(path, stale)
        return (
            {},
            f"{path} was written by another reward model or dtype; set aside as {stale.name}, starting over",
        )
    if not text.endswith("\n"):  # killed mid-line: end that line, so the next reward starts a line of its own
        with path.open("a", encoding="utf-8") as fh:
            fh.write("\n")
    done: dict[str, float] = {}
    for line in lines[1:]:
        try:  # a run killed mid-line leaves a torn last line: skip it
            row = json.loads(line)
            done[str(row["key"])] = float(row["reward"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return done, None


def _group(item: ScoreItem) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Rows with the same group share the principles block and the conversation (a sortable key)."""
    return tuple(p.ref for p in item.principles), tuple((m.role, m.content) for m in item.conversation)


def _chunks(order: list[int], items: Sequence[ScoreItem], size: int) -> list[list[int]]:
    """Cut ``order`` into chunks of about ``size``, never splitting the rows of one (principles, prompt) group."""
    out: list[list[int]] = []
    cur: list[int] = []
    prev: tuple[Any, ...] | None = None
    for i in order:
        group = _group(items[i])
        if cur and len(cur) >= size and group != prev:
            out.append(cur)
            cur = []
        cur.append(i)
        prev = group
    if cur:
        out.append(cur)
    return out


def score_to_file(
    rm: RewardModel,
    items: Sequence[ScoreItem],
    out: str | Path,
    *,
    batch_size: int = 16,
    normalize: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool | None = None,
) -> ScoreRun:
    """Score ``items`` with ``rm`` and write one JSON line per item to ``out`` (record fields, ``principles_scored``,
    ``reward`` and, with ``normalize``, ``reward_normalized``), resuming from ``<out>.partial`` if a killed run left
    one."""
    import sys

    from tqdm.auto import tqdm

    if normalize and rm.stats is None:
        raise RlaifError(
            "the reward model has no normalisation statistics",
            field="--normalize",
            hint="score without --normalize, or retrain (train-rm saves them)",
        )
    if chunk_size < 1:
        raise RlaifError(f"chunk_size must be at least 1, got {chunk_size}", field="chunk_size")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    fingerprint = model_fingerprint(rm)
    done, note = _read_partial(partial, fingerprint)
    run = ScoreRun(out=target, rewards=[0.0] * len(items))
    if note:
        run.notes.append(note)
    keys = [item_key(it) for it in items]
    todo = [i for i, k in enumerate(keys) if k not in done]
    run.reused = len(items) - len(todo)
    if run.reused:
        run.notes.append(f"resumed: {run.reused} of {len(items)} rewards reused from {partial.name}")
    # neighbours share prefixes: keep one prompt's responses under the same principles in the same chunk
    todo.sort(key=lambda i: (*_group(items[i]), i))
    show = progress if progress is not None else (len(todo) >= 64 and sys.stderr.isatty())
    started = time.perf_counter()
    new_file = not partial.is_file()
    with (
        open(partial, "a", encoding="utf-8") as fh,
        tqdm(total=len(items), initial=run.reused, desc="scoring", unit="resp", disable=not show) as bar,
    ):
        if new_file:
            fh.write(json.dumps({"fingerprint": fingerprint, "format": "rlaif-score-partial/1"}) + "\n")
        for chunk in _chunks(todo, items, chunk_size):
            rewards = rm.score(
                [items[i].principles for i in chunk],
                [items[i].conversation for i in chunk],
                [items[i].response for i in chunk],
                batch_size=batch_size,
                progress=False,
            )
            fh.write(
                "".join(
                    json.dumps({"key": keys[i], "reward": r}) + "\n"
                    for i, r in zip(chunk, rewards, strict=True)
                )
            )
            fh.flush()
            os.fsync(fh.fileno())
            for i, r in zip(chunk, rewards, strict=True):
                done[keys[i]] = r
            run.scored += len(chunk)
            bar.update(len(chunk))
    run.seconds = time.perf_counter() - started
    lines = []
    for i, (item, key) in enumerate(zip(items, keys, strict=True)):
        reward = done[key]
        run.rewards[i] = reward
        row = {**item.record, "principles_scored": [p.ref for p in item.principles], "reward": reward}
        if normalize:
            assert rm.stats is not None
            row["reward_normalized"] = rm.stats.normalize(reward)
        lines.append(json.dumps(row, ensure_ascii=False, default=str))
    atomic_write_text(target, "\n".join(lines) + "\n")
    partial.unlink(missing_ok=True)
    return run
