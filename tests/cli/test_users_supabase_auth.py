"""Users as Supabase Auth writes them, and ``users create`` on a Supabase project.

- The seed and the local ``users create`` write Supabase Auth's shape: no NULL in a column
  GoTrue scans into a Go string, the ``email`` identity with {sub, email, email_verified,
  phone_verified}, ``email_verified`` in the metadata of a confirmed user.
- The local path works for a login that may NOT act as ``supabase_auth_admin`` (as on a faithful
  emulation and on Supabase, where ``postgres`` was removed from that role).
- On a database Supabase Auth manages, without the API keys: one line naming what to set.
- With ``SUPABASE_URL`` + service key: the Auth admin API and PostgREST, served by
  ``tests/fakes/supabase_auth.py`` (rules from supabase/auth and PostgREST, cited there).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.cli.cli_support import error_line, invoke
from tests.fakes.supabase_auth import DUPLICATE_EMAIL_MSG, FakeSupabase
from tests.seeded import ALICE, BOB
from trainlytics.cli import users as users_command
from trainlytics.users.auth_admin import GOTRUE_STRING_COLUMNS

PASSWORD = "correct horse battery"  # noqa: S105 - a test value


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def _shape(url: str, email: str) -> dict[str, Any]:
    """The auth.users row of ``email`` with its identities, as Supabase Auth would read them."""
    with psycopg.connect(url) as conn:
        columns = ", ".join(f"au.{c}" for c in GOTRUE_STRING_COLUMNS)
        cur = conn.execute(
            sql.SQL(
                "select au.id, au.aud, au.role, au.instance_id, au.email_confirmed_at,"
                " au.raw_app_meta_data, au.raw_user_meta_data, au.is_sso_user, au.is_anonymous,"
                " au.email_change_confirm_status, "
                + columns
                + " from auth.users as au where au.email = %s"
            ),
            [email],
        )
        row = cur.fetchone()
        assert row is not None, f"{email} not in auth.users"
        user = dict(zip([d.name for d in cur.description or []], row, strict=True))
        identities = conn.execute(
            "select provider, provider_id, identity_data, email, last_sign_in_at is not null"
            " from auth.identities where user_id = %s",
            [user["id"]],
        ).fetchall()
    user["identities"] = identities
    return user


def assert_supabase_auth_shape(user: dict[str, Any], email: str, *, confirmed: bool) -> None:
    """What Supabase Auth's admin endpoint writes (supabase/auth adminUserCreate)."""
    nulls = [c for c in GOTRUE_STRING_COLUMNS if user[c] is None]
    assert nulls == [], f"NULL where Supabase Auth reads a string: {nulls}"
    assert [user[c] for c in GOTRUE_STRING_COLUMNS] == [""] * len(GOTRUE_STRING_COLUMNS)
    assert (user["aud"], user["role"]) == ("authenticated", "authenticated")
    assert str(user["instance_id"]) == "00000000-0000-0000-0000-000000000000"
    assert user["raw_app_meta_data"] == {"provider": "email", "providers": ["email"]}
    assert (user["is_sso_user"], user["is_anonymous"], user["email_change_confirm_status"]) == (
        False,
        False,
        0,
    )
    assert (user["email_confirmed_at"] is not None) is confirmed
    assert user["raw_user_meta_data"].get("email_verified") is (True if confirmed else None)
    assert user["identities"] == [
        (
            "email",
            str(user["id"]),
            {
                "sub": str(user["id"]),
                "email": email,
                "email_verified": False,
                "phone_verified": False,
            },
            email,
            True,
        )
    ]


@pytest.mark.parametrize("email", [ALICE, BOB])
def test_seeded_users_are_written_as_supabase_auth_writes_them(
    cli_database_url: str, email: str
) -> None:
    assert_supabase_auth_shape(_shape(cli_database_url, email), email, confirmed=True)


@pytest.mark.parametrize("confirmed", [True, False])
def test_created_users_have_supabase_auths_shape(cli_database_url: str, confirmed: bool) -> None:
    email = _email()
    flag = "--confirmed" if confirmed else "--unconfirmed"
    result = invoke(
        ["users", "create", email, "--password", PASSWORD, flag, "--database-url", cli_database_url]
    )
    assert result.exit_code == 0, result.output
    assert_supabase_auth_shape(_shape(cli_database_url, email), email, confirmed=confirmed)


