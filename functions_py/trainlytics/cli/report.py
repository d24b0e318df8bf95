"""``trainlytics report``: write an athlete's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.readiness import ready_database_url
from trainlytics.db.database import connect
from trainlytics.errors import TrainlyticsError
from trainlytics.report import DEFAULT_WEEKS, write_coach_report, write_report
from trainlytics.report.data import parse_day

__all__ = ["report_command"]


def report_command(
    user: Annotated[str | None, typer.Option("--user", help="The athlete's email.")] = None,
    coach: Annotated[
        str | None,
        typer.Option(
            "--coach",
            help="A coach's email: one report of every athlete with an active grant, read with "
            "the coach's access (no private or Strava data).",
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "trainlytics-report.html"
    ),
    weeks: Annotated[
        int, typer.Option("--weeks", help="How many calendar weeks the report covers.")
    ] = DEFAULT_WEEKS,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Last day of the period (YYYY-MM-DD). Default: today, or the athlete's last "
            "activity when the period would be empty.",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="DATABASE_URL",
            show_envvar=True,
            help="PostgreSQL URL. Default: the embedded server.",
        ),
    ] = None,
) -> None:
    """Write the athlete's report (or a coach's, with --coach): one HTML page that works
    offline (charts included)."""
    with reporting_errors():
        if (user is None) == (coach is None):
            raise TrainlyticsError(
                "give either --user or --coach",
                hint="--user EMAIL for an athlete's report, --coach EMAIL for a coach's",
            )
        url = ready_database_url(database_url)
        if coach is not None:
            with (
                connect(url, autocommit=True) as conn,
                console.status(f"reading {coach}'s athletes"),
            ):
                reports = write_coach_report(
                    conn, coach, output, weeks=weeks, until=parse_day(until)
                )
            console.print(
                f"coach report of [bold]{coach}[/] ({len(reports)} athlete"
                f"{'s' if len(reports) != 1 else ''}) written to",
                soft_wrap=True,
            )
            console.print(str(output.expanduser().resolve()), soft_wrap=True, style="bold green")
            return
        if user is None:  # exactly one of the two, checked above
            return
        with (
            connect(url, autocommit=True) as conn,
            console.status(f"reading {user}'s statistics"),
        ):
            data = write_report(conn, user, output, weeks=weeks, until=parse_day(until))
    sessions = sum(s.activity_count for s in data.sports)
    console.print(
        f"report of [bold]{data.athlete.display_name}[/] ({sessions} sessions, "
        f"{data.period.start} \u2013 {data.period.end}) written to",
        soft_wrap=True,
    )
    console.print(str(output.expanduser().resolve()), soft_wrap=True, style="bold green")
