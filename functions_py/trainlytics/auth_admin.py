"""Creating athletes: through a Supabase project's Auth admin API, or in a local database.

- :func:`create_user_via_api` asks Supabase Auth (GoTrue) to create the user
  (``POST {SUPABASE_URL}/auth/v1/admin/users`` with the service role key), then sets a coach or
  admin role on the profile through PostgREST (``PATCH /rest/v1/users?id=eq.<id>``). This is
  the only way on a Supabase project: its ``postgres`` login may not act as Supabase Auth.
- :func:`create_local_user` writes the user the way Supabase Auth's admin endpoint does, on a
  database Supabase Auth does not manage (the embedded server, CI's PostgreSQL after the
  bootstrap): the ``auth.users`` row with a bcrypt hash (cost 10, GoTrue's), the ``email``
  provider in ``raw_app_meta_data``, ``email_verified`` in ``raw_user_meta_data`` when
  confirmed, empty strings (not nulls) in every column GoTrue scans into a Go string
  (:data:`GOTRUE_STRING_COLUMNS`), and the matching ``auth.identities`` row. It acts as
  ``supabase_auth_admin`` only where the login may (a superuser) and otherwise inserts as
  itself; it never relies on the owner being a member of that role. On a database that
  Supabase Auth manages it refuses, in one line, naming what to set.
- :func:`invite_user` asks Supabase Auth to invite someone by email
  (``POST {SUPABASE_URL}/auth/v1/invite``): Supabase creates the user and mails the link.

The HTTP client is passed in (tests use ``httpx.MockTransport``). Shapes and rules come from
supabase/auth (``internal/api/admin.go`` adminUserCreate, ``internal/models/user.go``,
``internal/models/identity.go``, ``internal/api/provider/provider.go``, ``migrations/``).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
import httpx
import psycopg
from psycopg import sql

from trainlytics.errors import TrainlyticsError

__all__ = [
    "BCRYPT_COST",
    "GOTRUE_STRING_COLUMNS",
    "MIN_PASSWORD_LENGTH",
    "USER_ROLES",
    "CreatedUser",
    "InvitedUser",
    "LocalUser",
    "create_local_user",
    "create_user_via_api",
    "hash_password",
    "invite_user",
    "supabase_auth_manages",
    "validate_email",
]

# GoTrue's defaults: bcrypt.DefaultCost (10) and GOTRUE_PASSWORD_MIN_LENGTH (6). bcrypt reads
# at most 72 bytes of a password; longer ones are refused rather than silently truncated.
BCRYPT_COST = 10
MIN_PASSWORD_LENGTH = 6
MAX_PASSWORD_BYTES = 72
USER_ROLES = ("athlete", "coach", "admin")

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
SUPABASE_ENV_HINT = (
    "set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (Project Settings → API keys) to create "
    "users through Supabase Auth"
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Supabase's "secret" API keys (sb_secret_...) are not JWTs: they go in the apikey header only,
# and the gateway rejects them in Authorization. Legacy service_role keys are JWTs sent in both.
_OPAQUE_KEY_PREFIX = "sb_secret_"


@dataclass(frozen=True)
class LocalUser:
    id: uuid.UUID
    email: str
    confirmed: bool
    role: str


@dataclass(frozen=True)
class CreatedUser:
    """A user Supabase Auth created through its admin API."""

    id: str
    email: str
    confirmed: bool
    role: str


@dataclass(frozen=True)
class InvitedUser:
    id: str
    email: str
    invited_at: str | None


def validate_email(email: str) -> str:
    """The address, trimmed and lowercased (as GoTrue stores it), or a clear error."""
    cleaned = email.strip().lower()
    if not _EMAIL.match(cleaned) or len(cleaned) > 255:
        raise TrainlyticsError(
            f"{email!r} is not an email address", hint="expected something like ada@example.com"
        )
    return cleaned


def hash_password(password: str, *, cost: int = BCRYPT_COST) -> str:
    """A bcrypt hash GoTrue accepts (``$2b$10$...``), after GoTrue's length rules."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise TrainlyticsError(
            f"the password is shorter than {MIN_PASSWORD_LENGTH} characters",
            hint="Supabase Auth refuses shorter passwords; choose a longer one",
        )
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise TrainlyticsError(
            f"the password is longer than {MAX_PASSWORD_BYTES} bytes",
            hint="bcrypt reads only the first 72 bytes; choose a shorter one",
        )
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=cost)).decode("ascii")


def supabase_auth_manages(conn: psycopg.Connection[Any]) -> bool:
    """Whether Supabase Auth (GoTrue) runs this database: its own migration ledger
    ``auth.schema_migrations`` exists (every Supabase project has it; the local emulation
    ``sql/supabase_compat.sql`` does not create it — Auth's own migrations are not emulated)."""
    row = conn.execute("select to_regclass('auth.schema_migrations') is not null").fetchone()
    return bool(row and row[0])


