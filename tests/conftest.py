"""Real-PostgreSQL test harness.

- ``server_url``: ``$TRAINLYTICS_TEST_DATABASE_URL`` (a superuser URL of any server, e.g. the
  machine's PostgreSQL 15) or, when unset, an embedded server in a temporary directory.
- ``database_url``: a throwaway database on that server, bootstrapped and migrated by the
  project's own runner (so objects belong to the non-superuser ``trainlytics_owner``).
- ``db``: a superuser connection to it, inside a transaction rolled back after each test.
- ``module_db`` and :func:`rolled_back`: one connection for a whole module, whose world is built
  once and each test run in a savepoint rolled back afterwards (see tests/db/test_rls_matrix.py).
- ``make_database``: creates further empty throwaway databases (dropped at teardown);
  ``make_migrated_database``: migrated ones (see :func:`migrated_database`).

Under pytest-xdist every worker is a session of its own: its own embedded server (or, with
``TRAINLYTICS_TEST_DATABASE_URL``, its own uniquely named databases on the shared one).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from tests import hypothesis_profiles
from tests.databases import (
    TEST_DATABASE_PREFIX,
    cluster_lock,
    database_url_for,
    drop_templates,
    migrate_database,
    migrated_database,
    rolled_back,
    throwaway_database,
)
from trainlytics.db.embedded import start_embedded, stop_embedded

__all__ = [  # re-exported: tests import these from tests.conftest
    "TEST_DATABASE_PREFIX",
    "cluster_lock",
    "database_url_for",
    "hypothesis_profiles",
    "migrate_database",
    "migrated_database",
    "rolled_back",
    "throwaway_database",
]

TEST_DATABASE_URL_ENV = "TRAINLYTICS_TEST_DATABASE_URL"

#: The tests `make test-fast` leaves out (marked ``slow`` here, in one place, rather than in each
#: file): a real browser, the real Supabase CLI, processes starting an embedded server of their
#: own, a worker killed mid-sync, the real-device corpus. `make test` and CI run them all.
SLOW = (
    "tests/report/test_report_browser.py",
    "tests/supabase_cli/",
    "tests/test_embedded.py",
    "tests/cli/test_first_run.py::test_serve_runs_on_the_embedded_database",
    "tests/cli/test_first_run.py::test_the_embedded_database_migrates_itself_on_first_use",
    "tests/sync/test_faults.py::test_worker_killed_mid_sync",
    "tests/importers/test_corpus.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
        # pytest-xdist `--dist loadgroup`: a directory's tests run on one worker, in the order
        # a serial run gives them (their session-scoped databases are built once, and tests
        # sharing one see each other's commits as before); files at the top are groups alone.
        top = item.nodeid.split("::", 1)[0].split("/")
        item.add_marker(pytest.mark.xdist_group("/".join(top[:2])))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A superuser URL of the server the tests create their databases on."""
    configured = os.environ.get(TEST_DATABASE_URL_ENV)
    if configured:
        try:
            yield configured
        finally:
            drop_templates(configured)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-test-pg-"))
    try:
        url = start_embedded(data_dir, cleanup_mode="delete")
        yield url
        drop_templates(url)
    finally:
        stop_embedded(data_dir)  # stops the server and deletes <data_dir>/postgres
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A throwaway database with the bootstrap and every repo migration applied."""
    with migrated_database(server_url) as url:
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


# --- a world built once per module -------------------------------------------------------------


@pytest.fixture(scope="module")
def module_db(database_url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """A superuser connection for a whole module, its transaction open and rolled back after
    the module's last test.

    A module builds its expensive world on it once (a module-scoped fixture) and overrides
    ``db`` to run each test in a savepoint of it (:func:`rolled_back`)::

        @pytest.fixture(scope="module")
        def world(module_db): return build_world(module_db)

        @pytest.fixture
        def db(module_db, world):
            with rolled_back(module_db) as conn:
                yield conn

    Only for tests that neither commit (psycopg refuses ``commit()`` inside the savepoint, so
    such a test fails loudly) nor need the world on another connection (it is never committed).
    """
    conn = psycopg.connect(database_url, autocommit=False)
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


@pytest.fixture
def make_migrated_database(server_url: str) -> Iterator[Callable[[], str]]:
    """Factory of migrated throwaway databases (:func:`migrated_database`), all dropped
    afterwards: for tests whose code commits."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(migrated_database(server_url))
