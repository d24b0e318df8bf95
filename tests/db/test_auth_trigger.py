"""Supabase Auth owns accounts; triggers on auth.users keep public.users in step.

GoTrue writes auth.users as ``supabase_auth_admin`` with ``search_path = auth``; these tests do
the same, so a trigger that relied on the caller's rights or search_path would fail here.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests.helpers import create_auth_user

Conn = psycopg.Connection[Any]


@pytest.fixture
def tx(db: Conn) -> Conn:
    """The test's superuser connection, its transaction already open (so that savepoints
    below are savepoints and never BEGIN/COMMIT of their own)."""
    db.execute("select 1")
    return db


@contextmanager
def as_supabase_auth(conn: Conn) -> Iterator[None]:
    """Be GoTrue: role supabase_auth_admin, search_path auth; undone on exit or error."""
    with conn.transaction():
        conn.execute("set local role supabase_auth_admin")
        conn.execute("set local search_path = auth")
        yield
        conn.execute("reset role")
        conn.execute("reset search_path")


def signup(conn: Conn, email: str, metadata: dict[str, Any] | None = None) -> uuid.UUID:
    """GoTrue's insert on sign-up with email and password (unconfirmed)."""
    user_id = uuid.uuid4()
    with as_supabase_auth(conn):
        conn.execute(
            """
            insert into users (
                instance_id, id, aud, role, email, encrypted_password,
                raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
                confirmation_token, confirmation_sent_at
            ) values (
                '00000000-0000-0000-0000-000000000000', %s, 'authenticated', 'authenticated',
                %s, '$2a$10$abcdefghijklmnopqrstuv', '{"provider": "email", "providers":
                ["email"]}', %s, now(), now(), %s, now()
            )
            """,
            # GoTrue's confirmation token is a unique hash (confirmation_token_idx is unique).
            [
                user_id,
                email,
                None if metadata is None else json.dumps(metadata),
                secrets.token_hex(28),
            ],
        )
    return user_id


def profile(conn: Conn, user_id: uuid.UUID) -> tuple[Any, ...] | None:
    return conn.execute(
        "select email, is_verified, first_name, last_name, role::text, is_active"
        " from public.users where id = %s",
        [user_id],
    ).fetchone()


def test_signup_creates_the_profile(tx: Conn) -> None:
    user_id = signup(tx, "alice@example.com", {"first_name": "Alice", "last_name": "Martin"})
    assert profile(tx, user_id) == ("alice@example.com", False, "Alice", "Martin", "athlete", True)


def test_signup_without_names_creates_a_bare_profile(tx: Conn) -> None:
    bare = signup(tx, "bare@example.com", None)
    empty = signup(tx, "empty@example.com", {})
    assert profile(tx, bare) == ("bare@example.com", False, None, None, "athlete", True)
    assert profile(tx, empty) == ("empty@example.com", False, None, None, "athlete", True)


def test_signup_with_overlong_names_is_not_refused(tx: Conn) -> None:
    user_id = signup(tx, "long@example.com", {"first_name": "A" * 300, "last_name": "B" * 101})
    row = profile(tx, user_id)
    assert row is not None
    assert (row[2], row[3]) == ("A" * 100, "B" * 100)


def test_signup_metadata_cannot_choose_a_role(tx: Conn) -> None:
    """raw_user_meta_data is whatever the client sent to /signup: it must not grant rights."""
    user_id = signup(tx, "mallory@example.com", {"role": "admin", "is_verified": True})
    assert profile(tx, user_id) == ("mallory@example.com", False, None, None, "athlete", True)


def test_confirmation_sets_is_verified(tx: Conn) -> None:
    user_id = signup(tx, "alice@example.com")
    with as_supabase_auth(tx):
        tx.execute(
            "update users set email_confirmed_at = now(), confirmation_token = '' where id = %s",
            [user_id],
        )
    row = profile(tx, user_id)
    assert row is not None
    assert row[1] is True


def test_email_change_updates_the_profile_email(tx: Conn) -> None:
    user_id = signup(tx, "alice@example.com")
    with as_supabase_auth(tx):
        tx.execute(
            "update users set email = 'alice.martin@example.org', email_change = '',"
            " email_change_token_new = '' where id = %s",
            [user_id],
        )
    row = profile(tx, user_id)
    assert row is not None
    assert row[0] == "alice.martin@example.org"


