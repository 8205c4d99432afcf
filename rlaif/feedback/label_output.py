"""A label run on disk and on the hub: ``data.parquet``, ``unlabeled.jsonl``, ``stats.json`` and the dataset card
written atomically, and the written folder pushed to a hub dataset repo."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from rlaif.atomic import atomic_write_text
from rlaif.errors import RlaifError
from rlaif.feedback.card import write_label_card
from rlaif.feedback.dataset_io import write_rows
from rlaif.feedback.provenance import canonical_json
from rlaif.models.exporter import check_hub_reachable, push_folder

if TYPE_CHECKING:
    from rlaif.feedback.labeler import LabelRun

log = logging.getLogger(__name__)

STATS_FILE = "stats.json"
UNLABELED_FILE = "unlabeled.jsonl"


def write_label_run(run: LabelRun, out_dir: str | Path) -> Path:
    """Write ``data.parquet``, ``unlabeled.jsonl``, ``stats.json`` and the card ``README.md`` into ``out_dir``.

    Every file is written atomically and deterministically (same labels → same bytes). If no row was kept the
    statistics and the unlabeled list are still written, then an :class:`~rlaif.errors.RlaifError` says why. With
    ``config.push_to_hub`` the dataset is pushed afterwards.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = "".join(canonical_json(u) + "\n" for u in run.unlabeled)
    atomic_write_text(out / UNLABELED_FILE, lines)
    atomic_write_text(out / STATS_FILE, json.dumps(run.stats, indent=2, sort_keys=True) + "\n")
    if not run.rows:
        stats = run.label_stats
        raise RlaifError(
            f"no pair was kept ({stats.unlabeled} unlabeled, {stats.filtered} filtered, "
            f"{stats.ties_dropped} ties dropped)",
            path=out / UNLABELED_FILE,
            hint="see the reasons listed there; lower --min-confidence, keep ties with --keep-ties, or check the critic",
        )
    path = write_rows(out, run.rows)
    write_label_card(out, run)
    if run.config.push_to_hub:
        push_dataset(out, run.config.push_to_hub, private=run.config.push_private)
    return path


def push_dataset(out_dir: str | Path, repo_id: str, *, private: bool = False) -> None:
    """Push a written dataset folder to a hub dataset repo: the data with its card (``README.md``), ``stats.json``
    and ``unlabeled.jsonl`` (whatever of them the folder holds), the repo created ``private`` if asked."""
    check_hub_reachable()

    folder = Path(out_dir)
    files = [f for f in ("data.parquet", "README.md", STATS_FILE, UNLABELED_FILE) if (folder / f).is_file()]
    if "data.parquet" not in files:
        raise RlaifError("no data.parquet to push", path=folder, field="push_to_hub")
    push_folder(folder, repo_id, private=private, repo_type="dataset", allow_patterns=files)
    log.info("pushed %s (%s) to the hub as %s", out_dir, ", ".join(files), repo_id)


__all__ = ["STATS_FILE", "UNLABELED_FILE", "push_dataset", "write_label_run"]
