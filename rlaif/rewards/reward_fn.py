"""``reward_function(...)``: a reward callable with the signature of TRL's ``reward_funcs``.

>>> from trl import GRPOTrainer
>>> reward = reward_function(reward_model="runs/x/reward/model", constitution="principles/hhh.yaml", k=2)
>>> trainer = GRPOTrainer(model=..., reward_funcs=reward, train_dataset=...)        # doctest: +SKIP

TRL calls ``reward(prompts=..., completions=..., completion_ids=..., **columns)`` where ``columns`` are the
dataset's other columns (one value per completion) plus ``trainer_state`` and logging hooks; it expects one float
(or ``None``: no reward for that completion) per completion. Two optional dataset columns are read:

* ``principles`` (a list of principle ids): this row is judged under these principles (steering per prompt);
* ``reference`` (a string): the reference answer, for the pairwise critic.

The same :class:`RewardFunction` backs verl's ``compute_score`` (:mod:`rlaif.rewards.verl`) and the HTTP reward
server (``rlaif serve-reward``), so the three give the same rewards for the same inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rlaif.constitution import Constitution
from rlaif.errors import RlaifError
from rlaif.rewards.formats import to_conversation, to_response
from rlaif.rewards.principles import PrincipleSource
from rlaif.rewards.scorers import (
    CriticPairwiseScorer,
    CriticPointwiseScorer,
    RewardItem,
    RewardModelScorer,
    Scorer,
)

log = logging.getLogger(__name__)

CriticMode = Literal["pointwise", "pairwise"]


class RewardFunction:
    """A scorer plus a principle source, callable the way TRL calls a reward function."""

    def __init__(
        self,
        scorer: Scorer,
        principles: PrincipleSource,
        *,
        principles_column: str = "principles",
        reference_column: str = "reference",
    ) -> None:
        self.scorer = scorer
        self.principles = principles
        self.principles_column = principles_column
        self.reference_column = reference_column
        #: TRL logs the rewards as ``rewards/<__name__>/mean``
        self.__name__ = scorer.name

    def items(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        *,
        principles: Sequence[Any] | None = None,
        references: Sequence[Any] | None = None,
    ) -> list[RewardItem]:
        """The items to score (conversations, responses, principles and references), checked."""
        if len(prompts) != len(completions):
            raise RlaifError(
                f"{len(prompts)} prompts but {len(completions)} completions: one prompt per completion",
                field="completions",
            )
        out = []
        for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
            conversation = to_conversation(p, f"prompts[{i}]")
            override = principles[i] if principles is not None else None
            if override is not None and (isinstance(override, str) or not isinstance(override, Sequence)):
                raise RlaifError(
                    f"{self.principles_column}[{i}] must be a list of principle ids",
                    field=self.principles_column,
                )
            reference = references[i] if references is not None else None
            if reference is not None and not isinstance(reference, str):
                reference = to_response(reference, f"{self.reference_column}[{i}]")
            out.append(
                RewardItem(
                    conversation,
                    to_response(c, f"completions[{i}]"),
                    self.principles.for_prompt(conversation, override),
                    reference,
                )
            )
        if self.scorer.needs_reference and any(it.reference is None for it in out):
            raise RlaifError(
                f"the pairwise critic needs a reference answer for every completion (dataset column "
                f"{self.reference_column!r})",
                field=self.reference_column,
            )
        return out

    def score(self, items: Sequence[RewardItem]) -> list[float | None]:
        """Rewards of ready-made items."""
        return self.scorer.score(items)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        """TRL's reward-function signature: one reward (or None) per completion."""
        items = self.items(
            prompts,
            completions,
            principles=kwargs.get(self.principles_column),
            references=kwargs.get(self.reference_column),
        )
        rewards = self.scorer.score(items)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and rewards:
            log_metric(f"{self.__name__}/unjudged_frac", sum(r is None for r in rewards) / len(rewards))
        return rewards


