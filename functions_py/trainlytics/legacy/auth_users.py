"""Supabase Auth users for Trainlytics v1 users, keeping their bcrypt password hashes.

What is specific to the legacy import; the writing itself is
:mod:`trainlytics.users.auth_admin`'s, shared with ``trainlytics users create``:

- :class:`LocalAuthUsers` writes each user with
  :func:`~trainlytics.users.auth_admin.insert_auth_user` inside the v1 user's own v2
  transaction, the v1 hash as ``encrypted_password`` and the v1 ``created_at`` kept (what
  ``POST /admin/users`` with ``password_hash`` gives: supabase/auth ``internal/api/admin.go``
  adminUserCreate, ``models.NewUserWithPasswordHash``). Not on a
  database Supabase Auth manages (see :func:`~trainlytics.users.auth_admin.check_local_auth`).
- :class:`AdminApiAuthUsers` goes through :class:`~trainlytics.users.auth_admin.AuthAdminApi`:
  create with the user's ``id`` and ``password_hash``, delete to undo a user whose data
  import failed.

A hash that is not bcrypt (``$2a$``/``$2b$``/``$2y$``, which GoTrue's ``bcrypt.Cost`` accepts)
is not carried: the user is created without a usable password (locally '', through the API
GoTrue sets a random one) and must use password recovery; the import reports it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psycopg

from trainlytics.db.auth_users import has_auth_identities
from trainlytics.errors import TrainlyticsError
from trainlytics.users.auth_admin import AuthAdminApi, check_local_auth, insert_auth_user

__all__ = [
    "AdminApiAuthUsers",
    "LegacyAuthUser",
    "LocalAuthUsers",
    "is_bcrypt_hash",
]

# GoTrue checks a password_hash with Go's bcrypt.Cost: "$2" + one minor letter + "$" + a
# two-digit cost (4..31) + "$" + 53 characters of bcrypt's base64 (salt and hash).
_BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
_API_HINT = (
    "use --auth admin-api with SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, so users go "
    "through the Auth admin API"
)


def is_bcrypt_hash(value: str | None) -> bool:
    """True for a bcrypt hash Supabase Auth accepts as ``password_hash``."""
    return bool(value) and _BCRYPT.match(value or "") is not None


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
        """Fail early, with a hint, when this database or login may not get auth users."""
        if not has_auth_identities(conn):
            raise TrainlyticsError(
                "this database has no auth.identities table",
                hint="re-run `trainlytics db migrate` on a fresh database, or use a "
                "Supabase project",
            )
        check_local_auth(conn, hint=_API_HINT)

    def insert(self, conn: psycopg.Connection[Any], user: LegacyAuthUser) -> None:
        """Insert ``user`` (must run inside a transaction)."""
        insert_auth_user(
            conn,
            user_id=user.user_id,
            email=user.email,
            encrypted_password=user.password_hash or "",
            confirmed=user.confirmed,
            user_metadata=user.user_metadata(),
            created_at=user.created_at,
        )


class AdminApiAuthUsers:
    """Creates auth users through a Supabase project's Auth admin API."""

    mode = "admin-api"

    def __init__(self, http: httpx.Client, supabase_url: str, service_key: str) -> None:
        self.api = AuthAdminApi(http, supabase_url, service_key)

    def create(self, user: LegacyAuthUser) -> uuid.UUID:
        """Create ``user`` with its id and bcrypt hash; the id Supabase Auth answered."""
        created = self.api.create_user(
            user.email,
            password_hash=user.password_hash,
            user_id=user.user_id,
            email_confirm=user.confirmed,
            user_metadata=user.user_metadata(),
        )
        return created.id

    def delete(self, user_id: uuid.UUID) -> None:
        """Delete an auth user this import created (its data import failed)."""
        self.api.delete_user(user_id)
