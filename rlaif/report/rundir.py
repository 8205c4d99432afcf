"""Reading a run directory (the contract in docs/run-directory.md) for the report, tolerantly.

A run may be finished, partially finished (killed, failed, still running) or written by an older rlaif. Nothing here
raises for a missing or unreadable artifact: each stage gets a status (``done``, ``failed``, ``running``, ``missing``
or ``incomplete`` — a folder without a manifest) and every problem becomes a note the report shows. Only a path
that is not a run directory at all is an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError

RUN_FILE = "run.json"
MANIFEST = "manifest.json"
#: the stages of a round, in data-flow order
STAGES: tuple[str, ...] = ("generate", "label", "revise", "reward", "policy", "evaluate")
#: stages a round may skip without that being a gap (their absence is "not configured", not "missing")
OPTIONAL_STAGES: frozenset[str] = frozenset({"revise", "reward"})
RUN_KEYS: tuple[str, ...] = (
    "name",
    "rlaif_version",
    "created",
    "rounds",
    "pipeline",
    "constitution",
    "status",
)
_ROUND = re.compile(r"^round-(\d+)$")


@dataclass
class StageInfo:
    """One stage of one round: its status, manifest (when readable) and timing."""

    name: str
    round: int
    path: Path
    status: str
    manifest: dict[str, Any] | None = None
    seconds: float | None = None
    throughput: dict[str, Any] | None = None
    error: str | None = None

    @property
    def exists(self) -> bool:
        """Whether the stage's folder exists."""
        return self.path.is_dir()


@dataclass
class RoundInfo:
    """One round: its stages and the artifacts the report reads."""

    k: int
    path: Path
    stages: dict[str, StageInfo] = field(default_factory=dict)
    eval: dict[str, Any] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    label_stats: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None
    reward_eval: dict[str, Any] | None = None
    policy_metrics: list[dict[str, Any]] = field(default_factory=list)
    policy_summary: dict[str, Any] | None = None
    #: the evaluation of the SFT-on-revisions baseline (``sft_baseline: true``), when the run has one
    sft_eval: dict[str, Any] | None = None


@dataclass
class RunData:
    """Everything read from a run directory, with the notes on what is missing or odd."""

    path: Path
    run: dict[str, Any]
    rounds: list[RoundInfo]
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The run's name (run.json, else the folder name)."""
        return str(self.run.get("name") or self.path.name)

    def evaluated(self, key: str, kind: type | tuple[type, ...]) -> list[RoundInfo]:
        """The rounds whose evaluation recorded ``key`` as a ``kind`` (``compliance`` as a list, ``drift`` as a
        dict, ...)."""
        return [r for r in self.rounds if r.eval is not None and isinstance(r.eval.get(key), kind)]


def unconfigured_stages(pipeline: Any) -> set[str]:
    """The standard stages a pipeline (run.json's ``pipeline``) does not have: they are "not in this pipeline",
    not missing. Without a readable pipeline the optional stages are assumed absent."""
    if not isinstance(pipeline, dict):
        return set(OPTIONAL_STAGES)

    def on(section: str, key: str = "enabled", default: Any = True) -> bool:
        sec = pipeline.get(section)
        return bool(sec.get(key, default)) if isinstance(sec, dict) else bool(default)

    out = set()
    if not on("label"):
        out.add("label")
    if not on("revise", default=False):
        out.add("revise")
    if not on("reward", default=False):
        out.add("reward")
    policy = pipeline.get("policy")
    if isinstance(policy, dict) and policy.get("method") == "none":
        out.update({"policy", "evaluate"})
    if not on("evaluate"):
        out.add("evaluate")
    return out


