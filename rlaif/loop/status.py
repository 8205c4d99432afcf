"""Where a run stands: every stage's status, time and error, read from the manifests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.loop.rundir import read_manifest, stage_folders


@dataclass(frozen=True)
class StageStatus:
    """One stage's state as its manifest records it."""

    round: int
    stage: str
    status: str
    seconds: float | None
    attempts: int
    error: str | None
    summary: dict[str, Any]


@dataclass(frozen=True)
class RunStatus:
    """A run's record and the state of each of its stages."""

    run_dir: Path
    record: dict[str, Any]
    stages: list[StageStatus]

    @property
    def total_seconds(self) -> float:
        """Time spent in stages (all invocations)."""
        return sum(s.seconds or 0.0 for s in self.stages)


def run_status(run_dir: str | Path) -> RunStatus:
    """Read ``runs/<name>``: ``run.json`` and every stage manifest (a folder without one is ``incomplete``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RlaifError(f"{run_dir} is not a run folder", path=run_dir, hint="runs live in runs/<name>")
    record: dict[str, Any] = {}
    rf = run_dir / "run.json"
    if rf.is_file():
        try:
            record = json.loads(rf.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            record = {}
    stages = []
    for k, name, folder in stage_folders(run_dir):
        m = read_manifest(folder)
        if m is None:
            stages.append(StageStatus(k, name, "incomplete", None, 0, None, {}))
            continue
        seconds = m.get("seconds")
        if seconds is None:
            seconds = m.get("seconds_before")
        stages.append(
            StageStatus(
                k,
                name,
                str(m.get("status", "unknown")),
                float(seconds) if seconds is not None else None,
                int(m.get("attempts", 1)),
                m.get("error"),
                dict(m.get("summary") or {}),
            )
        )
    if not record and not stages:
        raise RlaifError(f"{run_dir} holds no run (no run.json, no round-*/ folders)", path=run_dir)
    return RunStatus(run_dir, record, stages)
