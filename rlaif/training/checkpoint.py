"""Checkpoints that make a killed training run resume exactly.

A checkpoint is a folder ``<output>/checkpoints/step-<N>/`` written atomically (built under a temporary name, then
renamed), holding:

- ``trainable.safetensors``: only the parameters that train (the LoRA adapter and any head), by name;
- ``optimizer.pt`` / ``scheduler.pt``: their state dicts (tensors and numbers only; loaded with ``weights_only``);
- ``rng-<rank>.json`` / ``rng-<rank>.pt``: Python, NumPy and torch random states of each process;
- ``state.json``: the :class:`TrainerState` (step, epoch, position in the epoch, anything the trainer adds).

Restoring all of it and skipping the batches already seen in the current epoch replays the uninterrupted run:
the data order is a seeded function of the epoch, and dropout draws continue from the saved random state.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlaif.atomic import atomic_directory
from rlaif.errors import RlaifError

_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class TrainerState:
    """Where a run stands: ``step`` optimiser steps done; ``batch_in_epoch`` micro-batches of ``epoch`` consumed."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _rng_state() -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np
    import torch

    np_state: Any = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    meta = {
        "python": [py_version, list(py_internal), py_gauss],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    tensors: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state_all()
    return meta, tensors


def _set_rng_state(meta: dict[str, Any], tensors: dict[str, Any]) -> None:
    import numpy as np
    import torch

    py_version, py_internal, py_gauss = meta["python"]
    random.setstate((py_version, tuple(py_internal), py_gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda"])


def trainable_state(model: Any) -> dict[str, Any]:
    """The trainable parameters of ``model`` by name (detached CPU copies)."""
    return {
        n: p.detach().to("cpu").clone().contiguous() for n, p in model.named_parameters() if p.requires_grad
    }


class Checkpointer:
    """Writes, finds, loads and prunes the checkpoints of one run under ``<output>/checkpoints``."""

    def __init__(self, output_dir: str | Path, *, keep: int = 2) -> None:
        self.folder = Path(output_dir) / "checkpoints"
        self.keep = keep

    def all(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for p in self.folder.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and (p / "state.json").is_file():
                found.append((int(m.group(1)), p))
        return [p for _, p in sorted(found)]

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or ``None``."""
        ckpts = self.all()
        return ckpts[-1] if ckpts else None

    def save(
        self,
        *,
        model: Any,
        optimizer: Any,
        scheduler: Any | None,
        state: TrainerState,
        accelerator: Any | None = None,
    ) -> Path:
        """Write a checkpoint for ``state.step`` and prune old ones; returns its folder.

        Under several processes every rank writes its random state and the main process writes the rest.
        """
        import torch
        from safetensors.torch import save_file

        rank = accelerator.process_index if accelerator is not None else 0
        main = accelerator is None or accelerator.is_main_process
        unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
        target = self.folder / f"step-{state.step}"
        if accelerator is not None:
            accelerator.wait_for_everyone()
        if main:
            with atomic_directory(target) as tmp:
                save_file(trainable_state(unwrapped), str(tmp / "trainable.safetensors"))
                torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
                if scheduler is not None:
                    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
                meta, tensors = _rng_state()
                (tmp / f"rng-{rank}.json").write_text(json.dumps(meta))
                torch.save(tensors, tmp / f"rng-{rank}.pt")
                (tmp / "state.json").write_text(json.dumps(asdict(state), indent=2, sort_keys=True))
        if accelerator is not None:
            accelerator.wait_for_everyone()
            if not main:
                meta, tensors = _rng_state()
                (target / f"rng-{rank}.json").write_text(json.dumps(meta))
                torch.save(tensors, target / f"rng-{rank}.pt")
            accelerator.wait_for_everyone()
        if main:
            for old in self.all()[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        return target

    def load(
        self,
        path: str | Path,
        *,
        model: Any,
        optimizer: Any | None,
        scheduler: Any | None,
        accelerator: Any | None = None,
    ) -> TrainerState:
        """Restore weights, optimiser, scheduler and random states from ``path``; returns its :class:`TrainerState`."""
        import torch
        from safetensors.torch import load_file

        path = Path(path)
        try:
            weights = load_file(str(path / "trainable.safetensors"))
            unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
            params = dict(unwrapped.named_parameters())
            missing = sorted(set(weights) - set(params))
            if missing:
                raise RlaifError(
                    f"checkpoint {path} does not fit this model: unknown parameters {missing[:3]}",
                    path=path,
                    hint="delete the checkpoints folder to start over, or use the model it was trained with",
                )
            with torch.no_grad():
                for name, value in weights.items():
                    params[name].copy_(value.to(params[name].device, params[name].dtype))
            if optimizer is not None:
                optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
            if scheduler is not None and (path / "scheduler.pt").is_file():
                scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
            rank = accelerator.process_index if accelerator is not None else 0
            rng_json = path / f"rng-{rank}.json"
            if rng_json.is_file():
                _set_rng_state(
                    json.loads(rng_json.read_text()), torch.load(path / f"rng-{rank}.pt", weights_only=True)
                )
            state = TrainerState(**json.loads((path / "state.json").read_text()))
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise RlaifError(
                f"cannot resume from checkpoint {path}: {e}",
                path=path,
                hint="delete that checkpoint folder to resume from the one before it (or start over)",
            ) from e
        return state
