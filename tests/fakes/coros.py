"""A fake COROS partner API: token exchange, refresh, deauthorization — every error inside an
HTTP 200 envelope ``{"result": "<code>", "message": ...}`` — and webhooks authenticated by the
``client``/``secret`` headers.

Refresh behaviour is selectable because integrations disagree (see providers/coros.py):
``refresh_mode="extend"`` (default) answers the bare ``{"result": "0000"}`` envelope and keeps the
tokens; ``"rotate"`` returns new tokens and spends the old refresh token, which is then refused
with an error envelope. The non-"0000" codes used here are placeholders: COROS's code vocabulary
is not public.

Workouts: tests fill :attr:`activities` (workout objects as sport/list returns them, e.g. from
:meth:`make_workout`); ``GET /v2/coros/sport/list?token&openId&startDate&endDate`` serves, in
one unpaged envelope, those whose local start date (startTime shifted by startTimezone x 15 min)
lies in the inclusive YYYYMMDD range. A range of more than :attr:`max_range_days` dates, a bad
date, a dead token or another athlete's openId is refused with an error envelope (HTTP 200).

Provenance of every rule and fixture: tests/fixtures/providers/coros/PROVENANCE.md.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs

import httpx

from tests.fakes.base import FakeProvider, WebhookParts
from trainlytics.providers.base import ProviderCredentials

__all__ = ["FakeCoros"]

HOST = "open.coros.com"
TOKEN_LIFETIME = 2592000
RESULT_OK = {"result": "0000", "message": "OK"}
RESULT_BAD_CODE = {"result": "1001", "message": "The authorization code is invalid"}
RESULT_BAD_REFRESH = {"result": "1002", "message": "The refresh token is invalid"}
RESULT_BAD_TOKEN = {"result": "1003", "message": "The access token is invalid"}
RESULT_BAD_CLIENT = {"result": "1004", "message": "The client is invalid"}
RESULT_BAD_PARAMS = {"result": "1005", "message": "Invalid parameters"}


class FakeCoros(FakeProvider):
    name: ClassVar[str] = "coros"

    def __init__(
        self,
        provider_user_id: str | None = None,
        *,
        refresh_mode: Literal["extend", "rotate"] = "extend",
    ) -> None:
        super().__init__(provider_user_id or secrets.token_hex(16))
        self.refresh_mode = refresh_mode
        self.codes: set[str] = set()
        self.live_access_tokens: set[str] = set()
        self.live_refresh_tokens: set[str] = set()
        self._workout_counter = 0
        #: Workouts the athlete has at COROS (sport/list data items).
        self.activities: list[dict[str, Any]] = []
        #: Largest inclusive date range one sport/list request may ask for.
        self.max_range_days = 30
        self.sport_list_calls = 0

    def make_credentials(self) -> ProviderCredentials:
        # COROS authenticates its webhooks with our client id and secret: no webhook secret.
        return ProviderCredentials(
            client_id=secrets.token_hex(16),
            client_secret=f"coros-client-secret-{secrets.token_hex(8)}",
            redirect_uri="https://api.trainlytics.test/oauth/coros/callback",
        )

    # --- provider API --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != HOST:
            return httpx.Response(404)
        if request.method == "GET" and request.url.path == "/v2/coros/sport/list":
            return self._sport_list(request)
        if request.method != "POST":
            return httpx.Response(404)
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        path = request.url.path
        if path == "/oauth2/accesstoken":
            return self._exchange(form)
        if path == "/oauth2/refresh-token":
            return self._refresh(form)
        if path == "/oauth2/deauthorize":
            return self._deauthorize(form)
        return httpx.Response(404)

    def _client_ok(self, form: dict[str, str]) -> bool:
        return (
            form.get("client_id") == self.credentials.client_id
            and form.get("client_secret") == self.credentials.client_secret
        )

    def _issue(self) -> dict[str, object]:
        access_token = self.new_secret("coros-access")
        refresh_token = self.new_secret("rg2")
        self.live_access_tokens.add(access_token)
        self.live_refresh_tokens.add(refresh_token)
        return {
            "expires_in": TOKEN_LIFETIME,
            "refresh_token": refresh_token,
            "access_token": access_token,
            "openId": self.provider_user_id,
        }

    def _exchange(self, form: dict[str, str]) -> httpx.Response:
        if not self._client_ok(form):
            return httpx.Response(200, json=RESULT_BAD_CLIENT)
        code = form.get("code", "")
        if (
            form.get("grant_type") != "authorization_code"
            or code not in self.codes
            or form.get("redirect_uri") != self.credentials.redirect_uri
        ):
            return httpx.Response(200, json=RESULT_BAD_CODE)
        self.codes.discard(code)
        self.token_exchanges += 1
        return httpx.Response(200, json=self._issue())

    def _refresh(self, form: dict[str, str]) -> httpx.Response:
        self.refresh_calls += 1
        if not self._client_ok(form):
            return httpx.Response(200, json=RESULT_BAD_CLIENT)
        refresh_token = form.get("refresh_token", "")
        spent = refresh_token not in self.live_refresh_tokens
        if form.get("grant_type") != "refresh_token" or spent:
            return httpx.Response(200, json=RESULT_BAD_REFRESH)
        if self.refresh_mode == "extend":
            return httpx.Response(200, json=RESULT_OK)
        self.live_refresh_tokens.discard(refresh_token)
        self.live_access_tokens.clear()
        return httpx.Response(200, json=self._issue())

    def _deauthorize(self, form: dict[str, str]) -> httpx.Response:
        token = form.get("token", "")
        if token not in self.live_access_tokens:
            return httpx.Response(200, json=RESULT_BAD_TOKEN)
        self.revocations += 1
        self.live_access_tokens.clear()
        self.live_refresh_tokens.clear()
        return httpx.Response(200, json=RESULT_OK)

    def _sport_list(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        if query.get("token", "") not in self.live_access_tokens:
            return httpx.Response(200, json=RESULT_BAD_TOKEN)
        if query.get("openId") != self.provider_user_id:
            return httpx.Response(200, json=RESULT_BAD_PARAMS)
        try:
            first = datetime.strptime(query.get("startDate", ""), "%Y%m%d").date()
            last = datetime.strptime(query.get("endDate", ""), "%Y%m%d").date()
        except ValueError:
            return httpx.Response(200, json=RESULT_BAD_PARAMS)
        if last < first or (last - first).days + 1 > self.max_range_days:
            return httpx.Response(200, json=RESULT_BAD_PARAMS)
        self.sport_list_calls += 1
        data = [w for w in self.activities if first <= _local_date(w) <= last]
        return httpx.Response(200, json={**RESULT_OK, "data": data})

    def make_workout(self, number: int, **overrides: Any) -> dict[str, Any]:
        """A realistic workout (an outdoor run in Paris, UTC+1) that ended a day ago or more."""
        start = int(datetime.now(UTC).timestamp()) - 86400 - 600 * number
        label_id = str(480000000000000000 + number)
        workout: dict[str, Any] = {
            "labelId": label_id,
            "mode": 8,
            "subMode": 1,
            "startTime": start,
            "endTime": start + 2990,
            "startTimezone": 4,
            "endTimezone": 4,
            "distance": 8015.2,
            "duration": 2905,
            "avgHeartRate": 144,
            "avgSpeed": 362,
            "avgFrequency": 170,
            "calorie": 561000,
            "elevGain": 42,
            "step": 8240,
            "deviceName": "COROS PACE 3",
            "fitUrl": f"https://oss.coros.com/fit/{label_id}/{label_id}.fit",
        }
        workout.update(overrides)
        return workout

    # --- redirect and webhooks -------------------------------------------------------------------

    def callback_query(self, state: str) -> dict[str, str]:
        code = self.new_secret("coros-code")
        self.codes.add(code)
        return {"code": code, "state": state}

    def _webhook_body(self, kind: str) -> bytes:
        if kind != "activity_created":
            raise ValueError(f"FakeCoros cannot build a {kind!r} webhook")
        self._workout_counter += 1
        label_id = str(472901853316481024 + self._workout_counter)
        start = 1795539600 + 86400 * self._workout_counter
        workout = {
            "openId": self.provider_user_id,
            "labelId": label_id,
            "mode": 8,
            "subMode": 1,
            "startTime": start,
            "endTime": start + 3312,
            "startTimezone": 4,
            "endTimezone": 4,
            "distance": 10234.6,
            "duration": 3312,
            "avgHeartRate": 148,
            "calorie": 702000,
            "deviceName": "COROS PACE 3",
            "fitUrl": f"https://oss.coros.com/fit/{label_id}/{label_id}.fit",
        }
        return json.dumps({"sportDataList": [workout]}).encode()

    def signed_webhook(self, kind: str = "activity_created") -> WebhookParts:
        headers = {
            "content-type": "application/json",
            "client": self.credentials.client_id,
            "secret": self.credentials.client_secret,
        }
        return headers, self._webhook_body(kind), {}

    def forged_webhook(self, kind: str = "activity_created") -> WebhookParts:
        headers = {
            "content-type": "application/json",
            "client": self.credentials.client_id,
            "secret": f"guessed-secret-{secrets.token_hex(8)}",
        }
        return headers, self._webhook_body(kind), {}


def _local_date(workout: dict[str, Any]) -> date:
    """The workout's local start date, as COROS's date range filters it (assumed)."""
    start = workout.get("startTime")
    zone = workout.get("startTimezone")
    seconds = float(start) if isinstance(start, int | float) else 0.0
    offset = float(zone) * 900 if isinstance(zone, int | float) else 0.0
    return (datetime.fromtimestamp(seconds, UTC) + timedelta(seconds=offset)).date()
