"""Keep third-party deprecation notices (e.g. transformers' ``past_key_values`` FutureWarnings) and transformers'
per-load "Loading weights" bars off the terminal.

They concern library internals the user cannot act on. ``RLAIF_SHOW_LIBRARY_WARNINGS=1`` shows them again.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

#: libraries whose deprecation notices are hidden
LIBRARIES: tuple[str, ...] = (
    "transformers",
    "torch",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "huggingface_hub",
)

_DEPRECATION = re.compile(r"deprecat|will be removed", re.IGNORECASE)


class _DropDeprecations(logging.Filter):
    """Drops log records that announce a deprecation."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return not _DEPRECATION.search(record.getMessage())
        except Exception:  # a record whose arguments do not format: keep it
            return True


#: commands that never load a model: transformers is not imported for them (it costs a second)
LIGHT_COMMANDS: frozenset[str] = frozenset(
    {"validate", "ls", "status", "report", "render", "import-constitution"}
)


def quiet_library_deprecations(command: str | None = None) -> None:
    """Hide the libraries' FutureWarning / DeprecationWarning warnings and their deprecation log records.

    ``command`` is the subcommand about to run; for :data:`LIGHT_COMMANDS` (and none) transformers' own log handler
    is left alone unless transformers is already imported."""
    import sys

    if os.environ.get("RLAIF_SHOW_LIBRARY_WARNINGS"):
        return
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, message=r"(?is).*(deprecat|will be removed)")
    drop = _DropDeprecations()
    for name in LIBRARIES:
        logging.getLogger(name).addFilter(drop)
    for h in logging.getLogger().handlers:
        h.addFilter(drop)
    if (command is None or command in LIGHT_COMMANDS) and "transformers" not in sys.modules:
        return
    try:  # transformers logs through its own handler on the "transformers" logger; filter it there too
        from transformers.utils import logging as hf_logging

        for h in hf_logging.get_logger().handlers:
            h.addFilter(drop)
        hf_logging.get_logger().addFilter(drop)
        # its "Loading weights" bar, once per model load, even under --no-progress: rlaif's own bars and logs say
        # what is loaded and how long the stages take
        hf_logging.disable_progress_bar()
    except Exception:  # transformers absent or changed: nothing to quiet
        pass


__all__ = ["quiet_library_deprecations"]
