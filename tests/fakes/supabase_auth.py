"""A fake Supabase project API — Auth's admin API (create, invite, delete users) and PostgREST's
table update — for ``trainlytics users create|invite`` and the legacy import through
``httpx.MockTransport``. The one fake of that API in the tests.

Every rule traces to a public source (supabase/auth at commit bc32168e, 2026-08-20, unless
said otherwise); the fake does not share the code's assumptions:

- The API gateway: a request without an ``apikey`` header is refused with 401
  ``{"message": "No API key found in request"}`` (Supabase docs, "API keys"; the gateway's
  answer as recorded in supabase/supabase discussions). A secret key (``sb_secret_...``) is
  accepted in ``apikey`` alone and turned into a service-role JWT for the services behind
  (docs, "Understanding API keys": secret keys are not JWTs and must not be sent as Bearer).
- Auth admin routes (``internal/api/api.go``: ``/admin`` uses ``requireAdminCredentials``):
  no ``Authorization: Bearer`` → 401 ``no_authorization`` "This endpoint requires a valid
  Bearer token" (``internal/api/auth.go`` extractBearerToken); a JWT whose signature does not
  verify → 403 ``bad_jwt``; a role not in ``GOTRUE_JWT_ADMIN_ROLES`` (service_role) → 403
  ``not_admin`` "User not allowed" (requireAdmin). Errors are ``{"code", "error_code", "msg"}``
  (``internal/api/apierrors/apierrors.go`` HTTPError JSON tags).
- ``POST /auth/v1/admin/users`` (``internal/api/admin.go`` adminUserCreate, AdminUserParams):
  body ``email``, ``password``, ``email_confirm``, ``user_metadata`` (also ``phone``, ``role``,
  ``app_metadata``, ``ban_duration``, ``id``, ``password_hash``); neither email nor phone → 400
  ``validation_failed``; an email ``checkmail`` rejects → 400 ``validation_failed``; the email
  already registered in the audience → 422 ``email_exists`` "A user with this email address
  has already been registered" (``internal/api/errors.go`` DuplicateEmailMsg); a password over
  72 bytes → 400 ``validation_failed`` (bcrypt.ErrPasswordTooLong). No minimum length is checked
  there. ``id`` (``internal/api/admin.go`` adminUserCreate): not a uuid → 400
  ``validation_failed`` "ID must conform to the uuid v4 format"; the nil uuid → 400
  ``validation_failed`` "ID cannot be a nil uuid"; otherwise the user gets that id.
  ``password_hash`` (``models.NewUserWithPasswordHash``): with ``password`` as well → 400
  ``validation_failed`` "Only a password or a password hash should be provided"; a hash Go's
  ``bcrypt.Cost`` rejects (not ``$2<minor>$<cost>$`` + 53 characters) → 500 "Error creating
  user" without an error code; otherwise it becomes ``encrypted_password`` as is. Neither →
  Auth hashes a random password (the user has no usable one). The answer is 200 with the
  user (``internal/models/user.go`` JSON tags): ``id``, ``aud``, ``role``, ``email``
  (lowercased), ``email_confirmed_at`` when ``email_confirm``,
  ``phone`` "", ``app_metadata`` ``{"provider": "email", "providers": ["email"]}``,
  ``user_metadata`` (with ``email_verified: true`` merged in by models.User.Confirm),
  ``identities`` (one ``email`` identity: ``internal/models/identity.go``, identity_data from
  ``provider.Claims`` {sub, email, email_verified, phone_verified}), ``created_at``,
  ``updated_at``, ``is_anonymous``. The ``on_auth_user_created`` trigger then gives the user a
  ``public.users`` profile with role ``athlete`` (our migration 20261125100300_users.sql).
- ``POST /auth/v1/invite`` (``internal/api/invite.go`` Invite, InviteParams ``email``, ``data``;
  also behind ``requireAdminCredentials``): an address already confirmed → 422
  ``email_exists``; a new address creates the user (``invited_at`` set, the ``data`` as user
  metadata, the ``email`` identity) and mails the link; an invited but unconfirmed one is
  invited again. 200 with the user.
- ``DELETE /auth/v1/admin/users/{id}`` (``internal/api/admin.go`` adminUserDelete, behind
  ``requireAdminCredentials`` and loadUser): an id that is not a uuid → 400
  ``validation_failed`` "user_id must be an UUID"; an unknown id → 404 ``user_not_found``
  "User not found"; otherwise the user is deleted (hard delete unless ``should_soft_delete``)
  and the answer is 200 ``{}``.
- With ``database_url``, the fake also writes what Auth writes into that (test) database, with
  its own statements, as Auth connects (``supabase_auth_admin``, ``search_path`` auth): the
  ``auth.users`` row (the string columns '', not null), its ``email`` identity, and the delete;
  an address already in ``auth.users`` is ``email_exists``. The ``on_auth_user_created``
  trigger then makes the real profile.
- ``PATCH /rest/v1/users?id=eq.<uuid>`` (PostgREST docs, "Tables and Views — Update"; headers
  as for every PostgREST call): the filter selects the rows; without any filter Supabase's
  pg-safeupdate refuses (400, ``21000`` "UPDATE requires a WHERE clause"); an unknown column →
  400 ``PGRST204``; a value outside the enum → 400 ``22P02``; ``Prefer: return=representation``
  answers 200 with the updated rows as a JSON array (an empty array when nothing matched),
  otherwise 204 without a body.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import psycopg

__all__ = ["DUPLICATE_EMAIL_MSG", "FakeSupabase"]

DUPLICATE_EMAIL_MSG = "A user with this email address has already been registered"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # what checkmail.ValidateFormat accepts, roughly
_GO_BCRYPT = re.compile(r"^\$2[a-z]?\$[0-9]{2}\$.{53}$")  # what Go's bcrypt.Cost parses
_USER_PATH = re.compile(r"^/auth/v1/admin/users/([^/]+)$")
_USER_ROLES = ("athlete", "coach", "admin")
_PROFILE_COLUMNS = {"first_name", "last_name", "avatar_url", "preferences", "role", "is_active"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _identity_data(user_id: str, email: str) -> dict[str, Any]:
    """provider.Claims{Subject, Email} as a map: the verified flags have no omitempty."""
    return {"sub": user_id, "email": email, "email_verified": False, "phone_verified": False}


def _auth_error(status: int, error_code: str, msg: str) -> httpx.Response:
    return httpx.Response(status, json={"code": status, "error_code": error_code, "msg": msg})


class FakeSupabase:
    """One project: its JWT secret, its auth users and their ``public.users`` profiles."""

    def __init__(self, host: str = "abcd1234.supabase.co", database_url: str | None = None) -> None:
        self.host = host
        #: When set, Auth's writes also go into this database (see the module docstring).
        self.database_url = database_url
        self.jwt_secret = "super-secret-jwt-token-with-at-least-32-characters"  # noqa: S105
        self.service_role_key = jwt.encode(
            {"iss": "supabase", "ref": host.split(".")[0], "role": "service_role"},
            self.jwt_secret,
            algorithm="HS256",
        )
        self.anon_key = jwt.encode(
            {"iss": "supabase", "ref": host.split(".")[0], "role": "anon"},
            self.jwt_secret,
            algorithm="HS256",
        )
        self.secret_key = "sb_secret_" + uuid.uuid4().hex  # a new-style secret API key
        self.users: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        #: Addresses Auth mailed an invitation link to.
        self.invitations: list[str] = []

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # --- the gateway -------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host != self.host:
            raise httpx.ConnectError(f"no such host {request.url.host}", request=request)
        apikey = request.headers.get("apikey")
        if not apikey:
            return httpx.Response(401, json={"message": "No API key found in request"})
        bearer = request.headers.get("authorization")
        if apikey.startswith("sb_secret_"):
            if apikey != self.secret_key:
                return httpx.Response(401, json={"message": "Invalid API key"})
            if bearer is None:  # the gateway mints the service-role JWT for the services
                bearer = f"Bearer {self.service_role_key}"
        elif apikey not in (self.service_role_key, self.anon_key):
            return httpx.Response(401, json={"message": "Invalid API key"})
        path = request.url.path
        if path == "/auth/v1/admin/users" and request.method == "POST":
            return self._admin_create_user(request, bearer)
        match = _USER_PATH.match(path)
        if match is not None and request.method == "DELETE":
            return self._admin_delete_user(match.group(1), bearer)
        if path == "/auth/v1/invite" and request.method == "POST":
            return self._invite(request, bearer)
        if path == "/rest/v1/users" and request.method == "PATCH":
            return self._rest_update_users(request, bearer)
        return httpx.Response(404, json={"message": "no Route matched with those values"})

    def _claims(self, bearer: str | None) -> dict[str, Any] | httpx.Response:
        match = re.fullmatch(r"Bearer (\S+)", bearer or "")
        if match is None:
            return _auth_error(
                401, "no_authorization", "This endpoint requires a valid Bearer token"
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                match.group(1), self.jwt_secret, algorithms=["HS256"], options={"verify_aud": False}
            )
        except jwt.InvalidTokenError as exc:
            return _auth_error(
                403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}"
            )
        return claims

    # --- Supabase Auth -------------------------------------------------------------------------

    def _require_admin(self, bearer: str | None) -> httpx.Response | None:
        """requireAdminCredentials: a verified JWT whose role is an admin role (service_role)."""
        claims = self._claims(bearer)
        if isinstance(claims, httpx.Response):
            return claims
        if claims.get("role") != "service_role":
            return _auth_error(403, "not_admin", "User not allowed")
        return None

    def _admin_create_user(self, request: httpx.Request, bearer: str | None) -> httpx.Response:
        refused = self._require_admin(bearer)
        if refused is not None:
            return refused
        try:
            params = json.loads(request.content or b"{}")
        except ValueError as exc:
            return _auth_error(400, "bad_json", f"Could not parse request body as JSON: {exc}")
        email = str(params.get("email") or "")
        if not email and not params.get("phone"):
            return _auth_error(
                400, "validation_failed", "Cannot create a user without either an email or phone"
            )
        if len(email) > 255:
            return _auth_error(400, "validation_failed", "An email address is too long")
        if not _EMAIL.match(email):
            return _auth_error(
                400, "validation_failed", "Unable to validate email address: invalid format"
            )
        email = email.lower()
        aud = "authenticated"
        if any(u["email"] == email and u["aud"] == aud for u in self.users.values()):
            return _auth_error(422, "email_exists", DUPLICATE_EMAIL_MSG)
        if self.database_url is not None and self._db_has_email(email):
            return _auth_error(422, "email_exists", DUPLICATE_EMAIL_MSG)
        user_id = str(uuid.uuid4())
        if params.get("id"):
            try:
                chosen = uuid.UUID(str(params["id"]))
            except ValueError:
                return _auth_error(
                    400, "validation_failed", "ID must conform to the uuid v4 format"
                )
            if chosen.int == 0:
                return _auth_error(400, "validation_failed", "ID cannot be a nil uuid")
            user_id = str(chosen)
        password = params.get("password")
        password_hash = str(params.get("password_hash") or "")
        if password is not None and password_hash:
            return _auth_error(
                400, "validation_failed", "Only a password or a password hash should be provided"
            )
        if password_hash and not _GO_BCRYPT.match(password_hash):
            return httpx.Response(500, json={"code": 500, "msg": "Error creating user"})
        if isinstance(password, str) and len(password.encode()) > 72:
            return _auth_error(400, "validation_failed", "bcrypt: password length exceeds 72 bytes")
        now = _now()
        metadata = dict(params.get("user_metadata") or {})
        confirmed = bool(params.get("email_confirm"))
        if confirmed:
            metadata["email_verified"] = True
        identity = {
            "identity_id": str(uuid.uuid4()),
            "id": user_id,
            "user_id": user_id,
            "identity_data": _identity_data(user_id, email),
            "provider": "email",
            "last_sign_in_at": now,
            "created_at": now,
            "updated_at": now,
            "email": email,
        }
        user: dict[str, Any] = {
            "id": user_id,
            "aud": aud,
            "role": params.get("role") or "authenticated",
            "email": email,
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": metadata,
            "identities": [identity],
            "created_at": now,
            "updated_at": now,
            "is_anonymous": False,
        }
        if confirmed:
            user["email_confirmed_at"] = now
            user["confirmed_at"] = now
        self.users[user_id] = {**user, "password": password, "password_hash": password_hash}
        if self.database_url is not None:
            self._db_insert(user_id, email, password_hash, confirmed, metadata)
        # The on_auth_user_created trigger (our migration) creates the profile.
        self.profiles[user_id] = {
            "id": user_id,
            "email": email,
            "first_name": metadata.get("first_name"),
            "last_name": metadata.get("last_name"),
            "role": "athlete",
            "is_verified": confirmed,
        }
        return httpx.Response(200, json=user)

    def _invite(self, request: httpx.Request, bearer: str | None) -> httpx.Response:
        refused = self._require_admin(bearer)
        if refused is not None:
            return refused
        params = json.loads(request.content or b"{}")
        email = str(params.get("email") or "")
        if not email:
            return _auth_error(400, "validation_failed", "An email address is required")
        if not _EMAIL.match(email):
            return _auth_error(
                400, "validation_failed", "Unable to validate email address: invalid format"
            )
        email = email.lower()
        existing = next((u for u in self.users.values() if u["email"] == email), None)
        if existing is not None:
            if existing.get("email_confirmed_at"):
                return _auth_error(422, "email_exists", DUPLICATE_EMAIL_MSG)
            existing["invited_at"] = _now()
            self.invitations.append(email)
            return httpx.Response(200, json={k: v for k, v in existing.items() if k != "password"})
        now = _now()
        user_id = str(uuid.uuid4())
        user: dict[str, Any] = {
            "id": user_id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": email,
            "phone": "",
            "invited_at": now,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": dict(params.get("data") or {}),
            "identities": [
                {
                    "identity_id": str(uuid.uuid4()),
                    "id": user_id,
                    "user_id": user_id,
                    "identity_data": _identity_data(user_id, email),
                    "provider": "email",
                    "created_at": now,
                    "updated_at": now,
                    "email": email,
                }
            ],
            "created_at": now,
            "updated_at": now,
            "is_anonymous": False,
        }
        self.users[user_id] = user
        self.profiles[user_id] = {"id": user_id, "email": email, "role": "athlete"}
        self.invitations.append(email)
        return httpx.Response(200, json=user)

    def _admin_delete_user(self, raw_id: str, bearer: str | None) -> httpx.Response:
        refused = self._require_admin(bearer)
        if refused is not None:
            return refused
        try:
            user_id = str(uuid.UUID(raw_id))
        except ValueError:
            return _auth_error(400, "validation_failed", "user_id must be an UUID")
        known = self.users.pop(user_id, None) is not None
        self.profiles.pop(user_id, None)
        if self.database_url is not None:
            with psycopg.connect(self.database_url, autocommit=True) as conn, conn.transaction():
                conn.execute("set local role supabase_auth_admin")
                found = conn.execute(
                    "delete from auth.users where id = %s returning id", [user_id]
                ).fetchone()
            known = known or found is not None
        if not known:
            return _auth_error(404, "user_not_found", "User not found")
        return httpx.Response(200, json={})

    # --- what Auth writes into its database (only with database_url) ----------------------------

    def _db_has_email(self, email: str) -> bool:
        assert self.database_url is not None
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            found = conn.execute(
                "select 1 from auth.users where lower(email) = %s", [email]
            ).fetchone()
        return found is not None

    def _db_insert(
        self,
        user_id: str,
        email: str,
        password_hash: str,
        confirmed: bool,
        metadata: dict[str, Any],
    ) -> None:
        assert self.database_url is not None
        if not password_hash:
            password_hash = "$2a$10$" + "x" * 53  # the hash of a random password: unusable here
        with psycopg.connect(self.database_url, autocommit=True) as conn, conn.transaction():
            conn.execute("set local role supabase_auth_admin")
            conn.execute("set local search_path = auth")
            conn.execute(
                "insert into auth.users (instance_id, id, aud, role, email, encrypted_password,"
                " email_confirmed_at, confirmation_token, recovery_token,"
                " email_change_token_current, email_change_token_new, email_change,"
                " phone_change_token, phone_change, reauthentication_token,"
                " raw_app_meta_data, raw_user_meta_data, created_at, updated_at)"
                " values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated',"
                " 'authenticated', %s, %s, case when %s then now() end, '', '', '', '', '', '',"
                " '', '', %s::jsonb, %s::jsonb, now(), now())",
                [
                    user_id,
                    email,
                    password_hash,
                    confirmed,
                    json.dumps({"provider": "email", "providers": ["email"]}),
                    json.dumps(metadata),
                ],
            )
            conn.execute(
                "insert into auth.identities (provider_id, user_id, identity_data, provider,"
                " last_sign_in_at, created_at, updated_at)"
                " values (%s, %s, %s::jsonb, 'email', now(), now(), now())",
                [
                    user_id,
                    user_id,
                    json.dumps(_identity_data(user_id, email)),
                ],
            )

    # --- what the tests read -------------------------------------------------------------------

    def bodies(self, method: str, path: str = "/auth/v1/admin/users") -> list[dict[str, Any]]:
        """The JSON bodies of the ``method`` requests whose path starts with ``path``."""
        return [
            json.loads(r.content) if r.content else {}
            for r in self.requests
            if r.method == method and r.url.path.startswith(path)
        ]

    # --- PostgREST -----------------------------------------------------------------------------

    def _rest_update_users(self, request: httpx.Request, bearer: str | None) -> httpx.Response:
        claims = self._claims(bearer)
        if isinstance(claims, httpx.Response):
            return httpx.Response(401, json={"code": "PGRST301", "message": "JWT invalid"})
        if claims.get("role") != "service_role":
            # RLS and the column grants would decide; this fake serves only the service role.
            return httpx.Response(
                403, json={"code": "42501", "message": "permission denied for table users"}
            )
        filters = dict(request.url.params)
        if not filters:
            return httpx.Response(
                400, json={"code": "21000", "message": "UPDATE requires a WHERE clause"}
            )
        body = json.loads(request.content or b"{}")
        for column in body:
            if column not in _PROFILE_COLUMNS:
                return httpx.Response(
                    400,
                    json={
                        "code": "PGRST204",
                        "message": f"Could not find the '{column}' column of 'users' in the "
                        "schema cache",
                    },
                )
        if "role" in body and body["role"] not in _USER_ROLES:
            return httpx.Response(
                400,
                json={
                    "code": "22P02",
                    "message": f'invalid input value for enum user_role: "{body["role"]}"',
                },
            )
        selected = list(self.profiles.values())
        for column, condition in filters.items():
            operator, _, value = condition.partition(".")
            if operator != "eq":
                raise AssertionError(f"the fake serves eq filters only, got {condition}")
            selected = [row for row in selected if str(row.get(column)) == value]
        for row in selected:
            row.update(body)
        if "return=representation" in request.headers.get("prefer", ""):
            return httpx.Response(200, json=selected)
        return httpx.Response(204)
