"""``trainlytics tokens``: maintenance of the encrypted OAuth tokens."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trainlytics.cli.console import console, reporting_errors
from trainlytics.cli.readiness import ready_database_url
from trainlytics.config import TOKEN_KEYS_ENV, parse_token_keys
from trainlytics.connections.crypto import TokenCipher
from trainlytics.connections.tokens import rotate_keys
from trainlytics.db.database import connect, redact_url
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore

app = typer.Typer(help="Maintain the encrypted OAuth tokens.", no_args_is_help=True)


@app.command("rotate-key")
def rotate_key_command(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="DATABASE_URL",
            show_envvar=True,
            help="PostgreSQL URL. Default: the embedded server.",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Rows per batch.")
    ] = 500,
) -> None:
    """Re-encrypt every stored token, including those queued for revocation, under the current
    key (the first of TRAINLYTICS_TOKEN_KEYS). Idempotent; keep the old keys configured until
    it has run."""
    with reporting_errors():
        keys, current = parse_token_keys(os.environ.get(TOKEN_KEYS_ENV))
        cipher = TokenCipher(keys, current)
        url = ready_database_url(database_url)
        console.print(
            f"Re-encrypting tokens under key [bold]{current}[/] on {redact_url(url)}",
            soft_wrap=True,
        )
        with connect(url, autocommit=True) as conn:
            store = ConnectionStore(PsycopgGateway(conn))
            progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            )
            task = progress.add_task("re-encrypting", total=None)

            def on_progress(done: int, total: int) -> None:
                if not progress.live.is_started:
                    progress.start()
                progress.update(task, completed=done, total=total)

            try:
                result = rotate_keys(store, cipher, batch_size=batch_size, on_progress=on_progress)
            finally:
                if progress.live.is_started:
                    progress.stop()
        console.print(
            f"{result.reencrypted} re-encrypted, {result.skipped} changed concurrently "
            "(run again to pick them up if needed)",
            style="bold",
        )
        console.print(
            f"{result.revocations} of the re-encrypted rows are tokens of disconnected "
            "connections queued for revocation"
        )
