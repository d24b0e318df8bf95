"""Apply ``supabase/migrations`` the way the Supabase CLI does, on Supabase or plain Postgres.

- Files named ``<version>_<name>.sql`` apply in file-name order, each in ONE transaction: its
  statements one by one, then its row in ``supabase_migrations.schema_migrations`` (``version``,
  ``name``, ``statements``), the CLI's own ledger, so ``supabase migration list`` and this
  runner agree. Applied versions are skipped; a failing file leaves nothing behind.
- On plain Postgres (connected as a superuser to a database without an ``auth`` schema) the
  local compatibility bootstrap ``sql/supabase_compat.sql`` runs first. It is never run where an
  ``auth`` schema exists, i.e. never on a Supabase project.
- Migrations run as a non-superuser owner, as on Supabase, where ``postgres`` is not a
  superuser: connected as a superuser, each transaction does ``set local role
  trainlytics_owner``; connected as a non-superuser, statements run as that role.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from trainlytics import resources
from trainlytics.db.queue_schema import QUEUE_SCHEMA, install_queue_schema, pin_queue_search_path
from trainlytics.db.sql_splitter import split_statements
from trainlytics.errors import MigrationError

if TYPE_CHECKING:
    from trainlytics.importers.timezones import TimezoneRun

__all__ = [
    "BOOTSTRAP_FILE",
    "MIGRATIONS_DIR",
    "OWNER_ROLE",
    "MigrationChangedWarning",
    "MigrationFile",
    "MigrationResult",
    "MigrationStatus",
    "bootstrap_needed",
    "discover_migrations",
    "migrate",
    "pending_versions",
    "run_bootstrap",
    "status",
]

#: The repository root of a checkout (tests and benchmarks read files there).
REPO_ROOT = resources.CHECKOUT_ROOT
#: The migrations and the bootstrap: the checkout's files, or the copies bundled in the wheel.
MIGRATIONS_DIR = resources.migrations_dir()
BOOTSTRAP_FILE = resources.bootstrap_file()
OWNER_ROLE = "trainlytics_owner"
#: The migration that introduced derived time zones (issue 15): applying it derives the zone of
#: every activity stored before it, once (see :func:`migrate`).
TIMEZONES_MIGRATION = "20261205130000"

MIGRATION_FILE_PATTERN = re.compile(r"^([0-9]+)_(.*)\.sql$")

# The Supabase CLI's ledger DDL and insert (supabase/cli pkg/migration/history.go, file.go).
_LEDGER_DDL = (
    "set local lock_timeout = '4s'",
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations"
    " (version text not null primary key)",
    "alter table supabase_migrations.schema_migrations add column if not exists statements text[]",
    "alter table supabase_migrations.schema_migrations add column if not exists name text",
)
_INSERT_VERSION = (
    "insert into supabase_migrations.schema_migrations (version, name, statements)"
    " values (%s, %s, %s)"
)
_SELECT_LEDGER = (
    "select version, coalesce(name, ''), statements"
    " from supabase_migrations.schema_migrations order by version"
)
# Serialises concurrent runners on one database (advisory locks are per database).
_LOCK_KEY = 0x7472_6169_6E6C  # "trainl"

Connection = psycopg.Connection[TupleRow]


class MigrationChangedWarning(UserWarning):
    """An applied migration's file no longer matches what the ledger recorded."""


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path
    statements: list[str] = field(repr=False)

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class MigrationStatus:
    version: str
    name: str
    applied: bool
    file_missing: bool = False
    changed: bool = False

    @property
    def state(self) -> str:
        if self.file_missing:
            return "applied, file missing"
        if self.changed:
            return "applied, file changed since"
        return "applied" if self.applied else "pending"


@dataclass
class MigrationResult:
    applied: list[MigrationFile] = field(default_factory=list)
    skipped: list[MigrationFile] = field(default_factory=list)
    bootstrapped: bool = False
    #: Whether this run installed procrastinate's schema into ``queue``.
    queue_installed: bool = False
    #: The one-time derivation of stored activities' time zones, when this run applied
    #: :data:`TIMEZONES_MIGRATION` (``None`` otherwise).
    timezones: TimezoneRun | None = None


def discover_migrations(directory: Path | None = None) -> list[MigrationFile]:
    """The migration files in ``directory`` (default ``supabase/migrations``), in apply order.

    As in the Supabase CLI, files apply in file-name order (timestamps of equal length make
    that version order) and names not matching ``<digits>_<name>.sql`` are ignored.
    """
    directory = MIGRATIONS_DIR if directory is None else directory
    if not directory.is_dir():
        return []
    found: dict[str, MigrationFile] = {}
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        match = MIGRATION_FILE_PATTERN.match(path.name)
        if match is None or not path.is_file():
            continue
        version, name = match.groups()
        if version in found:
            raise MigrationError(
                f"two migration files share version {version}: "
                f"{found[version].filename} and {path.name}",
                file=path.name,
                hint="give each migration file a unique timestamp",
            )
        statements = split_statements(path.read_text(encoding="utf-8"))
        found[version] = MigrationFile(version, name, path, statements)
    return list(found.values())


