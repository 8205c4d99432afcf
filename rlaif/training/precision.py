"""Choosing the autocast precision at run time: bf16 where the hardware multiplies bf16 natively, fp32 elsewhere.

On a CPU, bf16 autocast only pays when the cores have bf16 matrix units: Intel AMX (``amx_bf16``) or the AVX-512
BF16 dot-product instructions (``avx512_bf16``, Intel Cooper Lake and later, AMD Zen 4 and later). Elsewhere (an
AVX2-only EPYC, older Xeons, ARM without the flags) oneDNN emulates bf16 and it is slower than fp32, so ``auto``
picks full precision there. Nothing here assumes AVX-512 or AMX: the flags are read, and a missing or unreadable
``/proc/cpuinfo`` counts as "no native bf16".

``mixed_precision: auto`` in a trainer's ``run`` settings resolves through :func:`resolve_mixed_precision`; the
default stays ``"no"`` (full precision), so bf16 is only used when a config asks for ``auto`` or ``bf16``.
"""

from __future__ import annotations

import contextlib
import platform
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

#: CPU flags (as Linux spells them in /proc/cpuinfo) that mean bf16 matrix products run natively.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU feature flags of the first processor in ``cpuinfo`` (default: this machine's ``/proc/cpuinfo``).

    Returns an empty set where the file is missing (macOS, Windows) or has no ``flags`` line (ARM spells it
    ``Features``, which is read too).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU model name (``model name`` in ``/proc/cpuinfo``), else what ``platform`` says."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name":
            return value.strip()
    return platform.processor() or platform.machine()


def native_bf16_units(flags: frozenset[str] | None = None) -> list[str]:
    """Which of :data:`NATIVE_BF16_FLAGS` the CPU has (empty: none, so bf16 would be emulated)."""
    have = cpu_flags() if flags is None else flags
    return [f for f in NATIVE_BF16_FLAGS if f in have]


@lru_cache(maxsize=1)
def _this_cpu_native_bf16() -> tuple[str, ...]:
    return tuple(native_bf16_units())


def resolve_mixed_precision(
    requested: str, device: str = "cpu", *, flags: frozenset[str] | None = None
) -> tuple[str, str]:
    """The autocast precision to use for ``requested`` on ``device``, and why.

    ``requested`` is ``"no"``, ``"bf16"``, ``"fp16"`` (returned as they are) or ``"auto"``: on a CUDA device,
    bf16 where the GPU supports it; on a CPU, bf16 when it has native bf16 matrix units (AMX or AVX512-BF16),
    else ``"no"``. ``flags`` overrides this machine's CPU flags (for tests).
    """
    if requested != "auto":
        return requested, "asked for"
    if device.startswith("cuda"):
        try:
            import torch

            if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
                return "bf16", "CUDA device supports bf16"
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        return "no", "CUDA device without bf16 support"
    if device not in ("cpu", "auto"):
        return "no", f"auto picks full precision on {device}"
    if device == "auto" and "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            return resolve_mixed_precision("auto", "cuda", flags=flags)
    units = native_bf16_units(flags) if flags is not None else list(_this_cpu_native_bf16())
    if units:
        return "bf16", f"CPU has native bf16 ({', '.join(units)})"
    return "no", "CPU has no native bf16 matrix units (no amx_bf16 / avx512_bf16); bf16 would be emulated"


def precision_record() -> dict[str, Any]:
    """What a manifest records about precision on this machine: CPU model, native bf16 units, torch's CPU
    capability, and what ``mixed_precision: auto`` resolves to here on the CPU."""
    record: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_native_bf16": list(_this_cpu_native_bf16()),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(AttributeError):  # older torch has no get_cpu_capability
            record["torch_cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
    choice, why = resolve_mixed_precision("auto", "cpu")
    record["auto_on_cpu"] = choice
    record["auto_reason"] = why
    return record
