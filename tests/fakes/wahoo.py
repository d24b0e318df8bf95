"""A fake Wahoo Cloud API for ``httpx.MockTransport``: token exchange, single-use rotating
refresh tokens (a spent one is refused with Doorkeeper's real 400 ``invalid_grant``), ``GET
/v1/user``, ``DELETE /v1/permissions``, ``workout_summary`` webhooks, and the athlete's workouts:
``GET /v1/workouts?page=&per_page=`` (newest first, with ``total``/``page``/``per_page``/
``order``/``sort`` as Wahoo answers) and ``GET /v1/workouts/{id}``, served from
:attr:`FakeWahoo.activities`.

Provenance of every rule and fixture: tests/fixtures/providers/wahoo/PROVENANCE.md."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from tests.fakes.base import FakeProvider, WebhookParts
from trainlytics.providers.base import ProviderCredentials

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "wahoo"
_WORKOUT_PATH = re.compile(r"^/v1/workouts/([0-9]+)$")


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class FakeWahoo(FakeProvider):
    name: ClassVar[str] = "wahoo"

    def __init__(self, provider_user_id: str | None = None, *, scope: str | None = None) -> None:
        super().__init__(provider_user_id)  # Wahoo user ids are integers: the default is digits
        #: The scope string the token endpoint reports (default: the real full grant).
        self.scope: str = scope or _fixture("token_exchange.json")["scope"]
        self._codes: set[str] = set()
        self._live_refresh_tokens: set[str] = set()
        self._spent_refresh_tokens: set[str] = set()
        self._live_access_tokens: set[str] = set()
        #: The athlete's workouts (GET /v1/workouts items, in Wahoo's shape); tests fill it.
        self.activities: list[dict[str, Any]] = []
        #: The largest per_page Wahoo honours (the OpenAPI says 100).
        self.max_per_page = 100

    def make_credentials(self) -> ProviderCredentials:
        return ProviderCredentials(
            client_id="wahoo-test-client-id",
            client_secret="wahoo-test-client-secret-" + secrets.token_hex(8),
            redirect_uri="https://api.trainlytics.test/oauth/wahoo/callback",
            # WAHOO_WEBHOOK_TOKEN: Wahoo puts it in every webhook body.
            webhook_secret="wahoo-test-webhook-token-" + secrets.token_hex(8),
        )

    # --- what the athlete's browser brings back --------------------------------------------

    def callback_query(self, state: str) -> dict[str, str]:
        code = self.new_secret("wahoo-code")
        self._codes.add(code)
        return {"code": code, "state": state}

    # --- the API ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "api.wahooligan.com":
            return httpx.Response(404, json={"error": "not_found"})
        path, method = request.url.path, request.method
        if (method, path) == ("POST", "/oauth/token"):
            return self._token(request)
        if (method, path) == ("GET", "/v1/user"):
            if not self._authorised(request):
                return httpx.Response(401, json={"error": "Unauthorized"})
            user = _fixture("user.json")
            user["id"] = int(self.provider_user_id)
            return httpx.Response(200, json=user)
        detail = _WORKOUT_PATH.match(path)
        if method == "GET" and (path == "/v1/workouts" or detail):
            if not self._authorised(request):
                return httpx.Response(401, json={"error": "Unauthorized"})
            if detail:
                return self._workout(int(detail.group(1)))
            return self._workouts(request)
        if (method, path) == ("DELETE", "/v1/permissions"):
            if not self._authorised(request):
                return httpx.Response(401, json={"error": "Unauthorized"})
            self.revocations += 1
            self._live_access_tokens.clear()
            self._spent_refresh_tokens |= self._live_refresh_tokens
            self._live_refresh_tokens.clear()
            return httpx.Response(200, json={"success": "Permissions revoked"})
        return httpx.Response(404, json={"error": "not_found"})

    def _workouts(self, request: httpx.Request) -> httpx.Response:
        try:
            page = int(request.url.params.get("page", "1"))
            per_page = int(request.url.params.get("per_page", "30"))
        except ValueError:
            return httpx.Response(400, json={"error": "invalid page"})
        page, per_page = max(page, 1), min(max(per_page, 1), self.max_per_page)
        ordered = sorted(self.activities, key=_starts, reverse=True)
        chunk = ordered[(page - 1) * per_page : page * per_page]
        return httpx.Response(
            200,
            json={
                "workouts": chunk,
                "total": len(ordered),
                "page": page,
                "per_page": per_page,
                "order": "descending",
                "sort": "starts",
            },
        )

    def _workout(self, workout_id: int) -> httpx.Response:
        for workout in self.activities:
            if workout.get("id") == workout_id:
                return httpx.Response(200, json=workout)
        return httpx.Response(404, json={"error": "Not Found"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if (
            form.get("client_id") != self.credentials.client_id
            or form.get("client_secret") != self.credentials.client_secret
        ):
            return httpx.Response(401, json={"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            if code not in self._codes or form.get("redirect_uri") != self.credentials.redirect_uri:
                return httpx.Response(400, json=_fixture("error_invalid_grant.json"))
            self._codes.discard(code)  # codes are single-use
            self.token_exchanges += 1
            return httpx.Response(200, json=self._issue("token_exchange.json"))
        if grant == "refresh_token":
            self.refresh_calls += 1
            token = form.get("refresh_token", "")
            if token not in self._live_refresh_tokens:
                return httpx.Response(400, json=_fixture("error_invalid_grant.json"))
            # Single use: the presented token is spent, a new one is issued.
            self._live_refresh_tokens.discard(token)
            self._spent_refresh_tokens.add(token)
            return httpx.Response(200, json=self._issue("token_refresh.json"))
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def _issue(self, fixture: str) -> dict[str, Any]:
        body = _fixture(fixture)
        body["access_token"] = self.new_secret("wahoo-access")
        body["refresh_token"] = self.new_secret("wahoo-refresh")
        body["scope"] = self.scope
        self._live_access_tokens.add(body["access_token"])
        self._live_refresh_tokens.add(body["refresh_token"])
        return body

    def _authorised(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self._live_access_tokens

    # --- webhooks --------------------------------------------------------------------------

    def _webhook(self, token: str) -> WebhookParts:
        body = _fixture("webhook_workout_summary.json")
        body["webhook_token"] = token
        body["user"]["id"] = int(self.provider_user_id)
        return {"content-type": "application/json"}, json.dumps(body).encode(), {}

    def signed_webhook(self, kind: str = "activity_created") -> WebhookParts:
        """A genuine ``workout_summary`` delivery for this fake's athlete (Wahoo only sends
        that event; ``kind`` is accepted for interface compatibility)."""
        assert self.credentials.webhook_secret is not None
        return self._webhook(self.credentials.webhook_secret)

    def forged_webhook(self, kind: str = "activity_created") -> WebhookParts:
        return self._webhook("forged-" + secrets.token_hex(8))


def _starts(workout: dict[str, Any]) -> datetime:
    value = workout.get("starts")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
