"""``trainlytics import``: FIT, GPX and TCX files and Strava / Garmin Connect exports.

Every path is read (a corrupt or unsupported file gets one red line and the others go on),
the activities go through the same SQL ingest as provider data
(``public.ingest_file_activities``: idempotent by content hash, grouped with provider copies
of the same workout), and a summary closes the run. Exit code 1 when any file failed.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trainlytics.cli.console import console, err_console, reporting_errors
from trainlytics.cli.readiness import ready_database_url
from trainlytics.db.database import connect, redact_url
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.lookups import user_id_by_email
from trainlytics.errors import TrainlyticsError
from trainlytics.importers import FileIngest, ParsedActivity, count_work, read_path

__all__ = ["ImportRun", "import_command", "import_paths", "user_id_for_email"]


def user_id_for_email(conn: psycopg.Connection[Any], email: str) -> uuid.UUID:
    user_id = user_id_by_email(conn, email.strip())
    if user_id is None:
        raise TrainlyticsError(
            f"no user with email {email.strip()}",
            hint="check the address, or create the user with `trainlytics users create`",
        )
    return user_id


class ImportRun:
    """Counts of one import run."""

    def __init__(self) -> None:
        self.read = 0
        self.failed = 0
        self.created = 0
        self.skipped = 0
        self.rejected = 0


#: Activities read before they are handed to the database (each holds its streams in memory).
INGEST_CHUNK = 100


def import_paths(
    conn: psycopg.Connection[Any],
    user_id: uuid.UUID,
    paths: list[Path],
    *,
    progress: Progress | None = None,
) -> ImportRun:
    """Read ``paths`` and ingest their activities for ``user_id``; errors are printed."""
    run = ImportRun()
    ingest = FileIngest(PsycopgGateway(conn, role="service_role"))
    task = None
    if progress is not None:
        task = progress.add_task("reading", total=sum(count_work(p) for p in paths))

    def flush(activities: list[ParsedActivity], path: Path) -> None:
        summary = ingest.ingest(user_id, activities)
        run.created += summary.created
        run.skipped += summary.skipped
        run.rejected += len(summary.errors)
        for error in summary.errors:
            item = activities[int(error["index"])]
            run.failed += 1
            err_console.print(
                f"[bold red]error:[/] [red]{escape(item.file_name or path.name)}: "
                f"{escape(str(error['reason']))}[/]",
                soft_wrap=True,
            )
        activities.clear()

    for path in paths:
        activities: list[ParsedActivity] = []
        for outcome in read_path(path):
            if outcome.activity is not None:
                activities.append(outcome.activity)
                run.read += 1
                # Ingested as they come: a whole export's streams would not fit in memory.
                if len(activities) >= INGEST_CHUNK:
                    flush(activities, path)
            elif outcome.error is not None:
                run.failed += 1
                line = f"[bold red]error:[/] [red]{escape(outcome.error.message)}[/]"
                if outcome.error.hint:
                    line += f" [dim]— hint: {escape(outcome.error.hint)}[/]"
                (progress.console if progress is not None else err_console).print(
                    line, soft_wrap=True
                )
            if progress is not None and task is not None:
                progress.update(task, description=f"reading {path.name}")
                if path.is_dir():
                    progress.advance(task)
        if progress is not None and task is not None and not path.is_dir():
            progress.advance(task)
        if activities:
            flush(activities, path)
    return run


def import_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Activity files (.fit, .gpx, .tcx, optionally .gz), Strava bulk export or "
            "Garmin Connect export archives (.zip or unpacked folder), or folders of files."
        ),
    ],
    user: Annotated[str, typer.Option("--user", help="The athlete's email.")],
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
    """Import activity files and account exports for an athlete (re-imports add nothing)."""
    with reporting_errors():
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise TrainlyticsError(
                f"no such file or folder: {missing[0]}",
                hint="check the path (files, folders and .zip exports are accepted)",
            )
        url = ready_database_url(database_url)
        with connect(url, autocommit=True) as conn:
            user_id = user_id_for_email(conn, user)
            console.print(
                f"Importing for [bold]{escape(user.strip())}[/] into {redact_url(url)}",
                soft_wrap=True,
            )
            progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            with progress:
                run = import_paths(conn, user_id, paths, progress=progress)
    style = "bold red" if run.failed else "bold green"
    console.print(
        f"{run.read} activities read, {run.created} imported, {run.skipped} already there, "
        f"{run.failed} failed",
        style=style,
    )
    if run.failed:
        raise typer.Exit(code=1)
