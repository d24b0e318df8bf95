"""Charts as inline SVG strings, drawn in Python: no script, no external asset, no network.

Each chart is an ``<svg>`` with a ``viewBox`` (it scales with its container), a ``<title>``
and ``<desc>`` for screen readers, labelled axes with "nice" ticks, and data marks drawn as
``<path class="mark">`` elements, each with a ``<title>`` tooltip giving the exact figures.
Colours come from the Okabe-Ito palette, distinguishable with the common colour-vision
deficiencies; the page's CSS sets fonts and the neutral colours.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "Bar",
    "Series",
    "downsample",
    "horizontal_bar_chart",
    "line_chart",
    "load_chart",
    "nice_ticks",
    "route_map",
    "stacked_bar_chart",
]

WIDTH = 720
FONT_SIZE = 12


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float]
    details: Sequence[str] | None = None  # per-point tooltip text


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    color: str
    text: str  # the figure printed after the bar


def _f(value: float) -> str:
    """A coordinate with at most one decimal."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``maximum`` (about ``count`` of them)."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = maximum / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    top = math.ceil(maximum / step - 1e-9) * step
    ticks = []
    value = 0.0
    while value <= top + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _symmetric_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = max(high - low, 1e-9)
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:,.1f}"


def _open(title: str, desc: str, height: int, css_class: str) -> list[str]:
    return [
        f'<svg class="chart-svg {css_class}" viewBox="0 0 {WIDTH} {height}" role="img"'
        f' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
    ]


def _y_axis(
    parts: list[str],
    ticks: list[float],
    scale: Callable[[float], float],
    left: float,
    right: float,
    label: str,
    label_y: float,
) -> None:
    for tick in ticks:
        y = scale(tick)
        parts.append(
            f'<line class="grid{" zero" if tick == 0 else ""}" x1="{_f(left)}" x2="{_f(right)}"'
            f' y1="{_f(y)}" y2="{_f(y)}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_f(left - 8)}" y="{_f(y + 4)}" text-anchor="end">'
            f"{escape(_tick_label(tick))}</text>"
        )
    parts.append(
        f'<text class="axis-label" x="{_f(left)}" y="{_f(label_y)}" text-anchor="start">'
        f"{escape(label)}</text>"
    )


def _label_every(count: int, room: float, label_width: float = 46) -> int:
    """Label every n-th category so that labels do not overlap."""
    if count <= 0:
        return 1
    return max(1, math.ceil(count / max(room / label_width, 1)))


