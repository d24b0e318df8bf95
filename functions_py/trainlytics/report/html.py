"""The athlete's report as one self-contained HTML page.

No script, no font, image or style sheet from anywhere: CSS is inline, charts are inline SVG
(:mod:`trainlytics.report.charts`), and a Content-Security-Policy forbids every fetch, so the
page reads the same offline, from an email attachment or a USB stick. Every string from the
database is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from html import escape

from trainlytics import __version__
from trainlytics.report.charts import (
    Bar,
    Series,
    horizontal_bar_chart,
    load_chart,
    stacked_bar_chart,
)
from trainlytics.report.data import ReportData
from trainlytics.report.formatting import (
    FAMILIES,
    family_of,
    fmt_date,
    fmt_datetime,
    fmt_distance,
    fmt_duration,
    fmt_elevation,
    fmt_hours,
    form_band,
    record_label,
    record_value,
    sport_label,
)

__all__ = ["render_report"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)

CSS = """
:root {
  --ink: #1c2127; --muted: #5b6570; --faint: #8a939c; --line: #e3e6ea; --paper: #ffffff;
  --page: #f5f6f4; --accent: #0072b2; --good: #1b7f4c; --warn: #a15c00; --bad: #b3261e;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans",
    "Liberation Sans", Arial, sans-serif;
}
main { max-width: 1080px; margin: 0 auto; padding: 32px 20px 48px; }
header.top { margin-bottom: 24px; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted);
  font-weight: 600; margin: 0 0 4px; }
h1 { font-size: 30px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -.01em; }
h2 { font-size: 20px; margin: 0 0 4px; letter-spacing: -.005em; }
h3 { font-size: 15px; margin: 20px 0 8px; color: var(--muted); }
p { margin: 0 0 10px; }
.sub { color: var(--muted); margin: 0; }
section.card { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 22px; margin: 0 0 20px; }
.card > p.lead { color: var(--muted); margin-bottom: 14px; max-width: 70ch; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px;
  margin: 0 0 20px; }
.tile { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; }
.tile .label { font-size: 13px; color: var(--muted); }
.tile .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums;
  white-space: nowrap; line-height: 1.2; margin-top: 2px; }
