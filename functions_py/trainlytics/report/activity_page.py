"""The report's page of one activity (a section each for the most recent ones): summary, an
inline SVG route map (no tiles, nothing fetched), splits per km or mile, heart rate / power /
elevation / pace over time, time in zones, best power and best efforts.

The figures come from :mod:`trainlytics.report.activity`; the zones from the athlete's settings
(overrides, else defaults from the thresholds). An activity whose streams are not stored, or
that the reader may not read (a coach never reads Strava streams), shows its summary only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Any

from trainlytics.report.activity import (
    BestEffort,
    ZoneTime,
    best_efforts,
    best_powers,
    default_zone_bounds,
    pace_of,
    project_route,
    splits,
    time_in_zones,
)
from trainlytics.report.charts import (
    WIDTH,
    Bar,
    downsample,
    horizontal_bar_chart,
    line_chart,
    route_map,
)
from trainlytics.report.data import ActivityDetail, ReportData
from trainlytics.report.formatting import (
    FEET_PER_METRE,
    METRES_PER_MILE,
    fmt_clock,
    fmt_distance,
    fmt_duration,
    fmt_elevation,
    fmt_pace,
    fmt_speed,
    imperial,
    sport_label,
)
from trainlytics.report.page import table, tile
from trainlytics.streams import ActivityStreams, Lap

__all__ = ["activity_sections", "best_efforts_section"]

_ZONE_COLORS = ("#56B4E9", "#009E73", "#F0E442", "#E69F00", "#D55E00", "#CC79A7", "#0072B2")
_FOOT = {"run", "trail_run", "treadmill_run", "track_run", "virtual_run", "walk", "hike"}


def _duration_label(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _effort_label(metres: float) -> str:
    names = {1609.344: "1 mile", 21097.5: "Half marathon", 42195.0: "Marathon"}
    if metres in names:
        return names[metres]
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def _ftp_on(data: ReportData, day: dt.date) -> float | None:
    """The FTP in force on ``day`` (the settings' history), else today's value."""
    history = (data.settings or {}).get("ftp_history") or []
    in_force = [h for h in history if dt.date.fromisoformat(str(h["effective_from"])) <= day]
    if in_force:
        return float(in_force[-1]["ftp_w"])
    value = data.setting("ftp_w")
    return float(value) if value is not None and not history else None


def _bounds(data: ReportData, kind: str, threshold: float | None) -> list[float] | None:
    overrides = data.setting("zones") or {}
    if isinstance(overrides, dict) and overrides.get(kind):
        return [float(b) for b in overrides[kind]]
    return default_zone_bounds(kind, threshold)


def _zone_chart(zones: list[ZoneTime], *, kind: str, unit: str, fmt: Any) -> str:
    total = sum(z.seconds for z in zones)
    if total <= 0:
        return ""
    bars = []
    for z in zones:
        if z.low is None:
            span = f"{'slower than' if kind == 'pace' else 'below'} {fmt(z.high)}"
        elif z.high is None:
            span = f"{'faster than' if kind == 'pace' else 'above'} {fmt(z.low)}"
        else:
            span = f"{fmt(z.low)}\u2013{fmt(z.high)}"
        bars.append(
            Bar(
                f"Z{z.zone} {span}",
                z.seconds / 60,
                _ZONE_COLORS[(z.zone - 1) % len(_ZONE_COLORS)],
                f"{fmt_duration(z.seconds) if z.seconds >= 30 else f'{z.seconds:.0f} s'}"
                f" · {100 * z.seconds / total:.0f}%",
            )
        )
    title = {"heart_rate": "Time in heart-rate zones", "power": "Time in power zones"}.get(
        kind, "Time in pace zones"
    )
    return f"<h3>{title}</h3>" + _chart(
        horizontal_bar_chart(
            bars,
            title=title,
            desc=f"Minutes spent in each {unit} zone during the activity.",
            x_label="Minutes in the zone and share of the recorded time",
        )
    )


def _zones_here(
    data: ReportData, detail: ActivityDetail, streams: ActivityStreams
) -> dict[str, list[ZoneTime]]:
    """Time in zones computed from the streams, for a database without the streams work's
    public.activity_time_in_zones (the bounds: overrides, else the defaults of the module)."""
    day = detail.activity.start_local.date()
    threshold_hr = data.setting("threshold_heart_rate")
    threshold_pace = data.setting("threshold_pace")
    channels: dict[str, tuple[Sequence[float | None] | None, list[float] | None]] = {
        "heart_rate": (
            streams.heart_rate,
            _bounds(data, "heart_rate", float(threshold_hr) if threshold_hr else None),
        ),
        "power": (streams.power_w, _bounds(data, "power", _ftp_on(data, day))),
        "pace": (
            pace_of(streams),
            _bounds(data, "pace", float(threshold_pace) if threshold_pace else None),
        ),
    }
    return {
        kind: time_in_zones(values, streams.time_s, bounds, descending=kind == "pace")
        for kind, (values, bounds) in channels.items()
        if values is not None and bounds
    }


def _chart(svg: str) -> str:
    return f'<div class="chart">{svg}</div>'


def _over_time(streams: ActivityStreams, activity_type: str) -> str:
    charts = []
    time = streams.time_s
    t0 = time[0] if time else 0.0
    minutes = [(t - t0) / 60 for t in time]

    def clock(m: float) -> str:
        return fmt_clock(m * 60)

    channels: list[tuple[str, Sequence[float | None] | None, str, str, Any, bool]] = [
        ("Heart rate", streams.heart_rate, "bpm", "#CC79A7", lambda v: f"{v:.0f}", False),
        ("Power", streams.power_w, "W", "#E69F00", lambda v: f"{v:.0f}", False),
    ]
    if streams.altitude_m is not None:
        scale = FEET_PER_METRE if imperial() else 1.0
        altitude = [a * scale if a is not None else None for a in streams.altitude_m]
        channels.append(
            (
                "Elevation",
                altitude,
                "ft" if imperial() else "m",
                "#009E73",
                lambda v: f"{v:,.0f}",
                False,
            )
        )
    if activity_type in _FOOT:
        pace = pace_of(streams)
        if pace is not None:
            per = METRES_PER_MILE / 1000 if imperial() else 1.0
            shown = [p * per if p is not None and p < 1200 else None for p in pace]
            channels.append(
                ("Pace", shown, "/mi" if imperial() else "/km", "#D55E00", fmt_clock, True)
            )
    elif streams.speed_mps is not None:
        factor = 3600 / METRES_PER_MILE if imperial() else 3.6
        speed = [v * factor if v is not None else None for v in streams.speed_mps]
        channels.append(
            (
                "Speed",
                speed,
                "mph" if imperial() else "km/h",
                "#0072B2",
                lambda v: f"{v:.0f}",
                False,
            )
        )
    for name, values, unit, color, fmt, inverted in channels:
        if values is None or not any(v is not None for v in values):
            continue
        charts.append(
            _chart(
                line_chart(
                    downsample(minutes, values),
                    title=f"{name} over time",
                    desc=f"{name} ({unit}) through the activity, by elapsed time.",
                    y_label=f"{name} ({unit})",
                    x_label="Elapsed time (h:mm or m:ss)",
                    color=color,
                    x_format=clock,
                    y_format=fmt,
                    inverted=inverted,
                )
            )
        )
    return "<h3>Over time</h3>" + "".join(charts) if charts else ""


def _climb(metres: float | None) -> str:
    if metres is None:
        return "\u2014"
    if abs(metres) < 0.5:
        return "0"
    return ("+" if metres > 0 else "-") + fmt_elevation(abs(metres))


def _splits_table(streams: ActivityStreams, foot: bool) -> str:
    unit = METRES_PER_MILE if imperial() else 1000.0
    rows = splits(streams, unit)
    if not rows:
        return ""
    name = "mile" if imperial() else "km"
    body = [
        (
            str(s.number)
            if s.length >= unit * 0.999
            else f"{s.number} ({escape(fmt_distance(s.length))})",
            escape(fmt_clock(s.seconds)),
            escape(
                fmt_pace(s.seconds / s.length * 1000)
                if foot
                else fmt_speed(s.length / s.seconds if s.seconds > 0 else None)
            ),
            escape(_climb(s.climb)),
            escape(f"{s.heart_rate:.0f}" if s.heart_rate is not None else "—"),
            escape(f"{s.power:.0f}" if s.power is not None else "—"),
        )
        for s in rows
    ]
    return f"<h3>Splits per {name}</h3>" + table(
        [
            (name.capitalize(), False),
            ("Time", True),
            ("Pace" if foot else "Speed", True),
            ("Elevation", True),
            ("Avg HR", True),
            ("Avg W", True),
        ],
        body,
        caption="Elapsed time across each split, from the distance stream.",
    )


def _laps_table(laps: list[Lap], foot: bool) -> str:
    """The device's own laps (FIT lap messages, TCX laps): time is the lap's moving (timer)
    time, else its elapsed time; a column nothing recorded is left out."""
    if not laps:
        return ""
    dash = "\u2014"

    def rate(lap: Lap, seconds: float | None) -> str:
        if not lap.distance_m or not seconds:
            return dash
        if foot:
            return fmt_pace(seconds / lap.distance_m * 1000)
        return fmt_speed(lap.distance_m / seconds)

    def whole(value: float | None) -> str:
        return f"{value:.0f}" if value is not None else dash

    headers = [("Lap", False), ("Start", True), ("Time", True), ("Distance", True)]
    headers.append(("Pace" if foot else "Speed", True))
    optional = {
        "Climb": [_climb(lap.elevation_gain_m) for lap in laps],
        "Avg HR": [whole(lap.avg_hr) for lap in laps],
        "Max HR": [whole(lap.max_hr) for lap in laps],
        "Avg W": [whole(lap.avg_power_w) for lap in laps],
        "Cadence": [whole(lap.avg_cadence) for lap in laps],
    }
    shown = {title: cells for title, cells in optional.items() if any(c != dash for c in cells)}
    headers += [(title, True) for title in shown]
    body = []
    for i, lap in enumerate(laps):
        seconds = lap.moving_s or lap.elapsed_s
        row = [
            str(i + 1),
            fmt_clock(lap.start_s),
            fmt_clock(seconds) if seconds else dash,
            fmt_distance(lap.distance_m),
            rate(lap, seconds),
            *(cells[i] for cells in shown.values()),
        ]
        body.append([escape(cell) for cell in row])
    return "<h3>Laps</h3>" + table(
        headers,
        body,
        caption="The device's own laps; time is the lap's moving (timer) time.",
    )


def _best_power_chart(bests: list[BestEffort]) -> str:
    if len(bests) < 2:
        return ""
    points = [(float(i), b.value) for i, b in enumerate(bests)]
    ticks = [(float(i), _duration_label(b.size)) for i, b in enumerate(bests)]
    return "<h3>Best power</h3>" + _chart(
        line_chart(
            points,
            title="Power curve",
            desc="Best average power over each duration in this activity.",
            y_label="Best average power (W)",
            x_label="Duration",
            color="#E69F00",
            x_format=lambda i: "",
            y_format=lambda v: f"{v:.0f}",
            x_ticks=ticks,
        )
    )


def _pace_curve_chart(bests: list[BestEffort]) -> str:
    """Best pace over each distance (faster is higher), in the athlete's units."""
    if len(bests) < 2:
        return ""
    per = METRES_PER_MILE / 1000 if imperial() else 1.0
    points = [(float(i), b.value / b.size * 1000 * per) for i, b in enumerate(bests)]
    ticks = [(float(i), _effort_label(b.size)) for i, b in enumerate(bests)]
    unit = "/mi" if imperial() else "/km"
    return _chart(
        line_chart(
            points,
            title="Pace curve",
            desc="Best average pace over each distance in this activity (faster is higher).",
            y_label=f"Best pace (min:s {unit})",
            x_label="Distance",
            color="#D55E00",
            x_format=lambda i: "",
            y_format=fmt_clock,
            inverted=True,
            x_ticks=ticks,
        )
    )


def _best_efforts_table(bests: list[BestEffort]) -> str:
    if not bests:
        return ""
    return (
        "<h3>Best efforts</h3>"
        + _pace_curve_chart(bests)
        + table(
            [("Distance", False), ("Time", True), ("Pace", True)],
            [
                (
                    escape(_effort_label(b.size)),
                    escape(fmt_clock(b.value)),
                    escape(fmt_pace(b.value / b.size * 1000)),
                )
                for b in bests
            ],
            caption="Fastest stretch of each distance within this activity (sliding window).",
        )
    )


def _one(data: ReportData, detail: ActivityDetail, index: int) -> str:
    a = detail.activity
    name = a.name or sport_label(a.activity_type)
    when = f"{a.start_local:%a %d %b %Y %H:%M}".replace(" 0", " ")
    speed = a.distance / a.moving_time if a.distance and a.moving_time else None
    tiles = [
        tile("Distance", fmt_distance(a.distance)),
        tile("Moving time", fmt_duration(a.moving_time)),
        tile(
            "Pace" if a.activity_type in _FOOT else "Speed",
            fmt_pace(1000 / speed) if speed and a.activity_type in _FOOT else fmt_speed(speed),
        ),
        tile("Climb", fmt_elevation(a.elevation_gain)),
    ]
    if a.average_heartrate:
        tiles.append(tile("Avg heart rate", f"{a.average_heartrate:.0f} bpm"))
    if a.average_watts:
        tiles.append(tile("Avg power", f"{a.average_watts:.0f} W"))
    if a.load is not None:
        tiles.append(tile("Load", f"{a.load:.0f}", "TSS units"))
    head = (
        f'<section class="card activity" id="activity-{index}">'
        f'<h2>{escape(name)} <span class="when">· {escape(sport_label(a.activity_type))} · '
        f"{escape(when)}</span></h2>"
        f'<div class="tiles">{"".join(tiles)}</div>'
    )
    streams = detail.streams
    laps = _laps_table(detail.laps, a.activity_type in _FOOT)
    if streams is None or len(streams.time_s) < 2:
        return (
            head + '<p class="empty">No streams stored for this activity (or not readable '
            "here): summary only.</p>" + laps + "</section>"
        )
    parts = []
    if streams.lat is not None and streams.lon is not None:
        points = project_route(streams.lat, streams.lon, WIDTH, 360)
        if len(points) >= 2:
            step = max(1, len(points) // 1500)
            parts.append(
                "<h3>Route</h3>"
                + _chart(
                    route_map(
                        points[::step] + ([points[-1]] if (len(points) - 1) % step else []),
                        title=f"Route of {name}",
                        desc="The GPS track drawn offline (equirectangular projection, north "
                        "up); green start, orange finish.",
                    )
                )
            )
    parts.append(_splits_table(streams, a.activity_type in _FOOT))
    parts.append(laps)
    parts.append(_over_time(streams, a.activity_type))
    per_mile = METRES_PER_MILE / 1000

    def pace_fmt(v: float) -> str:
        return fmt_clock(v * per_mile) if imperial() else fmt_clock(v)

    kinds = [("heart_rate", "heart-rate"), ("power", "power")]
    if a.activity_type in _FOOT:
        kinds.append(("pace", "pace"))
    zone_formats: dict[str, Any] = {
        "heart_rate": lambda v: f"{v:.0f}",
        "power": lambda v: f"{v:.0f} W",
        "pace": pace_fmt,
    }
    zones = detail.zones if detail.zones is not None else _zones_here(data, detail, streams)
    for kind, unit in kinds:
        if zones.get(kind):
            parts.append(_zone_chart(zones[kind], kind=kind, unit=unit, fmt=zone_formats[kind]))
    # The database's efforts (the streams work's activity_best_efforts) when it keeps them,
    # else computed here from the streams.
    if detail.efforts is not None:
        powers = [BestEffort(e.span, e.value) for e in detail.efforts if e.effort == "power"]
        distances = [BestEffort(e.span, e.value) for e in detail.efforts if e.effort == "distance"]
    else:
        powers = best_powers(streams)
        distances = best_efforts(streams) if a.activity_type in _FOOT else []
    parts.append(_best_power_chart(powers))
    parts.append(_best_efforts_table(distances))
    return head + "".join(parts) + "</section>"


def best_efforts_section(data: ReportData) -> str:
    """This season's and all-time best efforts per sport (the streams work's views, read as
    the reader: a coach's bests never come from a private or Strava-sourced activity)."""
    if data.best_efforts is None:
        return ""
    head = '<section class="card" id="best-efforts"><h2>Best efforts and power curve</h2>'
    if not data.best_efforts:
        return head + '<p class="empty">No best efforts yet: they come from streams.</p></section>'
    parts = []
    for sport in sorted({e.activity_type for e in data.best_efforts}):
        mine = [e for e in data.best_efforts if e.activity_type == sport]
        power = sorted(
            (e for e in mine if e.effort == "power" and e.scope == "all_time"),
            key=lambda e: e.span,
        )
        chart = _best_power_chart([BestEffort(e.span, e.value) for e in power])
        chart += _pace_curve_chart(
            sorted(
                (
                    BestEffort(e.span, e.value)
                    for e in mine
                    if e.effort == "distance" and e.scope == "all_time"
                ),
                key=lambda b: b.size,
            )
        )
        season = {(e.effort, e.span): e for e in mine if e.scope == "season"}
        rows = [
            (
                escape(e.label),
                escape(_effort_value(e.effort, e.span, season[(e.effort, e.span)].value))
                if (e.effort, e.span) in season
                else "\u2014",
                escape(_effort_value(e.effort, e.span, e.value)),
                escape(f"{e.achieved_on:%d %b %Y}".lstrip("0") if e.achieved_on else "\u2014"),
            )
            for e in sorted(
                (e for e in mine if e.scope == "all_time"), key=lambda e: (e.effort, e.span)
            )
        ]
        parts.append(
            f"<h3>{escape(sport_label(sport))}</h3>"
            + chart.replace("<h3>Best power</h3>", "")
            + table(
                [("Effort", False), ("This season", True), ("All time", True), ("On", False)],
                rows,
            )
        )
    return (
        head + '<p class="lead">Best efforts from the activities\' streams: fastest times over '
        "standard distances, best average power over standard durations.</p>"
        + "".join(parts)
        + "</section>"
    )


def _effort_value(effort: str, span: float, value: float) -> str:
    if effort == "power":
        return f"{value:.0f} W"
    return f"{fmt_clock(value)} ({fmt_pace(value / span * 1000)})"


def activity_sections(data: ReportData) -> str:
    """A section per detailed recent activity (none: an empty string)."""
    return "".join(_one(data, detail, i + 1) for i, detail in enumerate(data.details))