def file_versions(directory: Path | None = None) -> list[str]:
    """The versions of the migration files in ``directory``, from their names only (cheap)."""
    directory = MIGRATIONS_DIR if directory is None else directory
    if not directory.is_dir():
        return []
    versions = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        match = MIGRATION_FILE_PATTERN.match(path.name)
        if match is not None and path.is_file():
            versions.append(match.group(1))
    return versions


def pending_versions(conn: Connection, directory: Path | None = None) -> list[str]:
    """Versions of migration files the database's ledger does not record (read-only, cheap:
    no file is parsed). All of them on a database never migrated."""
    row = conn.execute(
        "select to_regclass('supabase_migrations.schema_migrations') is not null"
    ).fetchone()
    applied: set[str] = set()
    if row and row[0]:
        applied = {
            str(version)
            for (version,) in conn.execute(
                "select version from supabase_migrations.schema_migrations"
            ).fetchall()
        }
    return [version for version in file_versions(directory) if version not in applied]


def _is_superuser(conn: Connection) -> bool:
    row = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()
    return bool(row and row[0])


def _has_schema(conn: Connection, schema: str) -> bool:
    row = conn.execute("select exists (select from pg_namespace where nspname = %s)", [schema])
    result = row.fetchone()
    return bool(result and result[0])


def bootstrap_needed(conn: Connection) -> bool:
    """True on plain Postgres: a superuser connection to a database without ``auth``."""
    return _is_superuser(conn) and not _has_schema(conn, "auth")


def _owner_role(conn: Connection) -> str | None:
    """The role to ``set local role`` to before each migration, or None to run as connected.

    A superuser switches to ``trainlytics_owner`` where the bootstrap has set it up in this
    database (the role exists and may create in it); anyone else runs as themselves.
    """
    if not _is_superuser(conn):
        return None
    row = conn.execute(
        "select case when exists (select from pg_roles where rolname = %s)"
        " then has_database_privilege(%s, current_database(), 'create') else false end",
        [OWNER_ROLE, OWNER_ROLE],
    ).fetchone()
    return OWNER_ROLE if row and row[0] else None


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    parts = [f"{diag.sqlstate}: {message}" if diag.sqlstate else message]
    if diag.message_detail:
        parts.append(diag.message_detail)
    return " - ".join(parts)


def _execute_file(
    conn: Connection, label: str, statements: Iterable[str], *, role: str | None
) -> None:
    """Run ``statements`` in the current transaction, naming the failing one on error."""
    if role is not None:
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    for number, statement in enumerate(statements, start=1):
        try:
            conn.execute(statement.encode())
        except psycopg.Error as exc:
            first_line = statement.strip().splitlines()[0] if statement.strip() else ""
            raise MigrationError(
                f"{label} failed at statement {number} ({first_line[:80]}): {_describe(exc)}",
                file=label,
                statement_number=number,
                statement=statement,
                hint="the file was rolled back; fix it and run the migrations again",
            ) from exc


def run_bootstrap(conn: Connection, bootstrap_file: Path | None = None) -> None:
    """Run the plain-Postgres compatibility bootstrap in one transaction."""
    path = BOOTSTRAP_FILE if bootstrap_file is None else bootstrap_file
    with conn.transaction():
        _execute_file(
            conn, path.name, split_statements(path.read_text(encoding="utf-8")), role=None
        )
    # The bootstrap sets the database's search_path for new sessions (as Supabase sets it for
    # postgres); give this session the same one so the first run behaves like later runs.
    conn.execute("""select set_config('search_path', '"$user", public, extensions', false)""")


def _ensure_ledger(conn: Connection, role: str | None) -> None:
    with conn.transaction():
        _execute_file(conn, "supabase_migrations ledger", _LEDGER_DDL, role=role)


def _read_ledger(conn: Connection) -> dict[str, tuple[str, list[str] | None]]:
    exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations')")
    row = exists.fetchone()
    if row is None or row[0] is None:
        return {}
    return {
        version: (name, statements)
        for version, name, statements in conn.execute(_SELECT_LEDGER).fetchall()
    }


