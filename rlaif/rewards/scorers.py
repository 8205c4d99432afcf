"""Scorers: one reward per (conversation, response, principles), from a reward model or a critic.

A scorer is the one thing the engine adapters (TRL's ``reward_funcs``, verl's ``compute_score``, the HTTP reward
server) have in common. Three kinds:

* :class:`RewardModelScorer`: a principle-conditioned reward model (``rlaif train-rm``) reads the principles, the
  conversation and the response and returns a scalar (optionally normalised by its training statistics).
* :class:`CriticPointwiseScorer`: a critic model rates the response from 1 to 10 under each principle (the
  ``score`` template, the probability-weighted mean); the reward is that score mapped onto ``[0, 1]``.
* :class:`CriticPairwiseScorer`: the critic compares the response with a reference answer under each principle,
  in both orders; the reward is ``p(response ≻ reference)`` in ``[0, 1]``.

A judgement the critic did not really give (no probability on the choices, non-finite log-probabilities) is
``None``, never a made-up number: TRL drops ``None`` rewards from the sum, and the server returns ``null``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rlaif.backends.base import ChatMessage
from rlaif.constitution import Principle
from rlaif.errors import RlaifError


@dataclass(frozen=True)
class RewardItem:
    """One response to reward: the conversation before it, the response, its principles, an optional reference."""

    conversation: tuple[ChatMessage, ...]
    response: str
    principles: tuple[Principle, ...]
    reference: str | None = None


class Scorer(Protocol):
    """Anything that turns items into rewards (one per item, in order; ``None`` when there is no judgement)."""

    #: a short name (TRL logs the rewards under it)
    name: str
    #: whether items need a reference answer
    needs_reference: bool

    def score(self, items: Sequence[RewardItem]) -> list[float | None]:
        """The reward of each item."""
        ...


class RewardModelScorer:
    """Rewards from a principle-conditioned reward model (:class:`rlaif.reward.RewardModel`).

    Calls are serialised with a lock (the model is not safe to run from two threads at once), and the batch is
    scored as one call, so the prefix-sharing scorer runs each prompt's shared prefix once.
    """

    needs_reference = False

    def __init__(
        self, rm: Any, *, normalize: bool = False, batch_size: int = 16, name: str = "rlaif_rm"
    ) -> None:
        if normalize and getattr(rm, "stats", None) is None:
            raise RlaifError(
                "this reward model has no normalisation statistics",
                field="normalize",
                hint="score without normalize, or retrain (train-rm saves them)",
            )
        self.rm = rm
        self.normalize = normalize
        self.batch_size = batch_size
        self.name = name
        self._lock = threading.Lock()

    def score(self, items: Sequence[RewardItem]) -> list[float | None]:
        """One reward per item (never None: a reward model always answers)."""
        if not items:
            return []
        with self._lock:
            rewards = self.rm.score(
                [list(it.principles) for it in items],
                [it.conversation for it in items],
                [it.response for it in items],
                batch_size=self.batch_size,
                normalize=self.normalize,
                progress=False,
            )
        return [float(r) for r in rewards]


class _CriticScorer:
    """What the critic scorers share: the critic, its templates (None: the shipped ones), the scorer's name, and a
    lock (one scoring call at a time: a server's threads share the critic)."""

    def __init__(self, critic: Any, templates: Any, name: str) -> None:
        from rlaif.prompting import TemplateSet

        self.critic = critic
        self.templates = templates if templates is not None else TemplateSet.load()
        self.name = name
        self._lock = threading.Lock()


class CriticPointwiseScorer(_CriticScorer):
    """Rewards from a critic's 1-10 rating of each response under its principles, mapped onto ``[0, 1]``."""

    needs_reference = False

    def __init__(
        self,
        critic: Any,
        *,
        templates: Any = None,
        template: str = "score",
        min_choice_mass: float = 0.0,
        name: str = "rlaif_critic",
    ) -> None:
        from rlaif.feedback.scores import ScoreConfig

        super().__init__(critic, templates, name)
        self.config = ScoreConfig(template=template, min_choice_mass=min_choice_mass)

    def score(self, items: Sequence[RewardItem]) -> list[float | None]:
        """``(score - 1) / 9`` for the shipped template; None where the critic gave no judgement."""
        from rlaif.feedback.scores import PointwiseScore, ScoreItem, score_responses

        if not items:
            return []
        score_items = [
            ScoreItem(str(i), it.conversation, it.response, tuple(it.principles))
            for i, it in enumerate(items)
        ]
        with self._lock:
            results = score_responses(self.critic, score_items, (), self.templates, self.config)
        return [r.normalized if isinstance(r, PointwiseScore) else None for r in results]


class CriticPairwiseScorer(_CriticScorer):
    """Rewards from the critic comparing each response with a reference answer: ``p(response ≻ reference)``.

    Each principle is asked in both orders and the two averaged (position debiasing), as ``rlaif label`` does.
    """

    needs_reference = True

    def __init__(
        self,
        critic: Any,
        *,
        templates: Any = None,
        template: str = "compare",
        both_orders: bool = True,
        min_choice_mass: float = 0.0,
        name: str = "rlaif_critic_vs_reference",
    ) -> None:
        from rlaif.feedback.judge import JudgeConfig

        super().__init__(critic, templates, name)
        self.config = JudgeConfig(template=template, both_orders=both_orders, min_choice_mass=min_choice_mass)

    def score(self, items: Sequence[RewardItem]) -> list[float | None]:
        """p(response ≻ reference) per item; None where the critic gave no judgement."""
        from rlaif.feedback.comparison import Comparison
        from rlaif.feedback.judge import judge_pairs
        from rlaif.feedback.soft_labels import SoftLabel

        if not items:
            return []
        pairs = []
        for i, it in enumerate(items):
            if it.reference is None:
                raise RlaifError(
                    f"item {i} has no reference answer to compare with",
                    field="reference",
                    hint="pass a reference column (TRL), ground_truth (verl) or 'reference' (server)",
                )
            pairs.append(Comparison(str(i), it.conversation, it.response, it.reference, tuple(it.principles)))
        with self._lock:
            results = judge_pairs(self.critic, self.templates, pairs, self.config, progress=False)
        return [float(r.p) if isinstance(r, SoftLabel) else None for r in results]


__all__ = [
    "CriticPairwiseScorer",
    "CriticPointwiseScorer",
    "RewardItem",
    "RewardModelScorer",
    "Scorer",
]
