"""``trainlytics report``: write an athlete's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.readiness import ready_database_url
from trainlytics.db.database import connect
from trainlytics.report import DEFAULT_WEEKS, write_report
from trainlytics.report.data import parse_day

__all__ = ["report_command"]


def report_command(
    user: Annotated[str, typer.Option("--user", help="The athlete's email.")],
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
    """Write the athlete's report: one HTML page that works offline (charts included)."""
    with reporting_errors():
        url = ready_database_url(database_url)
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
