"""A fake of Supabase Auth's admin API (users create and delete), served by httpx.MockTransport.

Every rule traces to supabase/auth at commit bc32168e13fdc928c98b449fc76bc3fdb9a293c5
(2026-08-20), internal/api/admin.go and internal/models/user.go:

- ``POST /admin/users`` decodes ``AdminUserParams`` (``id``, ``aud``, ``role``, ``email``,
  ``phone``, ``password``, ``password_hash``, ``email_confirm``, ``phone_confirm``,
  ``user_metadata``, ``app_metadata``, ``ban_duration``; other keys are ignored by
  ``json.Unmarshal``). No email and no phone: 400 ``validation_failed``. An email already
  registered: 422 ``email_exists`` ("A user with this email address has already been
  registered"). Both ``password`` and ``password_hash``: 400 ``validation_failed``. A
  ``password_hash`` that Go's ``bcrypt.Cost`` rejects (not ``$2<minor>$<cost>$``...): 500 "Error
  creating user" (``NewUserWithPasswordHash`` fails). An ``id`` that is not a uuid, or the nil
  uuid: 400 ``validation_failed``. Otherwise the user row (email lowercased, the hash as
  ``encrypted_password``), an ``email`` identity (``sub`` = user id), app metadata
  ``{"provider": "email", "providers": ["email"]}``, and when ``email_confirm`` the
  confirmation (``email_confirmed_at`` now, ``email_verified: true`` in the user metadata);
  the answer is 200 with the user object.
- ``DELETE /admin/users/{id}``: 404 "User not found" for an unknown id, else the user is
  deleted (hard delete unless ``should_soft_delete``) and the answer is 200 ``{}``.
- Errors are ``{"code": <status>, "error_code": ..., "msg": ...}`` (apierrors.HTTPError).
- The project's API gateway asks for the ``apikey`` header; a legacy service_role key is a JWT
  also sent as ``Authorization: Bearer``.

The fake writes the rows into the test database as the Auth server does (as
``supabase_auth_admin``, the owner of the auth schema), with its own statements.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

BASE = "https://project-ref.supabase.co"
SERVICE_KEY = "service-role-jwt-for-tests"
_GO_BCRYPT = re.compile(r"^\$2[a-z]?\$[0-9]{2}\$.{53}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_USER_PATH = re.compile(r"^/auth/v1/admin/users/([^/]+)$")


def _error(status: int, code: str | None, message: str) -> httpx.Response:
    body: dict[str, Any] = {"code": status, "msg": message}
    if code:
        body["error_code"] = code
    return httpx.Response(status, json=body)


@dataclass
class FakeGoTrue:
    database_url: str
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append((request.method, request.url.path, body))
        if request.headers.get("apikey") != SERVICE_KEY:
            return _error(401, "no_authorization", "Invalid API key")
        if request.headers.get("authorization") != f"Bearer {SERVICE_KEY}":
            return _error(401, "no_authorization", "This endpoint requires a valid Bearer token")
        if request.method == "POST" and request.url.path == "/auth/v1/admin/users":
            return self.create(body)
        match = _USER_PATH.match(request.url.path)
        if request.method == "DELETE" and match:
            return self.delete(match.group(1))
        return _error(404, "not_found", "Not found")

    def create(self, params: dict[str, Any]) -> httpx.Response:
        email = str(params.get("email") or "")
        if not email and not params.get("phone"):
            return _error(
                400, "validation_failed", "Cannot create a user without either an email or phone"
            )
        if not _EMAIL.match(email):
            return _error(400, "validation_failed", "Unable to validate email address")
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            taken = conn.execute(
                "select 1 from auth.users where lower(email) = lower(%s)", [email]
            ).fetchone()
        if taken:
            return _error(
                422, "email_exists", "A user with this email address has already been registered"
            )
        password_hash = str(params.get("password_hash") or "")
        if params.get("password") is not None and password_hash:
            return _error(
                400, "validation_failed", "Only a password or a password hash should be provided"
            )
        if password_hash and not _GO_BCRYPT.match(password_hash):
            return _error(500, None, "Error creating user")
        if not password_hash:
            password_hash = "$2a$10$" + "x" * 53  # GoTrue hashes a random 64-character password
        user_id = uuid.uuid4()
        if params.get("id"):
            try:
                user_id = uuid.UUID(str(params["id"]))
            except ValueError:
                return _error(400, "validation_failed", "ID must conform to the uuid v4 format")
            if user_id.int == 0:
                return _error(400, "validation_failed", "ID cannot be a nil uuid")
        meta = dict(params.get("user_metadata") or {})
        confirmed = bool(params.get("email_confirm"))
        if confirmed:
            meta["email_verified"] = True
        with psycopg.connect(self.database_url, autocommit=True) as conn, conn.transaction():
            conn.execute("set local role supabase_auth_admin")
            conn.execute(
                "insert into auth.users (instance_id, id, aud, role, email, encrypted_password,"
                " email_confirmed_at, confirmation_token, recovery_token, email_change_token_new,"
                " email_change, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)"
                " values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated',"
                " 'authenticated', lower(%s), %s, case when %s then now() end, '', '', '', '',"
                " %s::jsonb, %s::jsonb, now(), now())",
                [
                    user_id,
                    email,
                    password_hash,
                    confirmed,
                    json.dumps({"provider": "email", "providers": ["email"]}),
                    json.dumps(meta),
                ],
            )
            conn.execute(
                "insert into auth.identities (provider_id, user_id, identity_data, provider,"
                " last_sign_in_at, created_at, updated_at) values (%s, %s, %s::jsonb, 'email',"
                " now(), now(), now())",
                [
                    str(user_id),
                    user_id,
                    json.dumps(
                        {
                            "sub": str(user_id),
                            "email": email.lower(),
                            "email_verified": False,
                            "phone_verified": False,
                        }
                    ),
                ],
            )
        return httpx.Response(
            200,
            json={
                "id": str(user_id),
                "aud": "authenticated",
                "role": "authenticated",
                "email": email.lower(),
                "user_metadata": meta,
                "app_metadata": {"provider": "email", "providers": ["email"]},
            },
        )

    def delete(self, raw_id: str) -> httpx.Response:
        try:
            user_id = uuid.UUID(raw_id)
        except ValueError:
            return _error(404, "validation_failed", "user_id must be an UUID")
        with psycopg.connect(self.database_url, autocommit=True) as conn, conn.transaction():
            conn.execute("set local role supabase_auth_admin")
            deleted = conn.execute(
                "delete from auth.users where id = %s returning id", [user_id]
            ).fetchone()
        if deleted is None:
            return _error(404, "user_not_found", "User not found")
        return httpx.Response(200, json={})

    def posts_for(self, email: str) -> int:
        return sum(
            1
            for method, path, body in self.requests
            if method == "POST" and path.endswith("/admin/users") and body.get("email") == email
        )
