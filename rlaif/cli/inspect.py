"""``rlaif inspect LABELS_DIR``: what each principle did to a labels dataset.

    rlaif inspect out/labels                 # tables on stdout
    rlaif inspect out/labels -o out/inspect  # also inspect.json and inspect.md

Per principle: how often it was drawn, decisive (|2p − 1| above ``--threshold``), in agreement with the other
principles of the same pair and with its rule, and how much of it is position bias; across principles the agreement
matrix and the confident conflicts. Every number carries a 95% interval over pairs. No model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlaif.errors import RlaifError

INSPECT_JSON = "inspect.json"
INSPECT_MD = "inspect.md"


def command(
    labels: Annotated[Path, typer.Argument(help="Labels dataset folder (`rlaif label` output).")],
    threshold: Annotated[
        float, typer.Option("--threshold", help="A judgement is decisive when |2p-1| exceeds this.")
    ] = 0.2,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write inspect.json and inspect.md here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show which principles are drawn, decide, agree, overlap, conflict or are mostly position bias."""
    import json
    import time

    from rlaif.atomic import atomic_write_text
    from rlaif.workbench.inspection import inspect_labels
    from rlaif.workbench.labels import read_label_table

    if not 0.0 <= threshold < 1.0:
        raise RlaifError(f"--threshold must be in [0, 1), got {threshold}", field="--threshold")
    start = time.perf_counter()
    result = inspect_labels(read_label_table(labels), threshold=threshold)
    text = json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"
    md = result.to_markdown()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / INSPECT_JSON, text)
        atomic_write_text(out / INSPECT_MD, md)
    print(text if as_json else md, end="")
    if not as_json:
        where = f"; written to {out}" if out is not None else ""
        print(f"inspected in {time.perf_counter() - start:.2f} s{where}")
