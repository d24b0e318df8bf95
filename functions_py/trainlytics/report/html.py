"""The athlete's report as one self-contained HTML page.

No script, no font, image or style sheet from anywhere: CSS is inline, charts are inline SVG
(:mod:`trainlytics.report.charts`), and a Content-Security-Policy forbids every fetch, so the
page reads the same offline, from an email attachment or a USB stick. Every string from the
database is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from html import escape

from trainlytics import __version__
from trainlytics.report.activity_page import activity_sections, best_efforts_section
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
    units,
)
from trainlytics.report.page import CSP, CSS
from trainlytics.report.page import badge as _badge
from trainlytics.report.page import legend as _legend
from trainlytics.report.page import table as _table
from trainlytics.report.page import tile as _tile

__all__ = ["render_coach_report", "render_report"]


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


def _planned_section(data: ReportData) -> str:
    head = '<section class="card" id="planned"><h2>Planned vs completed</h2>'
    if data.planned is None:
        return ""
    if not data.planned:
        return head + '<p class="empty">No workouts planned in this period.</p></section>'
    weeks = data.period.weeks
    index = {week: i for i, week in enumerate(weeks)}
    done = [0.0] * len(weeks)
    missed = [0.0] * len(weeks)
    for w in data.compliance or []:
        i = index.get(w.week_start)
        if i is None:
            continue
        done[i] = min(w.completed_duration, w.planned_duration or w.completed_duration) / 3600
        missed[i] = max(w.planned_duration - w.completed_duration, 0.0) / 3600
    planned_count = sum(w.planned_count for w in data.compliance or [])
    completed_count = sum(w.completed_count for w in data.compliance or [])
    chart = ""
    if any(done) or any(missed):
        chart = (
            '<div class="chart">'
            + stacked_bar_chart(
                [f"{week.day} {week:%b}" for week in weeks],
                [
                    Series("Completed", "#009E73", done),
                    Series("Not completed", "#D55E00", missed),
                ],
                title="Planned training time, completed or not, per week",
                desc="Hours of planned workouts per week: completed (green) and the rest (orange).",
                y_label="Planned time (hours)",
                x_label="Week starting (Monday, local time)",
                value_format=lambda v: f"{v:.1f} h",
            )
            + "</div>"
            + _legend([("Completed", "#009E73"), ("Not completed", "#D55E00")])
        )
    rows = [
        (
            escape(fmt_date(w.planned_date)),
            escape(w.name),
            escape(sport_label(w.activity_type)),
            escape(fmt_duration(w.planned_duration)),
            escape(fmt_distance(w.planned_distance)),
            escape(f"{w.planned_load:.0f}" if w.planned_load is not None else "—"),
            _badge("success") if w.completed else _badge("open"),
            escape(fmt_duration(w.completed_time)),
            escape(fmt_distance(w.completed_distance)),
            escape(f"{w.completed_load:.0f}" if w.completed_load is not None else "—"),
        )
        for w in data.planned
    ]
    coach_note = (
        " As a coach you see a workout as completed only when the activity that fulfilled it "
        "is one you may read (not private, not from Strava)."
        if data.reader is not None and data.reader.id != data.athlete.id
        else ""
    )
    return (
        head + f'<p class="lead">{completed_count} of {planned_count} planned workouts '
        f"completed in the period.{escape(coach_note)}</p>"
        + chart
        + _table(
            [
                ("Planned for", False),
                ("Workout", False),
                ("Sport", False),
                ("Duration", True),
                ("Distance", True),
                ("Load", True),
                ("Status", False),
                ("Done: time", True),
                ("Distance", True),
                ("Load", True),
            ],
            rows,
        )
        + "</section>"
    )


def _athlete_body(data: ReportData) -> str:
    """Every section of one athlete's report (in the athlete's units)."""
    coach_view = data.reader is not None and data.reader.id != data.athlete.id
    return (
        _tiles(data)
        + _weekly_section(data)
        + _load_section(data)
        + _planned_section(data)
        + _sports_section(data)
        + _records_section(data)
        + best_efforts_section(data)
        + _recent_section(data)
        + activity_sections(data)
        + ("" if coach_view else _sync_section(data))
    )


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<meta name="generator" content="Trainlytics">'
        f"<title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


def _period_text(data: ReportData) -> str:
    weeks = len(data.period.weeks)
    return (
        f"{fmt_date(data.period.start)} \u2013 {fmt_date(data.period.end)} · {weeks} week"
        f"{'s' if weeks != 1 else ''}"
    )


def render_report(data: ReportData) -> str:
    """The full HTML document."""
    athlete = data.athlete
    generated = data.generated_at.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")
    with units(data.units):
        unit_note = (
            "Distances in miles and feet (the athlete's setting)"
            if data.units == "imperial"
            else "Distances in kilometres and metres"
        )
        body = (
            '<header class="top"><p class="eyebrow">Trainlytics training report</p>'
            f"<h1>{escape(athlete.display_name)}</h1>"
            f'<p class="sub">{escape(_period_text(data))}</p></header>'
            + _athlete_body(data)
            + f"<footer>Generated {escape(generated)} by Trainlytics {escape(__version__)} for "
            f"{escape(athlete.email)}. Distances and times are moving figures from the activity "
            "summaries; weeks are local calendar weeks starting on Monday. "
            f"{unit_note}. This page works offline and loads nothing from the network.</footer>"
        )
    return _document(f"Training report · {athlete.display_name}", body)


def render_coach_report(coach_name: str, coach_email: str, reports: Sequence[ReportData]) -> str:
    """One page for a coach: a part per athlete with an active grant, each read as the coach
    (so only what the coach may read), each in that athlete's units."""
    generated = dt.datetime.now(dt.UTC).strftime("%d %b %Y %H:%M UTC")
    parts = []
    toc = []
    for n, data in enumerate(reports, start=1):
        with units(data.units):
            body = _athlete_body(data)
        # One page holds several athletes: element ids (and the chart clip paths that refer
        # to them) get the athlete's number, so none repeats.
        body = body.replace(' id="', f' id="a{n}-').replace("url(#", f"url(#a{n}-")
        name = escape(data.athlete.display_name)
        toc.append(f'<a href="#athlete-{n}">{name}</a>')
        parts.append(
            f'<article class="athlete" id="athlete-{n}"><h2>{name}</h2>'
            f'<p class="sub">{escape(_period_text(data))}</p>{body}</article>'
        )
    if not reports:
        parts.append(
            '<section class="card"><p class="empty">No athlete has granted you access yet.</p>'
            "</section>"
        )
    body = (
        '<header class="top"><p class="eyebrow">Trainlytics coach report</p>'
        f"<h1>{escape(coach_name)}</h1>"
        f'<p class="sub">{len(reports)} athlete{"s" if len(reports) != 1 else ""} with an '
        "active grant</p></header>"
        + (f'<nav class="toc">{"".join(toc)}</nav>' if toc else "")
        + "".join(parts)
        + f"<footer>Generated {escape(generated)} by Trainlytics {escape(__version__)} for "
        f"{escape(coach_email)}, read with the coach's access: private activities, activities "
        "and streams from Strava (Strava's terms: the athlete's own view only) and the "
        "athletes' accounts are not included. This page works offline and loads nothing from "
        "the network.</footer>"
    )
    return _document(f"Coach report · {coach_name}", body)
