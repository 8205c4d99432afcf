"""Keep freed memory in the process during CPU training (glibc malloc settings).

A training step on CPU allocates and frees the same few gigabytes of activations every step. With glibc's defaults,
large blocks are ``mmap``-ed and returned to the kernel as soon as they are freed, so every step page-faults and
zero-fills them again: on the embedded model a third of a DPO step's CPU time was kernel time. Raising the
``mmap`` threshold and the trim threshold makes malloc reuse the freed memory instead (peak RSS is unchanged: the
same blocks are reused). Measured on the DPO benchmark: 13.6 → 10.1 s per step, kernel time 17 → 6 s.

Set ``RLAIF_MALLOC_TUNING=0`` to leave malloc alone. Only glibc (Linux) is touched; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger("rlaif.training")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap and are reused
_TRIM_THRESHOLD = (1 << 31) - 1  # keep up to 2 GiB of free heap instead of returning it to the kernel
_done = False


def keep_freed_memory() -> bool:
    """Tell glibc malloc to reuse freed blocks instead of returning them to the kernel (once per process).

    Returns True when the settings were applied (Linux with glibc, not disabled by ``RLAIF_MALLOC_TUNING=0``).
    """
    global _done
    if _done:
        return True
    if os.environ.get("RLAIF_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or no libc found: nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    if ok:
        _done = True
        log.debug("malloc: mmap threshold 1 GiB, trim threshold 2 GiB (RLAIF_MALLOC_TUNING=0 turns this off)")
    return ok
