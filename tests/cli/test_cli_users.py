"""``trainlytics users create`` (local database, as Supabase Auth inserts) and ``users invite``
(Supabase Auth admin API, contract-tested through httpx.MockTransport)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import bcrypt
import httpx
import psycopg
import pytest

from tests.cli.cli_support import error_line, invoke
from trainlytics.cli import users as users_command

PASSWORD = "correct horse battery"  # noqa: S105 - a test value


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def _auth_row(url: str, email: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select au.id, au.aud, au.role, au.encrypted_password, au.email_confirmed_at,"
            " au.confirmation_token, au.recovery_token, au.email_change_token_new,"
            " au.email_change, au.raw_app_meta_data, au.instance_id,"
            " u.first_name, u.last_name, u.role::text as profile_role, u.is_verified"
            " from auth.users as au left join public.users as u on u.id = au.id"
            " where au.email = %s",
            [email],
        )
        row = cur.fetchone()
        assert row is not None, f"{email} not in auth.users"
        return dict(zip([d.name for d in cur.description or []], row, strict=True))


def test_create_inserts_like_supabase_auth_and_the_profile_follows(
    cli_database_url: str,
) -> None:
    email = _email()
    result = invoke(
        [
            "users",
            "create",
            email.upper(),
            "--password",
            PASSWORD,
            "--first-name",
            "Ada",
            "--last-name",
            "Lovelace",
            "--database-url",
            cli_database_url,
        ]
    )

    assert result.exit_code == 0, result.output
    assert f"created athlete {email}" in result.output
    row = _auth_row(cli_database_url, email)  # stored lowercased, as GoTrue does
    assert (row["aud"], row["role"]) == ("authenticated", "authenticated")
    assert str(row["instance_id"]) == "00000000-0000-0000-0000-000000000000"
    # A bcrypt hash of cost 10 that verifies the password (what GoTrue checks at sign-in).
    assert row["encrypted_password"].startswith("$2b$10$")
    assert bcrypt.checkpw(PASSWORD.encode(), row["encrypted_password"].encode())
    assert not bcrypt.checkpw(b"wrong password", row["encrypted_password"].encode())
    assert row["email_confirmed_at"] is not None
    # GoTrue scans these into Go strings: null would break sign-in, so they are empty strings.
    assert [
        row[c]
        for c in ("confirmation_token", "recovery_token", "email_change_token_new", "email_change")
    ] == ["", "", "", ""]
    assert row["raw_app_meta_data"] == {"provider": "email", "providers": ["email"]}
    # The auth trigger created the profile from the metadata.
    assert (row["first_name"], row["last_name"], row["profile_role"], row["is_verified"]) == (
        "Ada",
        "Lovelace",
        "athlete",
        True,
    )
    assert str(row["id"]) in result.output


def test_create_unconfirmed_coach(cli_database_url: str) -> None:
    email = _email()
    result = invoke(
        [
            "users",
            "create",
            email,
            "--password",
            PASSWORD,
            "--unconfirmed",
            "--role",
            "coach",
            "--database-url",
            cli_database_url,
        ]
    )

    assert result.exit_code == 0, result.output
    assert "email unconfirmed" in result.output
    row = _auth_row(cli_database_url, email)
    assert row["email_confirmed_at"] is None
    assert (row["profile_role"], row["is_verified"]) == ("coach", False)


def test_create_prompts_for_the_password_when_not_given(cli_database_url: str) -> None:
    email = _email()
    result = invoke(
        ["users", "create", email, "--database-url", cli_database_url],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input
    row = _auth_row(cli_database_url, email)
    assert bcrypt.checkpw(PASSWORD.encode(), row["encrypted_password"].encode())


def test_create_twice_is_one_clear_error_and_changes_nothing(cli_database_url: str) -> None:
    email = _email()
    first = invoke(
        ["users", "create", email, "--password", PASSWORD, "--database-url", cli_database_url]
    )
    assert first.exit_code == 0, first.output
    before = _auth_row(cli_database_url, email)

    second = invoke(
        [
            "users",
            "create",
            email.title(),
            "--password",
            "another password",
            "--database-url",
            cli_database_url,
        ]
    )

    error_line(second, f"a user with email {email} already exists")
    assert _auth_row(cli_database_url, email)["encrypted_password"] == before["encrypted_password"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["not-an-email", "--password", PASSWORD], "'not-an-email' is not an email address"),
        (["a@b", "--password", PASSWORD], "is not an email address"),
        ([f"{uuid.uuid4().hex}@example.com", "--password", "12345"], "shorter than 6"),
        ([f"{uuid.uuid4().hex}@example.com", "--password", "é" * 40], "longer than 72 bytes"),
        (
            [f"{uuid.uuid4().hex}@example.com", "--password", PASSWORD, "--role", "god"],
            "unknown role 'god'",
        ),
    ],
)
def test_create_bad_input_is_one_red_line(
    cli_database_url: str, args: list[str], fragment: str
) -> None:
    result = invoke(["users", "create", *args, "--database-url", cli_database_url])

    error_line(result, fragment)
    with psycopg.connect(cli_database_url) as conn:
        row = conn.execute(
            "select count(*) from auth.users where email = %s", [args[0].lower()]
        ).fetchone()
    assert row == (0,)


def test_create_on_an_unreachable_database(cli_database_url: str) -> None:
    result = invoke(
        [
            "users",
            "create",
            _email(),
            "--password",
            PASSWORD,
            "--database-url",
            "postgresql://postgres:pw@127.0.0.1:1/none",
        ]
    )
    error_line(result, "cannot connect to postgresql://postgres:***@127.0.0.1:1/none")


# --- users invite ----------------------------------------------------------------------------

SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.service-role.signature"  # shaped like a legacy JWT key


@pytest.fixture
def supabase(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[httpx.Request]]:
    """Install a fake Supabase Auth answering /auth/v1/invite; returns the requests seen."""

    def install(
        status: int = 200,
        body: Any = None,
        *,
        error: Exception | None = None,
        key: str = SERVICE_KEY,
    ) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if error is not None:
                raise error
            payload = json.loads(request.content)
            answer = (
                body
                if body is not None
                else {
                    "id": "5f0c6c52-8b3b-4b8e-9a36-1c5d2c1d7e01",
                    "aud": "authenticated",
                    "role": "authenticated",
                    "email": payload["email"],
                    "invited_at": "2026-11-25T10:00:00.000000Z",
                    "user_metadata": payload.get("data", {}),
                }
            )
            return httpx.Response(status, json=answer)

        monkeypatch.setenv("SUPABASE_URL", "https://abcd1234.supabase.co/")
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", key)
        monkeypatch.setattr(
            users_command,
            "make_http_client",
            lambda: httpx.Client(transport=httpx.MockTransport(handler)),
        )
        return seen

    return install


def test_invite_calls_the_auth_admin_api(supabase: Callable[..., list[httpx.Request]]) -> None:
    seen = supabase()

    result = invoke(
        [
            "users",
            "invite",
            "Ada@Example.com",
            "--first-name",
            "Ada",
            "--redirect-to",
            "https://app.example.com/welcome",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "invited ada@example.com (5f0c6c52-8b3b-4b8e-9a36-1c5d2c1d7e01)" in result.output
    (request,) = seen
    assert request.method == "POST"
    assert request.url.host == "abcd1234.supabase.co"
    assert request.url.path == "/auth/v1/invite"
    assert request.url.params["redirect_to"] == "https://app.example.com/welcome"
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "email": "ada@example.com",
        "data": {"first_name": "Ada"},
    }
    assert SERVICE_KEY not in result.output


def test_invite_with_a_secret_api_key_sends_it_as_apikey_only(
    supabase: Callable[..., list[httpx.Request]],
) -> None:
    key = "sb_secret_0123456789abcdef"
    seen = supabase(key=key)

    result = invoke(["users", "invite", "bo@example.com"])

    assert result.exit_code == 0, result.output
    (request,) = seen
    assert request.headers["apikey"] == key
    assert "authorization" not in request.headers
    assert "redirect_to" not in request.url.params


@pytest.mark.parametrize(
    ("status", "body", "fragments"),
    [
        (
            422,
            {
                "code": 422,
                "error_code": "email_exists",
                "msg": "A user with this email address has already been registered",
            },
            ["already been registered (HTTP 422)", "password reset"],
        ),
        (
            401,
            {"message": "Invalid API key"},
            ["Invalid API key (HTTP 401)", "SUPABASE_SERVICE_ROLE_KEY"],
        ),
        (
            403,
            {"code": 403, "error_code": "not_admin", "msg": "User not allowed"},
            ["User not allowed (HTTP 403)", "service role key"],
        ),
        (
            429,
            {
                "code": 429,
                "error_code": "over_email_send_rate_limit",
                "msg": "email rate limit exceeded",
            },
            ["rate limit", "custom SMTP"],
        ),
        (200, {"unexpected": True}, ["without a user"]),
    ],
)
def test_invite_refusals_are_one_red_line(
    supabase: Callable[..., list[httpx.Request]],
    status: int,
    body: dict[str, Any],
    fragments: list[str],
) -> None:
    supabase(status, body)
    result = invoke(["users", "invite", "ada@example.com"])
    line = error_line(result, *fragments)
    assert SERVICE_KEY not in line


def test_invite_unreachable_server(supabase: Callable[..., list[httpx.Request]]) -> None:
    supabase(error=httpx.ConnectError("connection refused"))
    result = invoke(["users", "invite", "ada@example.com"])
    error_line(result, "cannot reach Supabase Auth at https://abcd1234.supabase.co", "SUPABASE_URL")


def test_invite_without_configuration_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY", raising=False)
    error_line(
        invoke(["users", "invite", "ada@example.com"]), "SUPABASE_URL is not set", "users create"
    )

    monkeypatch.setenv("SUPABASE_URL", "https://abcd1234.supabase.co")
    error_line(
        invoke(["users", "invite", "ada@example.com"]), "SUPABASE_SERVICE_ROLE_KEY is not set"
    )


def test_invite_bad_email_and_bad_url(
    supabase: Callable[..., list[httpx.Request]], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = supabase()
    error_line(invoke(["users", "invite", "nobody"]), "'nobody' is not an email address")
    monkeypatch.setenv("SUPABASE_URL", "abcd1234.supabase.co")
    error_line(invoke(["users", "invite", "ada@example.com"]), "is not an http(s) URL")
    assert seen == []
