"""Supabase Auth's tables written locally (``auth.users``, ``auth.identities``) — the SQL
behind :mod:`trainlytics.users.auth_admin` on a database Supabase Auth does not manage.

Rows as Supabase Auth's admin endpoint writes them (supabase/auth ``internal/models/user.go``,
``identity.go``): empty strings — not nulls — in every column GoTrue scans into a Go string
(:data:`GOTRUE_STRING_COLUMNS`), the ``email`` provider in ``raw_app_meta_data``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "GOTRUE_STRING_COLUMNS",
    "NIL_INSTANCE_ID",
    "auth_email_taken",
    "has_auth_identities",
    "insert_auth_rows",
    "may_act_as_auth_admin",
    "may_write_auth_users",
    "set_profile_role",
    "supabase_auth_manages",
]

Conn = psycopg.Connection[Any]

#: auth.users columns Supabase Auth scans into Go ``string`` fields (models.User): NULL there
#: breaks reading the user ("converting NULL to string is unsupported"), so they are ''.
GOTRUE_STRING_COLUMNS = (
    "confirmation_token",
    "recovery_token",
    "email_change_token_current",
    "email_change_token_new",
    "email_change",
    "phone_change_token",
    "phone_change",
    "reauthentication_token",
)
#: GoTrue's instance_id (uuid.Nil: a single-tenant server writes the nil uuid).
NIL_INSTANCE_ID = "00000000-0000-0000-0000-000000000000"


def supabase_auth_manages(conn: Conn) -> bool:
    """Whether Supabase Auth (GoTrue) runs this database: its own migration ledger
    ``auth.schema_migrations`` exists (every Supabase project has it; the local emulation
    ``sql/supabase_compat.sql`` does not create it — Auth's own migrations are not emulated)."""
    row = conn.execute("select to_regclass('auth.schema_migrations') is not null").fetchone()
    return bool(row and row[0])


def has_auth_identities(conn: Conn) -> bool:
    row = conn.execute("select to_regclass('auth.identities') is not null").fetchone()
    return bool(row and row[0])


def may_act_as_auth_admin(conn: Conn) -> bool:
    """The one rule for writing auth users locally: act as ``supabase_auth_admin`` (what
    Supabase Auth connects as) only when this login may ``set role`` to it (a superuser, or a
    member); otherwise insert as the login itself, never relying on the owner's membership."""
    row = conn.execute(
        "select case when exists (select from pg_roles where rolname = 'supabase_auth_admin')"
        " then pg_has_role(current_user, 'supabase_auth_admin', 'member') else false end"
    ).fetchone()
    return bool(row and row[0])


def may_write_auth_users(conn: Conn) -> bool:
    """As ``supabase_auth_admin``, or with the privileges and past row-level security
    (enabled on both tables, without policies): BYPASSRLS, as Supabase's postgres has."""
    if may_act_as_auth_admin(conn):
        return True
    row = conn.execute(
        "select case when to_regclass('auth.users') is null"
        " or to_regclass('auth.identities') is null then false"
        " else has_table_privilege('auth.users', 'select, insert')"
        " and has_table_privilege('auth.identities', 'insert')"
        " and ((select rolbypassrls from pg_roles where rolname = current_user)"
        " or not exists (select from pg_class where relrowsecurity"
        " and oid in ('auth.users'::regclass, 'auth.identities'::regclass))) end"
    ).fetchone()
    return bool(row and row[0])


def insert_auth_rows(
    conn: Conn,
    *,
    user_id: uuid.UUID,
    email: str,
    encrypted_password: str,
    confirmed: bool,
    user_metadata: dict[str, Any],
    identity_data: dict[str, Any],
    created_at: datetime | None,
) -> None:
    """The ``auth.users`` row and its ``email`` identity, in the caller's transaction (``set
    local``): as ``supabase_auth_admin`` where :func:`may_act_as_auth_admin`, else as the login
    itself, with ``search_path = auth`` (as Supabase Auth runs, so the auth triggers see what
    they see there); the caller's role and path are back afterwards. A login without the rights
    raises ``psycopg.errors.InsufficientPrivilege``."""
    row = conn.execute("select current_user, current_setting('search_path')").fetchone()
    assert row is not None  # noqa: S101 - a select without from returns one row
    caller, search_path = str(row[0]), str(row[1])
    if may_act_as_auth_admin(conn):
        conn.execute("set local role supabase_auth_admin")
    conn.execute("set local search_path = auth")
    strings = ", ".join(GOTRUE_STRING_COLUMNS)
    blanks = ", ".join("''" for _ in GOTRUE_STRING_COLUMNS)
    conn.execute(
        f"""
        insert into auth.users (
            instance_id, id, aud, role, email, encrypted_password,
            email_confirmed_at, {strings}, email_change_confirm_status,
            raw_app_meta_data, raw_user_meta_data, is_super_admin, is_sso_user,
            is_anonymous, created_at, updated_at
        ) values (
            %(instance)s, %(id)s, 'authenticated', 'authenticated', %(email)s,
            %(hash)s, case when %(confirmed)s then now() end, {blanks}, 0,
            '{{"provider": "email", "providers": ["email"]}}', %(meta)s::jsonb,
            false, false, false, coalesce(%(created)s, now()), now()
        )
        """.encode(),  # noqa: S608 - only the fixed column list above is formatted in
        {
            "instance": NIL_INSTANCE_ID,
            "id": user_id,
            "email": email,
            "hash": encrypted_password,
            "confirmed": confirmed,
            "meta": json.dumps(user_metadata),
            "created": created_at,
        },
    )
    conn.execute(
        """
        insert into auth.identities (
            provider_id, user_id, identity_data, provider, last_sign_in_at,
            created_at, updated_at
        ) values (%s, %s, %s::jsonb, 'email', now(), now(), now())
        """,
        [str(user_id), user_id, json.dumps(identity_data)],
    )
    # Back to the caller's role and path (not `reset`: that would drop a session role).
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(caller)))
    conn.execute("select set_config('search_path', %s, true)", [search_path])


def auth_email_taken(conn: Conn, address: str) -> bool:
    """Whether ``auth.users`` has this (lower-case) email."""
    return (
        conn.execute("select 1 from auth.users where lower(email) = %s", [address]).fetchone()
        is not None
    )


def set_profile_role(conn: Conn, user_id: uuid.UUID, role: str) -> None:
    conn.execute(
        "update public.users set role = %s::public.user_role where id = %s", [role, user_id]
    )