.tile .note { font-size: 13px; color: var(--muted); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
.chart { overflow-x: auto; margin: 6px 0 4px; }
.chart svg { display: block; width: 100%; min-width: 520px; height: auto; }
.chart-svg text { font-size: 12px; fill: var(--muted); font-family: inherit; }
.chart-svg .axis-label { font-size: 12px; fill: var(--ink); font-weight: 600; }
.chart-svg .grid { stroke: var(--line); stroke-width: 1; }
.chart-svg .grid.zero, .chart-svg .axis { stroke: #9aa3ab; stroke-width: 1; }
.chart-svg .grid.vertical { stroke-dasharray: 2 4; }
.chart-svg .line { stroke-width: 2.5; stroke-linejoin: round; stroke-linecap: round; }
.chart-svg .load-bar { fill: #c9ced3; }
.chart-svg .tsb { stroke: #3d4650; stroke-width: 1.5; }
.chart-svg .tsb-fresh { fill: #009e73; opacity: .35; }
.chart-svg .tsb-tired { fill: #d55e00; opacity: .35; }
.chart-svg .mark:hover { opacity: .8; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; list-style: none; padding: 0;
  margin: 8px 0 0; font-size: 14px; color: var(--muted); }
.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { width: 12px; height: 12px; border-radius: 3px; display: inline-block; }
.swatch.line { height: 3px; border-radius: 2px; width: 18px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption { text-align: left; font-size: 13px; padding: 0 0 6px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:last-child td { border-bottom: none; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.badge.ok { color: var(--good); } .badge.warn { color: var(--warn); }
.badge.bad { color: var(--bad); } .badge.off { color: var(--faint); }
.error-text { color: var(--bad); font-size: 13px; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--faint); font-size: 13px; margin-top: 28px; }
@media (max-width: 760px) {
  main { padding: 20px 12px 32px; }
  h1 { font-size: 24px; }
  .grid2 { grid-template-columns: 1fr; }
  section.card { padding: 16px 14px; }
  .tile .value { font-size: 22px; }
}
@media print {
  body { background: #fff; }
  section.card, .tile { break-inside: avoid; border-color: #ccc; }
  .chart { overflow: visible; }
  .chart svg { min-width: 0; }
}
"""

_STATUS_CLASS = {
    "active": "ok",
    "success": "ok",
    "error": "warn",
    "partial": "warn",
    "running": "off",
    "revoked": "bad",
    "failed": "bad",
    "disconnected": "off",
}


def _badge(status: str) -> str:
    return f'<span class="badge {_STATUS_CLASS.get(status, "off")}">{escape(status)}</span>'


def _table(
    headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]], caption: str = ""
) -> str:
    """Rows are pre-escaped HTML cells; headers are (text, numeric)."""
    head = "".join(
        f'<th scope="col"{" class=num" if numeric else ""}>{escape(text)}</th>'
        for text, numeric in headers
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if numeric else ''}>{cell}</td>"
            for cell, (_, numeric) in zip(row, headers, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    cap = f"<caption class=sub>{escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _legend(items: Iterable[tuple[str, str]], line: bool = False) -> str:
    kind = "swatch line" if line else "swatch"
    return (
        '<ul class="legend">'
        + "".join(
            f'<li><span class="{kind}" style="background:{color}"></span>{escape(name)}</li>'
            for name, color in items
        )
        + "</ul>"
    )


def _tile(label: str, value: str, note: str = "") -> str:
    note_html = f'<div class="note">{escape(note)}</div>' if note else ""
    return (
        f'<div class="tile"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div>{note_html}</div>'
    )


def _weekly_section(data: ReportData) -> str:
    weeks = data.period.weeks
    index = {week: i for i, week in enumerate(weeks)}
    hours: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(weeks))
    distance: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(weeks))
    sessions: dict[str, list[int]] = defaultdict(lambda: [0] * len(weeks))
    for row in data.weekly:
        i = index.get(row.week_start)
        if i is None:
            continue
        family, _ = family_of(row.activity_type)
        hours[family][i] += row.moving_time / 3600
        distance[family][i] += row.distance
        sessions[family][i] += row.activity_count
    series = [
        Series(
            name,
            color,
            hours[name],
            [
                f"{hours[name][i]:.1f} h, {fmt_distance(distance[name][i])}, "
                f"{sessions[name][i]} session{'s' if sessions[name][i] != 1 else ''}"
                for i in range(len(weeks))
            ],
        )
        for name, color, _ in FAMILIES
        if name in hours
    ]
    if not series:
        return (
            '<section class="card" id="weekly-volume"><h2>Weekly volume</h2>'
            '<p class="empty">No activities in this period.</p></section>'
        )
    chart = stacked_bar_chart(
        [f"{week.day} {week:%b}" for week in weeks],
        series,
        title="Weekly training volume by sport",
        desc=f"Moving time per week, stacked by sport, over {len(weeks)} weeks.",
        y_label="Moving time (hours)",
        x_label="Week starting (Monday, local time)",
        value_format=lambda v: f"{v:.1f} h",
    )
    totals = [
        (
            week,
            sum(sessions[f][i] for f in sessions),
            sum(distance[f][i] for f in distance),
            sum(hours[f][i] for f in hours) * 3600,
        )
        for i, week in enumerate(weeks)
    ]
    busiest = max(totals, key=lambda t: t[3])
    average = sum(t[3] for t in totals) / len(totals)
    rows = [
        (
            escape(fmt_date(week)),
            str(count),
            escape(fmt_distance(dist)),
            escape(fmt_duration(secs)),
        )
        for week, count, dist, secs in reversed(totals)
    ]
    table = _table(
        [("Week starting", False), ("Sessions", True), ("Distance", True), ("Time", True)], rows
    )
    return (
        '<section class="card" id="weekly-volume"><h2>Weekly volume</h2>'
        f'<p class="lead">Moving time per week, by sport. On average '
        f"{escape(fmt_duration(average))} a week; the biggest week started "
        f"{escape(fmt_date(busiest[0]))} ({escape(fmt_duration(busiest[3]))}).</p>"
        f'<div class="chart">{chart}</div>'
        f"{_legend((s.name, s.color) for s in series)}"
        f"<details><summary>Week by week</summary>{table}</details></section>"
    )


def _load_section(data: ReportData) -> str:
    head = '<section class="card" id="training-load"><h2>Fitness, fatigue and form</h2>'
    if data.load is None:
        return (
            head + '<p class="empty">This database does not compute training load yet '
            "(migrate it to the latest version).</p></section>"
        )
    if not data.load or not any(day.load for day in data.load):
        return head + '<p class="empty">No training load in this period.</p></section>'
    days = [d.day for d in data.load]
    chart = load_chart(
        days,
        [d.load for d in data.load],
        [d.ctl for d in data.load],
        [d.atl for d in data.load],
        [d.tsb for d in data.load],
        title="Fitness, fatigue and form",
        desc="Daily training load as grey bars; fitness (42-day average load) and fatigue "
        "(7-day average) as lines; form (fitness minus fatigue) below.",
    )
    last = data.load[-1]
    return (
        head + '<p class="lead">Each day\'s training load (grey) builds <b>fitness</b> '
        "(chronic training load, a 42-day exponentially weighted average) and <b>fatigue</b> "
        "(acute load, 7 days). <b>Form</b> is fitness minus fatigue: above zero you are fresh, "
        f"below it you are carrying fatigue. On {escape(fmt_date(last.day))}: fitness "
        f"{last.ctl:.0f}, fatigue {last.atl:.0f}, form {last.tsb:+.0f} "
        f"({escape(form_band(last.tsb))}).</p>"
        f'<div class="chart">{chart}</div>'
        + _legend(
            [
                ("Fitness (CTL)", "#0072B2"),
                ("Fatigue (ATL)", "#CC79A7"),
                ("Daily load", "#c9ced3"),
                ("Form (TSB)", "#3d4650"),
            ],
            line=True,
        )
        + "</section>"
    )


def _sports_section(data: ReportData) -> str:
    head = '<section class="card" id="sports"><h2>Sports</h2>'
    if not data.sports:
        return head + '<p class="empty">No activities in this period.</p></section>'
    total_time = sum(s.moving_time for s in data.sports) or 1.0
    bars = [
        Bar(
            sport_label(s.activity_type),
            s.moving_time / 3600,
            family_of(s.activity_type)[1],
            f"{fmt_hours(s.moving_time)} · {100 * s.moving_time / total_time:.0f}%",
        )
        for s in data.sports
    ]
    chart = horizontal_bar_chart(
        bars,
        title="Moving time by sport",
        desc="Hours of moving time per sport over the period, with each sport's share.",
        x_label="Moving time (hours) and share of the total",
    )
    rows = [
        (
            escape(sport_label(s.activity_type)),
            str(s.activity_count),
            escape(fmt_distance(s.distance)),
            escape(fmt_duration(s.moving_time)),
            escape(fmt_duration(s.moving_time / s.activity_count if s.activity_count else 0)),
            escape(fmt_elevation(s.elevation_gain)),
        )
        for s in data.sports
    ]
    table = _table(
        [
            ("Sport", False),
            ("Sessions", True),
            ("Distance", True),
            ("Time", True),
            ("Per session", True),
            ("Climb", True),
        ],
        rows,
    )
    sources = ""
    if data.sources:
        source_rows = [
            (
                escape(sport_label(s.source)),
                str(s.activity_count),
                escape(fmt_distance(s.distance)),
                escape(fmt_duration(s.moving_time)),
            )
            for s in data.sources
        ]
        sources = "<h3>Where the activities came from</h3>" + _table(
            [("Source", False), ("Copies stored", True), ("Distance", True), ("Time", True)],
            source_rows,
            caption="A workout received from two sources counts once in the statistics above "
            "and once per source here.",
        )
    return (
        head + '<p class="lead">Where the time went over the period.</p>'
        f'<div class="chart">{chart}</div>{table}{sources}</section>'
    )


def _records_section(data: ReportData) -> str:
    head = '<section class="card" id="records"><h2>Records</h2>'
    if data.records is None:
        return (
            head + '<p class="empty">This database does not compute records yet '
            "(migrate it to the latest version).</p></section>"
        )
    if not data.records:
        return head + '<p class="empty">No records yet.</p></section>'
    rows = [
        (
            escape(sport_label(r.activity_type)),
            escape(record_label(r.record, r.standard_distance)),
            escape(record_value(r.record, r.value, r.standard_distance, r.activity_type)),
            escape(fmt_date(r.achieved_on)),
            escape(r.activity_name or "—"),
        )
        for r in data.records
    ]
    return (
        head + '<p class="lead">Best performances per sport, all time, from activity summaries. '
        "Fastest efforts are estimated from whole activities at least that long, at their "
        "average pace.</p>"
        + _table(
            [
                ("Sport", False),
                ("Record", False),
                ("Value", True),
                ("Date", False),
                ("Activity", False),
            ],
            rows,
        )
        + "</section>"
    )


def _recent_section(data: ReportData) -> str:
    head = '<section class="card" id="recent"><h2>Recent sessions</h2>'
    if not data.recent_activities:
        return head + '<p class="empty">No activities yet.</p></section>'
    rows = [
        (
            escape(f"{a.start_local:%d %b %Y %H:%M}".lstrip("0")),
            escape(a.name or sport_label(a.activity_type)),
            escape(sport_label(a.activity_type)),
            escape(fmt_distance(a.distance)),
            escape(fmt_duration(a.moving_time)),
            escape(f"{a.average_heartrate:.0f} bpm" if a.average_heartrate else "—"),
            escape(f"{a.average_watts:.0f} W" if a.average_watts else "—"),
            escape(sport_label(a.source)),
        )
        for a in data.recent_activities
    ]
    return (
        head
        + _table(
            [
                ("When (local)", False),
                ("Name", False),
                ("Sport", False),
                ("Distance", True),
                ("Time", True),
                ("Avg HR", True),
                ("Avg power", True),
                ("Source", False),
            ],
            rows,
        )
        + "</section>"
    )


def _sync_section(data: ReportData) -> str:
    head = '<section class="card" id="sync-health"><h2>Connections and sync health</h2>'
    if not data.connections:
        return (
            head + '<p class="empty">No provider connected: activities come from files or '
            "manual entries.</p></section>"
        )
    connections = _table(
        [
            ("Provider", False),
            ("Account", False),
            ("Status", False),
            ("Last sync", False),
            ("Failures in a row", True),
            ("Last error", False),
        ],
        [
            (
                escape(sport_label(c.provider)),
                escape(c.username or "—"),
                _badge(c.status),
                escape(fmt_datetime(c.last_sync_at)),
                str(c.consecutive_failures),
                f'<span class="error-text">{escape(c.last_error)}</span>' if c.last_error else "—",
            )
            for c in data.connections
        ],
    )
    stats = (
        "<h3>Synchronisations per provider and outcome</h3>"
        + _table(
            [("Provider", False), ("Outcome", False), ("Runs", True), ("Activities created", True)],
            [
                (
                    escape(sport_label(s.provider)),
                    _badge(s.sync_status),
                    str(s.sync_count),
                    str(s.total_created),
                )
                for s in data.sync_statistics
            ],
        )
        if data.sync_statistics
        else '<p class="empty">No synchronisation has run yet.</p>'
    )
    recent = ""
    if data.recent_syncs:
        recent = "<h3>Latest runs</h3>" + _table(
            [
                ("Started", False),
                ("Provider", False),
                ("Why", False),
                ("Outcome", False),
                ("Created", True),
                ("Updated", True),
                ("Error", False),
            ],
            [
                (
                    escape(fmt_datetime(r.started_at)),
                    escape(sport_label(r.provider)),
                    escape(r.trigger),
                    _badge(r.status),
                    str(r.created),
                    str(r.updated),
                    f'<span class="error-text">{escape(r.error)}</span>' if r.error else "—",
                )
                for r in data.recent_syncs
            ],
        )
    recurring = ""
    if data.recurring_errors:
        recurring = "<h3>Recurring errors</h3>" + _table(
            [("Provider", False), ("Error", False), ("Occurrences", True), ("Pattern", False)],
            [
                (
                    escape(sport_label(e.provider) if e.provider else "several"),
                    f'<span class="error-text">{escape(e.error)}</span>',
                    str(e.occurrences),
                    escape(e.detail or "—"),
                )
                for e in data.recurring_errors
            ],
        )
    elif data.recurring_errors is not None:
        recurring = '<h3>Recurring errors</h3><p class="sub">None: no connection keeps failing.</p>'
    return head + connections + stats + recent + recurring + "</section>"


def _tiles(data: ReportData) -> str:
    sessions = sum(s.activity_count for s in data.sports)
    distance = sum(s.distance for s in data.sports)
    moving = sum(s.moving_time for s in data.sports)
    climb = sum(s.elevation_gain for s in data.sports)
    weeks = len(data.period.weeks)
    tiles = [
        _tile("Sessions", f"{sessions}", f"{sessions / weeks:.1f} a week"),
        _tile("Distance", fmt_distance(distance) if distance else "0 km"),
        _tile(
            "Moving time",
            fmt_duration(moving) if moving else "0 min",
            f"{fmt_duration(moving / weeks)} a week" if moving else "",
        ),
        _tile("Climbing", fmt_elevation(climb) if climb else "0 m"),
    ]
    if data.load:
        last = data.load[-1]
        tiles.append(_tile("Fitness · fatigue", f"{last.ctl:.0f} · {last.atl:.0f}", "CTL · ATL"))
        tiles.append(_tile("Form", f"{last.tsb:+.0f}", form_band(last.tsb)))
    return '<div class="tiles" id="summary">' + "".join(tiles) + "</div>"


def render_report(data: ReportData) -> str:
    """The full HTML document."""
    athlete = data.athlete
    weeks = len(data.period.weeks)
    period = (
        f"{fmt_date(data.period.start)} \u2013 {fmt_date(data.period.end)} · {weeks} week"
        f"{'s' if weeks != 1 else ''}"
    )
    generated = data.generated_at.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")
    body = (
        '<header class="top"><p class="eyebrow">Trainlytics training report</p>'
        f"<h1>{escape(athlete.display_name)}</h1>"
        f'<p class="sub">{escape(period)}</p></header>'
        + _tiles(data)
        + _weekly_section(data)
        + _load_section(data)
        + _sports_section(data)
        + _records_section(data)
        + _recent_section(data)
        + _sync_section(data)
        + f"<footer>Generated {escape(generated)} by Trainlytics {escape(__version__)} for "
        f"{escape(athlete.email)}. Distances and times are moving figures from the activity "
        "summaries; weeks are local calendar weeks starting on Monday. This page works offline "
        "and loads nothing from the network.</footer>"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<meta name="generator" content="Trainlytics">'
        f"<title>Training report · {escape(athlete.display_name)}</title>"
        f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )
