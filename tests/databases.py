"""Throwaway databases on the test server: empty, migrated, or copies of a migrated template.

Imported as ``tests.databases`` by the conftests and the helpers (one module object, so one
template per process); ``tests/conftest.py`` re-exports the names older tests import from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from trainlytics.db import migrations

__all__ = [
    "TEST_DATABASE_PREFIX",
    "cluster_lock",
    "database_url_for",
    "drop_templates",
    "migrate_database",
    "migrated_database",
    "rolled_back",
    "throwaway_database",
]

TEST_DATABASE_PREFIX = "trainlytics_test_"
# Bootstrapping touches cluster-wide roles: serialise it across concurrent test runs.
_BOOTSTRAP_LOCK = 0x7472_6169_6E74  # arbitrary, "traint"


def database_url_for(server: str, dbname: str) -> str:
    return make_conninfo(server, dbname=dbname)


def _drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@contextmanager
def throwaway_database(server: str, *, template: str | None = None) -> Iterator[str]:
    """Create a database with a unique name (empty, or a copy of ``template``), yield its URL,
    and always drop it."""
    name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex}"
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" template {}").format(sql.Identifier(template))
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(create)
    try:
        yield database_url_for(server, name)
    finally:
        _drop(server, name)


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


# --- migrated databases, copied from a template ----------------------------------------------

#: server URL -> the migrated template database this process copies (see migrated_database).
_TEMPLATES: dict[str, str] = {}

# What CREATE DATABASE ... TEMPLATE does not copy: the database's own grants (the bootstrap's
# `grant create ... on database`) and its settings (`alter database ... set search_path`).
_COPY_DATABASE_GRANTS_AND_SETTINGS = (
    """
    update pg_catalog.pg_database
    set datacl = (select datacl from pg_catalog.pg_database where datname = %(template)s)
    where datname = %(copy)s
    """,
    """
    insert into pg_catalog.pg_db_role_setting (setdatabase, setrole, setconfig)
    select (select oid from pg_catalog.pg_database where datname = %(copy)s), setrole, setconfig
    from pg_catalog.pg_db_role_setting
    where setdatabase = (select oid from pg_catalog.pg_database where datname = %(template)s)
    """,
)


def template_database(server: str) -> str:
    """The name of this process's migrated template on ``server``, built on first use."""
    name = _TEMPLATES.get(server)
    if name is None:
        name = f"{TEST_DATABASE_PREFIX}template_{uuid.uuid4().hex}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        _TEMPLATES[server] = name  # registered first: dropped at teardown even if this fails
        migrate_database(database_url_for(server, name), server)
    return name


def drop_templates(server: str) -> None:
    """Drop the template this process built on ``server`` (the session's teardown)."""
    name = _TEMPLATES.pop(server, None)
    if name is not None:
        _drop(server, name)


@contextmanager
def migrated_database(server: str) -> Iterator[str]:
    """A throwaway database with the bootstrap and every repo migration applied, dropped
    afterwards.

    The migrations run once per test process, into a template; each database is a copy of it
    (``create database ... template``: a file copy, not a re-run of every migration) plus the
    template's database-level grants and settings, which a copy does not carry.
    tests/db/test_harness.py holds that a copy matches a freshly migrated database.
    """
    template = template_database(server)
    with throwaway_database(server, template=template) as url:
        names = {"template": template, "copy": conninfo_to_dict(url)["dbname"]}
        with psycopg.connect(server, autocommit=True) as admin:
            for statement in _COPY_DATABASE_GRANTS_AND_SETTINGS:
                admin.execute(statement, names)
        yield url


@contextmanager
def rolled_back(
    conn: psycopg.Connection[TupleRow],
) -> Iterator[psycopg.Connection[TupleRow]]:
    """Run the block in a savepoint of ``conn``'s open transaction, always rolled back: rows,
    ``set local`` settings, role and JWT claims all return to what they were, even after an
    error left the transaction aborted. psycopg refuses ``commit()`` inside it, so a test that
    commits fails loudly instead of leaking into the next one."""
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("rolled_back() needs an open transaction to put its savepoint in")
    with conn.transaction(force_rollback=True):
        yield conn
