"""``trainlytics demo``: the main job on the embedded default database."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from trainlytics.console import console, reporting_errors
from trainlytics.database import connect, redact_url, resolve_database_url
from trainlytics.demo import DEMO_ATHLETE_EMAIL, run_demo


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
) -> None:
    """Migrate the database, load the demo athlete, print the example queries' results."""
    with reporting_errors():
        url = resolve_database_url(database_url)
        console.print(f"Database: [bold]{redact_url(url)}[/]", soft_wrap=True)
        with (
            connect(url, autocommit=True) as conn,
            console.status("migrating and loading the demo data"),
        ):
            result = run_demo(conn)
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