def test_other_auth_updates_leave_the_profile_alone(tx: Conn) -> None:
    user_id = signup(tx, "alice@example.com")
    # Backdate the profile without firing its triggers (set_updated_at would stamp now()).
    tx.execute("set local session_replication_role = replica")
    tx.execute(
        "update public.users set updated_at = '2020-01-01T00:00:00Z' where id = %s", [user_id]
    )
    tx.execute("set local session_replication_role = origin")
    with as_supabase_auth(tx):
        tx.execute(
            "update users set last_sign_in_at = now(), updated_at = now() where id = %s",
            [user_id],
        )
    row = tx.execute("select updated_at from public.users where id = %s", [user_id]).fetchone()
    assert row is not None
    assert row[0].year == 2020


def test_duplicate_email_is_rejected_case_insensitively(tx: Conn) -> None:
    signup(tx, "Alice@Example.com")
    with pytest.raises(psycopg.errors.UniqueViolation, match="users_email_key"):
        signup(tx, "alice@example.COM")
    other = signup(tx, "bob@example.com")
    with pytest.raises(psycopg.errors.UniqueViolation), as_supabase_auth(tx):
        tx.execute("update users set email = 'ALICE@example.com' where id = %s", [other])
    assert tx.execute("select count(*) from public.users").fetchone() == (2,)


def test_supabase_auth_admin_has_no_rights_on_public_tables(tx: Conn) -> None:
    """The triggers are definer for a reason: GoTrue's role itself cannot touch the profile."""
    user_id = signup(tx, "alice@example.com")
    for statement in (
        "select * from public.users",
        "update public.users set role = 'admin'",
        "delete from public.users",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_supabase_auth(tx):
            tx.execute(statement.encode())
    assert profile(tx, user_id) is not None


def _user_foreign_keys(conn: Conn) -> list[tuple[str, str, str]]:
    """(table, column, on delete action) of every single-column foreign key to public.users."""
    return [
        (row[0], row[1], row[2])
        for row in conn.execute(
            """
            select format('%I.%I', n.nspname, c.relname), a.attname, con.confdeltype::text
            from pg_constraint as con
            join pg_class as c on c.oid = con.conrelid
            join pg_namespace as n on n.oid = c.relnamespace
            join pg_attribute as a on a.attrelid = con.conrelid and a.attnum = con.conkey[1]
            where con.contype = 'f'
              and con.confrelid = 'public.users'::regclass
              and cardinality(con.conkey) = 1
            order by 1, 2
            """
        ).fetchall()
    ]


def _populate(conn: Conn, alice: uuid.UUID, coach: uuid.UUID, eve: uuid.UUID) -> None:
    conn.execute("update public.users set role = 'coach' where id = %s", [coach])
    conn.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active'), (%s, %s, 'active')",
        [alice, coach, eve, coach],
    )
    for owner in (alice, eve):
        row = conn.execute(
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " values (%s, 'garmin', %s) returning id",
            [owner, str(owner)],
        ).fetchone()
        assert row is not None
        connection = row[0]
        conn.execute(
            "insert into private.provider_tokens (connection_id, user_id, key_id,"
            " access_token_ciphertext) values (%s, %s, 'k1', 'sealed'::bytea)",
            [connection, owner],
        )
        conn.execute(
            "insert into public.connection_events (connection_id, user_id, event)"
            " values (%s, %s, 'connected')",
            [connection, owner],
        )
        conn.execute(
            "insert into public.sync_history (connection_id, user_id, sync_trigger)"
            " values (%s, %s, 'initial')",
            [connection, owner],
        )
        row = conn.execute(
            "insert into public.activities (user_id, connection_id, provider, source, is_manual,"
            " external_id, start_date) values (%s, %s, 'garmin', 'provider', false, '1', now())"
            " returning id",
            [owner, connection],
        ).fetchone()
        assert row is not None
        conn.execute(
            "insert into public.activity_raw_payloads (activity_id, user_id, payload)"
            " values (%s, %s, '{}')",
            [row[0], owner],
        )
        conn.execute(
            "insert into public.activities (user_id, start_date, distance)"
            " values (%s, now() - interval '2 days', 5000)",
            [owner],
        )
        # Tokens of a disconnect waiting for revocation (issue 14).
        conn.execute(
            "insert into private.token_revocations (connection_id, user_id, provider,"
            " provider_user_id, key_id, access_token_ciphertext)"
            " values (%s, %s, 'garmin', 'g', 'k1', 'sealed')",
            [connection, owner],
        )
        conn.execute(
            "insert into public.workouts (user_id, coach_id, planned_date, activity_type, name,"
            " completed_activity_id) values (%s, %s, current_date, 'run', 'w', %s),"
            " (%s, null, current_date, 'run', 'own', null)",
            [owner, coach, row[0], owner],
        )
        conn.execute(
            "insert into private.oauth_states (state_hash, user_id, provider, redirect_uri,"
            " expires_at) values (md5(%s::text), %s, 'strava', 'https://app.example/cb',"
            " now() + interval '10 minutes')",
            [owner, owner],
        )
        # Settings and FTP history (issue 18), and the streams of an activity (with the
        # efforts computed from them).
        conn.execute("insert into public.athlete_settings (user_id) values (%s)", [owner])
        conn.execute(
            "insert into public.athlete_ftp_history (user_id, effective_from, ftp_w)"
            " values (%s, current_date, 250)",
            [owner],
        )
        conn.execute(
            "select private.store_activity_streams(%s, %s, null)",
            [row[0], '{"time": [0, 1, 2], "distance": [0, 5, 10], "watts": [100, 200, 300]}'],
        )
        conn.execute(
            "select private.store_activity_laps(%s, %s, null, null)",
            [row[0], '[{"start_s": 0, "distance_m": 10}]'],
        )
        # The stream fetch outcome of that activity (issue 18, provider streams).
        conn.execute(
            "insert into public.activity_stream_fetches (activity_id, user_id, connection_id,"
            " status, attempts, points) values (%s, %s, %s, 'fetched', 1, 3)",
            [row[0], owner, connection],
        )
        # The legacy import's v1-id mapping (issue 17).
        conn.execute(
            "insert into private.legacy_users (v1_user_id, user_id, v1_email)"
            " values ((select coalesce(max(v1_user_id), 0) + 1 from private.legacy_users),"
            " %s, 'v1@example.com')",
            [owner],
        )


