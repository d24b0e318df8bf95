"""Supabase Auth users: through a project's Auth admin API, or written into a local database.

- :class:`AuthAdminApi` is the one client of Supabase Auth's admin API
  (``{SUPABASE_URL}/auth/v1`` with the service role key): ``POST /admin/users`` (optional
  ``id``, ``password`` or ``password_hash``, ``email_confirm``, ``user_metadata``),
  ``POST /invite`` and ``DELETE /admin/users/{id}``. :func:`create_user_via_api` and
  :func:`invite_user` (``trainlytics users create|invite``) and the legacy import use it; a
  coach or admin role is then set through PostgREST (``PATCH /rest/v1/users?id=eq.<id>``).
  This is the only way on a Supabase project: its ``postgres`` login may not act as Supabase
  Auth.
- :func:`insert_auth_user` is the one local write, on a database Supabase Auth does not manage
  (the embedded server, CI's PostgreSQL after the bootstrap), used by
  :func:`create_local_user` and the legacy import: the ``auth.users`` row as Supabase Auth's
  admin endpoint writes it (the bcrypt hash, the ``email`` provider in ``raw_app_meta_data``,
  ``email_verified`` in ``raw_user_meta_data`` when confirmed, empty strings — not nulls — in
  every column GoTrue scans into a Go string, :data:`GOTRUE_STRING_COLUMNS`) and the matching
  ``auth.identities`` row. One rule (:func:`may_act_as_auth_admin`): it acts as
  ``supabase_auth_admin`` only where the login may (a superuser) and otherwise inserts as the
  login itself; it never relies on the owner being a member of that role.
  :func:`check_local_auth` refuses, in one line naming what to set, on a database that
  Supabase Auth manages or for a login that may not write ``auth.users``.

The HTTP client is passed in (tests use ``httpx.MockTransport``). Shapes and rules come from
supabase/auth (``internal/api/admin.go`` adminUserCreate, ``internal/models/user.go``,
``internal/models/identity.go``, ``internal/api/provider/provider.go``, ``migrations/``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bcrypt
import httpx
import psycopg

from trainlytics.db.auth_users import (
    GOTRUE_STRING_COLUMNS,
    auth_email_taken,
    insert_auth_rows,
    may_act_as_auth_admin,
    may_write_auth_users,
    set_profile_role,
    supabase_auth_manages,
)
from trainlytics.errors import AuthUserExistsError, TrainlyticsError

__all__ = [
    "BCRYPT_COST",
    "GOTRUE_STRING_COLUMNS",
    "MIN_PASSWORD_LENGTH",
    "USER_ROLES",
    "ApiUser",
    "AuthAdminApi",
    "CreatedUser",
    "InvitedUser",
    "LocalUser",
    "check_local_auth",
    "create_local_user",
    "create_user_via_api",
    "hash_password",
    "insert_auth_user",
    "invite_user",
    "may_act_as_auth_admin",
    "supabase_auth_manages",
    "validate_email",
]

# GoTrue's defaults: bcrypt.DefaultCost (10) and GOTRUE_PASSWORD_MIN_LENGTH (6). bcrypt reads
# at most 72 bytes of a password; longer ones are refused rather than silently truncated.
BCRYPT_COST = 10
MIN_PASSWORD_LENGTH = 6
MAX_PASSWORD_BYTES = 72
USER_ROLES = ("athlete", "coach", "admin")

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


def _no_auth_rights(hint: str) -> TrainlyticsError:
    """One line for a login that may not read or write Supabase Auth's tables."""
    return TrainlyticsError(
        "this database login may not write auth.users",
        hint="connect as the project's postgres role (or a superuser), or " + hint,
    )


def check_local_auth(conn: psycopg.Connection[Any], *, hint: str = SUPABASE_ENV_HINT) -> None:
    """Refuse, in one line, to write auth users into this database: when Supabase Auth manages
    it (only the Auth server writes its users there), or when this login may neither act as
    ``supabase_auth_admin`` nor insert into ``auth.users`` and ``auth.identities``. ``hint``
    says how to go through the Auth admin API instead."""
    if supabase_auth_manages(conn):
        raise TrainlyticsError(
            "this database is a Supabase project: its users are created by Supabase Auth",
            hint=hint,
        )
    if not may_write_auth_users(conn):
        raise _no_auth_rights(hint)


