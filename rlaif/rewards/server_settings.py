"""The reward server's batching and limits (``rlaif serve-reward``'s options), in a module of its own so that the
command's options load without the server's HTTP code."""

from __future__ import annotations

from pydantic import Field

from rlaif.strict import StrictConfig


class ServerSettings(StrictConfig):
    """Batching and limits of the reward server."""

    max_batch: int = Field(default=64, ge=1, description="items scored in one call")
    max_wait_s: float = Field(
        default=0.005, ge=0.0, description="how long the worker waits for more items before a partial batch"
    )
    max_queue: int = Field(default=4096, ge=1, description="items waiting; beyond it, 503")
    max_items: int = Field(default=1024, ge=1, description="items in one request; beyond it, 413")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1, description="request body size; beyond it, 413"
    )
    unjudged_reward: float = Field(
        default=0.0, description="what OpenRLHF receives for a completion without a judgement"
    )


__all__ = ["ServerSettings"]