def _load_constitution(constitution: str | Path | Constitution | None) -> Constitution:
    from rlaif.constitution import load_constitution
    from rlaif.resources import shipped_dir

    if isinstance(constitution, Constitution):
        return constitution
    path = Path(constitution) if constitution is not None else shipped_dir("principles") / "hhh.yaml"
    return load_constitution(path)


def build_scorer(
    *,
    reward_model: Any = None,
    critic: Any = None,
    mode: CriticMode = "pointwise",
    normalize: bool = False,
    backend: str = "transformers",
    backend_options: dict[str, Any] | None = None,
    device: str = "auto",
    dtype: str = "auto",
    templates: Any = None,
) -> Scorer:
    """A scorer from a reward model (folder or loaded) or a critic (model name, or a loaded backend)."""
    if (reward_model is None) == (critic is None):
        raise RlaifError(
            "give exactly one of a reward model or a critic",
            field="reward_model",
            hint="reward_model=... or critic=...",
        )
    if reward_model is not None:
        if isinstance(reward_model, (str, Path)):
            from rlaif.reward import RewardModel

            reward_model = RewardModel.load(reward_model, device=device, dtype=dtype)
        return RewardModelScorer(reward_model, normalize=normalize)
    if mode not in ("pointwise", "pairwise"):
        raise RlaifError(f"unknown critic mode {mode!r}", field="mode", hint="pointwise or pairwise")
    if isinstance(critic, str):
        from rlaif.feedback.call_cache import open_backend

        # explicit options as given (the CLI builds them); otherwise device and dtype for the local engine
        options = (
            dict(backend_options)
            if backend_options is not None
            else ({"device": device, "dtype": dtype} if backend == "transformers" else {})
        )
        critic = open_backend(backend, critic, options=options)
    if mode == "pairwise":
        return CriticPairwiseScorer(critic, templates=templates)
    return CriticPointwiseScorer(critic, templates=templates)


def reward_function(
    *,
    reward_model: Any = None,
    critic: Any = None,
    mode: CriticMode = "pointwise",
    constitution: str | Path | Constitution | None = None,
    principles: Sequence[str] | None = None,
    k: int = 1,
    seed: int = 0,
    tags: Sequence[str] | None = None,
    normalize: bool = False,
    backend: str = "transformers",
    backend_options: dict[str, Any] | None = None,
    device: str = "auto",
    dtype: str = "auto",
    principles_column: str = "principles",
    reference_column: str = "reference",
) -> RewardFunction:
    """A reward callable for TRL's ``reward_funcs`` (GRPO, RLOO), backed by a reward model or a critic.

    Args:
        reward_model: an exported reward-model folder (``rlaif train-rm``) or a loaded ``RewardModel``.
        critic: instead of a reward model, a critic model (alias, path or hub id) or a loaded backend.
        mode: the critic's judgement: ``pointwise`` (a 1-10 rating mapped onto [0, 1]) or ``pairwise``
            (p(completion ≻ reference), with the reference from the ``reference`` column).
        constitution: the constitution YAML (default: the shipped ``hhh.yaml``).
        principles: fixed principle ids for every prompt; None samples ``k`` per prompt (seeded by ``seed`` and the
            prompt text: all completions of one prompt share them).
        tags: sample only principles with one of these tags.
        normalize: reward model only: (reward − mean) / std with its training statistics.
        backend, backend_options, device, dtype: how a critic named by string (or a reward model folder) is loaded.
        principles_column, reference_column: dataset columns read per row, when present.
    """
    const = _load_constitution(constitution)
    source = PrincipleSource(
        const,
        fixed=tuple(principles) if principles else None,
        k=k,
        seed=seed,
        tags=tuple(tags) if tags else None,
    )
    scorer = build_scorer(
        reward_model=reward_model,
        critic=critic,
        mode=mode,
        normalize=normalize,
        backend=backend,
        backend_options=backend_options,
        device=device,
        dtype=dtype,
    )
    return RewardFunction(
        scorer, source, principles_column=principles_column, reference_column=reference_column
    )


__all__ = ["CriticMode", "RewardFunction", "build_scorer", "reward_function"]
