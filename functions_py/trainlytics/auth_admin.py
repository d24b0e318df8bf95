"""Creating athletes: directly in a local database, or through the Supabase Auth admin API.

- :func:`create_local_user` inserts into ``auth.users`` the way Supabase Auth (GoTrue) does —
  as ``supabase_auth_admin`` with ``search_path = auth``, a bcrypt password hash (cost 10,
  GoTrue's), the ``email`` identity provider in ``raw_app_meta_data``, and empty strings (not
  nulls) in the token columns GoTrue scans into Go strings. The ``on_auth_user_created``
  trigger then creates the ``public.users`` profile. For the embedded database, CI's
  PostgreSQL and a local Supabase (``supabase start``) reached as a superuser.
- :func:`invite_user` asks a Supabase project's Auth server to invite someone by email
  (``POST {SUPABASE_URL}/auth/v1/invite`` with the service role key): Supabase creates the
  user and mails the invitation link. The HTTP client is passed in (tests use
  ``httpx.MockTransport``).
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

from trainlytics.errors import TrainlyticsError

__all__ = [
    "BCRYPT_COST",
    "MIN_PASSWORD_LENGTH",
    "USER_ROLES",
    "InvitedUser",
    "LocalUser",
    "create_local_user",
    "hash_password",
    "invite_user",
    "validate_email",
]

# GoTrue's defaults: bcrypt.DefaultCost (10) and GOTRUE_PASSWORD_MIN_LENGTH (6). bcrypt reads
# at most 72 bytes of a password; longer ones are refused rather than silently truncated.
BCRYPT_COST = 10
MIN_PASSWORD_LENGTH = 6
MAX_PASSWORD_BYTES = 72
USER_ROLES = ("athlete", "coach", "admin")

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
    """Insert the user into ``auth.users`` as Supabase Auth does and set the profile's role.

    Runs in one transaction on ``conn``, as its own login: the embedded database's superuser,
    or Supabase's ``postgres``, which holds every privilege on ``auth.users`` (Supabase grants
    it what Supabase Auth creates in ``auth``) but is no longer a member of
    ``supabase_auth_admin``.
    """
    address = validate_email(email)
    if role not in USER_ROLES:
        raise TrainlyticsError(f"unknown role {role!r}", hint="one of " + ", ".join(USER_ROLES))
    password_hash = hash_password(password)
    metadata = {
        key: value for key, value in (("first_name", first_name), ("last_name", last_name)) if value
    }
    with conn.transaction():
        try:
            exists = conn.execute(
                "select 1 from auth.users where lower(email) = %s", [address]
            ).fetchone()
            if exists is not None:
                raise TrainlyticsError(
                    f"a user with email {address} already exists",
                    hint="sign in with it, or choose another address",
                )
            row = conn.execute(
                """
            insert into auth.users (
                instance_id, id, aud, role, email, encrypted_password,
                email_confirmed_at, confirmation_token, recovery_token,
                email_change_token_new, email_change,
                raw_app_meta_data, raw_user_meta_data, created_at, updated_at
            ) values (
                '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
                'authenticated', %(email)s, %(hash)s,
                case when %(confirmed)s then now() end, '', '', '', '',
                '{"provider": "email", "providers": ["email"]}', %(meta)s::jsonb, now(), now()
            )
            returning id
            """,
                {
                    "email": address,
                    "hash": password_hash,
                    "confirmed": confirmed,
                    "meta": json.dumps(metadata),
                },
            ).fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise TrainlyticsError(
                "this database login may not write auth.users",
                hint="connect as the project's postgres role (or a superuser), or set "
                "SUPABASE_URL and the service key to create users through Supabase Auth",
            ) from exc
        if row is None:  # pragma: no cover - insert ... returning always returns the row
            raise RuntimeError("insert into auth.users returned nothing")
        user_id = row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(str(row[0]))
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
    base = supabase_url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise TrainlyticsError(
            f"SUPABASE_URL {supabase_url!r} is not an http(s) URL",
            hint="expected https://<project-ref>.supabase.co",
        )
    headers = {"apikey": service_key}
    if not service_key.startswith(_OPAQUE_KEY_PREFIX):
        headers["Authorization"] = f"Bearer {service_key}"
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
