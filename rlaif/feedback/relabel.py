"""Relabelling an existing preference dataset under a constitution (``rlaif label --pairs FILE``).

The file is TRL preference rows (``prompt``/``chosen``/``rejected``, plain or conversational) or transcript rows in the
public harmlessness style (``chosen``/``rejected`` whole ``Human:``/``Assistant:`` dialogues sharing all but the last
turn), read by :func:`rlaif.feedback.inputs.load_preferences` (a local file or a hub id). Each pair becomes a response
set of two responses, the original ``chosen`` first, so in the relabelled rows ``index_chosen == 1`` marks a pair
whose original label the critic reversed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.feedback.inputs import PromptRow, load_preferences
from rlaif.feedback.responses import ResponseSet


def response_sets_from_pairs(path: str | Path, *, skip_bad_rows: bool = False) -> list[ResponseSet]:
    """One two-response set per preference pair (original chosen = response 0), ready for ``label_dataset``."""
    pairs = load_preferences(path, skip_bad_rows=skip_bad_rows)
    source = f"pairs:{Path(str(path)).name}"
    return [
        ResponseSet(
            prompt=PromptRow(p.id, p.conversation),
            responses=(p.chosen, p.rejected),
            finish_reasons=("stop", "stop"),
            seed=0,
            policy_model=source,
            policy_revision="",
        )
        for p in pairs
    ]


def original_agreement(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many relabelled rows kept the original order (chosen = response 0) and how many reversed it."""
    kept = sum(1 for r in rows if r.get("index_chosen") == 0)
    return {"kept_original": kept, "reversed_original": len(rows) - kept}


__all__ = ["original_agreement", "response_sets_from_pairs"]
