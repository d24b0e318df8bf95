"""The migration runner against real PostgreSQL, each test on its own throwaway database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import migrate_database
from trainlytics.db import migrations
from trainlytics.db.sql_splitter import split_statements
from trainlytics.errors import MigrationError

FIRST = """\
-- things we count
create table public.things (
    id bigint generated always as identity primary key,
    label text not null default 'a; b'
);
comment on table public.things is 'Things; with a semicolon.';
"""
SECOND = """\
create function public.thing_count() returns bigint
language sql stable
set search_path = ''
as $$ select count(*) from public.things; $$;
"""
FAILING = """\
create table public.half_done (id int);
insert into public.nowhere values (1);
"""


def write(directory: Path, filename: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(text, encoding="utf-8")
    return path


def scalar(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def fresh_url(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    write(directory, "20250101000000_create_things.sql", FIRST)
    write(directory, "20250102000000_thing_count.sql", SECOND)
    write(directory, "README.md", "not a migration")
    write(directory, "notes.sql", "not a migration either: no version")
    return directory


def test_each_file_is_recorded_in_the_supabase_cli_ledger(
    fresh_url: str, server_url: str, migrations_dir: Path
) -> None:
    result = migrate_database(fresh_url, server_url, migrations_dir)

    assert result.bootstrapped
    assert [m.filename for m in result.applied] == [
        "20250101000000_create_things.sql",
        "20250102000000_thing_count.sql",
    ]
    with psycopg.connect(fresh_url) as conn:
        ledger = conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations"
            " order by version"
        ).fetchall()
        columns = conn.execute(
            "select column_name, data_type, is_nullable from information_schema.columns"
            " where table_schema = 'supabase_migrations' and table_name = 'schema_migrations'"
            " order by ordinal_position"
        ).fetchall()
        primary_key = scalar(
            conn,
            "select array_agg(a.attname::text) from pg_index i join pg_attribute a"
            " on a.attrelid = i.indrelid and a.attnum = any (i.indkey)"
            " where i.indrelid = 'supabase_migrations.schema_migrations'::regclass"
            " and i.indisprimary",
        )
        assert scalar(conn, "select public.thing_count()") == 0
    assert ledger == [
        ("20250101000000", "create_things", split_statements(FIRST)),
        ("20250102000000", "thing_count", split_statements(SECOND)),
    ]
    assert len(ledger[0][2]) == 2
    assert columns == [
        ("version", "text", "NO"),
        ("statements", "ARRAY", "YES"),
        ("name", "text", "YES"),
    ]
    assert primary_key == ["version"]


def test_running_again_is_a_no_op_and_later_files_apply_alone(
    fresh_url: str, server_url: str, migrations_dir: Path
) -> None:
    migrate_database(fresh_url, server_url, migrations_dir)

    again = migrate_database(fresh_url, server_url, migrations_dir)
    assert again.applied == []
    assert len(again.skipped) == 2
    assert not again.bootstrapped

    write(migrations_dir, "20250103000000_more.sql", "alter table public.things add note text;")
    later = migrate_database(fresh_url, server_url, migrations_dir)
    assert [m.version for m in later.applied] == ["20250103000000"]
    with psycopg.connect(fresh_url) as conn:
        assert scalar(conn, "select count(*) from supabase_migrations.schema_migrations") == 3


def test_a_failing_migration_leaves_nothing_behind_and_names_file_and_statement(
    fresh_url: str, server_url: str, migrations_dir: Path
) -> None:
    write(migrations_dir, "20250103000000_broken.sql", FAILING)
    write(migrations_dir, "20250104000000_after.sql", "create table public.after_broken (id int);")

    with pytest.raises(MigrationError) as raised:
        migrate_database(fresh_url, server_url, migrations_dir)

    error = raised.value
    assert error.file == "20250103000000_broken.sql"
    assert error.statement_number == 2
    assert error.statement == "insert into public.nowhere values (1)"
    assert "20250103000000_broken.sql" in str(error)
    assert "statement 2" in str(error)
    assert 'relation "public.nowhere" does not exist' in str(error)
    with psycopg.connect(fresh_url) as conn:
        assert scalar(conn, "select to_regclass('public.half_done')") is None
        assert scalar(conn, "select to_regclass('public.after_broken')") is None
        versions = conn.execute(
            "select version from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    # Files before the broken one stay applied, as with the Supabase CLI.
    assert versions == [("20250101000000",), ("20250102000000",)]


def test_bootstrap_is_not_run_where_an_auth_schema_exists(
    fresh_url: str, server_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("create schema auth")
    directory = write(tmp_path / "m", "20250101000000_plain.sql", "create table public.p (id int);")

    result = migrate_database(fresh_url, server_url, directory.parent)

    assert not result.bootstrapped
    assert [m.version for m in result.applied] == ["20250101000000"]
    with psycopg.connect(fresh_url) as conn:
        assert scalar(conn, "select to_regclass('auth.users')") is None
        assert scalar(conn, "select to_regnamespace('extensions')") is None


def test_bootstrap_runs_on_plain_postgres(fresh_url: str, server_url: str, tmp_path: Path) -> None:
    result = migrate_database(fresh_url, server_url, tmp_path / "empty")

    assert result.bootstrapped
    assert result.applied == []
    with psycopg.connect(fresh_url) as conn:
        assert scalar(conn, "select to_regclass('auth.users')::text") == "auth.users"
        assert scalar(conn, "select to_regprocedure('auth.uid()')::text") == "auth.uid()"
        assert scalar(conn, "select to_regclass('supabase_migrations.schema_migrations')")


def test_migrations_run_as_the_non_superuser_owner(
    fresh_url: str, server_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    write(
        directory,
        "20250101000000_who.sql",
        "create table public.who (name text default current_user);\n"
        "insert into public.who default values;",
    )

    migrate_database(fresh_url, server_url, directory)

    with psycopg.connect(fresh_url) as conn:
        assert scalar(conn, "select name from public.who") == "trainlytics_owner"
        assert scalar(conn, "select tableowner from pg_tables where tablename = 'who'") == (
            "trainlytics_owner"
        )
        assert (
            scalar(
                conn,
                "select nspowner::regrole::text from pg_namespace"
                " where nspname = 'supabase_migrations'",
            )
            == "trainlytics_owner"
        )
        assert (
            scalar(conn, "select rolsuper from pg_roles where rolname = 'trainlytics_owner'")
            is False
        )


def test_a_non_superuser_connection_runs_migrations_as_itself(
    fresh_url: str, server_url: str, tmp_path: Path
) -> None:
    migrate_database(fresh_url, server_url, tmp_path / "empty")  # bootstrap as superuser
    directory = write(tmp_path / "m", "20250101000000_mine.sql", "create table public.mine ();")

    # A real Supabase `postgres` is not a superuser: simulate that connection.
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("set role trainlytics_owner")
        result = migrations.migrate(conn, directory.parent)
        assert scalar(conn, "select current_user") == "trainlytics_owner"
        assert scalar(conn, "select tableowner from pg_tables where tablename = 'mine'") == (
            "trainlytics_owner"
        )
    assert not result.bootstrapped
    assert [m.version for m in result.applied] == ["20250101000000"]


def test_status_reports_pending_applied_changed_and_missing_files(
    fresh_url: str, server_url: str, migrations_dir: Path
) -> None:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        before = migrations.status(conn, migrations_dir)
        assert scalar(conn, "select to_regnamespace('supabase_migrations')") is None
    assert [(s.version, s.state) for s in before] == [
        ("20250101000000", "pending"),
        ("20250102000000", "pending"),
    ]

    migrate_database(fresh_url, server_url, migrations_dir)
    (migrations_dir / "20250101000000_create_things.sql").unlink()
    write(migrations_dir, "20250102000000_thing_count.sql", SECOND + "\n-- edited later\n")
    write(migrations_dir, "20250103000000_next.sql", "select 1;")

    with psycopg.connect(fresh_url, autocommit=True) as conn:
        after = migrations.status(conn, migrations_dir)
    assert [(s.version, s.name, s.applied, s.file_missing, s.changed) for s in after] == [
        ("20250101000000", "create_things", True, True, False),
        ("20250102000000", "thing_count", True, False, True),
        ("20250103000000", "next", False, False, False),
    ]
    assert [s.state for s in after] == [
        "applied, file missing",
        "applied, file changed since",
        "pending",
    ]


def test_a_changed_applied_file_is_not_reapplied_but_warned_about(
    fresh_url: str, server_url: str, migrations_dir: Path
) -> None:
    migrate_database(fresh_url, server_url, migrations_dir)
    write(migrations_dir, "20250101000000_create_things.sql", FIRST + "\ndrop table public.things;")

    with pytest.warns(migrations.MigrationChangedWarning, match="20250101000000_create_things"):
        result = migrate_database(fresh_url, server_url, migrations_dir)

    assert result.applied == []
    with psycopg.connect(fresh_url) as conn:
        assert scalar(conn, "select to_regclass('public.things') is not null") is True


def test_duplicate_versions_are_rejected_before_anything_runs(tmp_path: Path) -> None:
    write(tmp_path, "20250101000000_a.sql", "select 1;")
    write(tmp_path, "20250101000000_b.sql", "select 2;")
    with pytest.raises(MigrationError, match="share version 20250101000000"):
        migrations.discover_migrations(tmp_path)


def test_the_repository_migrations_apply_cleanly_and_a_second_run_applies_nothing(
    fresh_url: str, server_url: str
) -> None:
    repo_migrations = migrations.discover_migrations()

    first = migrate_database(fresh_url, server_url)
    second = migrate_database(fresh_url, server_url)

    assert [m.version for m in first.applied] == [m.version for m in repo_migrations]
    assert second.applied == []
    assert [m.version for m in second.skipped] == [m.version for m in repo_migrations]
    with psycopg.connect(fresh_url) as conn:
        recorded = conn.execute(
            "select version from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    assert [v for (v,) in recorded] == sorted(m.version for m in repo_migrations)
