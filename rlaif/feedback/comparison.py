"""The one comparison type: two responses to the same conversation, to be judged (see docs/glossary.md).

Every input of the form "is response A or response B the better next turn after this conversation" is a
:class:`Comparison`: the labeler's pairs, the win rate's policy-vs-baseline pairs (A = the policy's response,
B = the baseline's, ``pair_id`` = the prompt id), the injection measurement's targets, the agreement check's human
pairs. A judgement of a comparison is a *verdict* (``p_ab`` from order AB, ``p_ba`` from order BA); what a stage
writes from it is a *label* row.

The principles to judge by travel with the comparison when they were sampled for it (``principles``, empty
otherwise): :func:`rlaif.feedback.judge.judge_pairs` needs them, the win rate and the injection measurement
supply them for every comparison at once (:meth:`Comparison.under`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rlaif.backends.base import ChatMessage
from rlaif.constitution.schema import Principle


@dataclass(frozen=True)
class Comparison:
    """Response A against response B after ``conversation``, and the principles to judge them by (if chosen)."""

    pair_id: str
    conversation: tuple[ChatMessage, ...]
    response_a: str
    response_b: str
    principles: tuple[Principle, ...] = ()  # the k principles sampled for this comparison; () until chosen

    def under(self, principles: Sequence[Principle], *, pair_id: str | None = None) -> Comparison:
        """The same comparison judged under ``principles`` (and, given ``pair_id``, under another id)."""
        return replace(
            self,
            principles=tuple(principles),
            pair_id=self.pair_id if pair_id is None else pair_id,
        )


__all__ = ["Comparison"]
