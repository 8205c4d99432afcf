"""TRL preference columns and the provenance every labelled row carries.

**TRL format.** ``prompt``, ``chosen`` and ``rejected`` are plain strings when every conversation of the dataset is a
single user turn, and conversational otherwise (``prompt`` = the list of ``{"role", "content"}`` messages,
``chosen`` / ``rejected`` = a one-message list ``[{"role": "assistant", "content": ...}]``). The choice is made once
per dataset (:func:`is_conversational`), so a dataset never mixes the two; TRL's DPO trainer accepts either.

**Provenance columns** (see :data:`PROVENANCE_COLUMNS`): enough to know exactly what produced each label and to
recompute it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rlaif.backends.base import ChatMessage

#: column → meaning, written into the dataset card
PROVENANCE_COLUMNS: dict[str, str] = {
    "pair_id": "`<prompt id>:<i>-<j>`: responses i and j of the prompt",
    "prompt_id": "id of the prompt in the responses dataset",
    "p_chosen": "soft label: probability that `chosen` is better than `rejected` (≥ 0.5)",
    "margin": "logit(p_chosen) = log(p / (1 − p)): the Bradley-Terry reward margin of the soft label",
    "label_source": "`critic`, `rules` or `hybrid`",
    "constitution_hash": "sha256 of the constitution that judged the pair",
    "principles": 'the k principles sampled for this pair, as "id@version"',
    "template_hash": "sha256 of the comparison template and its partials",
    "critic_model": "critic model id (empty for rule-only labels)",
    "critic_revision": "critic model revision or content hash",
    "params": "JSON: the labeling parameters (k, seed, pairing, judge options)",
    "seed": "seed the principles of this pair were drawn with (derived from the run seed and pair_id)",
    "judgements": "JSON list, one per principle: {principle, p_ab, p_ba, consistent, source, mass_ab, mass_ba"
    "[, rule][, reasoning_ab, reasoning_ba]} — p(A ≻ B) per order, A = response_a",
    "order_consistent": "every principle preferred the same response in both orders",
    "decisive_principle": "the principle that pulled hardest toward the final label",
    "a_is_chosen": "whether `chosen` is response A (index_a) of the pair",
    "index_chosen": "index of the chosen response among the prompt's responses",
    "index_rejected": "index of the rejected response",
    "rules": "JSON list: {principle, a_passed, b_passed, a_failures, b_failures} for each sampled principle with a rule",
    "policy_model": "the model that wrote the responses",
    "policy_revision": "its revision",
}


def is_conversational(conversations: Iterable[Sequence[ChatMessage]]) -> bool:
    """True unless every conversation is a single user message (then the TRL columns are plain strings)."""
    return any(len(c) != 1 or c[0].role != "user" for c in conversations)


def trl_columns(
    conversation: Sequence[ChatMessage], chosen: str, rejected: str, *, conversational: bool
) -> dict[str, Any]:
    """``prompt``, ``chosen``, ``rejected`` in TRL's format (plain or conversational, see the module doc)."""
    if not conversational:
        if len(conversation) != 1 or conversation[0].role != "user":
            raise ValueError("a multi-turn conversation needs the conversational format")
        return {"prompt": conversation[0].content, "chosen": chosen, "rejected": rejected}
    return {
        "prompt": [{"role": m.role, "content": m.content} for m in conversation],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def canonical_json(value: Any) -> str:
    """Sorted-key compact JSON: identical values give identical bytes (rows are compared across resumed runs)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def params_json(params: Mapping[str, Any]) -> str:
    """The ``params`` column."""
    return canonical_json(dict(params))


__all__ = ["PROVENANCE_COLUMNS", "canonical_json", "is_conversational", "params_json", "trl_columns"]
