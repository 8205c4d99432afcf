"""Per-step metrics: ``metrics.jsonl`` in the output folder, accelerate trackers, and the log."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("rlaif.training")


def _plain(value: Any) -> float:
    if hasattr(value, "detach"):
        return float(value.detach().float().mean().item())
    return float(value)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (a torn last line from a killed run is ignored)."""
    out: list[dict[str, Any]] = []
    p = Path(path)
    if not p.is_file():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out


class MetricsLogger:
    """Appends one JSON record per logged step to ``<output>/metrics.jsonl`` and forwards it to trackers.

    Opening with ``resume_step`` drops records after that step (they belong to work the resumed run redoes), so the
    file of a killed-and-resumed run equals that of an uninterrupted one. Only the main process writes.
    """

    def __init__(
        self,
        output_dir: str | Path,
        *,
        accelerator: Any | None = None,
        resume_step: int = 0,
        console_every: int = 10,
        name: str = "metrics.jsonl",
    ) -> None:
        self.path = Path(output_dir) / name
        self.accelerator = accelerator
        self.console_every = console_every
        self.main = accelerator is None or accelerator.is_main_process
        self.history: list[dict[str, Any]] = []
        if self.main:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            kept = [r for r in read_metrics(self.path) if int(r.get("step", 0)) <= resume_step]
            self.path.write_text(
                "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept), encoding="utf-8"
            )
            self.history = kept

    def log(self, step: int, metrics: Mapping[str, Any], *, phase: str = "train") -> dict[str, Any]:
        """Record ``metrics`` (floats or tensors, averaged) for optimiser step ``step``; returns the record."""
        record: dict[str, Any] = {"step": step, "phase": phase}
        for k, v in metrics.items():
            x = _plain(v)
            record[k] = x if math.isfinite(x) else str(x)
        if self.main:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
            self.history.append(record)
            if phase != "train" or step % self.console_every == 0:
                shown = " ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float))
                log.info("%s step %d: %s", phase, step, shown)
        if self.accelerator is not None and getattr(self.accelerator, "trackers", None):
            self.accelerator.log(
                {f"{phase}/{k}": v for k, v in record.items() if isinstance(v, float)}, step=step
            )
        return record