def _may_act_as_auth_admin(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "select case when exists (select from pg_roles where rolname = 'supabase_auth_admin')"
        " then pg_has_role(current_user, 'supabase_auth_admin', 'member') else false end"
    ).fetchone()
    return bool(row and row[0])


def _no_auth_rights(exc: psycopg.errors.InsufficientPrivilege) -> TrainlyticsError:
    """One line for a login that may not read or write Supabase Auth's tables."""
    return TrainlyticsError(
        "this database login may not write auth.users",
        hint="connect as the project's postgres role (or a superuser), or " + SUPABASE_ENV_HINT,
    )


def create_local_user(
    conn: psycopg.Connection[Any],
    email: str,
    password: str,
    *,
    confirmed: bool = True,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "athlete",
) -> LocalUser:
    """Write the user as Supabase Auth's admin endpoint would, and set the profile's role.

    One transaction on ``conn``. Refuses (one line naming what to set) on a database that
    Supabase Auth manages; there, use :func:`create_user_via_api`."""
    address = validate_email(email)
    if role not in USER_ROLES:
        raise TrainlyticsError(f"unknown role {role!r}", hint="one of " + ", ".join(USER_ROLES))
    password_hash = hash_password(password)
    if supabase_auth_manages(conn):
        raise TrainlyticsError(
            "this database is a Supabase project: its users are created by Supabase Auth",
            hint=SUPABASE_ENV_HINT,
        )
    metadata: dict[str, Any] = {
        key: value for key, value in (("first_name", first_name), ("last_name", last_name)) if value
    }
    if confirmed:
        # models.User.Confirm merges {"email_verified": true} into the user metadata.
        metadata["email_verified"] = True
    user_id = uuid.uuid4()
    # provider.Claims{Subject, Email} as structs.Map: email_verified / phone_verified carry no
    # omitempty, so they are always present (false: Confirm does not touch the identity).
    identity_data = {
        "sub": str(user_id),
        "email": address,
        "email_verified": False,
        "phone_verified": False,
    }
    with conn.transaction():
        try:
            exists = conn.execute(
                "select 1 from auth.users where lower(email) = %s", [address]
            ).fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _no_auth_rights(exc) from exc
        if exists is not None:
            raise TrainlyticsError(
                f"a user with email {address} already exists",
                hint="sign in with it, or choose another address",
            )
        row = conn.execute("select current_user, current_setting('search_path')").fetchone()
        assert row is not None  # noqa: S101 - a select without from returns one row
        caller, search_path = str(row[0]), str(row[1])
        if _may_act_as_auth_admin(conn):
            # What Supabase Auth connects as; its triggers then run as they do on Supabase.
            conn.execute("set local role supabase_auth_admin")
        conn.execute("set local search_path = auth")
        strings = ", ".join(GOTRUE_STRING_COLUMNS)
        blanks = ", ".join("''" for _ in GOTRUE_STRING_COLUMNS)
        try:
            conn.execute(
                f"""
                insert into auth.users (
                    instance_id, id, aud, role, email, encrypted_password,
                    email_confirmed_at, {strings}, email_change_confirm_status,
                    raw_app_meta_data, raw_user_meta_data, is_sso_user, is_anonymous,
                    created_at, updated_at
                ) values (
                    %(instance)s, %(id)s, 'authenticated', 'authenticated', %(email)s,
                    %(hash)s, case when %(confirmed)s then now() end, {blanks}, 0,
                    '{{"provider": "email", "providers": ["email"]}}', %(meta)s::jsonb,
                    false, false, now(), now()
                )
                """,  # noqa: S608 - only the fixed column list above is formatted in
                {
                    "instance": NIL_INSTANCE_ID,
                    "id": user_id,
                    "email": address,
                    "hash": password_hash,
                    "confirmed": confirmed,
                    "meta": json.dumps(metadata),
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
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _no_auth_rights(exc) from exc
        # Back to the caller's role and path (not `reset`: that would drop a session role).
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(caller)))
        conn.execute("select set_config('search_path', %s, true)", [search_path])
        if role != "athlete":
            conn.execute(
                "update public.users set role = %s::public.user_role where id = %s",
                [role, user_id],
            )
    return LocalUser(user_id, address, confirmed, role)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("msg", "message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return response.reason_phrase or f"HTTP {response.status_code}"


def _hint_for(response: httpx.Response) -> str:
    status = response.status_code
    if status in (401, 403):
        return "check SUPABASE_SERVICE_ROLE_KEY: it must be the project's service role key"
    if status == 422:
        return "the address is already registered: send a password reset instead"
    if status == 429:
        return "Supabase Auth's email rate limit was hit: wait, or configure custom SMTP"
    if status == 404:
        return "check SUPABASE_URL: it must be the project URL (https://<ref>.supabase.co)"
    return "see the Auth logs of the Supabase project"


def invite_user(
    http: httpx.Client,
    supabase_url: str,
    service_key: str,
    email: str,
    *,
    data: dict[str, str] | None = None,
    redirect_to: str | None = None,
) -> InvitedUser:
    """Invite ``email`` through Supabase Auth's admin API; the project mails the link."""
    address = validate_email(email)
    base = _base_url(supabase_url)
    headers = _api_headers(service_key)
    params = {"redirect_to": redirect_to} if redirect_to else None
    try:
        response = http.post(
            f"{base}/auth/v1/invite",
            json={"email": address, "data": data or {}},
            headers=headers,
            params=params,
        )
    except httpx.HTTPError as exc:
        raise TrainlyticsError(
            f"cannot reach Supabase Auth at {base}: {type(exc).__name__}",
            hint="check SUPABASE_URL and the network",
        ) from exc
    if response.status_code >= 400:
        raise TrainlyticsError(
            f"Supabase Auth refused the invitation of {address}: {_error_message(response)} "
            f"(HTTP {response.status_code})",
            hint=_hint_for(response),
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise TrainlyticsError(
            f"Supabase Auth answered the invitation of {address} without a user",
            hint="check that SUPABASE_URL is the project URL, not another service",
        )
    invited_at = body.get("invited_at")
    return InvitedUser(
        body["id"], str(body.get("email") or address), invited_at if invited_at else None
    )


def _api_headers(service_key: str) -> dict[str, str]:
    headers = {"apikey": service_key}
    if not service_key.startswith(_OPAQUE_KEY_PREFIX):
        headers["Authorization"] = f"Bearer {service_key}"
    return headers


def _base_url(supabase_url: str) -> str:
    base = supabase_url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise TrainlyticsError(
            f"SUPABASE_URL {supabase_url!r} is not an http(s) URL",
            hint="expected https://<project-ref>.supabase.co",
        )
    return base


def create_user_via_api(
    http: httpx.Client,
    supabase_url: str,
    service_key: str,
    email: str,
    password: str,
    *,
    confirmed: bool = True,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "athlete",
) -> CreatedUser:
    """Create the user through Supabase Auth's admin API; set a coach/admin role through
    PostgREST (service role). The profile is created by the auth trigger, in Auth's own
    transaction, so it exists when the API answers."""
    address = validate_email(email)
    if role not in USER_ROLES:
        raise TrainlyticsError(f"unknown role {role!r}", hint="one of " + ", ".join(USER_ROLES))
    hash_password(password)  # the same length rules, before anything is sent
    base = _base_url(supabase_url)
    headers = _api_headers(service_key)
    metadata = {
        key: value for key, value in (("first_name", first_name), ("last_name", last_name)) if value
    }
    try:
        response = http.post(
            f"{base}/auth/v1/admin/users",
            json={
                "email": address,
                "password": password,
                "email_confirm": confirmed,
                "user_metadata": metadata,
            },
            headers=headers,
        )
    except httpx.HTTPError as exc:
        raise TrainlyticsError(
            f"cannot reach Supabase Auth at {base}: {type(exc).__name__}",
            hint="check SUPABASE_URL and the network",
        ) from exc
    if response.status_code >= 400:
        hint = _hint_for(response)
        if response.status_code == 422:
            hint = "the address is already registered: sign in, or send a password reset"
        raise TrainlyticsError(
            f"Supabase Auth refused to create {address}: {_error_message(response)} "
            f"(HTTP {response.status_code})",
            hint=hint,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise TrainlyticsError(
            f"Supabase Auth answered the creation of {address} without a user",
            hint="check that SUPABASE_URL is the project URL, not another service",
        )
    user_id = body["id"]
    if role != "athlete":
        _set_role_via_rest(http, base, headers, user_id, address, role)
    return CreatedUser(user_id, str(body.get("email") or address), confirmed, role)


def _set_role_via_rest(
    http: httpx.Client,
    base: str,
    headers: dict[str, str],
    user_id: str,
    address: str,
    role: str,
) -> None:
    failure = f"created {address} ({user_id}) but could not make them {role}"
    hint = f"set public.users.role to {role} for {user_id} (Table Editor, or SQL as postgres)"
    try:
        response = http.patch(
            f"{base}/rest/v1/users",
            params={"id": f"eq.{user_id}"},
            json={"role": role},
            headers={**headers, "Prefer": "return=representation"},
        )
    except httpx.HTTPError as exc:
        raise TrainlyticsError(f"{failure}: {type(exc).__name__}", hint=hint) from exc
    if response.status_code >= 400:
        raise TrainlyticsError(
            f"{failure}: {_error_message(response)} (HTTP {response.status_code})", hint=hint
        )
    try:
        rows = response.json()
    except ValueError:
        rows = None
    if not isinstance(rows, list) or len(rows) != 1:
        raise TrainlyticsError(f"{failure}: the profile was not found", hint=hint)