def insert_auth_user(
    conn: psycopg.Connection[Any],
    *,
    user_id: uuid.UUID,
    email: str,
    encrypted_password: str,
    confirmed: bool,
    user_metadata: dict[str, Any],
    created_at: datetime | None = None,
) -> None:
    """Insert the user and its ``email`` identity as Supabase Auth's admin endpoint does.

    Must run inside the caller's transaction (``set local``): as ``supabase_auth_admin`` where
    :func:`may_act_as_auth_admin`, else as the login itself, with ``search_path = auth`` (as
    Supabase Auth runs, so the auth triggers see what they see there); the caller's role and
    path are back afterwards. ``email`` is stored as given (callers lowercase it, as GoTrue
    does); ``encrypted_password`` is a bcrypt hash, or '' for no usable password; confirmed
    users get ``email_confirmed_at`` and ``email_verified`` in the user metadata
    (models.User.Confirm)."""
    metadata = dict(user_metadata)
    if confirmed:
        metadata["email_verified"] = True
    # provider.Claims{Subject, Email} as structs.Map: email_verified / phone_verified carry no
    # omitempty, so they are always present (false: Confirm does not touch the identity).
    identity_data = {
        "sub": str(user_id),
        "email": email,
        "email_verified": False,
        "phone_verified": False,
    }
    try:
        insert_auth_rows(
            conn,
            user_id=user_id,
            email=email,
            encrypted_password=encrypted_password,
            confirmed=confirmed,
            user_metadata=metadata,
            identity_data=identity_data,
            created_at=created_at,
        )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _no_auth_rights(SUPABASE_ENV_HINT) from exc


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
    """Write the user as Supabase Auth's admin endpoint would (:func:`insert_auth_user`), and
    set the profile's role.

    One transaction on ``conn``. Refuses (one line naming what to set) on a database that
    Supabase Auth manages; there, use :func:`create_user_via_api`."""
    address = validate_email(email)
    if role not in USER_ROLES:
        raise TrainlyticsError(f"unknown role {role!r}", hint="one of " + ", ".join(USER_ROLES))
    password_hash = hash_password(password)
    check_local_auth(conn)
    user_id = uuid.uuid4()
    with conn.transaction():
        if auth_email_taken(conn, address):
            raise TrainlyticsError(
                f"a user with email {address} already exists",
                hint="sign in with it, or choose another address",
            )
        insert_auth_user(
            conn,
            user_id=user_id,
            email=address,
            encrypted_password=password_hash,
            confirmed=confirmed,
            user_metadata=_name_metadata(first_name, last_name),
        )
        if role != "athlete":
            set_profile_role(conn, user_id, role)
    return LocalUser(user_id, address, confirmed, role)


def _name_metadata(first_name: str | None, last_name: str | None) -> dict[str, Any]:
    return {
        key: value for key, value in (("first_name", first_name), ("last_name", last_name)) if value
    }


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


@dataclass(frozen=True)
class ApiUser:
    """The user object Supabase Auth answered with (the fields this package reads)."""

    id: uuid.UUID
    email: str | None
    invited_at: str | None


