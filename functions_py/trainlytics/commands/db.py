"""``trainlytics db``: apply and inspect the database migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from trainlytics import migrations
from trainlytics.console import console, reporting_errors
from trainlytics.database import connect, redact_url, resolve_database_url
from trainlytics.errors import MigrationError

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

            try:
                result = migrations.migrate(
                    conn,
                    migrations_dir,
                    on_bootstrap=on_bootstrap,
                    on_start=on_start,
                    on_applied=on_applied,
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
