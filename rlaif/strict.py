"""The one base of every configuration model: strict (unknown fields are an error), frozen, fields described.

Every stage config (:class:`rlaif.policy.dpo.DPOConfig`, :class:`rlaif.reward.RewardConfig`, the label, generate
and revise configs, ...) and every section of a pipeline file derives from :class:`StrictConfig`, so a typo in a
YAML key, a ``--set`` override or a Python keyword argument is refused with the field's dotted path, and
``tests/unit/test_strict_configs.py`` checks that every field carries a description (the docs and ``--help`` read
them).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictConfig(BaseModel):
    """A frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
