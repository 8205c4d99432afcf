"""Where the files shipped with rlaif live (constitutions in ``principles/``, templates in ``prompts/``, accelerate
configs in ``configs/accelerate/``).

From a source checkout (editable install) they are the folders at the repository root; from a wheel they are
installed as data files under ``<prefix>/share/rlaif/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from rlaif.errors import RlaifError

ShippedFolder = Literal["principles", "prompts", "pipelines", "data", "configs"]


def shipped_dir(kind: ShippedFolder) -> Path:
    """The folder of shipped files of this kind."""
    checkout = Path(__file__).resolve().parent.parent / kind
    if checkout.is_dir():
        return checkout
    installed = Path(sys.prefix) / "share" / "rlaif" / kind
    if installed.is_dir():
        return installed
    raise RlaifError(
        f"the shipped '{kind}' folder was not found (looked in {checkout} and {installed})",
        hint="reinstall rlaif, or pass the folder explicitly",
    )
