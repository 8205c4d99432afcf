"""How the report shows a value read from a run's files: estimates with their interval, rates, numbers and
rounded JSON; anything malformed shows as ``n/a`` instead of failing the report."""

from __future__ import annotations

from typing import Any

from rlaif.report.svg import Bar


def _est(d: Any) -> tuple[float, float, float] | None:
    """(value, low, high) of an Estimate-like dict; None when it is not one."""
    if not isinstance(d, dict):
        return None
    v, lo, hi = d.get("value"), d.get("low"), d.get("high")
    if not all(isinstance(x, int | float) for x in (v, lo, hi)):
        return None
    return float(v), float(lo), float(hi)  # type: ignore[arg-type]


def _pct(d: Any) -> str:
    e = _est(d)
    return "n/a" if e is None else f"{100 * e[0]:.1f}% [{100 * e[1]:.1f}, {100 * e[2]:.1f}]"


def _num(d: Any, digits: int = 3) -> str:
    e = _est(d)
    if e is not None:
        return f"{e[0]:.{digits}f} [{e[1]:.{digits}f}, {e[2]:.{digits}f}]"
    if isinstance(d, int | float) and not isinstance(d, bool):
        return f"{d:.{digits}f}" if isinstance(d, float) else str(d)
    return "n/a"


def _bar(d: Any) -> Bar | None:
    e = _est(d)
    return None if e is None else Bar(*e)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _rounded(x: Any, digits: int = 4) -> Any:
    """``x`` with every float rounded to ``digits`` significant digits (for JSON shown in the report)."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: _rounded(v, digits) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v, digits) for v in x]
    return x


def _rate(x: Any) -> str:
    if isinstance(x, int | float) and not isinstance(x, bool):
        return f"{100 * x:.1f}%"
    return _pct(x) if isinstance(x, dict) else "n/a"


__all__: list[str] = []  # used by the report's section modules only
