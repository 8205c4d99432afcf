"""Small inline-SVG charts for the report: no plotting library, no JavaScript, no network.

Every chart is a ``<svg class="plot">`` element with a title, axes, tick labels, a legend and ``<title>`` tooltips on
its marks, so the HTML report stays one self-contained file that any browser renders offline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e")
WIDTH = 640
HEIGHT = 280
_M = {"left": 56, "right": 16, "top": 34, "bottom": 62}


@dataclass(frozen=True)
class Bar:
    """One bar value with an optional interval (None draws nothing: a missing value)."""

    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Series:
    """A named series of points (x, y) with an optional band (low, high) per point."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    lows: Sequence[float] | None = None
    highs: Sequence[float] | None = None


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.2g}"
    if abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _tip(text: str, low: float | None, high: float | None) -> str:
    """A tooltip: the text, then the interval when there is one."""
    return f"{text} [{_fmt(low)}, {_fmt(high)}]" if low is not None and high is not None else text


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _frame(
    title: str, y_label: str, ticks: Sequence[float], y: Callable[[float], float], width: int, height: int
) -> list[str]:
    x0, x1 = _M["left"], width - _M["right"]
    parts = [
        f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" class="plot-title">{escape(title)}</text>',
        f'<text x="14" y="{(_M["top"] + height - _M["bottom"]) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(_M["top"] + height - _M["bottom"]) / 2:.1f})" class="axis-label">'
        f"{escape(y_label)}</text>",
    ]
    for t in ticks:
        py = y(t)
        parts.append(f'<line x1="{x0}" x2="{x1}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>')
        parts.append(f'<text x="{x0 - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">{_fmt(t)}</text>')
    parts.append(f'<line x1="{x0}" x2="{x0}" y1="{_M["top"]}" y2="{height - _M["bottom"]}" class="axis"/>')
    return parts


def _legend(names: Sequence[str], width: int, height: int) -> list[str]:
    parts = []
    x = _M["left"]
    y = height - 12
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}" class="legend">{escape(name)}</text>')
        x += 22 + 7 * len(name)
    return parts


def _svg(parts: Sequence[str], title: str, width: int, height: int) -> str:
    body = "\n".join(parts)
    return (
        f'<svg class="plot" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">\n{body}\n</svg>'
    )


