"""``trainlytics demo``: the main job on the embedded default database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from trainlytics.cli.console import console, reporting_errors
from trainlytics.db.database import connect, redact_url, resolve_database_url
from trainlytics.db.embedded import default_data_dir
from trainlytics.demo import DEMO_ATHLETE_EMAIL, run_demo
from trainlytics.errors import TrainlyticsError


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z")
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)


def demo_command(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="DATABASE_URL",
            show_envvar=True,
            help="PostgreSQL URL. Default: the embedded server (started and stopped for you).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Where to write the athlete's HTML report. Default: demo/report.html in the "
            "Trainlytics data directory.",
        ),
    ] = None,
    sample_dir: Annotated[
        Path | None,
        typer.Option(
            "--sample-dir",
            help="Where to write the generated sample set (Garmin and Strava exports). "
            "Default: demo/sample-set in the Trainlytics data directory.",
        ),
    ] = None,
    weeks: Annotated[
        int, typer.Option("--weeks", help="Weeks of training in the sample set (1-52).")
    ] = 8,
) -> None:
    """Start the embedded database, migrate, create the demo athlete, import a generated
    sample set of activity files from two overlapping sources, compute the statistics, write
    the report and print its path (and the example queries' results)."""
    output = output or default_data_dir() / "demo" / "report.html"
    sample_dir = sample_dir or default_data_dir() / "demo" / "sample-set"
    with reporting_errors():
        if not 1 <= weeks <= 52:
            raise TrainlyticsError(f"--weeks {weeks} is out of range", hint="give 1 to 52")
        if sample_dir.exists() and not sample_dir.is_dir():
            raise TrainlyticsError(
                f"{sample_dir} is not a directory", hint="give a folder for --sample-dir"
            )
        url = resolve_database_url(database_url)
        console.print(f"Database: [bold]{redact_url(url)}[/]", soft_wrap=True)
        with (
            connect(url, autocommit=True) as conn,
            console.status("migrating, importing the sample set, writing the report"),
        ):
            result = run_demo(conn, sample_dir=sample_dir, report_path=output, weeks=weeks)
    console.print(
        f"{result.applied_migrations} migrations applied; demo athlete "
        f"[bold]{DEMO_ATHLETE_EMAIL}[/] ({result.athlete_id})"
    )
    for answer in result.queries:
        table = Table(title=answer.title, title_justify="left")
        for column in answer.columns:
            table.add_column(column)
        for row in answer.rows:
            table.add_row(*(_cell(value) for value in row))
        console.print(table)
        console.print(f"{len(answer.rows)} rows\n", style="dim")
    if result.imported is not None:
        imported = result.imported
        grouped = (
            f"; {imported.groups} workouts recorded by both sources counted once"
            if imported.groups is not None
            else ""
        )
        console.print(
            f"Sample set: {imported.sample_set.garmin_activities} Garmin Connect and "
            f"{imported.sample_set.strava_activities} Strava activities "
            f"({imported.sample_set.shared} shared) in {imported.sample_set.garmin_export.parent}"
            f" — {imported.created} imported, {imported.skipped} already there, "
            f"{imported.failed} failed{grouped}",
            soft_wrap=True,
        )
    if result.report_path is not None:
        console.print(f"Report: [bold]{result.report_path.resolve()}[/]", soft_wrap=True)
