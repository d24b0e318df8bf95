"""A fake Garmin Connect Developer Program API for ``httpx.MockTransport``: the OAuth 2.0 PKCE
token endpoint (code exchange that checks the S256 verifier when it saw the authorize URL;
refresh that rotates the refresh token and refuses a spent one with 400 ``invalid_grant``),
``GET /partner-gateway/rest/user/id`` and ``/user/permissions``, ``DELETE
/partner-gateway/rest/user/registration`` (also served on the older ``/wellness-api/rest/user``
paths), and push/ping/deregistration/permission-change webhooks with the ``garmin-client-id``
header. Provenance of every rule: tests/fixtures/providers/garmin/PROVENANCE.md.

The token endpoint's error bodies follow RFC 6749 — Garmin's exact shape is UNCONFIRMED (its
specification is partner-only).

Activities: tests fill :attr:`FakeGarmin.activities` with activity summaries (see
:meth:`FakeGarmin.add_activity`); each is uploaded at ``upload_times[summaryId]`` (default: its
end). ``GET /wellness-api/rest/activities?uploadStartTimeInSeconds=&uploadEndTimeInSeconds=``
serves, as a JSON array, those uploaded in the window (a window over 86,400 s is Garmin's 400)
**only with the** ``token=`` **of a ping's callbackURL**: without it Garmin answers 400
``{"errorMessage": "InvalidPullTokenException failure"}`` (integrators' diagnostics of the live
API, 2025-2026: see PROVENANCE.md); ping callback URLs point there.
``GET /wellness-api/rest/backfill/activities?summaryStartTimeInSeconds=&summaryEndTimeInSeconds=``
answers 202 (a range over 30 days: 400;
the same range again: 409; without HISTORICAL_DATA_EXPORT: 403) and records the range;
:meth:`FakeGarmin.backfill_push_bodies` then gives the push bodies Garmin would send."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.fakes.base import FakeProvider, WebhookParts
from trainlytics.providers.base import ProviderCredentials

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "garmin"

#: What Garmin sends for each kind. In ping mode (the only mode Trainlytics trusts: a push is
#: authenticated only by the public client id) a new or changed activity is announced by a
#: ping whose callbackURL serves it; ``activity_pushed`` / ``activity_updated_pushed`` are the
#: push-mode bodies, which the app must ignore.
_WEBHOOK_FIXTURES = {
    "activity_created": "webhook_activities_ping.json",
    "activity_updated": "webhook_activities_ping.json",
    "activity_pushed": "webhook_activities_push.json",
    "activity_updated_pushed": "webhook_manually_updated_activities_push.json",
    "activities_available": "webhook_activities_ping.json",
    "deauthorized": "webhook_deregistrations.json",
    "permissions_changed": "webhook_user_permissions_change.json",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _oauth_error(status: int, error: str) -> httpx.Response:
    descriptions = {
        "invalid_grant": "Invalid authorization code or refresh token",
        "invalid_client": "Client authentication failed",
        "invalid_request": "Missing or invalid parameter",
        "unsupported_grant_type": "Unsupported grant type",
    }
    return httpx.Response(status, json={"error": error, "error_description": descriptions[error]})


class FakeGarmin(FakeProvider):
    name: ClassVar[str] = "garmin"

    def __init__(
        self, provider_user_id: str | None = None, *, permissions: list[str] | None = None
    ) -> None:
        # Garmin partner user ids are opaque strings (UUID-like), not integers.
        super().__init__(provider_user_id or str(uuid.uuid4()))
        #: What /user/permissions answers (drop ACTIVITY_EXPORT to simulate a partial grant).
        self.permissions: list[str] = (
            permissions if permissions is not None else fixture("permissions.json")
        )
        self.activity_id = 21873461203
        self._codes: dict[str, str | None] = {}  # code -> expected S256 challenge, if known
        self._live_access_tokens: set[str] = set()
        self._live_refresh_tokens: set[str] = set()
        self._spent_refresh_tokens: set[str] = set()
        #: The athlete's activity summaries (partner-API shape, without ``userId``).
        self.activities: list[dict[str, Any]] = []
        #: summaryId -> upload time (epoch s); default: start + duration.
        self.upload_times: dict[str, int] = {}
        #: Accepted backfill ranges (start, end) in epoch s, in request order.
        self.backfill_requests: list[tuple[int, int]] = []
        #: Pull tokens (``token=`` of ping callbackURLs) already served.
        self.spent_pull_tokens: set[str] = set()
        #: Pull tokens Garmin handed out in pings (only these open /activities).
        self.issued_pull_tokens: set[str] = set()
        #: Pulls refused for want of a ping's token (what the code must never cause).
        self.tokenless_pulls = 0
        #: Requests to /partner-gateway/rest/... (the current user endpoints).
        self.partner_gateway_calls = 0
        #: Summaries of OTHER Garmin users (each with its own ``userId``) that a callbackURL
        #: also returns when their upload time is in its window. Garmin documents no such
        #: answer: this is fault injection (a mix-up at Garmin's side, or a callback that is
        #: not what it claims), for the defence-in-depth check of ``userId``.
        self.other_users_activities: list[dict[str, Any]] = []
        #: Accepted backfill ranges not yet delivered by ping.
        self._undelivered: list[tuple[int, int]] = []

    def make_credentials(self) -> ProviderCredentials:
        return ProviderCredentials(
            client_id="3f6c2b1a-8e7d-4c5b-9a0f-1e2d3c4b5a69",
            client_secret="garmin-test-client-secret-" + secrets.token_hex(8),
            redirect_uri="https://api.trainlytics.test/oauth/garmin/callback",
            webhook_secret=None,  # Garmin webhooks carry our client id, no secret of ours
        )

    # --- what the athlete's browser brings back ------------------------------------------------

    def callback_query(self, state: str, *, authorize_url: str | None = None) -> dict[str, str]:
        """Garmin redirects with ``code`` and ``state``. Given the authorize URL our app built,
        the fake remembers its ``code_challenge`` and the token endpoint then demands the
        matching verifier — an end-to-end PKCE check."""
        challenge: str | None = None
        if authorize_url is not None:
            params = dict(parse_qsl(urlsplit(authorize_url).query))
            if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
                raise AssertionError("the Garmin authorize URL carries no S256 code challenge")
            if params.get("state") != state:
                raise AssertionError("the Garmin authorize URL carries another state")
            challenge = params["code_challenge"]
        code = self.new_secret("garmin-code")
        self._codes[code] = challenge
        return {"code": code, "state": state}

    # --- the API -------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        host, path, method = request.url.host, request.url.path, request.method
        if (host, method, path) == ("diauth.garmin.com", "POST", "/di-oauth2-service/oauth/token"):
            return self._token(request)
        if host != "apis.garmin.com":
            return httpx.Response(404)
        if _bearer(request) not in self._live_access_tokens:
            return httpx.Response(401, json={"errorMessage": "Unauthorized"})
        user_path = path.removeprefix("/partner-gateway/rest").removeprefix("/wellness-api/rest")
        if path.startswith("/partner-gateway/"):
            self.partner_gateway_calls += 1
        if (method, user_path) == ("GET", "/user/id"):
            return httpx.Response(200, json={"userId": self.provider_user_id})
        if (method, user_path) == ("GET", "/user/permissions"):
            return httpx.Response(200, json=list(self.permissions))
        if (method, path) == ("GET", "/wellness-api/rest/activities"):
            return self._pull(request)
        if (method, path) == ("GET", "/wellness-api/rest/backfill/activities"):
            return self._backfill(request)
        if (method, user_path) == ("DELETE", "/user/registration"):
            self.revocations += 1
            self._live_access_tokens.clear()
            self._spent_refresh_tokens |= self._live_refresh_tokens
            self._live_refresh_tokens.clear()
            return httpx.Response(204)
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if form.get("client_id") != self.credentials.client_id or form.get("client_secret") != (
            self.credentials.client_secret
        ):
            return _oauth_error(401, "invalid_client")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            if code not in self._codes:
                return _oauth_error(400, "invalid_grant")
            challenge = self._codes.pop(code)  # single use
            verifier = form.get("code_verifier")
            if not verifier or form.get("redirect_uri") != self.credentials.redirect_uri:
                return _oauth_error(400, "invalid_request")
            if challenge is not None and s256(verifier) != challenge:
                return _oauth_error(400, "invalid_grant")
            self.token_exchanges += 1
            return httpx.Response(200, json=self._issue(fixture("token_exchange.json")))
        if grant == "refresh_token":
            self.refresh_calls += 1
            old = form.get("refresh_token", "")
            if old not in self._live_refresh_tokens:
                return _oauth_error(400, "invalid_grant")
            self._live_refresh_tokens.discard(old)
            self._spent_refresh_tokens.add(old)
            return httpx.Response(200, json=self._issue(fixture("token_refresh.json")))
        return _oauth_error(400, "unsupported_grant_type")

    def _issue(self, body: dict[str, Any]) -> dict[str, Any]:
        access = self.new_secret("garmin-access")
        refresh = str(uuid.uuid4())  # Garmin refresh tokens look like UUIDs
        self.record_secret(refresh)
        self._live_access_tokens.add(access)
        self._live_refresh_tokens.add(refresh)
        body.update(access_token=access, refresh_token=refresh, jti=str(uuid.uuid4()))
        return body

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid (as after its 24 h), refresh tokens kept."""
        self._live_access_tokens.clear()

    def athlete_removes_the_app(self) -> None:
        """The athlete disconnects the app in Garmin Connect: the registration ends and every
        token issued to the app for them stops working (the API then answers 401, the token
        endpoint ``invalid_grant``), and Garmin sends a deregistration. [2nd]: integrations
        treat a deregistration as the end of the user's tokens (shared/docs/providers.md §3;
        the-momentum/open-wearables deletes the connection on it); the exact error bodies
        after it are UNCONFIRMED."""
        self._live_access_tokens.clear()
        self._spent_refresh_tokens |= self._live_refresh_tokens
        self._live_refresh_tokens.clear()

    # --- activities ----------------------------------------------------------------------------

    def add_activity(
        self, activity_id: int, start: int, *, uploaded_at: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Store a summary (a run by default) starting at epoch ``start``."""
        summary: dict[str, Any] = {
            "summaryId": str(activity_id),
            "activityId": activity_id,
            "activityName": f"Running {activity_id}",
            "activityType": "RUNNING",
            "startTimeInSeconds": start,
            "startTimeOffsetInSeconds": 3600,
            "durationInSeconds": 3000,
            "distanceInMeters": 10000.0,
            "averageSpeedInMetersPerSecond": 3.333,
            "maxSpeedInMetersPerSecond": 4.6,
            "averageHeartRateInBeatsPerMinute": 149,
            "maxHeartRateInBeatsPerMinute": 174,
            "averageRunCadenceInStepsPerMinute": 170.0,
            "activeKilocalories": 690,
            "deviceName": "forerunner965",
            "manual": False,
        }
        summary.update(fields)
        self.activities.append(summary)
        if uploaded_at is not None:
            self.upload_times[summary["summaryId"]] = uploaded_at
        return summary

    def uploaded_at(self, summary: dict[str, Any]) -> int:
        default = int(summary["startTimeInSeconds"]) + int(summary.get("durationInSeconds", 0))
        return self.upload_times.get(str(summary["summaryId"]), default)

    def _with_user(self, summary: dict[str, Any]) -> dict[str, Any]:
        return {"userId": self.provider_user_id, **summary}

    def _pull(self, request: httpx.Request) -> httpx.Response:
        window = _int_params(request, "uploadStartTimeInSeconds", "uploadEndTimeInSeconds")
        if window is None or not 0 < window[1] - window[0] <= 86400:
            return httpx.Response(
                400,
                json={"errorMessage": "Invalid upload time range, must be between 1s and 86400s"},
            )
        start, end = window
        token = request.url.params.get("token")
        if token is None or token not in self.issued_pull_tokens:
            # No ad-hoc pulls: the bearer token alone does not open /activities.
            self.tokenless_pulls += 1
            return httpx.Response(400, json={"errorMessage": "InvalidPullTokenException failure"})
        if token is not None:
            # A ping's pull token serves one download; a second GET is refused. [2nd]: an
            # integrator's note on Garmin ping callbacks — "The callbackURL is valid for 24
            # hours only; Duplicate downloads are rejected with HTTP 410" (stated for
            # activity files; UNCONFIRMED for summary callbacks, applied here as the strict
            # reading).
            if token in self.spent_pull_tokens:
                return httpx.Response(410, json={"errorMessage": "Pull token already used"})
            self.spent_pull_tokens.add(token)
        return httpx.Response(
            200,
            json=[self._with_user(a) for a in self.activities if start <= self.uploaded_at(a) < end]
            + [a for a in self.other_users_activities if start <= self.uploaded_at(a) < end],
        )

    def _backfill(self, request: httpx.Request) -> httpx.Response:
        window = _int_params(request, "summaryStartTimeInSeconds", "summaryEndTimeInSeconds")
        if window is None or not 0 < window[1] - window[0] <= 30 * 86400:
            return httpx.Response(400, json={"errorMessage": "Invalid summary time range"})
        if "HISTORICAL_DATA_EXPORT" not in self.permissions:
            return httpx.Response(
                403, json={"errorMessage": "User has not granted HISTORICAL_DATA_EXPORT"}
            )
        if window in self.backfill_requests:
            return httpx.Response(409, json={"errorMessage": "Duplicate backfill request"})
        self.backfill_requests.append(window)
        self._undelivered.append(window)
        return httpx.Response(202)

    def backfill_push_bodies(self) -> list[dict[str, Any]]:
        """The ``activities`` push bodies Garmin sends for the accepted backfill ranges."""
        bodies = []
        for start, end in self.backfill_requests:
            items = [
                self._with_user(a)
                for a in self.activities
                if start <= int(a["startTimeInSeconds"]) < end
            ]
            if items:
                bodies.append({"activities": items})
        return bodies

    def backfill_ping_bodies(self) -> list[dict[str, Any]]:
        """The ``activities`` pings Garmin sends in ping mode for the backfill ranges accepted
        since the last call: callbackURLs covering the uploads of the activities in them."""
        bodies = []
        ranges, self._undelivered = self._undelivered, []
        for start, end in ranges:
            uploads = [
                self.uploaded_at(a)
                for a in self.activities
                if start <= int(a["startTimeInSeconds"]) < end
            ]
            for low in range(min(uploads), max(uploads) + 1, 86400) if uploads else ():
                bodies.append(self.ping_body(low, min(low + 86400, max(uploads) + 1)))
        return bodies

    def ping_body(self, upload_start: int, upload_end: int) -> dict[str, Any]:
        """An ``activities`` ping whose callbackURL pulls the given upload window."""
        token = f"CPT-{secrets.token_hex(6)}"
        self.issued_pull_tokens.add(token)
        return {
            "activities": [
                {
                    "userId": self.provider_user_id,
                    "callbackURL": "https://apis.garmin.com/wellness-api/rest/activities"
                    f"?uploadStartTimeInSeconds={upload_start}"
                    f"&uploadEndTimeInSeconds={upload_end}&token={token}",
                }
            ]
        }

    # --- webhooks ------------------------------------------------------------------------------

    def webhook_body(self, kind: str = "activity_created") -> dict[str, Any]:
        try:
            body: dict[str, Any] = copy.deepcopy(fixture(_WEBHOOK_FIXTURES[kind]))
        except KeyError:
            raise ValueError(f"FakeGarmin has no {kind!r} webhook") from None
        for items in body.values():
            for item in items:
                item["userId"] = self.provider_user_id
                if "activityId" in item:
                    item["activityId"] = self.activity_id
                    item["summaryId"] = str(self.activity_id)
                if "changeTimeInSeconds" in item:
                    item["changeTimeInSeconds"] = int(time.time())
                if "callbackURL" in item:
                    # Garmin's ping: its pull token opens the callbackURL (once).
                    token = dict(parse_qsl(urlsplit(item["callbackURL"]).query)).get("token")
                    if token:
                        self.issued_pull_tokens.add(token)
        return body

    def signed_webhook(self, kind: str = "activity_created") -> WebhookParts:
        headers = {
            "content-type": "application/json",
            "garmin-client-id": self.credentials.client_id,
        }
        return headers, json.dumps(self.webhook_body(kind)).encode(), {}

    def forged_webhook(self, kind: str = "activity_created") -> WebhookParts:
        headers = {"content-type": "application/json", "garmin-client-id": str(uuid.uuid4())}
        return headers, json.dumps(self.webhook_body(kind)).encode(), {}


def _int_params(request: httpx.Request, first: str, second: str) -> tuple[int, int] | None:
    try:
        return int(request.url.params[first]), int(request.url.params[second])
    except (KeyError, ValueError):
        return None


def _bearer(request: httpx.Request) -> str:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
