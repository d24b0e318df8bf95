"""supabase/schema.sql (``make schema``) builds the catalog the migrations build.

The snapshot is where a reader finds every object's current definition once the migrations are
append-only (release 0.1.0 on). Loaded into an empty database (trainlytics.db.schema.load), it
must give the catalog (tests/catalog.py) of the session's migrated database: a migration
without ``make schema`` afterwards fails here. The comparison is by catalog, so it holds on
any server version, whichever pg_dump wrote the file.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from tests.catalog import catalog_of, diff_catalogs
from tests.conftest import cluster_lock
from trainlytics.db import schema


def test_the_snapshot_builds_the_catalog_the_migrations_build(
    database_url: str, make_database: Callable[[], str], server_url: str
) -> None:
    assert schema.SCHEMA_FILE.exists(), "run `make schema`"
    url = make_database()
    with cluster_lock(server_url), psycopg.connect(url, autocommit=True) as conn:
        schema.load(conn, schema.SCHEMA_FILE.read_text(encoding="utf-8"))
    with psycopg.connect(url) as conn:
        from_snapshot = catalog_of(conn)
    with psycopg.connect(database_url) as conn:
        from_migrations = catalog_of(conn)
    differences = [
        line
        for line in diff_catalogs(from_migrations, from_snapshot)
        if "supabase_migrations" not in line
    ]
    assert differences == [], "supabase/schema.sql is stale: run `make schema`"
    assert len(from_snapshot["functions"]) > 150


def test_a_stale_snapshot_is_caught(
    make_database: Callable[[], str], server_url: str, database_url: str
) -> None:
    """The check above can fail: a snapshot missing one function's comment differs."""
    text = schema.SCHEMA_FILE.read_text(encoding="utf-8")
    marker = "COMMENT ON FUNCTION private.is_provider_name(p_name text) IS "
    assert marker in text
    stale = text.replace(marker, "-- ", 1)  # the comment's one line becomes an SQL comment
    url = make_database()
    with cluster_lock(server_url), psycopg.connect(url, autocommit=True) as conn:
        schema.load(conn, stale)
    with psycopg.connect(url) as conn, psycopg.connect(database_url) as migrated:
        differences = diff_catalogs(catalog_of(migrated), catalog_of(conn))
    assert any("is_provider_name" in line for line in differences)