def _migrate_locked(
    conn: Connection,
    migrations: list[MigrationFile],
    result: MigrationResult,
    bootstrap_file: Path | None,
    on_bootstrap: Callable[[], None] | None,
    on_start: Callable[[list[MigrationFile]], None] | None,
    on_applied: Callable[[MigrationFile], None] | None,
) -> None:
    if bootstrap_needed(conn):
        run_bootstrap(conn, bootstrap_file)
        result.bootstrapped = True
        if on_bootstrap is not None:
            on_bootstrap()
    role = _owner_role(conn)
    _ensure_ledger(conn, role)
    ledger = _read_ledger(conn)
    pending: list[MigrationFile] = []
    for migration in migrations:
        recorded = ledger.get(migration.version)
        if recorded is None:
            pending.append(migration)
            continue
        result.skipped.append(migration)
        if recorded[1] is not None and recorded[1] != migration.statements:
            warnings.warn(
                f"{migration.filename} changed after it was applied; it is not re-applied "
                "(write a new migration instead)",
                MigrationChangedWarning,
                stacklevel=3,
            )
    if on_start is not None:
        on_start(pending)
    for migration in pending:
        with conn.transaction():
            _execute_file(conn, migration.filename, migration.statements, role=role)
            conn.execute(_INSERT_VERSION, [migration.version, migration.name, migration.statements])
        result.applied.append(migration)
        if on_applied is not None:
            on_applied(migration)
    if _has_schema(conn, QUEUE_SCHEMA):
        result.queue_installed = install_queue_schema(conn, role=role)
        # Queues installed before their functions' search_path was pinned get it now.
        with conn.transaction():
            if role is not None:
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            pin_queue_search_path(conn)


def _timezones_due(conn: Connection, result: MigrationResult) -> bool:
    """Derive now? When this run applied the zones migration; or when it was applied before
    (e.g. by ``supabase db push``, which knows nothing of the derivation) and some stored
    activity can still get a zone."""
    if any(m.version == TIMEZONES_MIGRATION for m in result.applied):
        return True
    if not any(m.version == TIMEZONES_MIGRATION for m in result.skipped):
        return False
    from trainlytics.db.gateway import PsycopgGateway
    from trainlytics.db.ingest import timezone_candidates
    from trainlytics.errors import GatewayError

    try:
        rows = timezone_candidates(PsycopgGateway(conn, role="service_role"), limit=1)
    except GatewayError as exc:
        if exc.code == "42501":  # a login that may not act as the workers
            return False
        raise
    return bool(rows)


def derive_all_timezones(conn: Connection) -> TimezoneRun:
    """Give every stored activity without a zone the zone of its start position, else its
    athlete's preferred zone (:func:`trainlytics.importers.timezones.derive_timezones` over
    everyone, as ``service_role``). Idempotent."""
    from trainlytics.db.gateway import PsycopgGateway
    from trainlytics.importers.timezones import derive_timezones

    return derive_timezones(PsycopgGateway(conn, role="service_role"))


def migrate(
    conn: Connection,
    migrations_dir: Path | None = None,
    *,
    bootstrap_file: Path | None = None,
    on_bootstrap: Callable[[], None] | None = None,
    on_start: Callable[[list[MigrationFile]], None] | None = None,
    on_applied: Callable[[MigrationFile], None] | None = None,
    derive_timezones: Callable[[Connection], TimezoneRun] = derive_all_timezones,
) -> MigrationResult:
    """Bootstrap when needed, then apply every pending migration, each in one transaction.

    ``on_bootstrap`` is called after the bootstrap ran, ``on_start`` receives the pending files
    before the first one runs, ``on_applied`` each file once committed (the CLI draws its
    progress bar with them). Raises :class:`MigrationError` naming the file and statement on
    failure; migrations committed before it stay applied.

    When this run applied :data:`TIMEZONES_MIGRATION` (the migration that introduced derived
    time zones), or it was applied before (``supabase db push``) and a stored activity can
    still get a zone, ``derive_timezones`` then runs over every stored activity (default
    :func:`derive_all_timezones`; the CLI passes one with a progress bar) and its result is
    ``result.timezones``. Every migration path goes through here — ``trainlytics db migrate``,
    the embedded database's automatic migration, the demo — so none of them skips it.
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    migrations = discover_migrations(migrations_dir)
    result = MigrationResult()
    # Autocommit, so that every `with conn.transaction()` below is a real BEGIN ... COMMIT.
    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("select pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            _migrate_locked(
                conn, migrations, result, bootstrap_file, on_bootstrap, on_start, on_applied
            )
            if _timezones_due(conn, result):
                result.timezones = derive_timezones(conn)
        finally:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            conn.execute("select pg_advisory_unlock(%s)", [_LOCK_KEY])
    finally:
        conn.autocommit = was_autocommit
    return result


def status(conn: Connection, migrations_dir: Path | None = None) -> list[MigrationStatus]:
    """Every migration known to the files or the ledger, in version order. Read-only."""
    files = {m.version: m for m in discover_migrations(migrations_dir)}
    ledger = _read_ledger(conn)
    if not conn.autocommit:
        conn.rollback()
    rows: list[MigrationStatus] = []
    for version in sorted(files.keys() | ledger.keys()):
        migration = files.get(version)
        recorded = ledger.get(version)
        if migration is None:
            assert recorded is not None  # noqa: S101 - the version came from one of the two
            rows.append(MigrationStatus(version, recorded[0], applied=True, file_missing=True))
        elif recorded is None:
            rows.append(MigrationStatus(version, migration.name, applied=False))
        else:
            changed = recorded[1] is not None and recorded[1] != migration.statements
            rows.append(MigrationStatus(version, migration.name, applied=True, changed=changed))
    return rows
