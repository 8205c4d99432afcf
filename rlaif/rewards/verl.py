"""A verl custom reward function: ``compute_score(data_source, solution_str, ground_truth, extra_info)``.

verl loads a custom reward function from a file path and a function name, and calls it with keywords, once per
response (the naive reward manager), or with lists (the batch reward manager)::

    custom_reward_function.path=$(python -c "import rlaif.rewards.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score          # or compute_score_batch with reward_model.reward_manager=batch

The scorer is configured by environment variables (read once, at the first call, in each reward worker):

========================  ================================================================================
``RLAIF_REWARD_MODEL``    an exported reward-model folder, or
``RLAIF_CRITIC``          a critic model (alias, path or hub id); ``RLAIF_CRITIC_MODE`` pointwise|pairwise
``RLAIF_CONSTITUTION``    the constitution YAML (default: the shipped hhh.yaml)
``RLAIF_PRINCIPLES``      comma-separated fixed principle ids (default: sample ``RLAIF_K`` per prompt)
``RLAIF_K``, ``RLAIF_SEED``  principles per prompt and the seed of the draws
``RLAIF_NORMALIZE``       1: normalise reward-model rewards with the training statistics
``RLAIF_DEVICE``          where the model runs (default auto)
``RLAIF_UNJUDGED_REWARD`` the reward of a response the critic gave no judgement for (default 0.0)
========================  ================================================================================

The prompt is read from ``extra_info["prompt"]`` (or ``["question"]``), a string or a list of messages; put it there
when preparing verl's parquet files. ``ground_truth`` is the reference answer of the pairwise critic (ignored by the
other scorers). Or build the function yourself with :func:`make_compute_score` and pass it in-process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rlaif.errors import RlaifError
from rlaif.rewards.formats import verl_prompt
from rlaif.rewards.reward_fn import RewardFunction
from rlaif.rewards.scorers import RewardItem

_LOCK = threading.Lock()
_DEFAULT: RewardFunction | None = None


def _items(
    fn: RewardFunction,
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None],
) -> list[RewardItem]:
    items = []
    for solution, truth, info in zip(solution_strs, ground_truths, extra_infos, strict=True):
        conversation = verl_prompt(info)
        override = (info or {}).get(fn.principles_column)
        reference = truth if isinstance(truth, str) and truth else None
        items.append(
            RewardItem(conversation, solution, fn.principles.for_prompt(conversation, override), reference)
        )
    if fn.scorer.needs_reference and any(it.reference is None for it in items):
        raise RlaifError(
            "the pairwise critic needs ground_truth (the reference answer) on every row", field="ground_truth"
        )
    return items


def _filled(rewards: Sequence[float | None], unjudged_reward: float) -> list[float]:
    """verl needs a number for every response: an unjudged one gets ``unjudged_reward``."""
    return [unjudged_reward if r is None else float(r) for r in rewards]


def _compute_score(
    get_fn: Callable[[], RewardFunction], get_unjudged: Callable[[], float]
) -> Callable[..., float]:
    """verl's per-response ``compute_score`` over the reward function ``get_fn`` gives at each call."""

    def compute_score(
        data_source: str,
        solution_str: str,
        ground_truth: Any,
        extra_info: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> float:
        """verl's custom reward function: the reward of one response."""
        fn = get_fn()
        rewards = fn.score(_items(fn, [solution_str], [ground_truth], [extra_info]))
        return _filled(rewards, get_unjudged())[0]

    return compute_score


def _compute_score_batch(
    get_fn: Callable[[], RewardFunction], get_unjudged: Callable[[], float]
) -> Callable[..., list[float]]:
    """verl's batch ``compute_score`` (lists in, a list out) over the reward function ``get_fn`` gives."""

    def compute_score_batch(
        data_sources: Sequence[str],
        solution_strs: Sequence[str],
        ground_truths: Sequence[Any],
        extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
        **_: Any,
    ) -> list[float]:
        """verl's batch custom reward function (``reward_model.reward_manager=batch``)."""
        fn = get_fn()
        infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
        return _filled(fn.score(_items(fn, list(solution_strs), list(ground_truths), infos)), get_unjudged())

    return compute_score_batch


def make_compute_score(fn: RewardFunction, *, unjudged_reward: float = 0.0) -> Callable[..., float]:
    """verl's per-response ``compute_score`` over a ready :class:`RewardFunction`."""
    return _compute_score(lambda: fn, lambda: unjudged_reward)


def make_compute_score_batch(
    fn: RewardFunction, *, unjudged_reward: float = 0.0
) -> Callable[..., list[float]]:
    """verl's batch ``compute_score`` (lists in, a list out) over a ready :class:`RewardFunction`."""
    return _compute_score_batch(lambda: fn, lambda: unjudged_reward)


def from_environment(env: Mapping[str, str] | None = None) -> RewardFunction:
    """The reward function configured by the ``RLAIF_*`` variables (see the module docstring)."""
    from rlaif.rewards.reward_fn import reward_function

    env = os.environ if env is None else env
    rm, critic = env.get("RLAIF_REWARD_MODEL"), env.get("RLAIF_CRITIC")
    if not rm and not critic:
        raise RlaifError(
            "set RLAIF_REWARD_MODEL (a reward-model folder) or RLAIF_CRITIC (a critic model) for verl's reward",
            field="RLAIF_REWARD_MODEL",
        )
    fixed = [p.strip() for p in env.get("RLAIF_PRINCIPLES", "").split(",") if p.strip()]
    return reward_function(
        reward_model=rm or None,
        critic=None if rm else critic,
        mode=env.get("RLAIF_CRITIC_MODE", "pointwise"),  # type: ignore[arg-type]  # checked by build_scorer
        constitution=env.get("RLAIF_CONSTITUTION") or None,
        principles=fixed or None,
        k=int(env.get("RLAIF_K", "1")),
        seed=int(env.get("RLAIF_SEED", "0")),
        normalize=env.get("RLAIF_NORMALIZE", "0") in ("1", "true", "yes"),
        device=env.get("RLAIF_DEVICE", "auto"),
    )


def _default() -> RewardFunction:
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = from_environment()
        return _DEFAULT


def _unjudged() -> float:
    return float(os.environ.get("RLAIF_UNJUDGED_REWARD", "0.0"))


#: verl's custom reward function, configured by the ``RLAIF_*`` environment variables (read at the first call)
compute_score = _compute_score(_default, _unjudged)
#: the same for verl's batch reward manager (``reward_model.reward_manager=batch``)
compute_score_batch = _compute_score_batch(_default, _unjudged)


__all__ = [
    "compute_score",
    "compute_score_batch",
    "from_environment",
    "make_compute_score",
    "make_compute_score_batch",
]
