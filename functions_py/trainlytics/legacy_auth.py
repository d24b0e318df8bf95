"""Supabase Auth users for Trainlytics v1 users, keeping their bcrypt password hashes.

Two ways, chosen by where the v2 database is:

- :class:`LocalAuthUsers` inserts into ``auth.users`` and ``auth.identities`` the way Supabase
  Auth (GoTrue) does when an admin creates a user (``POST /admin/users`` with
  ``password_hash``; supabase/auth ``internal/api/admin.go`` ``adminUserCreate`` and
  ``models.NewUserWithPasswordHash``): the v1 hash as ``encrypted_password``, the email
  lowercased, empty strings (not nulls) in the token columns GoTrue scans into Go strings,
  ``{"provider": "email", "providers": ["email"]}`` as app metadata, ``email_verified`` in the
  user metadata when confirmed, and an ``email`` identity whose provider id is the user id.
  It runs inside the v1 user's own v2 transaction, as ``supabase_auth_admin`` (the role that
  owns ``auth.users``): the connection must be allowed to ``set role supabase_auth_admin`` — a
  superuser, i.e. the bootstrap connection of plain PostgreSQL, the embedded server or a local
  ``supabase start``. On a Supabase project nobody but the Auth server writes ``auth.users``
  (``postgres`` is not a member of ``supabase_auth_admin``, ``service_role`` holds nothing on
  it), hence:
- :class:`AdminApiAuthUsers` asks the project's Auth server: ``POST
  {SUPABASE_URL}/auth/v1/admin/users`` with ``id``, ``email``, ``password_hash``,
  ``email_confirm`` and ``user_metadata`` (all fields of GoTrue's ``AdminUserParams``), and
  ``DELETE /auth/v1/admin/users/{id}`` to undo a user whose data import failed.

A hash that is not bcrypt (``$2a$``/``$2b$``/``$2y$``, which GoTrue's ``bcrypt.Cost`` accepts)
is not carried: the user is created without a usable password (GoTrue then sets a random one)
and must use password recovery; the import reports it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson
import psycopg

from trainlytics.auth_admin import _OPAQUE_KEY_PREFIX, _error_message, _hint_for
from trainlytics.errors import TrainlyticsError

__all__ = [
    "AdminApiAuthUsers",
    "AuthUserExistsError",
    "LegacyAuthUser",
    "LocalAuthUsers",
    "is_bcrypt_hash",
]

# GoTrue checks a password_hash with Go's bcrypt.Cost: "$2" + one minor letter + "$" + a
# two-digit cost (4..31) + "$" + 53 characters of bcrypt's base64 (salt and hash).
_BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
_NIL_INSTANCE = "00000000-0000-0000-0000-000000000000"


def is_bcrypt_hash(value: str | None) -> bool:
    """True for a bcrypt hash Supabase Auth accepts as ``password_hash``."""
    return bool(value) and _BCRYPT.match(value or "") is not None


class AuthUserExistsError(TrainlyticsError):
    """Supabase Auth already has a user with this email."""


@dataclass(frozen=True)
class LegacyAuthUser:
    """What Supabase Auth needs to know about a v1 user."""

    user_id: uuid.UUID
    email: str
    password_hash: str | None
    confirmed: bool
    first_name: str | None
    last_name: str | None
    created_at: datetime | None

    def user_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            key: value
            for key, value in (("first_name", self.first_name), ("last_name", self.last_name))
            if value
        }
        return meta


class LocalAuthUsers:
    """Inserts auth users in the caller's transaction, as Supabase Auth does."""

    mode = "database"

    def check(self, conn: psycopg.Connection[Any]) -> None:
        """Fail early, with a hint, when this login may not write ``auth.users``."""
        with conn.transaction():
            try:
                conn.execute("set local role supabase_auth_admin")
            except psycopg.errors.InsufficientPrivilege as exc:
                raise TrainlyticsError(
                    "this database login cannot act as supabase_auth_admin, so it cannot "
                    "create Supabase Auth users",
                    hint="locally, connect as the superuser; on a Supabase project set "
                    "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY so users go through the Auth "
                    "admin API",
                ) from exc
            exists = conn.execute("select to_regclass('auth.identities') is not null").fetchone()
            if not exists or not exists[0]:
                raise TrainlyticsError(
                    "this database has no auth.identities table",
                    hint="re-run `trainlytics db migrate` on a fresh database, or use a "
                    "Supabase project",
                )

    def insert(self, conn: psycopg.Connection[Any], user: LegacyAuthUser) -> None:
        """Insert ``user`` (must run inside a transaction; leaves the role reset)."""
        meta = user.user_metadata()
        if user.confirmed:
            meta["email_verified"] = True  # what GoTrue's User.Confirm adds
        identity = {
            "sub": str(user.user_id),
            "email": user.email,
            "email_verified": False,
            "phone_verified": False,
        }
        conn.execute("set local role supabase_auth_admin")
        conn.execute(
            """
            insert into auth.users (
                instance_id, id, aud, role, email, encrypted_password,
                email_confirmed_at, confirmation_token, recovery_token,
                email_change_token_new, email_change, raw_app_meta_data, raw_user_meta_data,
                is_super_admin, created_at, updated_at, is_sso_user, is_anonymous
            ) values (
                %(instance)s, %(id)s, 'authenticated', 'authenticated', %(email)s, %(hash)s,
                case when %(confirmed)s then now() end, '', '', '', '',
                '{"provider": "email", "providers": ["email"]}', %(meta)s::jsonb,
                false, coalesce(%(created)s, now()), now(), false, false
            )
            """,
            {
                "instance": _NIL_INSTANCE,
                "id": user.user_id,
                "email": user.email,
                "hash": user.password_hash or "",
                "confirmed": user.confirmed,
                "meta": orjson.dumps(meta).decode(),
                "created": user.created_at,
            },
        )
        conn.execute(
            """
            insert into auth.identities (
                provider_id, user_id, identity_data, provider, last_sign_in_at, created_at,
                updated_at
            ) values (%s, %s, %s::jsonb, 'email', now(), now(), now())
            """,
            [str(user.user_id), user.user_id, orjson.dumps(identity).decode()],
        )
        conn.execute("reset role")


