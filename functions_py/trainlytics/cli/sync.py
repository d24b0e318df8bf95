"""``trainlytics sync``: synchronise one connection now, with a progress bar.

The connection is named by id, or by ``--user <email> --provider <name>``. The run is the
same as a worker's (``trainlytics.sync.engine.SyncEngine``): recorded in ``sync_history``,
resumable, one at a time per connection (a run already in progress is reported, not doubled).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.worker import build_runtime
from trainlytics.db.lookups import connection_exists, connection_id_for, user_id_by_email
from trainlytics.errors import TrainlyticsError, UnknownProviderError
from trainlytics.providers import PROVIDER_CLASSES
from trainlytics.sync.engine import SyncProgress

__all__ = ["sync_command"]

TRIGGERS = ("initial", "scheduled", "webhook", "manual", "retry")


def sync_command(
    connection_id: Annotated[
        int | None, typer.Argument(help="The connection's id (provider_connections.id).")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="The athlete's email (with --provider).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="The provider (with --user).")
    ] = None,
    trigger: Annotated[
        str, typer.Option("--trigger", help="Recorded reason: " + ", ".join(TRIGGERS) + ".")
    ] = "manual",
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
    """Synchronise one connection now and show its progress."""
    with reporting_errors():
        if trigger not in TRIGGERS:
            raise TrainlyticsError(
                f"unknown trigger {trigger!r}", hint="one of " + ", ".join(TRIGGERS)
            )
        if (connection_id is None) == (user is None or provider is None):
            raise TrainlyticsError(
                "name the connection by id, or by --user and --provider",
                hint="e.g. trainlytics sync 42, or trainlytics sync --user a@b.c --provider strava",
            )
        if provider is not None and provider not in PROVIDER_CLASSES:
            raise UnknownProviderError(provider, PROVIDER_CLASSES)
        runtime = build_runtime(database_url, pool_size=2)
        try:
            with runtime.pool.connection() as conn:
                if connection_id is None:
                    if user is None or provider is None:  # excluded above; for mypy
                        raise TrainlyticsError("name the connection by --user and --provider")
                    if user_id_by_email(conn, user) is None:
                        raise TrainlyticsError(
                            f"no user has the email {user}", hint="check the email"
                        )
                    found = connection_id_for(conn, user, provider)
                    if found is None:
                        raise TrainlyticsError(
                            f"{user} has no {provider} connection",
                            hint="connect it first, or check the provider name",
                        )
                    connection_id = found
                elif not connection_exists(conn, connection_id):
                    raise TrainlyticsError(
                        f"connection {connection_id} does not exist",
                        hint="name it by --user and --provider, or check the id",
                    )
            # The operator's own configuration first, before any progress is drawn.
            runtime.engine.check_configuration(connection_id)
            progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("windows · {task.fields[detail]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            task = progress.add_task(f"connection {connection_id}", total=None, detail="starting")

            def on_progress(update: SyncProgress) -> None:
                progress.update(
                    task,
                    completed=update.windows_done,
                    total=update.windows_total,
                    detail=(
                        f"{update.pages} pages, {update.fetched} fetched, {update.created} new, "
                        f"{update.updated} updated, {update.deleted} deleted"
                    ),
                )

            with progress:
                outcome = runtime.engine.run(connection_id, trigger, progress=on_progress)
                if outcome.status != "skipped":
                    progress.update(task, completed=progress.tasks[0].total or 0)
        finally:
            runtime.close()
        if outcome.status == "skipped":
            console.print(f"Nothing to do: {outcome.error}", style="yellow")
            return
        console.print(
            f"{outcome.provider} sync {outcome.sync_id}: [bold]{outcome.status}[/] — "
            f"{outcome.fetched} fetched, {outcome.created} created, {outcome.updated} updated, "
            f"{outcome.skipped} skipped, {outcome.deleted} deleted, {outcome.api_calls} API calls",
            soft_wrap=True,
        )
