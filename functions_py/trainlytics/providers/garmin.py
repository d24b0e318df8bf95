"""Garmin Connect Developer Program (Health/Activity API): OAuth 2.0 + PKCE, push/ping webhooks.

Garmin's specifications are partner-only PDFs; the facts below are those that several
independent integrations agree on (``shared/docs/providers.md`` §3, labelled [2nd]):

- Authorize at ``connect.garmin.com/oauth2Confirm`` with a PKCE S256 challenge. There are no
  scopes in the request: the athlete ticks permissions on the consent screen.
- ``POST diauth.garmin.com/di-oauth2-service/oauth/token`` (form-encoded, server side only) with
  the client secret *and* the PKCE verifier. The response has ``access_token``, ``expires_in``
  (~24 h), ``refresh_token``, ``refresh_token_expires_in`` (~90 days), ``scope``, ``jti``.
  Every refresh returns a new refresh token (rotation); an expired or spent one means the
  athlete must consent again.
- User endpoints live on the **partner gateway** (``/partner-gateway/rest/user/...``; the
  older ``/wellness-api/rest/user/...`` paths are what pre-2025 integrations call):
  ``GET .../user/id`` → ``{"userId": ...}``: the stable provider user id;
  ``GET .../user/permissions`` → e.g. ``["ACTIVITY_EXPORT", ...]`` (some integrations read a
  ``{"permissions": [...]}`` object; both are accepted): what the athlete granted. The sync
  needs ``ACTIVITY_EXPORT``. ``DELETE .../user/registration`` → 204 withdraws the app's
  access. Sources: the-momentum/open-wearables ``backend/app/services/providers/garmin/
  oauth.py`` and its tests (DELETE and permissions on ``/partner-gateway/rest/user/...``),
  Garmin's Start Guide as quoted by integrators ("Call DELETE
  /partner-gateway/rest/user/registration whenever our app disconnects someone"), and the
  partner gateway's OAuth 1 → 2 ``/partner-gateway/rest/user/token-exchange``.
- Webhooks: Garmin sends the ``garmin-client-id`` header (our client id). Bodies are keyed by
  summary type: ``{"activities": [...]}`` holds full summaries (push) or items with a
  ``callbackURL`` to GET (ping); ``{"deregistrations": [{"userId": ...}]}``;
  ``{"userPermissionsChange": [{"userId": ..., "permissions": [...], ...}]}``. Each item
  carries ``userId``. Answer 200 quickly; Garmin retries for up to 7 days.
- The ``garmin-client-id`` header is not a signature: the client id is public (it is in every
  authorize URL), so anyone can forge a push. Hence (issue 14) only pings are trusted: a
  push's content is ignored; a ping's data is fetched from Garmin's own host with the
  athlete's token (``shared/docs/providers.md`` §3 "Data delivery": the callbackURL is "the
  only verifiable source of a user's data"); deregistrations and permission changes are
  confirmed with ``/user/id`` and ``/user/permissions`` (:meth:`Provider.check_access`) before
  anything is revoked.

UNCONFIRMED (no public primary source; handled defensively):

- The token endpoint's error body. We assume RFC 6749 (``{"error": "invalid_grant",
  "error_description": ...}``) and treat any 400/401 on refresh as a revoked grant, except
  ``invalid_client`` (our credentials are wrong: a configuration problem, not a revocation).
- Whether the ``scope`` string of the token response is space- or comma-separated: both are
  split. Granted *permissions* always come from ``/user/permissions``.
- What ``DELETE /user/registration`` answers for an already-deregistered user: 401, 403 and 404
  are all taken as "already revoked".
- Non-activity summary types (dailies, sleeps, ...) are ignored here; ``activityDetails`` and
  ``manuallyUpdatedActivities`` are reported as ``activity_updated``.
- A ping's callback validity: 24 h (stated for Activity Files; applied to summary pings too)
  and single use — a second download answering 410 is an integrator's report, not a document.
- Whether the bearer token is needed beside a callbackURL's ``token=`` (we send both; the pull
  token is what Garmin checks — settled below).
- That a backfill's duplicate answer is 409 and a missing historical permission 403 (both
  [2nd]; the 403's body is not documented publicly).
- Whether Garmin's review objects to small backfills requested by scheduled runs to close
  gaps (the Start Guide permits backfill for history; outages are covered by Garmin's Summary
  Resender, so a gap backfill is a safety net).

SETTLED since (sources now agree):

- **No ad-hoc pulls.** ``GET /wellness-api/rest/activities?uploadStartTimeInSeconds=...`` with
  the bearer token alone answers 400 ``{"errorMessage": "InvalidPullTokenException
  failure"}``: Garmin serves it only with the ``token=`` a ping's callbackURL carries, and its
  Start Guide says "ad-hoc requests for data are not permitted" (several integrators' logs
  and diagnostics, 2025-2026, found by content search; shared/docs/providers.md §3).
  Trainlytics never builds a pull URL: data arrives by ping; history and gaps by backfill.

Activities (``fetch_activities``/``fetch_for_event``): every planned window is requested as an
asynchronous ``GET /backfill/activities`` in <= 30-day start-time ranges (202 → the page is
``pending`` and the data arrives by ping; 409 = already requested, also fine; 403 = the athlete
has not granted historical export → :class:`~trainlytics.errors.HistoryNotGrantedError`, a
``skipped`` run with a hint). Pushes are ignored (see above); pings carry a ``callbackURL`` on
apis.garmin.com, fetched once with the athlete's bearer token; an item of another Garmin
user than the connection's is refused (counted as failed, logged, never written). An
``activityDetails`` callback (samples and laps, up to 100 MB a body) is reduced to its
``summary`` before it is ingested: neither the job queue (which holds only the ping's userId
and callbackURL) nor the ingest sees the samples. No public rate-limit headers or per-request
limits.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

import httpx

from trainlytics import errors
from trainlytics.json_limits import loads_bounded
from trainlytics.logs import get_logger
from trainlytics.providers import base
from trainlytics.providers.base import ActivityPage, TokenSet, WebhookEvent, WebhookRequest
from trainlytics.providers.http import response_json
from trainlytics.providers.oauth2 import OAuth2Provider

__all__ = [
    "API_BASE_URL",
    "AUTHORIZE_URL",
    "PERMISSIONS_URL",
    "REGISTRATION_URL",
    "REQUIRED_PERMISSIONS",
    "TOKEN_URL",
    "USER_ID_URL",
    "WEBHOOK_CLIENT_ID_HEADER",
    "GarminProvider",
]

AUTHORIZE_URL = "https://connect.garmin.com/oauth2Confirm"
TOKEN_URL = "https://diauth.garmin.com/di-oauth2-service/oauth/token"  # noqa: S105 - a URL
API_BASE_URL = "https://apis.garmin.com/wellness-api/rest"
#: The partner gateway, where the user endpoints live.
PARTNER_GATEWAY_URL = "https://apis.garmin.com/partner-gateway/rest"
USER_ID_URL = f"{PARTNER_GATEWAY_URL}/user/id"
PERMISSIONS_URL = f"{PARTNER_GATEWAY_URL}/user/permissions"
REGISTRATION_URL = f"{PARTNER_GATEWAY_URL}/user/registration"
#: Asynchronous backfill by start time: ``?summaryStartTimeInSeconds=&summaryEndTimeInSeconds=``
#: (<= 30 days); answers 202 and delivers the summaries later through the push/ping webhooks.
BACKFILL_URL = f"{API_BASE_URL}/backfill/activities"
API_HOST = "apis.garmin.com"

#: Largest start-time range of one backfill request.
BACKFILL_WINDOW = timedelta(days=30)
#: How far back the initial synchronisation reaches: about the last month is all a backfill
#: returns (see :attr:`GarminProvider.backfill_horizon`).
BACKFILL_HORIZON = timedelta(days=30)
#: The permission without which Garmin refuses a backfill (403).
HISTORY_PERMISSION = "HISTORICAL_DATA_EXPORT"
#: Ping callback paths whose content is activity summaries (activityFiles pings are FIT
#: downloads and are not ingested here).
_SUMMARY_CALLBACK_PATHS = frozenset(
    {
        "/wellness-api/rest/activities",
        "/wellness-api/rest/activityDetails",
        "/wellness-api/rest/manuallyUpdatedActivities",
    }
)
#: How long after its arrival a ping's callbackURL is fetched at all: Garmin serves a callback
#: for 24 hours ([2nd]: shared/docs/providers.md §3 "Data delivery" — Activity Files callbacks
#: are valid 24 h for a single download; integrators apply the same window to summary pings).
PING_VALIDITY = timedelta(hours=24)
#: Keys of pushed items that must not be stored (OAuth 1.0a pushes carry the user's token).
_SECRET_ITEM_KEYS = frozenset({"userAccessToken"})

#: Permissions the athlete ticks on Garmin's consent screen; the sync cannot work without these.
REQUIRED_PERMISSIONS: tuple[str, ...] = ("ACTIVITY_EXPORT",)

WEBHOOK_CLIENT_ID_HEADER = "garmin-client-id"

#: Webhook body keys about activities, and what a pushed item of that key means.
_ACTIVITY_KEYS: dict[str, base.WebhookEventKind] = {
    "activities": "activity_created",
    "activityDetails": "activity_updated",
    "manuallyUpdatedActivities": "activity_updated",
    "activityFiles": "activities_available",  # ping only: a one-shot FIT download URL
}
_DEREGISTRATIONS = "deregistrations"
_PERMISSIONS_CHANGE = "userPermissionsChange"
#: RFC 6749 error codes are lower-case words with underscores ("invalid_grant"); anything else
#: (an echoed token has digits or dashes) is left out of messages.
_ERROR_CODE = re.compile(r"^[a-z][a-z_]{0,39}$")
#: Webhook body keys are camelCase words ("activityDetails").
_BODY_KEY = re.compile(r"^[A-Za-z]{1,40}$")

log = get_logger(__name__)


class GarminProvider(OAuth2Provider):
    name: ClassVar[str] = "garmin"
    position: ClassVar[int] = 2
    uses_pkce: ClassVar[bool] = True
    required_scopes: ClassVar[tuple[str, ...]] = REQUIRED_PERMISSIONS
    # Garmin authenticates webhooks with our client id (header), not with a secret of ours.
    webhook_secret_setting: ClassVar[str | None] = None
    extra_settings: ClassVar[tuple[str, ...]] = ()
    #: Backfill requests cover at most 30 days (chunked within a window by cursor).
    max_window: ClassVar[timedelta | None] = BACKFILL_WINDOW
    #: Garmin serves only about the last month of history to a backfill (shared/docs/providers.md
    #: §3, attributed to Garmin support; UNCONFIRMED in public documentation): asking further
    #: back only produces empty 202s, and without a horizon the planner would cut all history
    #: since 2000 into ~320 thirty-day requests. Older activities arrive only if Garmin pushes
    #: them.
    backfill_horizon: ClassVar[timedelta | None] = BACKFILL_HORIZON
    #: No public per-request limits (backfill throughput is counted in days); 429s are honoured.
    rate_limit_buckets: ClassVar[tuple[tuple[str, int, int], ...]] = ()

    # --- OAuth: the shared OAuth 2 client (providers/oauth2.py), with Garmin's settings ----------

    authorize_url: ClassVar[str] = AUTHORIZE_URL
    token_url: ClassVar[str] = TOKEN_URL
    #: OAuth 2.0 with PKCE: no authorize URL, no exchange without the S256 challenge/verifier.
    pkce_required: ClassVar[bool] = True
    refresh_token_required: ClassVar[bool] = True
    #: Deregistration withdraws the app; 401/403/404: the registration (or token) is gone.
    revoke_url: ClassVar[str | None] = REGISTRATION_URL
    revoke_method: ClassVar[str] = "DELETE"
    revoke_done: ClassVar[frozenset[int]] = frozenset({200, 202, 204})
    revoke_gone: ClassVar[frozenset[int]] = frozenset({401, 403, 404})

    def _token_quirks(
        self, tokens: TokenSet, body: Mapping[str, Any], *, exchange: bool
    ) -> TokenSet:
        """The token's ``jti`` (its id at Garmin), kept for support requests."""
        jti = body.get("jti")
        return replace(tokens, extra={"jti": jti} if isinstance(jti, str) else {})

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> base.ProviderIdentity:
        user = self._get_json(USER_ID_URL, tokens, "reading the user id")
        user_id = user.get("userId") if isinstance(user, dict) else None
        if not isinstance(user_id, str | int) or isinstance(user_id, bool) or not str(user_id):
            raise errors.BadPayloadError(
                self.name, "the user id response has no userId", status_code=200
            )
        permissions = self._get_json(PERMISSIONS_URL, tokens, "reading the permissions")
        if isinstance(permissions, dict):
            permissions = permissions.get("permissions")
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise errors.BadPayloadError(
                self.name, "the permissions response is not a list of strings", status_code=200
            )
        return base.ProviderIdentity(
            provider_user_id=str(user_id),
            username=None,  # the partner API exposes no display name
            profile={"userId": str(user_id), "permissions": list(permissions)},
            scopes=tuple(permissions),
        )

    def check_access(self, tokens: TokenSet) -> base.AccessCheck:
        """``GET /user/id`` (401: the registration is gone) and ``GET /user/permissions``
        (what the athlete grants now), both read-only, through :meth:`fetch_identity`; a
        different ``userId`` than the token's account counts as withdrawn."""
        try:
            identity = self.fetch_identity(tokens, callback_query={})
        except errors.TokenRevokedError:
            return base.AccessCheck(withdrawn=True)
        if tokens.provider_user_id and identity.provider_user_id != tokens.provider_user_id:
            return base.AccessCheck(withdrawn=True)
        return base.AccessCheck(
            withdrawn=False,
            missing=tuple(self.missing_scopes(identity)),
            granted=identity.scopes,
        )

    # --- Webhooks --------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        given = request.headers.get(WEBHOOK_CLIENT_ID_HEADER, "")
        if not given or not hmac.compare_digest(
            given.encode(), self.credentials.client_id.encode()
        ):
            raise errors.WebhookVerificationError(
                f"garmin webhook rejected: missing or wrong {WEBHOOK_CLIENT_ID_HEADER} header"
            )

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        """Pings become ``activities_available`` events (their callbackURL must be on Garmin's
        API host, else the body is refused); pushes — items that carry data instead of a
        callbackURL — are logged and ignored: a push is authenticated only by the public
        ``garmin-client-id``, so its content is never written. Deregistrations and permission
        changes become ``deauthorized`` / ``permissions_changed`` events, which the worker
        confirms with Garmin (:meth:`check_access`) before anything is revoked."""
        try:
            body = loads_bounded(request.body)
        except (ValueError, UnicodeDecodeError):
            raise errors.BadPayloadError(self.name, "webhook body is not JSON") from None
        if not isinstance(body, dict) or not body:
            raise errors.BadPayloadError(
                self.name, "webhook body is not a Garmin notification object"
            )
        events: list[WebhookEvent] = []
        received_at = int(self.clock().timestamp())
        for key, items in body.items():
            if not isinstance(items, list):
                raise errors.BadPayloadError(
                    self.name, f"webhook body key {_safe_key(key)} does not hold a list"
                )
            if key in _ACTIVITY_KEYS:
                for item in items:
                    event = self._activity_event(key, item, received_at)
                    if event is not None:
                        events.append(event)
            elif key == _DEREGISTRATIONS:
                events.extend(
                    WebhookEvent(_user_id(item, key), "deauthorized", None, item) for item in items
                )
            elif key == _PERMISSIONS_CHANGE:
                for item in items:
                    user_id = _user_id(item, key)
                    permissions = item.get("permissions")
                    if not isinstance(permissions, list) or not all(
                        isinstance(p, str) for p in permissions
                    ):
                        raise errors.BadPayloadError(
                            self.name, f"{key} item without a permissions list"
                        )
                    events.append(WebhookEvent(user_id, "permissions_changed", None, item))
            # Other summary types (dailies, sleeps, epochs, ...) are not activities: ignored.
        return events

    # --- Activities ------------------------------------------------------------------------------

    def fetch_activities(
        self, tokens: TokenSet, window: base.SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        """One asynchronous backfill request of <= 30 days of start times within ``window``
        (``GET /backfill/activities?summaryStartTimeInSeconds=&summaryEndTimeInSeconds=``):
        Garmin answers 202 and delivers the summaries later by ping, so the page is
        ``pending``. A 409 means the same range was already requested: also pending. A 403
        means the athlete has not granted historical export: :class:`HistoryNotGrantedError`
        (the run is recorded as skipped, with the hint). Never a pull: Garmin serves
        ``/activities`` only to a ping's callbackURL (see the module docstring). The cursor
        holds where the next request starts."""
        window_end = int(window.end.timestamp())
        start = cursor.get("start") if cursor else None
        if not isinstance(start, int) or isinstance(start, bool):
            start = int(window.start.timestamp())
        if start >= window_end:
            return ActivityPage(items=(), api_calls=0)
        end = min(start + int(BACKFILL_WINDOW.total_seconds()), window_end)
        next_cursor = {"mode": "backfill", "start": end} if end < window_end else None
        response = self._send(
            "GET",
            BACKFILL_URL,
            params={"summaryStartTimeInSeconds": start, "summaryEndTimeInSeconds": end},
            headers=self._bearer(tokens),
        )
        if response.status_code == 403:
            raise errors.HistoryNotGrantedError(
                self.name,
                f"Garmin refused to send activity history ({self._describe(response)}): the "
                f"athlete has not granted {HISTORY_PERMISSION}",
                status_code=403,
                hint="in Garmin Connect, allow Trainlytics to share historical data (and "
                "activities); new activities arrive meanwhile",
            )
        self._check(response, "requesting a backfill", accepted=(202, 409))
        return ActivityPage(items=(), next_cursor=next_cursor, pending=True)

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        """Only a ping is fetched: its ``callbackURL`` (checked again: https on
        ``apis.garmin.com/wellness-api/rest/``, nothing else is ever requested with the
        athlete's token), once, within :data:`PING_VALIDITY` of its arrival. A pull token
        already spent answers 410: nothing left to fetch, not an error. Any other event
        carries nothing to ingest: the content of a push is never trusted, and
        deregistrations and permission changes are confirmed by the webhook worker."""
        if event.kind != "activities_available":
            return ActivityPage(items=(), api_calls=0)
        url = _callback_url(event.payload.get("callbackURL"))
        if httpx.URL(url).path not in _SUMMARY_CALLBACK_PATHS:
            return ActivityPage(items=(), api_calls=0)  # e.g. an activity FIT file
        received_at = event.payload.get(base.RECEIVED_AT_KEY)
        if isinstance(received_at, int) and not isinstance(received_at, bool):
            age = self.clock().timestamp() - received_at
            if age > PING_VALIDITY.total_seconds():
                log.warning(
                    "garmin ping for user %s not fetched: it arrived %.0f h ago, past the "
                    "callback's validity",
                    event.provider_user_id,
                    age / 3600,
                )
                return ActivityPage(items=(), api_calls=0)
        response = self._send("GET", url, headers=self._bearer(tokens))
        self._check(response, "fetching a ping callback", accepted=(200, 410))
        if response.status_code == 410:
            log.info("garmin ping for user %s: already fetched (410)", event.provider_user_id)
            return ActivityPage(items=())
        page = self._own_items(self._summaries(response), tokens, event)
        return self.with_detail_streams(page, response, url)

    def _own_items(
        self, items: list[dict[str, Any]], tokens: TokenSet, event: WebhookEvent
    ) -> ActivityPage:
        """Defence in depth: only items of the connection's Garmin user are ingested. An item
        whose ``userId`` is another (or missing) is refused — counted as failed with a reason
        and logged — never written to this athlete's (or anyone's) activities."""
        expected = tokens.provider_user_id or event.provider_user_id
        kept: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for item in items:
            owner = item.get("userId")
            if isinstance(owner, str) and owner == expected:
                kept.append(item)
                continue
            external_id = item.get("summaryId", item.get("activityId"))
            refused.append(
                {
                    "external_id": None if external_id is None else str(external_id),
                    "reason": "refused: the Garmin callback item belongs to another Garmin "
                    "user than the connection's",
                }
            )
        if refused:
            log.warning(
                "garmin ping for user %s: %d callback item(s) of another Garmin user refused, "
                "nothing written for them",
                expected,
                len(refused),
            )
        return ActivityPage(items=kept, refused=refused)

    def _check(self, response: httpx.Response, what: str, *, accepted: tuple[int, ...]) -> None:
        if response.status_code == 403:
            raise errors.ProviderError(
                self.name,
                f"{what} was refused ({self._describe(response)})",
                status_code=403,
                hint="the athlete has not granted ACTIVITY_EXPORT (and, for history, "
                "HISTORICAL_DATA_EXPORT) in Garmin Connect",
            )
        self._check_api_status(response, what, accepted=accepted)

    def _summaries(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = response_json(response, self.name)
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise errors.BadPayloadError(
                self.name, "the activity response is not a JSON array of objects", status_code=200
            )
        # activityDetails items carry {summaryId, activityId, summary, samples, laps}: only the
        # summary (with its ids) is kept, so samples never reach the ingest or a job.
        return [_without_secrets(_summary_only(item)) for item in body]

    def with_detail_streams(
        self, page: ActivityPage, response: httpx.Response, url: str
    ) -> ActivityPage:
        """Issue 18: an ``activityDetails`` callback's ``samples`` as streams (the only way
        Garmin delivers per-sample data; no pull exists), for the activities the page kept
        (the connection's own Garmin user's), keyed by ``activityId`` as the ingest keys them.
        Other callbacks are returned unchanged (their body is not parsed twice)."""
        if httpx.URL(url).path != "/wellness-api/rest/activityDetails" or not page.items:
            return page
        from trainlytics.providers.stream_convert import from_garmin_samples

        kept = {str(item.get("activityId")) for item in page.items}
        streams: dict[str, Any] = {}
        body = response_json(response, self.name)
        for item in body if isinstance(body, list) else []:
            activity_id = str(item.get("activityId")) if isinstance(item, dict) else None
            if activity_id is None or activity_id not in kept:
                continue
            summary = item.get("summary")
            start = summary.get("startTimeInSeconds") if isinstance(summary, dict) else None
            if not isinstance(start, int | float) or isinstance(start, bool):
                continue
            converted = from_garmin_samples(item.get("samples"), float(start))
            if converted is not None:
                streams[activity_id] = converted
        return replace(page, streams=streams) if streams else page

    # --- internals -------------------------------------------------------------------------------

    def _activity_event(self, key: str, item: Any, received_at: int) -> WebhookEvent | None:
        """A ping's event, or None for a push (ignored: see :meth:`parse_webhook`)."""
        user_id = _user_id(item, key)
        if "callbackURL" not in item:
            log.warning(
                "garmin %s push for user %s ignored: push bodies are authenticated only by the "
                "public client id; configure ping mode for this summary type",
                _safe_key(key),
                user_id,
            )
            return None
        # Ping: the data waits at callbackURL (Garmin's host; it embeds a pull token). Checked
        # here so that a forged ping naming another host is refused before it is queued.
        _callback_url(item["callbackURL"])
        payload = {"userId": user_id, "callbackURL": item["callbackURL"]}
        payload[base.RECEIVED_AT_KEY] = received_at
        return WebhookEvent(user_id, "activities_available", None, payload)

    def _get_json(self, url: str, tokens: TokenSet, what: str) -> Any:
        return self._api_json(url, tokens, what)


def _summary_only(item: Mapping[str, Any]) -> Mapping[str, Any]:
    summary = item.get("summary")
    if not isinstance(summary, dict):
        return item
    return {**summary, **{k: v for k, v in item.items() if k not in ("summary", "samples", "laps")}}


def _without_secrets(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _SECRET_ITEM_KEYS}


def _callback_url(value: Any) -> str:
    """A ping's callbackURL, only if it points at Garmin's wellness API over https: a forged
    ping must not make us request (with the athlete's token) any other URL."""
    if isinstance(value, str):
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, ValueError):
            url = None
        if (
            url is not None
            and url.scheme == "https"
            and url.host == API_HOST
            and url.port in (None, 443)
            and not url.userinfo
            and url.path.startswith("/wellness-api/rest/")
        ):
            return value
    raise errors.BadPayloadError("garmin", "ping callbackURL is not on https://apis.garmin.com")


def _user_id(item: Any, key: str) -> str:
    user_id = item.get("userId") if isinstance(item, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise errors.BadPayloadError("garmin", f"{key} item without a userId")
    return user_id


def _safe_key(key: str) -> str:
    return key if _BODY_KEY.match(key) else "<unprintable>"


#: The provider this module defines (found by ``trainlytics.providers`` discovery).
PROVIDER = GarminProvider
