"""The harness itself: PostgREST-style identities and Supabase-Auth-style users."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from tests.databases import migrate_database, migrated_database, rolled_back
from tests.helpers import act_as_anon, act_as_service, act_as_user, create_auth_user, reset_role

Conn = psycopg.Connection[tuple[object, ...]]


def one(conn: Conn, query: str) -> tuple[object, ...]:
    row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return row


def test_acting_as_a_user_sets_role_and_claims_like_postgrest(db: Conn) -> None:
    user_id = create_auth_user(db, "alice@example.com", confirmed=True)

    act_as_user(db, user_id, email="alice@example.com")

    assert one(db, "select current_user, auth.uid(), auth.role(), auth.email()") == (
        "authenticated",
        user_id,
        "authenticated",
        "alice@example.com",
    )


def test_anon_and_service_role_identities(db: Conn) -> None:
    act_as_anon(db)
    assert one(db, "select current_user, auth.role(), auth.uid()") == ("anon", "anon", None)

    act_as_service(db)
    assert one(db, "select current_user, auth.role()") == ("service_role", "service_role")

    reset_role(db)
    assert one(db, "select auth.uid(), auth.role(), current_user = session_user") == (
        None,
        None,
        True,
    )


def test_created_auth_users_look_like_supabase_auth_rows(db: Conn) -> None:
    confirmed = create_auth_user(db, "bob@example.com", confirmed=True)
    pending = create_auth_user(db, "carol@example.com")

    rows = db.execute(
        "select id, aud, role, email, raw_app_meta_data, raw_user_meta_data,"
        " email_confirmed_at is not null, confirmed_at is not null"
        " from auth.users where id = any(%s) order by email",
        [[confirmed, pending]],
    ).fetchall()

    provider = {"provider": "email", "providers": ["email"]}
    assert rows == [
        (confirmed, "authenticated", "authenticated", "bob@example.com", provider, {}, True, True),
        (
            pending,
            "authenticated",
            "authenticated",
            "carol@example.com",
            provider,
            {},
            False,
            False,
        ),
    ]
    assert isinstance(confirmed, uuid.UUID)


def test_creating_a_user_while_acting_as_someone_keeps_that_identity(db: Conn) -> None:
    act_as_anon(db)
    create_auth_user(db, "dave@example.com")
    assert one(db, "select current_user, current_setting('search_path') <> 'auth'") == (
        "anon",
        True,
    )


def test_anon_cannot_read_auth_users_and_the_savepoint_keeps_the_test_going(db: Conn) -> None:
    create_auth_user(db, "erin@example.com")
    act_as_anon(db)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("select email from auth.users")
    assert one(db, "select current_user") == ("anon",)


def test_each_test_runs_in_a_transaction_that_is_rolled_back(db: Conn) -> None:
    db.execute("select 1")
    assert db.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert not db.autocommit


def test_rolled_back_undoes_rows_identity_and_an_aborted_transaction(db: Conn) -> None:
    """The savepoint a module-scoped world runs each test in (tests/conftest.py module_db)."""
    with rolled_back(db):
        create_auth_user(db, "frank@example.com")
        act_as_anon(db)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select email from auth.users")  # aborts the transaction
    assert one(db, "select count(*) from auth.users where email = 'frank@example.com'") == (0,)
    assert one(db, "select current_user = session_user, auth.uid()") == (True, None)
    with pytest.raises(psycopg.ProgrammingError), rolled_back(db):
        db.commit()  # a test that commits cannot run in a shared world's savepoint


# Everything of a database that its migrations make: relations, functions, policies, triggers,
# their owners and grants, the migration ledger, and the database's own grants and settings.
CATALOG = """
select 'relation', format('%s.%s %s', n.nspname, c.relname, c.relkind),
       concat_ws(' ', pg_get_userbyid(c.relowner), c.relacl::text, c.relrowsecurity)
from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
union all
select 'function', p.oid::regprocedure::text,
       concat_ws(' ', pg_get_userbyid(p.proowner), p.proacl::text, p.proconfig::text,
                 md5(p.prosrc))
from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
where n.nspname not in ('pg_catalog', 'information_schema')
union all
select 'policy', format('%s.%s %s', schemaname, tablename, policyname),
       concat_ws(' ', cmd, roles::text, qual, with_check)
from pg_policies
union all
select 'trigger', format('%s %s', tgrelid::regclass, tgname), pg_get_triggerdef(oid)
from pg_trigger where not tgisinternal
union all
select 'migration', version, name from supabase_migrations.schema_migrations
union all
select 'database', 'grants', datacl::text from pg_database where datname = current_database()
union all
select 'setting', case s.setrole when 0 then 'all' else s.setrole::regrole::text end,
       s.setconfig::text
from pg_db_role_setting as s join pg_database as d on d.oid = s.setdatabase
where d.datname = current_database()
order by 1, 2, 3
"""


def test_a_migrated_copy_matches_a_freshly_migrated_database(
    make_database: Callable[[], str], server_url: str
) -> None:
    """The suite's migrated databases are copies of a template (tests/databases.py): a copy
    must be what running every migration on an empty database builds."""
    fresh = make_database()
    migrate_database(fresh, server_url)
    with (
        migrated_database(server_url) as copy,
        psycopg.connect(fresh) as a,
        psycopg.connect(copy) as b,
    ):
        fresh_catalog = a.execute(CATALOG.encode()).fetchall()
        copy_catalog = b.execute(CATALOG.encode()).fetchall()
        search_paths = (
            a.execute("show search_path").fetchone(),
            b.execute("show search_path").fetchone(),
        )
    assert copy_catalog == fresh_catalog
    assert ("setting", "all") in {row[:2] for row in copy_catalog}  # the bootstrap's settings
    assert search_paths[0] == search_paths[1] == ('"$user", public, extensions',)