def _rows_per_user(conn: Conn, user_id: uuid.UUID) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, column, _ in _user_foreign_keys(conn):
        row = conn.execute(
            f"select count(*) from {table} where {column} = %s".encode(), [user_id]
        ).fetchone()
        assert row is not None
        counts[f"{table}.{column}"] = row[0]
    return counts


def test_deleting_the_auth_user_deletes_everything_they_own(tx: Conn) -> None:
    alice = create_auth_user(tx, "alice@example.com", confirmed=True)
    coach = create_auth_user(tx, "coach@example.com", confirmed=True)
    eve = create_auth_user(tx, "eve@example.com", confirmed=True)
    _populate(tx, alice, coach, eve)
    before = _rows_per_user(tx, alice)
    # Every table the fixture knows holds rows of alice's (so the check below is not vacuous).
    assert all(before[key] > 0 for key in before if not key.endswith(".coach_id")), [
        k for k, v in before.items() if not v
    ]
    eve_before = _rows_per_user(tx, eve)

    with as_supabase_auth(tx):
        deleted = tx.execute("delete from users where id = %s", [alice]).rowcount
    assert deleted == 1

    assert profile(tx, alice) is None
    assert {k: v for k, v in _rows_per_user(tx, alice).items() if v} == {}
    assert _rows_per_user(tx, eve) == eve_before


def test_deleting_a_coach_keeps_the_athletes_workouts(tx: Conn) -> None:
    alice = create_auth_user(tx, "alice@example.com", confirmed=True)
    coach = create_auth_user(tx, "coach@example.com", confirmed=True)
    eve = create_auth_user(tx, "eve@example.com", confirmed=True)
    _populate(tx, alice, coach, eve)
    with as_supabase_auth(tx):
        tx.execute("delete from users where id = %s", [coach])
    assert tx.execute(
        "select count(*), count(coach_id) from public.workouts where user_id = %s", [alice]
    ).fetchone() == (2, 0)
    assert tx.execute("select count(*) from public.coach_athletes").fetchone() == (0,)


def test_every_foreign_key_to_users_says_what_happens_on_delete(tx: Conn) -> None:
    """A new table referencing users must cascade (owned data) or set null (authorship),
    or deleting an account would fail on a leftover row."""
    offenders = [
        f"{table}.{column} (on delete {action})"
        for table, column, action in _user_foreign_keys(tx)
        if action not in ("c", "n")
    ]
    assert offenders == []
