"""A revise run's rows and counts: the critic's acceptance test, the SFT (``messages``) and preference-pair rows
with their provenance columns, and the :class:`~rlaif.feedback.revise_config.ReviseStats`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from rlaif.backends.base import ChatMessage
from rlaif.feedback.judge import Unlabeled
from rlaif.feedback.provenance import trl_columns
from rlaif.feedback.revise_config import ReviseStats, RevisionRecord
from rlaif.feedback.soft_labels import SoftLabel


def accepts(label: SoftLabel | Unlabeled | None, mode: str) -> bool:
    """Whether a revision labelled ``label`` (A = the revision) passes the acceptance test ``mode``."""
    if mode == "always":
        return True
    if not isinstance(label, SoftLabel):
        return False
    if mode == "both_orders":
        return all(j.p_ab > 0.5 and j.p_ba > 0.5 for j in label.judgements)
    return label.p > 0.5


def _messages(conversation: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in conversation]


def _rounds_json(rec: RevisionRecord) -> list[dict[str, Any]]:
    return [asdict(r) for r in rec.rounds]


def _label_columns(rec: RevisionRecord) -> dict[str, Any]:
    label = rec.label
    if isinstance(label, SoftLabel):
        masses = list(rec.choice_mass) or [()] * len(label.judgements)
        return {
            "p_revision": label.p,
            # A = the revision, B = the original (as asked of the critic)
            "judgements": [
                {
                    "principle": f"{j.principle_id}@{j.principle_version}",
                    "p_ab": j.p_ab,
                    "p_ba": j.p_ba,
                    "consistent": j.consistent,
                    "mass_ab": m[0] if len(m) > 0 else None,
                    "mass_ba": m[1] if len(m) > 1 else None,
                }
                for j, m in zip(label.judgements, masses, strict=True)
            ],
            "order_consistent": label.order_consistent,
            "decisive_principle": label.decisive_principle,
            "unlabeled_reason": None,
        }
    return {
        "p_revision": None,
        "judgements": [],
        "order_consistent": None,
        "decisive_principle": None,
        "unlabeled_reason": label.reason if isinstance(label, Unlabeled) else None,
    }


def _common(rec: RevisionRecord, prov: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "prompt_id": rec.item.id,
        "constitution_hash": prov["constitution_hash"],
        "principles": [r.principle for r in rec.rounds if r.kept],
        "template_hash": prov["template_hashes"]["compare"],
        "template_hashes": prov["template_hashes"],
        "critic_model": prov["critic_model"],
        "critic_revision": prov["critic_revision"],
        "policy_model": prov["policy_model"],
        "policy_revision": prov["policy_revision"],
        "reviser_model": prov["reviser_model"],
        "params": prov["params"],
        "seed": prov["seed"],
        "response_source": rec.item.source,
        "original": rec.item.response,
        "revision_rounds": _rounds_json(rec),
        "stop_reason": rec.stop,
        "accepted": rec.accepted,
    }


#: columns stored as JSON strings in both datasets
JSON_COLUMNS = ("template_hashes", "params", "revision_rounds", "judgements")


def sft_row(rec: RevisionRecord, prov: Mapping[str, Any]) -> dict[str, Any]:
    """The SFT row of a revised prompt: the conversation with the final revision as the assistant turn."""
    messages = [*_messages(rec.item.conversation), {"role": "assistant", "content": rec.final}]
    labels = _label_columns(rec)
    return {"messages": messages, **_common(rec, prov), **labels}


def pair_row(rec: RevisionRecord, prov: Mapping[str, Any], conversational: bool, mode: str) -> dict[str, Any]:
    """The preference row of an accepted revision: ``chosen`` = the final revision, ``rejected`` = the original."""
    labels = _label_columns(rec)
    return {
        **trl_columns(rec.item.conversation, rec.final, rec.item.response, conversational=conversational),
        "pair_id": f"{rec.item.id}:revision",
        "p_chosen": labels["p_revision"],
        **_common(rec, prov),
        **{k: v for k, v in labels.items() if k != "p_revision"},
        "accept_mode": mode,
    }


def revise_stats(records: Sequence[RevisionRecord], mode: str) -> ReviseStats:
    """The counts of a run whose acceptance mode is ``mode``."""
    revised = [r for r in records if r.revised]
    labelled = [r for r in revised if isinstance(r.label, SoftLabel)]
    unlabeled = [r for r in revised if isinstance(r.label, Unlabeled)]
    test = mode if mode != "always" else "mean"
    return ReviseStats(
        prompts=len(records),
        revised=len(revised),
        accepted=sum(r.accepted for r in revised),
        not_preferred=sum(not accepts(r.label, test) for r in labelled),
        not_preferred_test=test,
        unlabeled=len(unlabeled),
        preferred_both_orders=sum(accepts(r.label, "both_orders") for r in labelled),
        preferred_mean=sum(accepts(r.label, "mean") for r in labelled),
        stop_reasons=dict(Counter(r.stop or "rounds" for r in records)),
        unlabeled_reasons=dict(Counter(r.label.reason for r in unlabeled if isinstance(r.label, Unlabeled))),
        kept_rounds=dict(Counter(sum(x.kept for x in r.rounds) for r in records)),
    )


__all__ = ["JSON_COLUMNS", "accepts", "pair_row", "revise_stats", "sft_row"]