def bar_chart(
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[Bar | None]]],
    *,
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
    reference: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Grouped bars (one group per label in ``groups``, one bar per series) with error bars from each Bar's interval."""
    values = [
        v
        for _, bars in series
        for b in bars
        if b is not None
        for v in (b.value, b.low, b.high)
        if v is not None
    ]
    lo, hi = y_range if y_range is not None else (min([0.0, *values]), max([1e-9, *values]))
    ticks = nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    y0, y1 = height - _M["bottom"], _M["top"]

    def y(v: float) -> float:
        return y0 - (v - lo) / (hi - lo) * (y0 - y1)

    parts = _frame(title, y_label, ticks, y, width, height)
    x0, x1 = _M["left"], width - _M["right"]
    gw = (x1 - x0) / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    for gi, group in enumerate(groups):
        gx = x0 + gi * gw
        crowded = len(group) * 6.5 > gw
        label = group if len(group) <= 22 else group[:21] + "…"
        if crowded:
            parts.append(
                f'<text x="{gx + gw / 2:.1f}" y="{y0 + 10}" text-anchor="end" class="tick" '
                f'transform="rotate(-25 {gx + gw / 2:.1f} {y0 + 10})">{escape(label)}</text>'
            )
        else:
            parts.append(
                f'<text x="{gx + gw / 2:.1f}" y="{y0 + 14}" text-anchor="middle" class="tick">{escape(label)}</text>'
            )
        for si, (name, bars) in enumerate(series):
            b = bars[gi] if gi < len(bars) else None
            if b is None:
                continue
            color = PALETTE[si % len(PALETTE)]
            bx = gx + gw * 0.1 + si * bw
            top, base = y(max(b.value, lo)), y(max(min(0.0, hi), lo))
            tip = _tip(f"{name} · {group}: {_fmt(b.value)}", b.low, b.high)
            parts.append(
                f'<rect class="bar" x="{bx:.1f}" y="{min(top, base):.1f}" width="{bw * 0.92:.1f}" '
                f'height="{max(abs(base - top), 0.8):.1f}" fill="{color}"><title>{escape(tip)}</title></rect>'
            )
            if b.low is not None and b.high is not None:
                cx = bx + bw * 0.46
                parts.append(
                    f'<path class="errorbar" d="M{cx:.1f},{y(b.low):.1f} V{y(b.high):.1f} '
                    f'M{cx - 4:.1f},{y(b.low):.1f} h8 M{cx - 4:.1f},{y(b.high):.1f} h8"/>'
                )
    if reference is not None and lo <= reference <= hi:
        parts.append(
            f'<line class="reference" x1="{x0}" x2="{x1}" y1="{y(reference):.1f}" y2="{y(reference):.1f}"/>'
        )
    parts += _legend([name for name, _ in series], width, height)
    return _svg(parts, title, width, height)


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str = "",
    y_label: str = "",
    reference: float | None = None,
    markers: bool = True,
    scatter: bool = False,
    y_range: tuple[float, float] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Lines (or points with ``scatter``) with optional interval bands. ``y_range`` fixes the y axis (e.g. (0, 1)
    for a rate: the axis never runs past what the quantity can take); values outside it are clipped."""
    xs = [x for s in series for x in s.xs]
    ys = [v for s in series for v in [*s.ys, *(s.lows or ()), *(s.highs or ())] if math.isfinite(v)]
    if reference is not None:
        ys.append(reference)
    if not xs or not ys:
        xs, ys = [0.0, 1.0], [0.0, 1.0]
    if y_range is not None:
        ticks = [t for t in nice_ticks(*y_range) if y_range[0] - 1e-9 <= t <= y_range[1] + 1e-9]
        lo, hi = y_range
    else:
        ticks = nice_ticks(min(ys), max(ys))
        lo, hi = ticks[0], ticks[-1]
    xlo, xhi = min(xs), max(xs)
    if xhi == xlo:
        xlo, xhi = xlo - 1, xhi + 1
    x0, x1 = _M["left"] + 8, width - _M["right"] - 8
    y0, y1 = height - _M["bottom"], _M["top"]

    def px(v: float) -> float:
        return x0 + (v - xlo) / (xhi - xlo) * (x1 - x0)

    def y(v: float) -> float:
        return y0 - (min(max(v, lo), hi) - lo) / (hi - lo) * (y0 - y1)

    parts = _frame(title, y_label, ticks, y, width, height)
    integer_x = all(float(x).is_integer() for x in xs) and xhi - xlo <= 12
    x_ticks = (
        [float(t) for t in range(math.ceil(xlo), math.floor(xhi) + 1)]
        if integer_x
        else nice_ticks(xlo, xhi, 6)
    )
    for t in x_ticks:
        if xlo <= t <= xhi:
            parts.append(
                f'<text x="{px(t):.1f}" y="{y0 + 14}" text-anchor="middle" class="tick">{_fmt(t)}</text>'
            )
    parts.append(
        f'<text x="{(x0 + x1) / 2:.1f}" y="{y0 + 30}" text-anchor="middle" class="axis-label">{escape(x_label)}</text>'
    )
    if reference is not None:
        parts.append(
            f'<line class="reference" x1="{x0}" x2="{x1}" y1="{y(reference):.1f}" y2="{y(reference):.1f}"/>'
        )
    for si, s in enumerate(series):
        color = PALETTE[si % len(PALETTE)]
        pts = [(x, v) for x, v in zip(s.xs, s.ys, strict=True) if math.isfinite(v)]
        if s.lows is not None and s.highs is not None and len(pts) > 1:
            upper = " ".join(f"{px(x):.1f},{y(h):.1f}" for x, h in zip(s.xs, s.highs, strict=True))
            lower = " ".join(
                f"{px(x):.1f},{y(lo_):.1f}" for x, lo_ in reversed(list(zip(s.xs, s.lows, strict=True)))
            )
            parts.append(f'<polygon class="band" points="{upper} {lower}" fill="{color}"/>')
        if not scatter and len(pts) > 1:
            d = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{y(v):.1f}" for i, (x, v) in enumerate(pts))
            parts.append(f'<path class="line" d="{d}" stroke="{color}"/>')
        if markers or scatter or len(pts) == 1:
            for i, (x, v) in enumerate(pts):
                band = (s.lows[i], s.highs[i]) if s.lows is not None and s.highs is not None else (None, None)
                tip = _tip(f"{s.name}: x={_fmt(x)}, y={_fmt(v)}", *band)
                parts.append(
                    f'<circle class="point" cx="{px(x):.1f}" cy="{y(v):.1f}" r="3.2" fill="{color}">'
                    f"<title>{escape(tip)}</title></circle>"
                )
            if s.lows is not None and s.highs is not None and len(pts) == 1:
                x = pts[0][0]
                parts.append(
                    f'<path class="errorbar" d="M{px(x):.1f},{y(s.lows[0]):.1f} V{y(s.highs[0]):.1f}"/>'
                )
    parts += _legend([s.name for s in series], width, height)
    return _svg(parts, title, width, height)


def histogram_chart(
    title: str,
    edges: Sequence[float],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    x_label: str = "",
    normalise: bool = True,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Histograms over shared bins, side by side per bin (shares of each series when ``normalise``)."""
    groups = [f"{_fmt(edges[i])}–{_fmt(edges[i + 1])}" for i in range(len(edges) - 1)]
    bars: list[tuple[str, list[Bar | None]]] = []
    for name, counts in series:
        total = sum(counts) or 1
        bars.append((name, [Bar(c / total if normalise else float(c)) for c in counts]))
    return bar_chart(
        title, groups, bars, y_label="share" if normalise else "count", width=width, height=height
    ) + (f'<p class="caption">{escape(x_label)}</p>' if x_label else "")


__all__ = ["PALETTE", "Bar", "Series", "bar_chart", "histogram_chart", "line_chart", "nice_ticks"]
