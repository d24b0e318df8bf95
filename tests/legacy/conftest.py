"""Legacy import tests: a real v1 database (v1_schema.sql) beside a freshly migrated v2 one.

The import commits per user, so every test gets its own v2 database (migrating one takes
about two seconds) and its own v1 database, both throwaway databases of the test server.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from tests.legacy.v1_factory import V1, build_messy_v1, create_v1_schema
from trainlytics.connections.crypto import TokenCipher
from trainlytics.legacy.auth_users import LocalAuthUsers
from trainlytics.legacy.importer import LegacyImporter, LegacyReport

KEY = base64.b64encode(bytes(range(32))).decode()
TOKEN_KEYS = f"k1:{KEY}"


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher({"k1": bytes(range(32))}, "k1")


@pytest.fixture
def v2_url(make_migrated_database: Callable[[], str]) -> str:
    return make_migrated_database()


@pytest.fixture
def v1_empty_url(make_database: Callable[[], str]) -> str:
    url = make_database()
    create_v1_schema(url)
    return url


@pytest.fixture
def v1(make_database: Callable[[], str]) -> Iterator[V1]:
    handles = build_messy_v1(make_database())
    try:
        yield handles
    finally:
        handles.conn.close()


def v1_url(v1: V1) -> str:
    return str(v1.conn.info.dsn)


@pytest.fixture
def run_import(v1: V1, v2_url: str, cipher: TokenCipher) -> Callable[..., LegacyReport]:
    def run(**kwargs: Any) -> LegacyReport:
        kwargs.setdefault("auth", LocalAuthUsers())
        kwargs.setdefault("cipher", cipher)
        return LegacyImporter(v1_url(v1), v2_url, **kwargs).run()

    return run


@pytest.fixture
def v2(v2_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A superuser connection to the v2 database (autocommit, dict rows) for assertions."""
    with psycopg.connect(v2_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def sign_in(conn: psycopg.Connection[Any], email: str, password: str) -> uuid.UUID | None:
    """Supabase Auth's password grant, as far as the database goes: the user by its lowercased
    email (not deleted, audience authenticated), a confirmed email, then a bcrypt comparison of
    the password with encrypted_password (supabase/auth crypto.CompareHashAndPassword). The id
    on success, None otherwise."""
    row = conn.execute(
        "select id, encrypted_password, email_confirmed_at from auth.users"
        " where email = %s and aud = 'authenticated' and deleted_at is null",
        [email.strip().lower()],
    ).fetchone()
    if row is None:
        return None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    user_id, encrypted, confirmed_at = values
    if not encrypted or confirmed_at is None:
        return None
    if not bcrypt.checkpw(password.encode(), str(encrypted).encode()):
        return None
    return user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))


@pytest.fixture
def operator_url(v2_url: str) -> Iterator[str]:
    """A login that stands in for Supabase's `postgres`: not a superuser, a member of the
    owner role (so of service_role), and NOT able to act as supabase_auth_admin."""
    role = f"legacy_operator_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(v2_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create role {} login nosuperuser in role trainlytics_owner").format(
                sql.Identifier(role)
            )
        )
    params = conninfo_to_dict(v2_url)
    params["user"] = role
    params.pop("password", None)
    try:
        yield make_conninfo("", **{k: v for k, v in params.items() if v is not None})
    finally:
        with psycopg.connect(v2_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


@pytest.fixture(autouse=True)
def _no_supabase_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    assert os.environ["TRAINLYTICS_TOKEN_KEYS"]
