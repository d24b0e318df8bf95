"""A fake Polar AccessLink: Basic-auth token exchange, mandatory user registration (409 when
already registered), user information, de-registration, and signed webhooks.

Polar issues no refresh token, so :attr:`refresh_calls` counts only mistaken refresh attempts,
which are refused with ``unsupported_grant_type``.

Exercises: tests fill :attr:`activities` (exercise objects in AccessLink's snake_case shape, e.g.
from :meth:`make_exercise`); ``GET /v3/exercises`` serves, in one unpaged answer, those uploaded
within the last :attr:`exercise_horizon` (30 days, by ``upload_time``) and
``GET /v3/exercises/{id}`` one of them (404 otherwise), both for a registered user's live token
only (401 / 403 otherwise), as AccessLink does.

Provenance of every rule and fixture: tests/fixtures/providers/polar/PROVENANCE.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
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
        #: Exercises the athlete has in Polar Flow (snake_case exercise objects).
        self.activities: list[dict[str, Any]] = []
        #: How far back (by upload time) the exercise endpoints see.
        self.exercise_horizon = timedelta(days=30)
        self.exercise_list_calls = 0

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
        if host == API_HOST and method == "GET" and path == "/v3/exercises":
            return self._exercises(request)
        if host == API_HOST and method == "GET" and path.startswith("/v3/exercises/"):
            return self._exercise(request, path.removeprefix("/v3/exercises/"))
        return httpx.Response(404, json={"error": "not found"})

    def _visible_exercises(self) -> list[dict[str, Any]]:
        horizon = datetime.now(UTC) - self.exercise_horizon
        visible = []
        for exercise in self.activities:
            uploaded = exercise.get("upload_time")
            if isinstance(uploaded, str):
                try:
                    if datetime.fromisoformat(uploaded.replace("Z", "+00:00")) < horizon:
                        continue
                except ValueError:
                    pass
            visible.append(exercise)
        return visible

    def _exercise_access(self, request: httpx.Request) -> httpx.Response | None:
        if not self._authorized(request):
            return httpx.Response(401)
        if not self.registered:
            return httpx.Response(403)  # consents / registration missing
        return None

    def _exercises(self, request: httpx.Request) -> httpx.Response:
        refused = self._exercise_access(request)
        if refused is not None:
            return refused
        self.exercise_list_calls += 1
        return httpx.Response(200, json=self._visible_exercises())

    def _exercise(self, request: httpx.Request, exercise_id: str) -> httpx.Response:
        refused = self._exercise_access(request)
        if refused is not None:
            return refused
        for exercise in self._visible_exercises():
            if exercise.get("id") == exercise_id:
                return httpx.Response(200, json=exercise)
        return httpx.Response(404)

    def make_exercise(self, number: int, **overrides: Any) -> dict[str, Any]:
        """A realistic exercise (an easy road run in Helsinki, UTC+2), uploaded just now."""
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, minutes=number)
        exercise: dict[str, Any] = {
            "id": f"Ex{number:06d}",
            "upload_time": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "polar_user": f"https://{API_HOST}/v3/users/{self.provider_user_id}",
            "device": "Polar Vantage V3",
            "device_id": "B2F41C07",
            "start_time": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
            "start_time_utc_offset": 120,
            "duration": "PT48M12S",
            "calories": 540,
            "distance": 9012.5,
            "heart_rate": {"average": 147, "maximum": 169},
            "training_load": 98.1,
            "sport": "RUNNING",
            "has_route": True,
            "detailed_sport_info": "ROAD_RUNNING",
        }
        exercise.update(overrides)
        return exercise

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
