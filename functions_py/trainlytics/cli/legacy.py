"""``trainlytics legacy import``: move a Trainlytics v1 installation into v2.

See :mod:`trainlytics.legacy.importer` for what is carried and how. The command reads the v1
database named by ``--from`` (only read), writes into the v2 database (``--database-url`` /
``DATABASE_URL`` / the embedded server), shows a progress bar, prints the closing report per
table and writes it as JSON (``--report``). Exit code 1 when a user failed or the run stopped.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from trainlytics.cli.console import console, err_console, reporting_errors
from trainlytics.config import TOKEN_KEYS_ENV, parse_token_keys
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.database import redact_url, resolve_database_url
from trainlytics.errors import TrainlyticsError
from trainlytics.legacy.auth_users import AdminApiAuthUsers, LocalAuthUsers
from trainlytics.legacy.importer import LegacyImporter, LegacyReport

__all__ = ["app", "make_http_client", "print_report"]

app = typer.Typer(help="Bring a Trainlytics v1 installation across.", no_args_is_help=True)

AUTH_MODES = ("auto", "database", "admin-api")


def make_http_client() -> httpx.Client:
    """The HTTP client that talks to Supabase Auth's admin API (tests replace it)."""
    return httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))


def print_report(report: LegacyReport) -> None:
    """The closing report: one line per v1 table, then what needs a person's attention."""
    title = "Legacy import" + (" (dry run: nothing was kept)" if report.dry_run else "")
    table = Table(title=title, title_justify="left")
    table.add_column("v1 table", no_wrap=True)
    for column in ("read", "created", "already there", "skipped"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, counts in report.tables.items():
        table.add_row(
            name,
            str(counts.read),
            str(counts.created),
            str(counts.already_there),
            str(counts.skipped_total),
        )
    console.print(table)
    for name, counts in report.tables.items():
        for reason, count in counts.skipped.most_common():
            console.print(f"  {name}: {count} skipped — {escape(reason)}", soft_wrap=True)
    labels = {
        "email_collisions": "v1 users whose emails collide (one imported each, none merged)",
        "roles_mapped": "roles read from non-canonical v1 values",
        "preferences_kept_verbatim": "preferences kept verbatim under legacy_v1_preferences",
        "connection_choices": "users with several v1 Strava connections (newest usable kept)",
        "connections_revoked": "Strava connections imported as revoked (athlete must reconnect)",
        "passwords_not_carried": "users whose v1 password hash is not bcrypt (must reset)",
        "activities_rebuilt_from_columns": "activities whose raw_data was unusable",
        "workouts": "workouts imported without their coach or activity",
        "failures": "users that failed (nothing of them imported)",
    }
    for kind, label in labels.items():
        entries = report.notes.get(kind)
        if entries:
            console.print(f"  {len(entries)} {label}")


@app.command("import")
def import_command(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="The v1 database URL (postgresql://...). It is only read.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Do everything, then roll each user back: report what would happen."
        ),
    ] = False,
    report_path: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Where to write the JSON report. Default: legacy-import-<UTC time>.json here.",
        ),
    ] = None,
    auth_mode: Annotated[
        str,
        typer.Option(
            "--auth",
            help="How auth users are created: database (insert as Supabase Auth does; needs a "
            "login that may write auth.users, e.g. the embedded server's), admin-api (a "
            "Supabase project's Auth admin API: SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY), "
            "or auto (admin-api when both are set).",
        ),
    ] = "auto",
    batch_users: Annotated[
        int, typer.Option("--batch-users", min=1, max=10_000, help="v1 users read at a time.")
    ] = 50,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="DATABASE_URL",
            show_envvar=True,
            help="The v2 database. Default: the embedded server.",
        ),
    ] = None,
) -> None:
    """Import every v1 user, Strava connection, activity and workout (idempotent, resumable)."""
    importer: LegacyImporter | None = None
    progress: Progress | None = None
    with reporting_errors():
        if auth_mode not in AUTH_MODES:
            raise TrainlyticsError(
                f"unknown --auth {auth_mode!r}", hint="one of " + ", ".join(AUTH_MODES)
            )
        supabase_url = os.environ.get("SUPABASE_URL", "").strip()
        service_key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY", "").strip()
        if auth_mode == "auto":
            auth_mode = "admin-api" if supabase_url and service_key else "database"
        keys_value = os.environ.get(TOKEN_KEYS_ENV)
        cipher = None
        if keys_value and keys_value.strip():
            keys, current = parse_token_keys(keys_value)
            cipher = TokenCipher(keys, current)
        elif not dry_run:
            raise TrainlyticsError(
                f"{TOKEN_KEYS_ENV} is not set: the v1 Strava tokens cannot be encrypted",
                hint="export the same token keys as the v2 functions use",
            )
        target = resolve_database_url(database_url)
        http: httpx.Client | None = None
        auth: LocalAuthUsers | AdminApiAuthUsers
        if auth_mode == "admin-api":
            if not supabase_url or not service_key:
                raise TrainlyticsError(
                    "--auth admin-api needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY",
                    hint="export the project URL and its service role key",
                )
            http = make_http_client()
            auth = AdminApiAuthUsers(http, supabase_url, service_key)
        else:
            auth = LocalAuthUsers()
        path = report_path or Path(
            f"legacy-import-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        )
        console.print(
            f"Importing Trainlytics v1 from {redact_url(source)} into {redact_url(target)} "
            f"(auth users: {auth_mode}{', dry run' if dry_run else ''})",
            soft_wrap=True,
        )
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        tasks: dict[str, TaskID] = {}

        def on_plan(users: int, activities: int) -> None:
            tasks["users"] = progress.add_task("users", total=users)
            tasks["activities"] = progress.add_task("activities", total=activities)
            progress.start()

        def on_user(_v1_id: int, activities: int) -> None:
            progress.advance(tasks["users"])
            progress.advance(tasks["activities"], activities)

        importer = LegacyImporter(
            source,
            target,
            auth=auth,
            cipher=cipher,
            dry_run=dry_run,
            batch_users=batch_users,
            on_plan=on_plan,
            on_user=on_user,
        )
        try:
            importer.run()
        finally:
            progress.stop()
            if http is not None:
                http.close()
            if tasks:  # planned: the report means something, even when interrupted
                path.write_bytes(importer.report.to_json())
                print_report(importer.report)
                console.print(f"report written to {escape(str(path))}", soft_wrap=True)
    report = importer.report
    if report.notes.get("failures"):
        err_console.print(
            f"[bold red]error:[/] [red]{len(report.notes['failures'])} v1 user(s) failed and were "
            "not imported[/] [dim]— hint: see failures in the report; fix and run again (users "
            "already imported are skipped)[/]",
            soft_wrap=True,
        )
        raise typer.Exit(code=1)
