"""The prompts a PPO run samples from: read (filtered by split), encoded (overlong prompts refused or skipped),
and drawn per step from a stream of seeded per-pass permutations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rlaif.errors import DataFileError, Problem, RlaifError
from rlaif.feedback.inputs import PromptRow, load_prompts
from rlaif.feedback.responses import prompt_room
from rlaif.policy.ppo_config import PPOConfig
from rlaif.seeds import derive_seed

log = logging.getLogger(__name__)


def load_ppo_prompts(config: PPOConfig) -> list[tuple[str, PromptRow]]:
    """The (file, prompt) pairs PPO samples from: every file, filtered by ``prompt_split``."""
    out: list[tuple[str, PromptRow]] = []
    for path in config.prompt_files:
        rows = load_prompts(path)
        out.extend((path, r) for r in rows if config.prompt_split is None or r.split == config.prompt_split)
    if not out:
        raise RlaifError(
            f"no prompts of split {config.prompt_split!r} in {config.prompt_files}",
            field="prompt_split",
            hint="set prompt_split: null to use every prompt",
        )
    return out


def encode_prompts(
    policy: Any, rows: Sequence[tuple[str, PromptRow]], config: PPOConfig
) -> tuple[list[PromptRow], list[list[int]]]:
    """Token ids of each prompt; prompts longer than the limit raise a :class:`DataFileError` or are skipped."""
    cfg = policy.model.config
    context = int(getattr(cfg, "max_position_embeddings", 0) or 0)
    limit = config.max_prompt_tokens if config.max_prompt_tokens is not None else 1 << 30
    if context:
        limit = min(limit, prompt_room(context, config.max_new_tokens))
    kept_rows: list[PromptRow] = []
    kept_ids: list[list[int]] = []
    problems: list[Problem] = []
    for path, row in rows:
        ids = policy.encode_prompt(row.conversation)
        if len(ids) > limit:
            problems.append(
                Problem(
                    f"prompt {row.id!r} has {len(ids)} tokens, more than the {limit} allowed "
                    f"(context {context or 'unknown'} - max_new_tokens {config.max_new_tokens})",
                    path=path,
                    field="prompt",
                )
            )
            continue
        kept_rows.append(row)
        kept_ids.append(ids)
    if problems:
        if config.overlong_prompts == "error":
            raise DataFileError(
                "",
                problems=problems[:20],
                hint="shorten them, lower max_new_tokens, or set overlong_prompts: skip",
            )
        for p in problems:
            log.warning("skipping overlong prompt: %s", p)
    if not kept_rows:
        raise RlaifError("every prompt is longer than the limit", field="max_prompt_tokens")
    return kept_rows, kept_ids


def prompt_indices(n_prompts: int, batch: int, *, seed: int, step: int) -> list[int]:
    """Which prompts step ``step`` uses: consecutive positions in a stream of seeded per-pass permutations."""
    import random

    out: list[int] = []
    perms: dict[int, list[int]] = {}
    for pos in range(step * batch, (step + 1) * batch):
        epoch, k = divmod(pos, n_prompts)
        if epoch not in perms:
            order = list(range(n_prompts))
            random.Random(derive_seed(seed, "prompts", epoch)).shuffle(order)
            perms[epoch] = order
        out.append(perms[epoch][k])
    return out


__all__ = ["encode_prompts", "load_ppo_prompts", "prompt_indices"]
