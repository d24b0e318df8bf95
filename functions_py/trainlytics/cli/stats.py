"""``trainlytics stats``: an athlete's statistics as tables in the terminal.

``trainlytics stats --user EMAIL`` prints weekly volume, the breakdown by sport and by source,
training load (fitness, fatigue, form), records and sync health, read as the athlete under
row-level security (the same data as ``trainlytics report``). Maintenance subcommands of the
statistics (e.g. ``rebuild``) are mounted on the same group below.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.readiness import ready_database_url
from trainlytics.db.database import connect
from trainlytics.errors import TrainlyticsError
from trainlytics.report.data import DEFAULT_WEEKS, ReportData, load_report_data, parse_day
from trainlytics.report.formatting import (
    fmt_date,
    fmt_datetime,
    fmt_distance,
    fmt_duration,
    fmt_elevation,
    form_band,
    record_label,
    record_value,
    sport_label,
)
from trainlytics.sync import rollups

__all__ = ["app", "print_stats"]

app = typer.Typer(
    help="An athlete's statistics in the terminal (and their maintenance).",
    invoke_without_command=True,
)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        show_envvar=True,
        help="PostgreSQL URL. Default: the embedded server.",
    ),
]


@app.callback()
def stats_command(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="The athlete's email.")] = None,
    weeks: Annotated[
        int, typer.Option("--weeks", help="How many calendar weeks to show.")
    ] = DEFAULT_WEEKS,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Last day (YYYY-MM-DD)."),
    ] = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show an athlete's statistics: weekly volume, sports, sources, training load, records,
    connections and sync health."""
    if ctx.invoked_subcommand is not None:
        return
    with reporting_errors():
        if not user:
            raise TrainlyticsError(
                "which athlete? --user is required", hint="e.g. trainlytics stats --user a@b.c"
            )
        url = ready_database_url(database_url)
        with connect(url, autocommit=True) as conn:
            data = load_report_data(conn, user, weeks=weeks, until=parse_day(until))
    print_stats(data)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        numeric = column.endswith(("#", "distance", "time", "climb", "load")) or column in (
            "sessions",
            "runs",
            "created",
            "CTL",
            "ATL",
            "TSB",
            "failures",
            "value",
        )
        table.add_column(column, justify="right" if numeric else "left")
    return table


