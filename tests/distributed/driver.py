"""Runs rlaif trainers through their Python API, once per process, for the multi-process tests.

    accelerate launch --multi_gpu --num_processes 2 tests/distributed/driver.py spec.json

(``--multi_gpu`` on a machine without GPUs gives torchrun-launched CPU processes, which the trainers' CPU
Accelerator joins over gloo.) The tests also import :func:`run_spec` and call it in their own process for the
one-process reference.

``spec.json`` holds ``{"report": folder, "runs": [{"trainer": "rm"|"dpo"|"ppo", "config": {...},
"engine": "fixed"|"default"}, ...]}``; the runs go one after the other in the same processes (a later run with the same
``output_dir`` resumes the earlier one). Each process writes ``<report>/rank-<r>.json`` with what it saw:

* ``writes``: on processes other than the main one, every create/modify/rename/remove under a run's ``output_dir``
  caught by a Python audit hook, except the process's own ``rng-<r>.*`` files in checkpoints (which are by design);
* ``checkpoints``: per checkpoint, the sha256 of the trainable weights this process held when saving it;
* ``results``: the steps each run reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {
    "os.mkdir": 1,
    "os.rename": 2,
    "os.remove": 1,
    "os.rmdir": 1,
    "shutil.rmtree": 1,
    "os.truncate": 1,
}


def _watch_writes(roots: Sequence[str], rank: int, found: list[str]) -> None:
    """Record, via ``sys.addaudithook``, every write-like file operation under ``roots`` (own rng files allowed)."""
    own_rng = re.compile(rf"/checkpoints/step-\d+/rng-{rank}\.(json|pt)$")
    prefixes = tuple(os.path.abspath(r) for r in roots)

    def under(path: object) -> str | None:
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if not isinstance(path, str):
            return None
        full = os.path.abspath(path)
        if full.startswith(prefixes) and not own_rng.search(full):
            return full
        return None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        paths: list[object] = []
        if event == "open" and len(args) >= 3:
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing:
                paths = [args[0]]
        elif event in _PATH_EVENTS:
            paths = list(args[: _PATH_EVENTS[event]])
        for p in paths:
            hit = under(p)
            if hit is not None:
                found.append(f"{event} {hit}")

    sys.addaudithook(hook)


class FixedRollouts:
    """A rollout engine whose responses depend only on the prompt (the same on any process, at any step)."""

    def __init__(self, tokenizer: Any, eos_id: int) -> None:
        self.tokenizer = tokenizer
        self.eos_id = eos_id

    def generate(
        self, prompt_ids: Sequence[Sequence[int]], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[Any]:
        from rlaif.policy.rollout import RolloutSample

        out = []
        vocab = len(self.tokenizer)
        for ids in prompt_ids:
            key = sum(ids) * 31 + len(ids)
            length = 3 + key % (max_new_tokens - 3)
            tokens = [3 + (key + 37 * j) % (vocab - 3) for j in range(length)]
            finished = key % 3 != 0
            if finished:
                tokens[-1] = self.eos_id
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            out.append(RolloutSample(tuple(tokens), text, finished))
        return out


class LetterReward:
    """How often the letter ``e`` occurs in a response, per character (deterministic, cheap)."""

    name = "letters"
    weight = 1.0

    def score(self, prompts: Sequence[Any], responses: Sequence[str], *, step: int) -> Any:
        from rlaif.policy.rewards import SourceScores

        return SourceScores([r.count("e") / max(len(r), 1) for r in responses])

    def close(self) -> None:
        pass


def _trainable_digest(model: Any, accelerator: Any) -> str:
    from rlaif.training import trainable_state

    unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
    h = hashlib.sha256()
    for name, tensor in sorted(trainable_state(unwrapped).items()):
        h.update(name.encode())
        h.update(tensor.float().numpy().tobytes())
    return h.hexdigest()


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every trainer run of ``spec`` in this process; returns (and writes) this process's report."""
    import torch

    from rlaif.training import Checkpointer

    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    writes: list[str] = []
    if rank != 0:
        _watch_writes([r["config"]["output_dir"] for r in spec["runs"]], rank, writes)

    checkpoints: list[dict[str, Any]] = []
    original_save = Checkpointer.save

    def save(self: Any, **kw: Any) -> Path:
        checkpoints.append(
            {
                "folder": str(self.folder),
                "step": kw["state"].step,
                "weights": _trainable_digest(kw["model"], kw.get("accelerator")),
            }
        )
        return original_save(self, **kw)

    Checkpointer.save = save  # type: ignore[method-assign]
    results = []
    try:
        for run in spec["runs"]:
            result = _train(run)
            results.append({"steps": result.steps, "model_dir": str(result.model_dir)})
    finally:
        Checkpointer.save = original_save  # type: ignore[method-assign]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    report = {"rank": rank, "world": world, "writes": writes, "checkpoints": checkpoints, "results": results}
    folder = Path(spec["report"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank-{rank}.json").write_text(json.dumps(report, indent=2))
    return report


def _train(run: dict[str, Any]) -> Any:
    trainer = run["trainer"]
    if trainer == "rm":
        from rlaif.reward import RewardConfig, train_reward_model

        return train_reward_model(RewardConfig.model_validate(run["config"]), progress=False)
    if trainer == "dpo":
        from rlaif.policy.dpo import DPOConfig, train_dpo

        return train_dpo(DPOConfig.model_validate(run["config"]), progress=False)
    if trainer == "ppo":
        from transformers import AutoTokenizer

        from rlaif.policy.ppo import PPOConfig, train_ppo

        config = PPOConfig.model_validate(run["config"])
        engine = None
        if run.get("engine", "fixed") == "fixed":
            tokenizer = AutoTokenizer.from_pretrained(config.model)
            engine = FixedRollouts(tokenizer, int(tokenizer.eos_token_id))
        return train_ppo(config, progress=False, reward_sources=[LetterReward()], rollout_engine=engine)
    raise ValueError(f"unknown trainer {trainer!r}")


if __name__ == "__main__":
    run_spec(json.loads(Path(sys.argv[1]).read_text()))
