"""Which principles judge a prompt's responses: fixed, sampled per prompt, or named by the row itself.

Sampling per prompt is RL-time steering: different prompts are judged under different principles of the
constitution, while every response to the same prompt is judged under the same ones (a group-relative method such
as GRPO compares a prompt's responses with each other, so they must share their judge). The draw is seeded by the
seed and the prompt's text, so it is the same in every process and every run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from rlaif.backends.base import ChatMessage
from rlaif.constitution import Constitution, Principle, sample_principles
from rlaif.errors import RlaifError


def prompt_key(conversation: Sequence[ChatMessage]) -> str:
    """A stable key of a conversation (its roles and texts)."""
    blob = json.dumps([[m.role, m.content] for m in conversation], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class PrincipleSource:
    """How principles are chosen for a prompt.

    Attributes:
        constitution: the constitution the principles come from.
        fixed: principle ids used for every prompt (None: sample).
        k: principles sampled per prompt when not fixed.
        seed: seed of the per-prompt draws.
        tags: sample only principles with one of these tags.
    """

    constitution: Constitution
    fixed: tuple[str, ...] | None = None
    k: int = 1
    seed: int = 0
    tags: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.fixed is not None:
            self.resolve(self.fixed)  # unknown ids fail now, not at the first training step
        elif isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise RlaifError(f"k must be an integer >= 1, got {self.k!r}", field="k")

    def resolve(self, ids: Sequence[str]) -> tuple[Principle, ...]:
        """The principles with these ids (``id`` or ``id@version``); a clear error naming an unknown one."""
        out = []
        for ref in ids:
            pid = str(ref).split("@", 1)[0]
            try:
                out.append(self.constitution.get(pid))
            except KeyError:
                known = ", ".join(p.id for p in self.constitution.principles)
                raise RlaifError(
                    f"unknown principle {ref!r} in constitution {self.constitution.name}",
                    field="principles",
                    hint=f"known principles: {known}",
                ) from None
        if not out:
            raise RlaifError("an empty list of principles", field="principles")
        return tuple(out)

    def for_prompt(
        self, conversation: Sequence[ChatMessage], override: Sequence[str] | None = None
    ) -> tuple[Principle, ...]:
        """The principles for this prompt: ``override`` (the row's own list) first, then fixed, then a draw."""
        if override:
            return self.resolve(override)
        if self.fixed is not None:
            return self.resolve(self.fixed)
        from rlaif.seeds import derive_seed

        seed = derive_seed(self.seed, prompt_key(conversation), "reward")
        return tuple(sample_principles(self.constitution, self.k, seed=seed, tags=self.tags))


__all__ = ["PrincipleSource", "prompt_key"]