def print_stats(data: ReportData) -> None:
    """Print ``data`` as rich tables."""
    athlete = data.athlete
    console.print(
        f"[bold]{athlete.display_name}[/] <{athlete.email}> · "
        f"{fmt_date(data.period.start)} \u2013 {fmt_date(data.period.end)}",
        soft_wrap=True,
    )
    weekly = _table("Weekly volume", "week", "sessions", "distance", "time", "climb", "sports")
    per_week: dict[dt.date, list[tuple[str, int, float, float, float]]] = defaultdict(list)
    for w in data.weekly:
        per_week[w.week_start].append(
            (w.activity_type, w.activity_count, w.distance, w.moving_time, w.elevation_gain)
        )
    for week in data.period.weeks:
        rows = per_week.get(week, [])
        weekly.add_row(
            fmt_date(week),
            str(sum(r[1] for r in rows)),
            fmt_distance(sum(r[2] for r in rows)),
            fmt_duration(sum(r[3] for r in rows)),
            fmt_elevation(sum(r[4] for r in rows)),
            ", ".join(f"{sport_label(r[0])} {r[1]}" for r in rows) or "—",
            style=None if rows else "dim",
        )
    console.print(weekly)

    sports = _table("By sport", "sport", "sessions", "distance", "time", "climb")
    for s in data.sports:
        sports.add_row(
            sport_label(s.activity_type),
            str(s.activity_count),
            fmt_distance(s.distance),
            fmt_duration(s.moving_time),
            fmt_elevation(s.elevation_gain),
        )
    console.print(sports if data.sports else "[dim]No activities in this period.[/]")

    if data.sources:
        sources = _table("By source (copies stored)", "source", "sessions", "distance", "time")
        for src in data.sources:
            sources.add_row(
                sport_label(src.source),
                str(src.activity_count),
                fmt_distance(src.distance),
                fmt_duration(src.moving_time),
            )
        console.print(sources)

    if data.load is None:
        console.print("[dim]Training load: not computed by this database yet.[/]")
    elif data.load:
        load = _table("Training load (end of each week)", "day", "week load", "CTL", "ATL", "TSB")
        week_load: dict[dt.date, float] = defaultdict(float)
        for day in data.load:
            week_load[day.day - dt.timedelta(days=day.day.weekday())] += day.load
        for day in data.load:
            if day.day.weekday() == 6 or day is data.load[-1]:
                monday = day.day - dt.timedelta(days=day.day.weekday())
                load.add_row(
                    fmt_date(day.day),
                    f"{week_load[monday]:.0f}",
                    f"{day.ctl:.1f}",
                    f"{day.atl:.1f}",
                    f"{day.tsb:+.1f}",
                )
        console.print(load)
        last = data.load[-1]
        console.print(f"Form on {fmt_date(last.day)}: {last.tsb:+.0f} — {form_band(last.tsb)}")

    if data.records is None:
        console.print("[dim]Records: not computed by this database yet.[/]")
    elif data.records:
        records = _table("Records", "sport", "record", "value", "date", "activity")
        for r in data.records:
            records.add_row(
                sport_label(r.activity_type),
                record_label(r.record, r.standard_distance),
                record_value(r.record, r.value, r.standard_distance, r.activity_type),
                f"{r.achieved_on:%d %b %Y}" if r.achieved_on else "—",
                r.activity_name or "—",
            )
        console.print(records)

    if data.connections:
        connections = _table(
            "Connections", "provider", "account", "status", "last sync", "failures", "last error"
        )
        styles = {"active": "green", "error": "yellow", "revoked": "red", "disconnected": "dim"}
        for c in data.connections:
            connections.add_row(
                sport_label(c.provider),
                c.username or "—",
                f"[{styles.get(c.status, 'white')}]{c.status}[/]",
                fmt_datetime(c.last_sync_at),
                str(c.consecutive_failures),
                c.last_error or "—",
            )
        console.print(connections)
    else:
        console.print("[dim]No provider connected.[/]")
    if data.sync_statistics:
        health = _table("Sync health", "provider", "outcome", "runs", "created")
        for stat in data.sync_statistics:
            health.add_row(
                sport_label(stat.provider),
                stat.sync_status,
                str(stat.sync_count),
                str(stat.total_created),
            )
        console.print(health)
    if data.recurring_errors:
        recurring = _table("Recurring sync errors", "provider", "error", "failures", "pattern")
        for e in data.recurring_errors:
            recurring.add_row(
                sport_label(e.provider) if e.provider else "several",
                e.error,
                str(e.occurrences),
                e.detail or "—",
            )
        console.print(recurring)


# Maintenance subcommands of the statistics are added here: @app.command("rebuild") ...


@app.command("rebuild")
def rebuild_command(
    user: Annotated[
        str | None, typer.Option("--user", help="Only this athlete (email). Default: everyone.")
    ] = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Rebuild the statistics rollups (weekly volume, daily load) from the activities."""
    with reporting_errors():
        url = ready_database_url(database_url)
        with connect(url, autocommit=True) as conn:
            athletes = rollups.athletes_to_rebuild(conn, user)
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("Rebuilding rollups", total=len(athletes))
                result = rollups.rebuild_rollups(
                    conn, athletes, lambda done: progress.update(task, completed=done)
                )
    console.print(
        f"Rebuilt the rollups of {result.athletes} athlete(s):"
        f" {result.weekly_rows} weekly rows, {result.daily_rows} daily rows."
    )
