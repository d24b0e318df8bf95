"""Real-PostgreSQL test harness.

- ``server_url``: ``$TRAINLYTICS_TEST_DATABASE_URL`` (a superuser URL of any server, e.g. the
  machine's PostgreSQL 15) or, when unset, an embedded server in a temporary directory.
- ``database_url``: a throwaway database on that server, bootstrapped and migrated by the
  project's own runner (so objects belong to the non-superuser ``trainlytics_owner``).
- ``db``: a superuser connection to it, inside a transaction rolled back after each test.
- ``make_database``: creates further empty throwaway databases (dropped at teardown).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from trainlytics.db import migrations
from trainlytics.db.embedded import start_embedded, stop_embedded

TEST_DATABASE_URL_ENV = "TRAINLYTICS_TEST_DATABASE_URL"
TEST_DATABASE_PREFIX = "trainlytics_test_"
# Bootstrapping touches cluster-wide roles: serialise it across concurrent test runs.
_BOOTSTRAP_LOCK = 0x7472_6169_6E74  # arbitrary, "traint"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A superuser URL of the server the tests create their databases on."""
    configured = os.environ.get(TEST_DATABASE_URL_ENV)
    if configured:
        yield configured
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-test-pg-"))
    try:
        yield start_embedded(data_dir, cleanup_mode="delete")
    finally:
        stop_embedded(data_dir)  # stops the server and deletes <data_dir>/postgres
        shutil.rmtree(data_dir, ignore_errors=True)


def database_url_for(server: str, dbname: str) -> str:
    return make_conninfo(server, dbname=dbname)


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """Create an empty database with a unique name, yield its URL, and always drop it."""
    name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield database_url_for(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@contextmanager
def cluster_lock(server: str) -> Iterator[None]:
    """Hold an advisory lock in the server's maintenance database (one bootstrap at a time)."""
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute("select pg_advisory_lock(%s)", [_BOOTSTRAP_LOCK])
        try:
            yield
        finally:
            admin.execute("select pg_advisory_unlock(%s)", [_BOOTSTRAP_LOCK])


def migrate_database(
    url: str, server: str, migrations_dir: Path | None = None
) -> migrations.MigrationResult:
    """Bootstrap (if needed) and migrate the database at ``url`` with the project's runner."""
    with cluster_lock(server), psycopg.connect(url, autocommit=True) as conn:
        return migrations.migrate(conn, migrations_dir)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A throwaway database with the bootstrap and every repo migration applied."""
    with throwaway_database(server_url) as url:
        migrate_database(url, server_url)
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """A superuser connection inside a transaction that is rolled back after the test."""
    conn = psycopg.connect(database_url, autocommit=False)
    # Open the outer transaction now: a test's first `with conn.transaction()` then becomes a
    # savepoint inside it instead of a transaction of its own that would commit.
    conn.execute("select 1")
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def make_database(server_url: str) -> Iterator[Callable[[], str]]:
    """Factory of empty throwaway databases on the test server, all dropped afterwards."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(throwaway_database(server_url))
