"""A fake Polar AccessLink: Basic-auth token exchange, mandatory user registration (409 when
already registered), user information, de-registration, and signed webhooks.

Polar issues no refresh token, so :attr:`refresh_calls` counts only mistaken refresh attempts,
which are refused with ``unsupported_grant_type``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx

from tests.fakes.base import FakeProvider, WebhookParts

__all__ = ["FakePolar"]

TOKEN_HOST = "polarremote.com"  # noqa: S105 - a host name
API_HOST = "www.polaraccesslink.com"
ACCESS_TOKEN_LIFETIME = 461375999


class FakePolar(FakeProvider):
    name: ClassVar[str] = "polar"

    def __init__(self, provider_user_id: str | None = None) -> None:
        super().__init__(provider_user_id or str(secrets.randbelow(10**8) + 10**7))
        self.codes: set[str] = set()
        self.live_access_tokens: set[str] = set()
        self.registered = False
        self.member_id: str | None = None
        self.registrations = 0
        self._exercise_counter = 0

    # --- provider API --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        host, path, method = request.url.host, request.url.path, request.method
        if host == TOKEN_HOST and path == "/v2/oauth2/token" and method == "POST":
            return self._token(request)
        if host == API_HOST and path == "/v3/users" and method == "POST":
            return self._register(request)
        if host == API_HOST and path == f"/v3/users/{self.provider_user_id}":
            if method == "GET":
                return self._user_info(request)
            if method == "DELETE":
                return self._deregister(request)
        return httpx.Response(404, json={"error": "not found"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != self._basic_auth():
            return httpx.Response(401, json={"error": "invalid_client"})
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        if form.get("grant_type") == "refresh_token":
            self.refresh_calls += 1
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        if form.get("grant_type") != "authorization_code":
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        code = form.get("code", "")
        if code not in self.codes or form.get("redirect_uri") != self.credentials.redirect_uri:
            return httpx.Response(400, json={"error": "invalid_grant"})
        self.codes.discard(code)  # authorization codes are single-use
        self.token_exchanges += 1
        access_token = self.new_secret("polar-access")
        self.live_access_tokens.add(access_token)
        return httpx.Response(
            200,
            json={
                "access_token": access_token,
                "token_type": "bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "x_user_id": int(self.provider_user_id),
            },
        )

    def _authorized(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.live_access_tokens

    def _register(self, request: httpx.Request) -> httpx.Response:
        if not self._authorized(request):
            return httpx.Response(401)
        try:
            body = json.loads(request.content)
        except ValueError:
            return httpx.Response(400)
        if not isinstance(body, dict) or not isinstance(body.get("member-id"), str):
            return httpx.Response(400)
        if self.registered:
            return httpx.Response(409)
        self.registered = True
        self.registrations += 1
        self.member_id = body["member-id"]
        return httpx.Response(200, json=self._user())

    def _user_info(self, request: httpx.Request) -> httpx.Response:
        if not self._authorized(request):
            return httpx.Response(401)
        if not self.registered:
            return httpx.Response(204)
        return httpx.Response(200, json=self._user())

    def _deregister(self, request: httpx.Request) -> httpx.Response:
        if not self._authorized(request):
            return httpx.Response(401)
        self.revocations += 1
        self.registered = False
        self.live_access_tokens.clear()  # de-registration revokes the access token
        return httpx.Response(204)

    def _user(self) -> dict[str, Any]:
        return {
            "polar-user-id": int(self.provider_user_id),
            "member-id": self.member_id,
            "registration-date": "2026-11-25T09:14:02.000Z",
            "first-name": "Aino",
            "last-name": "Virtanen",
            "birthdate": "1991-04-17",
            "gender": "FEMALE",
            "weight": 61.5,
            "height": 168,
            "extra-info": [],
        }

    def _basic_auth(self) -> str:
        pair = f"{self.credentials.client_id}:{self.credentials.client_secret}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    # --- redirect and webhooks -------------------------------------------------------------------

    def callback_query(self, state: str) -> dict[str, str]:
        code = self.new_secret("polar-code")
        self.codes.add(code)
        return {"code": code, "state": state}

    def _webhook_body(self, kind: str) -> tuple[str, bytes]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind == "ping":
            return "PING", json.dumps({"event": "PING", "timestamp": now}).encode()
        if kind != "activity_created":
            raise ValueError(f"FakePolar cannot build a {kind!r} webhook")
        self._exercise_counter += 1
        entity_id = f"Ex{self._exercise_counter:04d}{secrets.token_hex(3)}"
        body = {
            "event": "EXERCISE",
            "user_id": int(self.provider_user_id),
            "entity_id": entity_id,
            "timestamp": now,
            "url": f"https://{API_HOST}/v3/exercises/{entity_id}",
        }
        return "EXERCISE", json.dumps(body).encode()

    def _webhook(self, kind: str, key: str) -> WebhookParts:
        event, body = self._webhook_body(kind)
        signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "polar-webhook-event": event,
            "polar-webhook-signature": signature,
        }
        return headers, body, {}

    def signed_webhook(self, kind: str = "activity_created") -> WebhookParts:
        assert self.credentials.webhook_secret
        return self._webhook(kind, self.credentials.webhook_secret)

    def forged_webhook(self, kind: str = "activity_created") -> WebhookParts:
        return self._webhook(kind, f"not-the-key-{secrets.token_hex(8)}")
