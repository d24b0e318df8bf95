"""``trainlytics db``: apply and inspect the database migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import psycopg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from trainlytics.cli.console import console, reporting_errors
from trainlytics.db import migrations
from trainlytics.db.database import connect, redact_url, resolve_database_url
from trainlytics.errors import MigrationError

if TYPE_CHECKING:
    from trainlytics.importers.timezones import TimezoneRun

app = typer.Typer(help="Apply and inspect the database migrations.", no_args_is_help=True)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        show_envvar=True,
        help="PostgreSQL URL (e.g. a Supabase direct connection string). "
        "Default: the embedded server.",
    ),
]
MigrationsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--migrations-dir",
        file_okay=False,
        help="Directory of <version>_<name>.sql files. Default: supabase/migrations.",
    ),
]


def _require_files(migrations_dir: Path | None) -> None:
    """No migration file at all is an installation problem, not "0 pending": say so."""
    if not migrations.file_versions(migrations_dir):
        where = migrations_dir or migrations.MIGRATIONS_DIR
        raise MigrationError(
            f"no migration files (<version>_<name>.sql) in {where}",
            file=str(where),
            hint="check --migrations-dir; an installed trainlytics carries its migrations "
            "(reinstall it if they are missing)",
        )


@app.command("migrate")
def migrate_command(
    database_url: DatabaseUrlOption = None,
    migrations_dir: MigrationsDirOption = None,
) -> None:
    """Apply pending migrations, each file in one transaction (bootstrapping plain Postgres)."""
    with reporting_errors():
        _require_files(migrations_dir)
        url = resolve_database_url(database_url)
        console.print(f"Migrating [bold]{redact_url(url)}[/]", soft_wrap=True)
        with connect(url, autocommit=True) as conn:
            progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            )
            task = progress.add_task("applying", total=0)

            def on_bootstrap() -> None:
                console.print("  [cyan]bootstrapped[/] the local Supabase compatibility layer")

            def on_start(pending: list[migrations.MigrationFile]) -> None:
                progress.update(task, total=len(pending))
                if pending:
                    progress.start()

            def on_applied(migration: migrations.MigrationFile) -> None:
                progress.console.print(f"  [green]applied[/] {migration.filename}")
                progress.advance(task)

            def derive_timezones(conn: psycopg.Connection[Any]) -> TimezoneRun:
                if progress.live.is_started:
                    progress.stop()  # one live display at a time: the zones draw their own
                return _derive_all_timezones(conn)

            try:
                result = migrations.migrate(
                    conn,
                    migrations_dir,
                    on_bootstrap=on_bootstrap,
                    on_start=on_start,
                    on_applied=on_applied,
                    derive_timezones=derive_timezones,
                )
            finally:
                if progress.live.is_started:
                    progress.stop()
        if result.queue_installed:
            console.print("  [green]installed[/] the job queue (procrastinate) in schema queue")
        console.print(
            f"{len(result.applied)} applied, {len(result.skipped)} already applied",
            style="bold",
        )
        if result.timezones is not None:
            _report_timezones(result.timezones)


def _derive_all_timezones(conn: psycopg.Connection[Any]) -> TimezoneRun:
    """:func:`trainlytics.db.migrations.derive_all_timezones` with a progress bar."""
    from trainlytics.db.gateway import PsycopgGateway
    from trainlytics.importers.timezones import derive_timezones

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[updated]} zoned"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("deriving time zones", total=None, updated=0)
        run = derive_timezones(
            PsycopgGateway(conn, role="service_role"),
            on_batch=lambda r: progress.update(task, advance=0, updated=r.updated),
        )
    return run


def _report_timezones(run: TimezoneRun) -> None:
    console.print(
        f"time zones: {run.examined} activities without a zone examined, {run.updated} given "
        "the zone of their start position or the athlete's preference",
        style="bold",
    )
    if run.unknown_zones:
        console.print(
            f"  [yellow]zones this server does not know:[/] {', '.join(sorted(run.unknown_zones))}"
        )


@app.command("timezones")
def timezones_command(database_url: DatabaseUrlOption = None) -> None:
    """Give every stored activity without a time zone the IANA zone of its start position
    (offline lookup), else its athlete's preferences.timezone; rollups follow. Idempotent."""
    with reporting_errors():
        url = resolve_database_url(database_url)
        console.print(f"Deriving time zones on [bold]{redact_url(url)}[/]", soft_wrap=True)
        with connect(url, autocommit=True) as conn:
            _report_timezones(_derive_all_timezones(conn))


@app.command("status")
def status_command(
    database_url: DatabaseUrlOption = None,
    migrations_dir: MigrationsDirOption = None,
) -> None:
    """List migrations and whether each is applied (read-only)."""
    with reporting_errors():
        _require_files(migrations_dir)
        url = resolve_database_url(database_url)
        with connect(url, autocommit=True) as conn:
            rows = migrations.status(conn, migrations_dir)
    console.print(f"Migrations on [bold]{redact_url(url)}[/]", soft_wrap=True)
    table = Table()
    table.add_column("version")
    table.add_column("name")
    table.add_column("state")
    styles = {"applied": "green", "pending": "yellow"}
    for row in rows:
        table.add_row(row.version, row.name, row.state, style=styles.get(row.state, "red"))
    console.print(table)
    pending = sum(not row.applied for row in rows)
    console.print(f"{len(rows) - pending} applied, {pending} pending")