@pytest.fixture
def login_without_auth_admin(cli_database_url: str) -> Iterator[str]:
    """A LOGIN role like Supabase's ``postgres`` (BYPASSRLS, grants on the auth tables) that is
    NOT a member of supabase_auth_admin nor a superuser: what a faithful emulation gives."""
    role = f"tl_login_{uuid.uuid4().hex[:10]}"
    ident = sql.Identifier(role)
    with psycopg.connect(cli_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login nosuperuser noinherit bypassrls").format(ident))
        admin.execute(sql.SQL("grant usage on schema auth to {}").format(ident))
        admin.execute(
            sql.SQL("grant select, insert on auth.users, auth.identities to {}").format(ident)
        )
        admin.execute(sql.SQL("grant select, update on public.users to {}").format(ident))
        admin.execute(sql.SQL("grant usage on schema supabase_migrations to {}").format(ident))
        admin.execute(
            sql.SQL("grant select on supabase_migrations.schema_migrations to {}").format(ident)
        )
        params = conninfo_to_dict(cli_database_url)
        params["user"] = role
        params.pop("password", None)
        try:
            yield make_conninfo(**params)  # type: ignore[arg-type]
        finally:
            admin.execute(sql.SQL("drop owned by {}").format(ident))
            admin.execute(sql.SQL("drop role {}").format(ident))


def test_create_needs_no_membership_of_supabase_auth_admin(
    cli_database_url: str, login_without_auth_admin: str
) -> None:
    with psycopg.connect(login_without_auth_admin) as conn:
        member = conn.execute(
            "select pg_has_role(current_user, 'supabase_auth_admin', 'member')"
        ).fetchone()
    assert member == (False,)
    email = _email()

    result = invoke(
        [
            "users",
            "create",
            email,
            "--password",
            PASSWORD,
            "--role",
            "coach",
            "--database-url",
            login_without_auth_admin,
        ]
    )

    assert result.exit_code == 0, result.output
    assert_supabase_auth_shape(_shape(cli_database_url, email), email, confirmed=True)
    with psycopg.connect(cli_database_url) as conn:
        profile = conn.execute(
            "select role::text from public.users where email = %s", [email]
        ).fetchone()
    assert profile == ("coach",)


@pytest.fixture
def managed_by_supabase_auth(cli_database_url: str) -> Iterator[None]:
    """Make the test database look like a Supabase project's: Supabase Auth's own migration
    ledger (auth.schema_migrations, created by its migrator on every project)."""
    with psycopg.connect(cli_database_url, autocommit=True) as admin:
        admin.execute("create table auth.schema_migrations (version varchar(255) primary key)")
        admin.execute("insert into auth.schema_migrations values ('20210909172000')")
        try:
            yield
        finally:
            admin.execute("drop table auth.schema_migrations")


def test_on_a_supabase_project_without_api_keys_says_what_to_set(
    cli_database_url: str, managed_by_supabase_auth: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY", raising=False)
    email = _email()

    result = invoke(
        ["users", "create", email, "--password", PASSWORD, "--database-url", cli_database_url]
    )

    error_line(
        result, "Supabase project", "created by Supabase Auth", "SUPABASE_URL", "SERVICE_ROLE_KEY"
    )
    with psycopg.connect(cli_database_url) as conn:
        assert conn.execute("select 1 from auth.users where email = %s", [email]).fetchone() is None


# --- through the Supabase Auth admin API ---------------------------------------------------------


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> FakeSupabase:
    fake = FakeSupabase()
    monkeypatch.setenv("SUPABASE_URL", fake.url + "/")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", fake.service_role_key)
    # A database URL that cannot be reached: the API path must not touch a database.
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    monkeypatch.setattr(
        users_command, "make_http_client", lambda: httpx.Client(transport=fake.transport())
    )
    return fake


def test_create_through_the_auth_admin_api(project: FakeSupabase) -> None:
    result = invoke(
        ["users", "create", "Ada@Example.com", "--password", PASSWORD, "--first-name", "Ada"]
    )

    assert result.exit_code == 0, result.output
    (request,) = project.requests
    assert (request.method, request.url.path) == ("POST", "/auth/v1/admin/users")
    assert json.loads(request.content) == {
        "email": "ada@example.com",
        "password": PASSWORD,
        "email_confirm": True,
        "user_metadata": {"first_name": "Ada"},
    }
    (user,) = project.users.values()
    assert user["email_confirmed_at"] is not None
    assert f"created athlete ada@example.com ({user['id']})" in result.output
    assert "through Supabase Auth at https://abcd1234.supabase.co" in result.output
    assert PASSWORD not in result.output
    assert project.service_role_key not in result.output


def test_create_a_coach_sets_the_role_through_postgrest(project: FakeSupabase) -> None:
    result = invoke(
        ["users", "create", "coach@example.com", "--password", PASSWORD, "--role", "coach"]
    )

    assert result.exit_code == 0, result.output
    create, patch = project.requests
    (user_id,) = project.users
    assert create.url.path == "/auth/v1/admin/users"
    assert (patch.method, patch.url.path, dict(patch.url.params)) == (
        "PATCH",
        "/rest/v1/users",
        {"id": f"eq.{user_id}"},
    )
    assert json.loads(patch.content) == {"role": "coach"}
    (profile,) = project.profiles.values()
    assert profile["role"] == "coach"
    assert "created coach coach@example.com" in result.output


def test_create_unconfirmed_through_the_api(project: FakeSupabase) -> None:
    result = invoke(["users", "create", "bo@example.com", "--password", PASSWORD, "--unconfirmed"])

    assert result.exit_code == 0, result.output
    (user,) = project.users.values()
    assert "email_confirmed_at" not in user
    assert "email_verified" not in user["user_metadata"]
    assert "email unconfirmed" in result.output


def test_create_with_a_secret_api_key(
    project: FakeSupabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", project.secret_key)

    result = invoke(
        ["users", "create", "cy@example.com", "--password", PASSWORD, "--role", "admin"]
    )

    assert result.exit_code == 0, result.output
    for request in project.requests:
        assert request.headers["apikey"] == project.secret_key
        assert "authorization" not in request.headers
    assert [p["role"] for p in project.profiles.values()] == ["admin"]


def test_create_an_existing_address_is_one_line(project: FakeSupabase) -> None:
    assert invoke(["users", "create", "ada@example.com", "--password", PASSWORD]).exit_code == 0

    result = invoke(["users", "create", "ADA@example.com", "--password", PASSWORD])

    error_line(result, DUPLICATE_EMAIL_MSG, "(HTTP 422)", "password reset")
    assert len(project.users) == 1


def test_create_with_the_anon_key_is_refused_by_auth(
    project: FakeSupabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", project.anon_key)

    result = invoke(["users", "create", "ada@example.com", "--password", PASSWORD])

    error_line(result, "User not allowed (HTTP 403)", "service role key")
    assert project.users == {}


def test_create_with_a_wrong_key_is_refused_by_the_gateway(
    project: FakeSupabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_not-the-right-one")

    result = invoke(["users", "create", "ada@example.com", "--password", PASSWORD])

    error_line(result, "Invalid API key (HTTP 401)", "SUPABASE_SERVICE_ROLE_KEY")


def test_half_configured_api_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://abcd1234.supabase.co")
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY", raising=False)

    result = invoke(["users", "create", "ada@example.com", "--password", PASSWORD])

    error_line(result, "SUPABASE_URL is set but SUPABASE_SERVICE_ROLE_KEY is not")


def test_bad_input_is_refused_before_anything_is_sent(project: FakeSupabase) -> None:
    error_line(invoke(["users", "create", "nobody", "--password", PASSWORD]), "not an email")
    error_line(invoke(["users", "create", "a@b.co", "--password", "12345"]), "shorter than 6")
    error_line(
        invoke(["users", "create", "a@b.co", "--password", PASSWORD, "--role", "god"]),
        "unknown role 'god'",
    )
    assert project.requests == []


def test_invite_against_the_auth_fake(project: FakeSupabase) -> None:
    result = invoke(["users", "invite", "Ada@Example.com", "--first-name", "Ada"])

    assert result.exit_code == 0, result.output
    assert project.invitations == ["ada@example.com"]
    (user,) = project.users.values()
    assert user["user_metadata"] == {"first_name": "Ada"}
    assert f"invited ada@example.com ({user['id']})" in result.output


def test_invite_of_a_confirmed_user_is_one_line(project: FakeSupabase) -> None:
    assert invoke(["users", "create", "ada@example.com", "--password", PASSWORD]).exit_code == 0

    result = invoke(["users", "invite", "ada@example.com"])

    error_line(result, DUPLICATE_EMAIL_MSG, "(HTTP 422)")
    assert project.invitations == []