class AdminApiAuthUsers:
    """Creates auth users through a Supabase project's Auth admin API."""

    mode = "admin-api"

    def __init__(self, http: httpx.Client, supabase_url: str, service_key: str) -> None:
        base = supabase_url.rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise TrainlyticsError(
                f"SUPABASE_URL {supabase_url!r} is not an http(s) URL",
                hint="expected https://<project-ref>.supabase.co",
            )
        self.http = http
        self.base = base
        self.headers = {"apikey": service_key}
        if not service_key.startswith(_OPAQUE_KEY_PREFIX):
            self.headers["Authorization"] = f"Bearer {service_key}"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(
                method, f"{self.base}/auth/v1{path}", headers=self.headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise TrainlyticsError(
                f"cannot reach Supabase Auth at {self.base}: {type(exc).__name__}",
                hint="check SUPABASE_URL and the network",
            ) from exc

    def create(self, user: LegacyAuthUser) -> uuid.UUID:
        """Create ``user`` with its id and bcrypt hash; the id Supabase Auth answered."""
        body: dict[str, Any] = {
            "id": str(user.user_id),
            "email": user.email,
            "email_confirm": user.confirmed,
            "user_metadata": user.user_metadata(),
        }
        if user.password_hash:
            body["password_hash"] = user.password_hash
        response = self._request("POST", "/admin/users", json=body)
        if response.status_code == 422:
            try:
                code = response.json().get("error_code")
            except (ValueError, AttributeError):
                code = None
            if code == "email_exists":
                raise AuthUserExistsError(
                    f"Supabase Auth already has a user with email {user.email}",
                    hint="the address is registered in v2 already",
                )
        if response.status_code >= 400:
            raise TrainlyticsError(
                f"Supabase Auth refused to create {user.email}: {_error_message(response)} "
                f"(HTTP {response.status_code})",
                hint=_hint_for(response),
            )
        try:
            answered = response.json().get("id")
            created = uuid.UUID(str(answered))
        except (ValueError, AttributeError) as exc:
            raise TrainlyticsError(
                f"Supabase Auth answered the creation of {user.email} without a user id",
                hint="check that SUPABASE_URL is the project URL, not another service",
            ) from exc
        return created

    def delete(self, user_id: uuid.UUID) -> None:
        """Delete an auth user this import created (its data import failed)."""
        response = self._request("DELETE", f"/admin/users/{user_id}")
        if response.status_code >= 400 and response.status_code != 404:
            raise TrainlyticsError(
                f"Supabase Auth refused to delete user {user_id}: {_error_message(response)} "
                f"(HTTP {response.status_code})",
                hint=_hint_for(response),
            )
