"""Is the database ready for a command? One line saying what to do when it is not.

Every command that reads or writes application data calls :func:`ready_database_url` first:

- On the embedded database (no ``--database-url`` / ``DATABASE_URL``), pending migrations are
  applied on the spot (with one dim line on stderr): a first ``trainlytics stats`` just works.
- On any other database, pending migrations (or, for the worker and ``sync``, a missing job
  queue) are a :class:`DatabaseNotReadyError` naming what is missing and how to fix it — never a
  traceback from the first missing table. The database is never migrated behind the operator's
  back: a Supabase project is migrated by whoever deploys it.
"""

from __future__ import annotations

import psycopg

from trainlytics.cli.console import err_console
from trainlytics.db import migrations
from trainlytics.db.database import connect, redact_url, resolve_database_url
from trainlytics.db.embedded import is_embedded_url
from trainlytics.db.queue_schema import queue_schema_installed
from trainlytics.errors import DatabaseNotReadyError

__all__ = ["check_ready", "ready_database_url"]

MIGRATE_HINT = "run `trainlytics db migrate` (or `supabase db push`), then try again"


def check_ready(url: str, *, queue: bool = False, migrate_embedded: bool | None = None) -> None:
    """Raise :class:`DatabaseNotReadyError` unless ``url`` is migrated (and has the job queue
    when ``queue``). The embedded server (``migrate_embedded`` None: detected) is migrated
    instead."""
    embedded = is_embedded_url(url) if migrate_embedded is None else migrate_embedded
    with connect(url, autocommit=True) as conn:
        try:
            pending = migrations.pending_versions(conn)
        except psycopg.errors.InsufficientPrivilege:
            return  # this login may not read the ledger: the command itself will tell
        total = len(migrations.file_versions())
        if total == 0:
            raise DatabaseNotReadyError(
                f"no migration files found in {migrations.MIGRATIONS_DIR}",
                hint="reinstall trainlytics: its wheel carries the migrations",
            )
        missing_queue = queue and not queue_schema_installed(conn)
        if not pending and not missing_queue:
            return
        if embedded:
            what = f"{len(pending)} pending migration(s)" if pending else "the job queue"
            err_console.print(f"[dim]embedded database: applying {what}…[/]")
            migrations.migrate(conn)
            return
        where = redact_url(url)
        if len(pending) == total:
            raise DatabaseNotReadyError(
                f"the database {where} is not migrated (none of the {total} migrations applied)",
                hint=MIGRATE_HINT,
            )
        if pending:
            raise DatabaseNotReadyError(
                f"the database {where} is behind this trainlytics: {len(pending)} of {total} "
                f"migrations pending (first {pending[0]})",
                hint=MIGRATE_HINT,
            )
        raise DatabaseNotReadyError(
            f"the job queue (schema queue) is not installed on {where}",
            hint="run `trainlytics db migrate` once: it installs the queue, also where the "
            "Supabase CLI pushed the migrations",
        )


def ready_database_url(explicit: str | None = None, *, queue: bool = False) -> str:
    """Resolve the database like every command (``explicit``, ``$DATABASE_URL``, or the embedded
    server), check it with :func:`check_ready`, and return its URL."""
    url = resolve_database_url(explicit)
    check_ready(url, queue=queue)
    return url