def read_json(path: Path, notes: list[str], what: str) -> Any:
    """The JSON in ``path``, or None with a note when it is missing (only if ``what``) or unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        notes.append(f"{what} ({path}) could not be read: {e}")
        return None


def read_jsonl(path: Path, notes: list[str], what: str) -> list[dict[str, Any]]:
    """The records of a JSON Lines file; a torn last line (a killed writer) is noted and ignored."""
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        notes.append(f"{what} ({path}) could not be read: {e}")
        return []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            notes.append(f"{what} ({path}) line {number} is not JSON; read the {len(out)} records before it")
            break
        if isinstance(record, dict):
            out.append(record)
    return out


def _stage(round_dir: Path, k: int, name: str, notes: list[str]) -> StageInfo:
    folder = round_dir / name
    info = StageInfo(name=name, round=k, path=folder, status="missing")
    if not folder.is_dir():
        return info
    manifest = read_json(folder / MANIFEST, notes, f"round {k} {name} manifest")
    if not isinstance(manifest, dict):
        info.status = "incomplete"
        if not (folder / MANIFEST).exists():
            notes.append(
                f"round {k} stage {name}: folder present but no manifest.json (interrupted, or an older rlaif); "
                "its files are shown as found"
            )
        return info
    info.manifest = manifest
    status = manifest.get("status")
    info.status = status if status in ("done", "failed", "running") else "unknown"
    if info.status == "unknown":
        notes.append(f"round {k} stage {name}: manifest has no known status ({status!r})")
    seconds = manifest.get("seconds")
    info.seconds = float(seconds) if isinstance(seconds, int | float) else None
    tp = manifest.get("throughput")
    info.throughput = tp if isinstance(tp, dict) else None
    err = manifest.get("error")
    info.error = str(err) if err else None
    return info


def _round(run_dir: Path, k: int, notes: list[str]) -> RoundInfo:
    path = run_dir / f"round-{k}"
    rnd = RoundInfo(k=k, path=path)
    if not path.is_dir():
        notes.append(f"round {k}: no folder round-{k}/ (not started)")
    extra = (
        sorted(p.name for p in path.iterdir() if p.is_dir() and p.name not in STAGES) if path.is_dir() else []
    )
    for name in [
        *STAGES,
        *extra,
    ]:  # extra: stages this reader does not know (e.g. an SFT baseline), shown as found
        rnd.stages[name] = _stage(path, k, name, notes)
    ev = read_json(path / "evaluate" / "eval.json", notes, f"round {k} eval.json")
    if isinstance(ev, dict):
        from rlaif.evals.policy_eval_result import EVAL_FORMAT

        if ev.get("format") != EVAL_FORMAT:
            notes.append(
                f"round {k} eval.json has format {ev.get('format')!r} (this rlaif reads {EVAL_FORMAT}); "
                "shown as far as it is understood"
            )
        rnd.eval = ev
    rnd.samples = read_jsonl(path / "evaluate" / "samples.jsonl", notes, f"round {k} samples.jsonl")
    stats = read_json(path / "label" / "stats.json", notes, f"round {k} label stats")
    rnd.label_stats = stats if isinstance(stats, dict) else None
    for candidate in (
        path / "label" / "agreement" / "report.json",
        path / "evaluate" / "agreement" / "report.json",
    ):
        agreement = read_json(candidate, notes, f"round {k} agreement report")
        if isinstance(agreement, dict):
            rnd.agreement = agreement
            break
    for candidate in (
        path / "reward" / "eval.json",
        path / "reward" / "eval" / "report.json",
        path / "reward" / "report.json",
    ):
        reward = read_json(candidate, notes, f"round {k} reward-model evaluation")
        if isinstance(reward, dict):
            rnd.reward_eval = reward
            break
    if (path / "evaluate-sft-baseline").is_dir():
        sft = read_json(
            path / "evaluate-sft-baseline" / "eval.json", notes, f"round {k} SFT-baseline eval.json"
        )
        rnd.sft_eval = sft if isinstance(sft, dict) else None
    rnd.policy_metrics = read_jsonl(path / "policy" / "metrics.jsonl", notes, f"round {k} policy metrics")
    summary = read_json(path / "policy" / "summary.json", notes, f"round {k} policy summary")
    rnd.policy_summary = summary if isinstance(summary, dict) else None
    return rnd


def read_run(run_dir: str | Path) -> RunData:
    """Read ``run_dir`` (see the module doc). Raises :class:`~rlaif.errors.RlaifError` only when it is not a run."""
    path = Path(run_dir)
    if not path.exists():
        raise RlaifError(
            "run directory not found", path=path, hint="pass runs/<name> as written by `rlaif run`"
        )
    if not path.is_dir():
        raise RlaifError("not a directory", path=path, hint="pass the run's folder, runs/<name>")
    notes: list[str] = []
    found = sorted(int(m.group(1)) for p in path.iterdir() if p.is_dir() and (m := _ROUND.match(p.name)))
    raw = read_json(path / RUN_FILE, notes, RUN_FILE)
    if raw is None and not found:
        raise RlaifError(
            "not a run directory: no run.json and no round-<k>/ folders",
            path=path,
            hint="pass runs/<name> as written by `rlaif run` (see docs/run-directory.md)",
        )
    run: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if raw is None and not (path / RUN_FILE).exists():
        notes.append("no run.json (an older rlaif, or a run that had not started): configuration unknown")
    elif isinstance(raw, dict):
        missing = [k for k in RUN_KEYS if k not in raw]
        if missing:
            notes.append(f"run.json has no {', '.join(missing)} (written by an older rlaif?)")
    elif raw is not None:
        notes.append("run.json is not a JSON object; ignored")
    planned = run.get("rounds")
    n = max([*found, planned if isinstance(planned, int) and planned > 0 else 0, 0])
    rounds = [_round(path, k, notes) for k in range(1, n + 1)]
    absent = unconfigured_stages(run.get("pipeline"))
    for rnd in rounds:
        gaps = [n for n, st in rnd.stages.items() if st.status == "missing" and n not in absent]
        if gaps and rnd.path.is_dir():
            notes.append(f"round {rnd.k}: not run (yet): {', '.join(gaps)}")
        for name, st in rnd.stages.items():
            if st.status == "failed":
                notes.append(f"round {rnd.k} stage {name} failed: {st.error or 'no error recorded'}")
            elif st.status == "running":
                notes.append(f"round {rnd.k} stage {name} is marked running (still running, or killed)")
    return RunData(path=path, run=run, rounds=rounds, notes=notes)


__all__ = [
    "MANIFEST",
    "OPTIONAL_STAGES",
    "RUN_FILE",
    "STAGES",
    "RoundInfo",
    "RunData",
    "StageInfo",
    "read_json",
    "read_jsonl",
    "read_run",
    "unconfigured_stages",
]
