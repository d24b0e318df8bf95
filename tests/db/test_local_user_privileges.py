"""`trainlytics users create` on the local database needs no role switch.

Supabase revoked `supabase_auth_admin` from `postgres` (supabase/postgres
20250421084701_revoke_admin_roles_from_postgres), so the local path inserts into auth.users as
the connection's own login. Supabase's `postgres` (here trainlytics_owner) holds every
privilege on auth.users (Supabase Auth's tables are granted to it by default privileges); a
login without them gets one line saying what to do.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from trainlytics.errors import TrainlyticsError
from trainlytics.users.auth_admin import create_local_user

Conn = psycopg.Connection[Any]
PASSWORD = "correct horse battery"  # noqa: S105 - a test value


def test_supabases_postgres_role_creates_a_user_and_its_profile(db: Conn) -> None:
    email = f"owner-made-{uuid.uuid4().hex[:8]}@example.com"
    db.execute("set role trainlytics_owner")
    try:
        user = create_local_user(db, email, PASSWORD, role="coach")
    finally:
        db.execute("reset role")
    row = db.execute(
        "select u.role::text, au.confirmation_token, au.email_change"
        " from public.users as u join auth.users as au on au.id = u.id where u.id = %s",
        [user.id],
    ).fetchone()
    assert row == ("coach", "", "")


def test_a_login_without_rights_on_auth_users_gets_one_line(db: Conn) -> None:
    db.execute("set role service_role")  # BYPASSRLS, but Supabase grants it nothing on auth
    try:
        with pytest.raises(TrainlyticsError) as raised:
            create_local_user(db, "nobody@example.com", PASSWORD)
    finally:
        db.execute("reset role")
    assert str(raised.value) == "this database login may not write auth.users"
    assert "SUPABASE_URL" in (raised.value.hint or "")
