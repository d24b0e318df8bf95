"""The harness itself: PostgREST-style identities and Supabase-Auth-style users."""

from __future__ import annotations

import uuid

import psycopg
import pytest

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