class AuthAdminApi:
    """Supabase Auth's admin API of one project (``{SUPABASE_URL}/auth/v1``, service role key):
    create a user (``POST /admin/users``), invite one (``POST /invite``), delete one
    (``DELETE /admin/users/{id}``). Refusals become one-line errors with a hint."""

    def __init__(self, http: httpx.Client, supabase_url: str, service_key: str) -> None:
        self.http = http
        self.base = _base_url(supabase_url)
        self.headers = _api_headers(service_key)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``{SUPABASE_URL}{path}`` with the key's headers (plus ``headers``)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            return self.http.request(method, f"{self.base}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise TrainlyticsError(
                f"cannot reach Supabase Auth at {self.base}: {type(exc).__name__}",
                hint="check SUPABASE_URL and the network",
            ) from exc

    def create_user(
        self,
        email: str,
        *,
        password: str | None = None,
        password_hash: str | None = None,
        user_id: uuid.UUID | None = None,
        email_confirm: bool = True,
        user_metadata: dict[str, Any] | None = None,
    ) -> ApiUser:
        """Create the user (AdminUserParams: ``id``, ``email``, ``password`` or
        ``password_hash``, ``email_confirm``, ``user_metadata``). Without either password,
        Supabase Auth sets a random one."""
        body: dict[str, Any] = {
            "email": email,
            "email_confirm": email_confirm,
            "user_metadata": user_metadata or {},
        }
        if user_id is not None:
            body["id"] = str(user_id)
        if password is not None:
            body["password"] = password
        if password_hash:
            body["password_hash"] = password_hash
        response = self.request("POST", "/auth/v1/admin/users", json=body)
        self._raise_for(
            response,
            f"Supabase Auth refused to create {email}",
            exists_hint="the address is already registered: sign in, or send a password reset",
        )
        return self._user(response, f"Supabase Auth answered the creation of {email}")

    def invite(
        self, email: str, *, data: dict[str, str] | None = None, redirect_to: str | None = None
    ) -> ApiUser:
        """Invite ``email``; the project mails the link."""
        params = {"redirect_to": redirect_to} if redirect_to else None
        response = self.request(
            "POST", "/auth/v1/invite", json={"email": email, "data": data or {}}, params=params
        )
        self._raise_for(
            response,
            f"Supabase Auth refused the invitation of {email}",
            exists_hint="the address is already registered: send a password reset instead",
        )
        return self._user(response, f"Supabase Auth answered the invitation of {email}")

    def delete_user(self, user_id: uuid.UUID) -> None:
        """Delete the user; one already gone (404) is fine."""
        response = self.request("DELETE", f"/auth/v1/admin/users/{user_id}")
        if response.status_code != 404:
            self._raise_for(response, f"Supabase Auth refused to delete user {user_id}")

    @staticmethod
    def _raise_for(response: httpx.Response, what: str, *, exists_hint: str | None = None) -> None:
        status = response.status_code
        if status < 400:
            return
        message = f"{what}: {_error_message(response)} (HTTP {status})"
        if status == 422 and exists_hint is not None:
            try:
                code = response.json().get("error_code")
            except (ValueError, AttributeError):
                code = None
            if code == "email_exists":
                raise AuthUserExistsError(message, hint=exists_hint)
            raise TrainlyticsError(message, hint=exists_hint)
        raise TrainlyticsError(message, hint=_hint_for(response))

    @staticmethod
    def _user(response: httpx.Response, what: str) -> ApiUser:
        try:
            body = response.json()
        except ValueError:
            body = None
        try:
            user_id = uuid.UUID(str(body["id"])) if isinstance(body, dict) else None
        except (KeyError, ValueError):
            user_id = None
        if user_id is None or not isinstance(body, dict):
            raise TrainlyticsError(
                f"{what} without a user",
                hint="check that SUPABASE_URL is the project URL, not another service",
            )
        email, invited_at = body.get("email"), body.get("invited_at")
        return ApiUser(
            user_id,
            email if isinstance(email, str) and email else None,
            invited_at if isinstance(invited_at, str) and invited_at else None,
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
    api = AuthAdminApi(http, supabase_url, service_key)
    user = api.invite(address, data=data, redirect_to=redirect_to)
    return InvitedUser(str(user.id), user.email or address, user.invited_at)


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
    api = AuthAdminApi(http, supabase_url, service_key)
    user = api.create_user(
        address,
        password=password,
        email_confirm=confirmed,
        user_metadata=_name_metadata(first_name, last_name),
    )
    if role != "athlete":
        _set_role_via_rest(api, str(user.id), address, role)
    return CreatedUser(str(user.id), user.email or address, confirmed, role)


def _set_role_via_rest(api: AuthAdminApi, user_id: str, address: str, role: str) -> None:
    failure = f"created {address} ({user_id}) but could not make them {role}"
    hint = f"set public.users.role to {role} for {user_id} (Table Editor, or SQL as postgres)"
    try:
        response = api.http.patch(
            f"{api.base}/rest/v1/users",
            params={"id": f"eq.{user_id}"},
            json={"role": role},
            headers={**api.headers, "Prefer": "return=representation"},
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
