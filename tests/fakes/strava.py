"""A fake Strava API v3 for ``httpx.MockTransport``: ``POST /oauth/token`` (code exchange with
the athlete summary; refresh that rotates the refresh token and refuses a spent one with
Strava's real 400 ``RefreshToken.refresh_token:invalid``), ``GET /api/v3/athlete``,
``POST /oauth/deauthorize``, and push-subscription events (unsigned; authenticated by
``subscription_id``) plus the ``hub.challenge`` handshake query.

Activities: tests fill :attr:`FakeStrava.activities` with DetailedActivity-shaped dicts (see
:meth:`FakeStrava.add_activity`). ``GET /api/v3/athlete/activities`` serves them as
SummaryActivities (no ``calories``/``description``, ``resource_state`` 2), filtered by
``after``/``before`` (exclusive epoch seconds), oldest first when ``after`` is given and newest
first otherwise, paged by ``page``/``per_page`` (default 30, capped at 200).
``GET /api/v3/activities/{id}`` serves the detailed object or, for an activity the fake does not
hold (never added, or removed by :meth:`FakeStrava.delete_activity`), Strava's 404
``{"message": "Record Not Found", "errors": [{"resource": "Activity", "field": "id", "code":
"invalid"}]}`` (fixture ``error_record_not_found.json``; provenance in the fixtures' README: the
swagger's Fault model, and the body as recorded by two public clients). Every API response
carries ``X-RateLimit-Limit``/``-Usage`` and ``X-ReadRateLimit-Limit``/``-Usage`` counted by the
fake (15-minute and daily); past a limit it answers Strava's 429.

``GET https://www.strava.com/oauth/authorize`` (:meth:`FakeStrava.authorize`) checks what the
real page checks before consent: the client id, and every comma-separated scope against the
scopes developers.strava.com/docs/authentication lists — an unknown or repeated scope answers
400 ``{"message": "Bad Request", "errors": [{"resource": "Authorize", "field": "scope",
"code": "invalid"}]}`` (the shape quoted in many public integration notes and a regression
test of a public client, found by content search). When :attr:`FakeStrava.athlete_capacity`
athletes are connected, a new athlete gets Strava's page "Error 403: Limit of connected
athletes exceeded" (quoted in github.com/jat255/strava-to-fittrackee/issues/22 and others)
and never comes back to the callback. Provenance: tests/fixtures/providers/strava/README.md."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from tests.fakes.base import FakeProvider, WebhookParts
from trainlytics.providers.base import ProviderCredentials

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "strava"

#: The scope string Strava's redirect carries when the athlete keeps every box ticked.
FULL_SCOPE = "read,activity:read,activity:read_all"
#: The scopes Strava's authorize endpoint accepts (developers.strava.com/docs/authentication).
VALID_SCOPES = frozenset(
    {
        "read",
        "read_all",
        "profile:read_all",
        "profile:write",
        "activity:read",
        "activity:read_all",
        "activity:write",
    }
)
CAPACITY_PAGE = (
    "Error 403: Limit of connected athletes exceeded\n"
    "This app has exceeded the limit of connected athletes. If you are a developer of this "
    "application, please contact Strava developer support for how to request a quota increase."
)
SUBSCRIPTION_ID = "287019"

_WEBHOOK_FIXTURES = {
    "activity_created": "webhook_activity_create.json",
    "activity_updated": "webhook_activity_update.json",
    "activity_deleted": "webhook_activity_delete.json",
    "deauthorized": "webhook_athlete_deauthorize.json",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _error(status: int, name: str) -> httpx.Response:
    return httpx.Response(status, json=fixture(name))


class FakeStrava(FakeProvider):
    name: ClassVar[str] = "strava"

    def __init__(self, provider_user_id: str | None = None, *, scope: str = FULL_SCOPE) -> None:
        super().__init__(provider_user_id)  # Strava athlete ids are integers: digits default
        #: What the redirect's ``scope`` reports as granted (set e.g. "read,activity:read" to
        #: simulate an athlete who unticked private activities).
        self.scope = scope
        self.activity_id = 16327730912
        self._codes: set[str] = set()
        self._live_access_tokens: set[str] = set()
        self._live_refresh_tokens: set[str] = set()
        self._spent_refresh_tokens: set[str] = set()
        #: The athlete's activities (DetailedActivity shape), served by the list/detail routes.
        self.activities: list[dict[str, Any]] = []
        #: Rate limits the headers report: (15-min, daily) for all requests and for reads.
        self.rate_limits = {"overall": (200, 2000), "read": (100, 1000)}
        #: Requests counted so far in the current windows (the fake never resets them itself).
        self.usage = {"overall": [0, 0], "read": [0, 0]}
        #: Athletes the application may connect (Standard tier: 10) and those connected.
        self.athlete_capacity = 10
        self.connected_athletes: set[str] = set()

    def make_credentials(self) -> ProviderCredentials:
        return ProviderCredentials(
            client_id="104729",
            client_secret="strava-test-client-secret-" + secrets.token_hex(8),
            redirect_uri="https://api.trainlytics.test/oauth/strava/callback",
            # STRAVA_WEBHOOK_VERIFY_TOKEN: echoed by Strava in the subscription handshake.
            webhook_secret="strava-test-verify-token-" + secrets.token_hex(8),
            # STRAVA_ATHLETE_CAPACITY "0": no cap (the suites' database keeps every athlete
            # any test connected; the cap has tests of its own).
            extra={"SUBSCRIPTION_ID": SUBSCRIPTION_ID, "ATHLETE_CAPACITY": "0"},
        )

    # --- what the athlete's browser brings back ------------------------------------------------

    def callback_query(self, state: str) -> dict[str, str]:
        code = self.new_secret("strava-code")
        self._codes.add(code)
        return {"state": state, "code": code, "scope": self.scope}

    def authorize(self, url: str) -> httpx.Response:
        """What Strava's authorize page answers for ``url`` when this fake's athlete consents:
        a 302 to the redirect URI with code, state and the granted scope, or Strava's errors."""
        params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        if params.get("client_id") != self.credentials.client_id:
            return httpx.Response(400, json=fixture("error_authorize_client_id.json"))
        requested = params.get("scope", "").split(",")
        if not all(s in VALID_SCOPES for s in requested) or len(set(requested)) != len(requested):
            return httpx.Response(400, json=fixture("error_authorize_scope.json"))
        if (
            self.provider_user_id not in self.connected_athletes
            and len(self.connected_athletes) >= self.athlete_capacity
        ):
            return httpx.Response(403, text=CAPACITY_PAGE)
        granted = [s for s in requested if s in self.scope.split(",")]
        query = self.callback_query(params.get("state", ""))
        query["scope"] = ",".join(granted)
        location = f"{params.get('redirect_uri', '')}?{urlencode(query)}"
        return httpx.Response(302, headers={"location": location})

    def denied_callback_query(self, state: str) -> dict[str, str]:
        """The redirect when the athlete presses Cancel on Strava's consent page."""
        return {"state": state, "error": "access_denied"}

    # --- the API -------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "www.strava.com":
            return httpx.Response(404, json={"message": "Record Not Found", "errors": []})
        route = (request.method, request.url.path)
        if route == ("GET", "/oauth/authorize"):
            return self.authorize(str(request.url))
        if route in {("POST", "/oauth/token"), ("POST", "/api/v3/oauth/token")}:
            return self._token(request)
        if route == ("POST", "/oauth/deauthorize"):
            form = dict(parse_qsl(request.content.decode()))
            token = form.get("access_token") or _bearer(request)
            if token not in self._live_access_tokens:
                return _error(401, "error_authorization.json")
            self.revocations += 1
            self._live_access_tokens.clear()
            self._spent_refresh_tokens |= self._live_refresh_tokens
            self._live_refresh_tokens.clear()
            return httpx.Response(200, json={"access_token": token})
        if route == ("GET", "/api/v3/athlete"):
            if _bearer(request) not in self._live_access_tokens:
                return _error(401, "error_authorization.json")
            return httpx.Response(200, json=self._athlete(fixture("athlete.json")))
        if request.method == "GET" and (
            request.url.path == "/api/v3/athlete/activities"
            or request.url.path.startswith("/api/v3/activities/")
        ):
            return self._counted(request)
        return httpx.Response(404, json={"message": "Record Not Found", "errors": []})

    # --- activities ----------------------------------------------------------------------------

    def add_activity(self, activity_id: int, start: datetime, **fields: Any) -> dict[str, Any]:
        """Store a DetailedActivity (a run by default) starting at ``start`` (UTC)."""
        activity: dict[str, Any] = {
            "id": activity_id,
            "resource_state": 3,
            "athlete": {"id": int(self.provider_user_id), "resource_state": 1},
            "name": f"Activity {activity_id}",
            "description": None,
            "distance": 10000.0,
            "moving_time": 3000,
            "elapsed_time": 3100,
            "total_elevation_gain": 25.0,
            "type": "Run",
            "sport_type": "Run",
            "start_date": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start_date_local": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timezone": "(GMT+00:00) Europe/London",
            "utc_offset": 0.0,
            "trainer": False,
            "commute": False,
            "manual": False,
            "private": False,
            "visibility": "everyone",
            "flagged": False,
            "average_speed": 3.333,
            "max_speed": 4.8,
            "average_cadence": 85.0,
            "has_heartrate": True,
            "average_heartrate": 150.0,
            "max_heartrate": 172.0,
            "calories": 700.0,
            "device_name": "Garmin Forerunner 965",
            "external_id": f"garmin_ping_{activity_id}",
            "upload_id": activity_id + 10**10,
            "upload_id_str": str(activity_id + 10**10),
        }
        activity.update(fields)
        self.activities.append(activity)
        return activity

    def delete_activity(self, activity_id: int) -> None:
        """The athlete deletes the activity at Strava: its detail answers 404 from now on."""
        before = len(self.activities)
        self.activities = [a for a in self.activities if a["id"] != activity_id]
        if len(self.activities) == before:
            raise KeyError(f"FakeStrava holds no activity {activity_id}")

    def _counted(self, request: httpx.Request) -> httpx.Response:
        if _bearer(request) not in self._live_access_tokens:
            return _error(401, "error_authorization.json")
        over_limit = any(
            self.usage[family][i] >= self.rate_limits[family][i]
            for family in ("overall", "read")
            for i in (0, 1)
        )
        for family in ("overall", "read"):  # refused requests count too, as at Strava
            self.usage[family][0] += 1
            self.usage[family][1] += 1
        if over_limit:
            response = httpx.Response(429, json=fixture("error_rate_limit.json"))
        elif request.url.path == "/api/v3/athlete/activities":
            response = self._list(request)
        else:
            response = self._detail(request.url.path.removeprefix("/api/v3/activities/"))
        response.headers.update(self.rate_limit_headers())
        return response

    def rate_limit_headers(self) -> dict[str, str]:
        overall, read = self.rate_limits["overall"], self.rate_limits["read"]
        used, read_used = self.usage["overall"], self.usage["read"]
        return {
            "X-RateLimit-Limit": f"{overall[0]},{overall[1]}",
            "X-RateLimit-Usage": f"{used[0]},{used[1]}",
            "X-ReadRateLimit-Limit": f"{read[0]},{read[1]}",
            "X-ReadRateLimit-Usage": f"{read_used[0]},{read_used[1]}",
        }

    def _list(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        try:
            after = int(params["after"]) if "after" in params else None
            before = int(params["before"]) if "before" in params else None
            page = int(params.get("page", "1"))
            per_page = min(int(params.get("per_page", "30")), 200)
        except ValueError:
            return httpx.Response(
                400,
                json={
                    "message": "Bad Request",
                    "errors": [{"resource": "Application", "field": "page", "code": "invalid"}],
                },
            )
        chosen = []
        for activity in self.activities:
            start = _epoch(activity["start_date"])
            if (after is None or start > after) and (before is None or start < before):
                chosen.append(activity)
        # With ``after`` Strava lists oldest first, otherwise newest first.
        chosen.sort(key=lambda a: (_epoch(a["start_date"]), a["id"]), reverse=after is None)
        first = (max(page, 1) - 1) * max(per_page, 1)
        return httpx.Response(
            200, json=[_summary(a) for a in chosen[first : first + max(per_page, 1)]]
        )

    def _detail(self, raw_id: str) -> httpx.Response:
        for activity in self.activities:
            if str(activity["id"]) == raw_id:
                return httpx.Response(200, json=activity)
        return _error(404, "error_record_not_found.json")

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if form.get("client_id") != self.credentials.client_id:
            return httpx.Response(
                400,
                json={
                    "message": "Bad Request",
                    "errors": [
                        {"resource": "Application", "field": "client_id", "code": "invalid"}
                    ],
                },
            )
        if form.get("client_secret") != self.credentials.client_secret:
            return _error(400, "error_client_secret_invalid.json")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            if code not in self._codes:
                return _error(400, "error_authorization_code_invalid.json")
            self._codes.discard(code)  # single use
            self.token_exchanges += 1
            body = fixture("token_exchange.json")
            body["athlete"] = self._athlete(body["athlete"])
            self.connected_athletes.add(self.provider_user_id)
            return httpx.Response(200, json=self._issue(body))
        if grant == "refresh_token":
            self.refresh_calls += 1
            old = form.get("refresh_token", "")
            if old not in self._live_refresh_tokens:
                return _error(400, "error_refresh_token_invalid.json")
            self._live_refresh_tokens.discard(old)
            self._spent_refresh_tokens.add(old)
            return httpx.Response(200, json=self._issue(fixture("token_refresh.json")))
        return httpx.Response(
            400,
            json={
                "message": "Bad Request",
                "errors": [{"resource": "Application", "field": "grant_type", "code": "invalid"}],
            },
        )

    def _issue(self, body: dict[str, Any]) -> dict[str, Any]:
        access = secrets.token_hex(20)  # Strava tokens are 40 hex characters
        refresh = secrets.token_hex(20)
        self.record_secret(access)
        self.record_secret(refresh)
        self._live_access_tokens.add(access)
        self._live_refresh_tokens.add(refresh)
        now = int(time.time())
        body.update(
            access_token=access, refresh_token=refresh, expires_in=21600, expires_at=now + 21600
        )
        return body

    def _athlete(self, athlete: dict[str, Any]) -> dict[str, Any]:
        athlete["id"] = int(self.provider_user_id)
        return athlete

    def athlete_deauthorizes_at_strava(self) -> None:
        """The athlete revokes the app in their Strava settings: "all refresh tokens and access
        tokens that the application has for the athlete" are invalidated
        (developers.strava.com/docs/authentication, "Deauthorization"), so the API answers
        401 Authorization Error and a refresh 400 RefreshToken invalid; Strava then sends the
        ``athlete`` / ``authorized: "false"`` event (developers.strava.com/docs/webhooks)."""
        self._live_access_tokens.clear()
        self._spent_refresh_tokens |= self._live_refresh_tokens
        self._live_refresh_tokens.clear()

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid (as after its 6 h), refresh tokens kept."""
        self._live_access_tokens.clear()

    # --- webhooks ------------------------------------------------------------------------------

    def handshake_query(self, verify_token: str | None = None) -> dict[str, str]:
        """The query of Strava's GET validation request when a subscription is created."""
        query: dict[str, str] = fixture("webhook_subscription_handshake.json")
        query["hub.challenge"] = secrets.token_hex(16)
        query["hub.verify_token"] = (
            verify_token if verify_token is not None else self.credentials.webhook_secret or ""
        )
        return query

    def webhook_event(
        self, kind: str = "activity_created", subscription_id: str = SUBSCRIPTION_ID
    ) -> dict[str, Any]:
        try:
            event: dict[str, Any] = fixture(_WEBHOOK_FIXTURES[kind])
        except KeyError:
            raise ValueError(f"FakeStrava has no {kind!r} webhook") from None
        event["owner_id"] = int(self.provider_user_id)
        if event["object_type"] == "athlete":
            event["object_id"] = int(self.provider_user_id)
        else:
            event["object_id"] = self.activity_id
        event["subscription_id"] = int(subscription_id)
        event["event_time"] = int(time.time())
        return event

    def signed_webhook(self, kind: str = "activity_created") -> WebhookParts:
        # Strava does not sign events: a genuine one names the app's push subscription.
        body = json.dumps(self.webhook_event(kind)).encode()
        return {"content-type": "application/json"}, body, {}

    def forged_webhook(self, kind: str = "activity_created") -> WebhookParts:
        forged_subscription = str(int(SUBSCRIPTION_ID) + 1)
        body = json.dumps(self.webhook_event(kind, forged_subscription)).encode()
        return {"content-type": "application/json"}, body, {}


def _epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _summary(activity: dict[str, Any]) -> dict[str, Any]:
    """The SummaryActivity of a stored DetailedActivity: no calories, description, efforts."""
    hidden = {"calories", "description", "segment_efforts", "splits_metric", "laps", "gear"}
    summary = {key: value for key, value in activity.items() if key not in hidden}
    summary["resource_state"] = 2
    return summary


def _bearer(request: httpx.Request) -> str:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
