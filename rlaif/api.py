"""Conveniences behind ``import rlaif``: the few calls that take a user from a constitution to a label.

Everything else is a re-export (see :mod:`rlaif`); this module holds only what needed a shorter signature.
"""

from __future__ import annotations

from rlaif.backends.base import Backend, ChatMessage
from rlaif.constitution import Constitution, sample_principles
from rlaif.feedback.comparison import Comparison
from rlaif.feedback.judge import JudgeConfig, Unlabeled, judge_pairs
from rlaif.feedback.soft_labels import SoftLabel
from rlaif.prompting import TemplateSet


def judge_pair(
    critic: Backend,
    constitution: Constitution,
    prompt: str,
    response_a: str,
    response_b: str,
    *,
    k: int = 4,
    seed: int = 0,
    config: JudgeConfig = JudgeConfig(),
    templates: TemplateSet | None = None,
) -> SoftLabel | Unlabeled:
    """Have ``critic`` judge one pair of responses to ``prompt`` under ``k`` principles drawn from ``constitution``.

    The principles are drawn with ``seed`` (weighted, without replacement; at most as many as the constitution
    holds); both orders are judged, so the label carries ``p_ab`` and ``p_ba`` per principle. ``templates``
    defaults to the shipped ``prompts/``.
    """
    principles = sample_principles(constitution, min(k, len(constitution.principles)), seed=seed)
    pair = Comparison(
        pair_id="pair",
        conversation=(ChatMessage("user", prompt),),
        response_a=response_a,
        response_b=response_b,
        principles=tuple(principles),
    )
    [label] = judge_pairs(critic, templates or TemplateSet.load(), [pair], config, progress=False)
    return label
