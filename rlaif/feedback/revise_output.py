"""A revise run on disk: ``sft/`` and ``pairs/``, each a parquet dataset (an empty one keeps its columns) with a
card that embeds the constitution."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlaif.atomic import atomic_write_bytes
from rlaif.constitution import Constitution, dump_constitution_yaml
from rlaif.errors import DataFileError
from rlaif.feedback.dataset_io import DATA_FILE, card_appendix, write_card, write_rows
from rlaif.feedback.revise_config import ReviseRun
from rlaif.feedback.revise_rows import JSON_COLUMNS

log = logging.getLogger(__name__)

SFT_DIR = "sft"
PAIRS_DIR = "pairs"


def _card(title: str, what: str, run: ReviseRun, constitution: Constitution, rows: int) -> str:
    prov = run.provenance
    lines = [
        f"# {title}",
        "",
        what,
        "",
        "Made by `rlaif revise` (critique → revision, checked by the critic).",
        "",
        f"- rows: {rows}",
        f"- constitution: {prov['constitution']} (version {prov['constitution_version']}, "
        f"sha256 {prov['constitution_hash']})",
        f"- policy: {prov['policy_model']} ({prov['policy_revision'] or 'no revision'}); "
        f"critic: {prov['critic_model']} ({prov['critic_revision'] or 'no revision'}); "
        f"revisions written by: {prov['reviser_model']}",
        "- templates: " + ", ".join(f"{k} {v[:12]}" for k, v in prov["template_hashes"].items()),
        f"- acceptance: {prov['params']['accept']}; few-shot turns: {prov['few_shot_turns']}; "
        f"seed: {prov['seed']}",
        "",
        "## Statistics",
        "",
        "```",
        run.stats.summary(),
        "```",
        "",
        *card_appendix(prov["params"], dump_constitution_yaml(constitution)),
    ]
    return "\n".join(lines)


def _write_dataset(out_dir: Path, rows: list[dict[str, Any]], empty_schema: Mapping[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if rows:
        write_rows(out_dir, rows, json_columns=[c for c in JSON_COLUMNS if c in rows[0]])
        return
    # an empty dataset still gets a file with the right columns, so the next stage loads it and sees zero rows
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([], schema=pa.schema(list(empty_schema.items())))
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", store_schema=True)
    atomic_write_bytes(out_dir / DATA_FILE, buf.getvalue())


def write_revise_run(run: ReviseRun, out_dir: str | Path, constitution: Constitution) -> tuple[Path, Path]:
    """Write ``<out_dir>/sft/`` and ``<out_dir>/pairs/`` (parquet + card); returns both folders."""
    import pyarrow as pa

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataFileError("the output path is a file, not a folder", path=out)
    sft_dir, pairs_dir = out / SFT_DIR, out / PAIRS_DIR
    messages_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    _write_dataset(sft_dir, run.sft_rows, {"messages": messages_type, "prompt_id": pa.string()})
    _write_dataset(
        pairs_dir,
        run.pair_rows,
        {"prompt": pa.string(), "chosen": pa.string(), "rejected": pa.string(), "pair_id": pa.string()},
    )
    write_card(
        sft_dir,
        _card(
            "Revisions for supervised fine-tuning",
            "Each row is a conversation whose last (assistant) turn is the final revision of the policy's "
            "response, in TRL's `messages` format. `accepted` and `p_revision` say whether the critic preferred "
            "the revision over the original (filter on them if you want only checked revisions).",
            run,
            constitution,
            len(run.sft_rows),
        ),
    )
    write_card(
        pairs_dir,
        _card(
            "Revision vs original preference pairs",
            "TRL preference format: `chosen` is the final revision, `rejected` the original response. A pair is "
            "kept only when the revision passed the acceptance test; `p_chosen` is the critic's p(revision ≻ "
            "original), averaged over both orders and the principles used.",
            run,
            constitution,
            len(run.pair_rows),
        ),
    )
    log.info(
        "wrote %d SFT row(s) to %s and %d pair(s) to %s",
        len(run.sft_rows),
        sft_dir,
        len(run.pair_rows),
        pairs_dir,
    )
    return sft_dir, pairs_dir


__all__ = ["PAIRS_DIR", "SFT_DIR", "write_revise_run"]