def stacked_bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    desc: str,
    y_label: str,
    x_label: str,
    value_format: Callable[[float], str],
    height: int = 300,
) -> str:
    """Vertical bars, one per category, stacked by series (e.g. weekly hours by sport)."""
    left, right, top, bottom = 56.0, WIDTH - 12.0, 34.0, height - 44.0
    totals = [sum(s.values[i] for s in series) if series else 0.0 for i in range(len(categories))]
    ticks = nice_ticks(max(totals, default=0.0))
    y_max = ticks[-1]

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value / y_max if y_max else 0.0)

    parts = _open(title, desc, height, "stacked-bars")
    _y_axis(parts, ticks, y_of, left, right, y_label, 16)
    slot = (right - left) / max(len(categories), 1)
    bar = min(slot * 0.7, 48.0)
    every = _label_every(len(categories), right - left)
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar) / 2
        base = 0.0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            y0, y1 = y_of(base), y_of(base + value)
            detail = s.details[i] if s.details else value_format(value)
            parts.append(
                f'<path class="mark" fill="{s.color}" d="M{_f(x)} {_f(y0)}V{_f(y1)}'
                f'H{_f(x + bar)}V{_f(y0)}Z"><title>{escape(category)} · {escape(s.name)}: '
                f"{escape(detail)}</title></path>"
            )
            base += value
        if i % every == 0 or (i == len(categories) - 1 and len(categories) <= every):
            parts.append(
                f'<text class="tick" x="{_f(x + bar / 2)}" y="{_f(bottom + 16)}"'
                f' text-anchor="middle">{escape(category)}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{_f(left)}" x2="{_f(right)}" y1="{_f(bottom)}" y2="{_f(bottom)}"/>'
    )
    parts.append(
        f'<text class="axis-label" x="{_f((left + right) / 2)}" y="{_f(height - 6)}"'
        f' text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _polyline(points: Sequence[tuple[float, float]]) -> str:
    return "M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in points)


def load_chart(
    days: Sequence[dt.date],
    load: Sequence[float],
    ctl: Sequence[float],
    atl: Sequence[float],
    tsb: Sequence[float],
    *,
    title: str,
    desc: str,
    ctl_color: str = "#0072B2",
    atl_color: str = "#CC79A7",
    height: int = 380,
) -> str:
    """Fitness (CTL) and fatigue (ATL) lines over daily load bars; form (TSB) below, as an area
    around zero (fresh above, fatigued below)."""
    left, right = 56.0, WIDTH - 12.0
    top, mid = 34.0, 232.0  # upper panel
    tsb_top, tsb_bottom = 262.0, height - 40.0  # lower panel
    n = len(days)
    slot = (right - left) / max(n, 1)

    def x_of(i: int) -> float:
        return left + slot * (i + 0.5)

    ticks = nice_ticks(max([*load, *ctl, *atl], default=0.0))
    y_max = ticks[-1]

    def y_of(value: float) -> float:
        return mid - (mid - top) * (value / y_max if y_max else 0.0)

    parts = _open(title, desc, height, "load")
    _y_axis(parts, ticks, y_of, left, right, "Load per day · fitness · fatigue", 16)
    bar = max(slot * 0.6, 0.8)
    for i, value in enumerate(load):
        if value > 0:
            parts.append(
                f'<path class="mark load-bar" d="M{_f(x_of(i) - bar / 2)} {_f(mid)}'
                f'V{_f(y_of(value))}H{_f(x_of(i) + bar / 2)}V{_f(mid)}Z">'
                f"<title>{days[i]:%a} {days[i].day} {days[i]:%b}: load {value:.0f}</title></path>"
            )
    for name, values, color, css in (
        ("Fitness (CTL)", ctl, ctl_color, "ctl"),
        ("Fatigue (ATL)", atl, atl_color, "atl"),
    ):
        if n:
            last = values[-1]
            parts.append(
                f'<path class="mark line {css}" fill="none" stroke="{color}"'
                f' d="{_polyline([(x_of(i), y_of(v)) for i, v in enumerate(values)])}">'
                f"<title>{name}: {last:.1f} on {days[-1]:%d %b %Y}</title></path>"
            )
    # Lower panel: TSB
    low, high = min([*tsb, 0.0]), max([*tsb, 0.0])
    tsb_ticks = _symmetric_ticks(low, high, 4)
    t_low, t_high = tsb_ticks[0], tsb_ticks[-1]

    def t_of(value: float) -> float:
        span = t_high - t_low or 1.0
        return tsb_bottom - (tsb_bottom - tsb_top) * ((value - t_low) / span)

    _y_axis(parts, tsb_ticks, t_of, left, right, "Form (TSB)", tsb_top - 10)
    if n:
        zero = t_of(0.0)
        outline = [(x_of(i), t_of(v)) for i, v in enumerate(tsb)]
        area = _polyline([(x_of(0), zero), *outline, (x_of(n - 1), zero)]) + "Z"
        parts.append(
            '<defs><clipPath id="tsb-above"><rect x="0" y="0" width="'
            f'{WIDTH}" height="{_f(zero)}"/></clipPath><clipPath id="tsb-below"><rect x="0"'
            f' y="{_f(zero)}" width="{WIDTH}" height="{_f(height - zero)}"/></clipPath></defs>'
        )
        parts.append(
            f'<path class="mark tsb-fresh" clip-path="url(#tsb-above)" d="{area}">'
            f"<title>Form (TSB) above zero: fresh</title></path>"
        )
        parts.append(
            f'<path class="mark tsb-tired" clip-path="url(#tsb-below)" d="{area}">'
            f"<title>Form (TSB) below zero: fatigued</title></path>"
        )
        parts.append(
            f'<path class="mark line tsb" fill="none" d="{_polyline(outline)}">'
            f"<title>Form (TSB): {tsb[-1]:.1f} on {days[-1]:%d %b %Y}</title></path>"
        )
    # Shared x axis: label Mondays, spaced so labels do not overlap.
    mondays = [i for i, day in enumerate(days) if day.weekday() == 0]
    every = _label_every(len(mondays), right - left, 52)
    for j, i in enumerate(mondays):
        if j % every:
            continue
        x = x_of(i)
        parts.append(
            f'<line class="grid vertical" x1="{_f(x)}" x2="{_f(x)}" y1="{_f(top)}"'
            f' y2="{_f(tsb_bottom)}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_f(x)}" y="{_f(tsb_bottom + 16)}" text-anchor="middle">'
            f"{days[i].day} {days[i]:%b}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{_f(left)}" x2="{_f(right)}" y1="{_f(mid)}" y2="{_f(mid)}"/>'
    )
    parts.append(
        f'<text class="axis-label" x="{_f((left + right) / 2)}" y="{_f(height - 6)}"'
        ' text-anchor="middle">Day (weeks start on Monday)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bar_chart(bars: Sequence[Bar], *, title: str, desc: str, x_label: str) -> str:
    """One labelled horizontal bar per item (e.g. hours per sport), the figure after each."""
    row, left, right, top = 30.0, 150.0, WIDTH - 130.0, 12.0
    height = int(top + row * len(bars) + 40)
    maximum = max((b.value for b in bars), default=0.0) or 1.0
    parts = _open(title, desc, height, "hbars")
    for i, b in enumerate(bars):
        y = top + row * i
        width = max((right - left) * b.value / maximum, 1.5 if b.value > 0 else 0.0)
        parts.append(
            f'<text class="tick label" x="{_f(left - 10)}" y="{_f(y + row / 2 + 4)}"'
            f' text-anchor="end">{escape(b.label)}</text>'
        )
        if width:
            parts.append(
                f'<path class="mark" fill="{b.color}" d="M{_f(left)} {_f(y + 6)}'
                f'H{_f(left + width)}V{_f(y + row - 6)}H{_f(left)}Z">'
                f"<title>{escape(b.label)}: {escape(b.text)}</title></path>"
            )
        parts.append(
            f'<text class="tick value" x="{_f(left + width + 8)}" y="{_f(y + row / 2 + 4)}">'
            f"{escape(b.text)}</text>"
        )
    axis_y = top + row * len(bars) + 4
    parts.append(
        f'<line class="axis" x1="{_f(left)}" x2="{_f(left)}" y1="{_f(top)}" y2="{_f(axis_y)}"/>'
    )
    parts.append(
        f'<text class="axis-label" x="{_f(left)}" y="{_f(axis_y + 22)}">{escape(x_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def downsample(
    xs: Sequence[float], ys: Sequence[float | None], limit: int = 600
) -> list[tuple[float, float | None]]:
    """At most ``limit`` points: the mean of each run of samples (None where a run has no
    value, which breaks the line)."""
    n = min(len(xs), len(ys))
    if n <= limit:
        return [(xs[i], ys[i]) for i in range(n)]
    step = n / limit
    out: list[tuple[float, float | None]] = []
    for k in range(limit):
        i0, i1 = int(k * step), max(int((k + 1) * step), int(k * step) + 1)
        values = [v for v in ys[i0:i1] if v is not None]
        out.append((xs[i0], sum(values) / len(values) if values else None))
    return out


def line_chart(
    points: Sequence[tuple[float, float | None]],
    *,
    title: str,
    desc: str,
    y_label: str,
    x_label: str,
    color: str,
    x_format: Callable[[float], str],
    y_format: Callable[[float], str],
    inverted: bool = False,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    height: int = 200,
) -> str:
    """One series as a line over x (e.g. heart rate over time, or a power curve over
    durations); ``inverted`` puts low values at the top (pace: faster is higher). Gaps (None)
    break the line. Tick labels of x come from ``x_ticks`` or from nice steps of x."""
    left, right, top, bottom = 56.0, WIDTH - 12.0, 30.0, height - 40.0
    values = [y for _, y in points if y is not None]
    xs = [x for x, _ in points]
    parts = _open(title, desc, height, "line-chart")
    if not values or not xs:
        parts.append("</svg>")
        return "".join(parts)
    low, high = lowest, highest = min(values), max(values)
    if high - low < 4.0:  # a (nearly) flat series: a span the tick labels can tell apart
        middle = (low + high) / 2
        low, high = middle - 2.0, middle + 2.0
    pad = (high - low) * 0.08
    ticks = _symmetric_ticks(low - pad, high + pad, 4)
    y_low, y_high = ticks[0], ticks[-1]
    x_low, x_high = min(xs), max(xs)

    def x_of(x: float) -> float:
        return left + (right - left) * ((x - x_low) / (x_high - x_low) if x_high > x_low else 0.5)

    def y_of(y: float) -> float:
        share = (y - y_low) / (y_high - y_low) if y_high > y_low else 0.5
        return top + (bottom - top) * share if inverted else bottom - (bottom - top) * share

    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line class="grid" x1="{_f(left)}" x2="{_f(right)}" y1="{_f(y)}" y2="{_f(y)}"/>'
            f'<text class="tick" x="{_f(left - 8)}" y="{_f(y + 4)}" text-anchor="end">'
            f"{escape(y_format(tick))}</text>"
        )
    parts.append(
        f'<text class="axis-label" x="{_f(left)}" y="14" text-anchor="start">{escape(y_label)}'
        "</text>"
    )
    segments: list[list[tuple[float, float]]] = [[]]
    for x, value in points:
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((x_of(x), y_of(value)))
    path = "".join(_polyline(seg) for seg in segments if seg)
    single = [seg for seg in segments if len(seg) == 1]
    for x, y in (seg[0] for seg in single):
        path += f"M{_f(x - 1.5)} {_f(y)}H{_f(x + 1.5)}"  # a lone sample still shows
    parts.append(
        f'<path class="mark line" fill="none" stroke="{color}" d="{path}"><title>'
        f"{escape(title)}: {escape(y_format(lowest))} to {escape(y_format(highest))}</title></path>"
    )
    if x_ticks is None:
        step_ticks = nice_ticks(x_high - x_low, 6)
        x_ticks = [(x_low + t, x_format(x_low + t)) for t in step_ticks if t <= x_high - x_low]
    for x, label in x_ticks:
        # The end labels stay inside the chart.
        anchor = "start" if x <= x_low else "end" if x >= x_high else "middle"
        parts.append(
            f'<text class="tick" x="{_f(x_of(x))}" y="{_f(bottom + 16)}" text-anchor="{anchor}">'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{_f(left)}" x2="{_f(right)}" y1="{_f(bottom)}" y2="{_f(bottom)}"/>'
        f'<text class="axis-label" x="{_f((left + right) / 2)}" y="{_f(height - 6)}"'
        f' text-anchor="middle">{escape(x_label)}</text></svg>'
    )
    return "".join(parts)


def route_map(
    points: Sequence[tuple[float, float]],
    *,
    title: str,
    desc: str,
    width: int = WIDTH,
    height: int = 360,
    color: str = "#0072B2",
) -> str:
    """A route as a line on a blank background (no tiles: nothing to fetch), start and finish
    marked; ``points`` are already projected to the ``width`` x ``height`` box."""
    parts = [
        f'<svg class="chart-svg route-map" viewBox="0 0 {width} {height}" role="img"'
        ' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
        f'<rect class="map-bg" x="0" y="0" width="{width}" height="{height}" rx="8"/>',
    ]
    if points:
        parts.append(
            f'<path class="mark route" fill="none" stroke="{color}" d="{_polyline(points)}">'
            f"<title>{escape(title)}</title></path>"
        )
        for (x, y), name, fill in (
            (points[0], "Start", "#009E73"),
            (points[-1], "Finish", "#D55E00"),
        ):
            parts.append(
                f'<path class="mark endpoint" fill="{fill}" d="M{_f(x - 6)} {_f(y)}'
                f'a6 6 0 1 0 12 0a6 6 0 1 0 -12 0Z"><title>{name}</title></path>'
            )
        parts.append(f'<text class="tick" x="{width - 14}" y="22" text-anchor="end">N ↑</text>')
    parts.append("</svg>")
    return "".join(parts)
