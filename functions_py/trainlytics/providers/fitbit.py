"""Fitbit accounts through the **Google Health API** (``health.googleapis.com``, v4) with Google
OAuth 2.0.

The legacy Fitbit Web API and the Fitbit OAuth endpoints were switched off on 2026-11-02
(requests answer HTTP 410); Fitbit and Pixel Watch data is now read through the Google Health
API with a Google account. Existing Fitbit tokens cannot be carried over: every athlete consents
again through Google. The ``provider_type`` stays ``fitbit`` (what the athlete recognises).

Established from public documentation (developers.google.com/health: scopes, setup, webhooks,
REST reference v4; Google's OAuth 2.0 web-server guide):

- Authorize: ``https://accounts.google.com/o/oauth2/v2/auth`` with ``response_type=code``,
  ``access_type=offline`` (a refresh token is only issued then), ``prompt=consent`` (so a
  reconnect gets a refresh token again), PKCE ``code_challenge_method=S256``, space-separated
  scopes, ``state``.
- Token: ``POST https://oauth2.googleapis.com/token`` (form: code, client_id, client_secret,
  redirect_uri, grant_type, code_verifier). Response: ``access_token``, ``expires_in`` (~3599 s),
  ``refresh_token`` (code exchange only), ``scope`` (space-separated: **only the scopes the
  athlete ticked** — Google's consent screen is granular, so the scope check reads it here),
  ``token_type``.
- Refresh: same endpoint, ``grant_type=refresh_token``. Google does **not** normally rotate: the
  response has no ``refresh_token`` and the stored one stays valid — it is kept. Should one be
  returned, it replaces the old. A revoked/expired grant answers 400 ``invalid_grant``.
- Revoke: ``POST https://oauth2.googleapis.com/revoke`` (form ``token=``); revoking the refresh
  token withdraws the whole grant. An already-invalid token answers 400 ``invalid_token``.
- Scopes all start ``https://www.googleapis.com/auth/googlehealth.``; activities (exercise) need
  ``activity_and_fitness.readonly``; GPS tracks of exercises ``location.readonly``; heart-rate
  samples (the stream job, ``providers/streams_fitbit.py``) ``health_metrics_and_measurements.
  readonly`` (developers.google.com/health/scopes and "Data types": vitals). Only the first is
  required: the consent screen is granular, an athlete who leaves the others unticked still
  connects (no GPS tracks; heart-rate streams "unavailable"). All are
  "restricted" scopes (OAuth app verification and a yearly security assessment for production;
  unverified apps are capped at 100 test users).
- Identity: ``GET https://health.googleapis.com/v4/users/me/identity`` →
  ``{"name": "users/me/identity", "healthUserId": ..., "legacyUserId": ...}``; allowed with the
  activity scope. ``healthUserId`` is the id webhooks name, so it is the provider user id.
  ``legacyUserId`` (the old Fitbit id) may only be used to map migrating users: not kept.
- Data: ``GET https://health.googleapis.com/v4/users/me/dataTypes/exercise/dataPoints`` (page
  size ≤ 25 for exercise, ``pageToken``/``nextPageToken``, AIP-160 ``filter``). For exercise
  (a "session" record type) the only filter field is ``exercise.interval.civil_start_time``
  (developers.google.com/health/filters, "Filter types and fields": sessions — exercise:
  ``{dataType}.interval.civil_start_time``; only ``>=`` and ``<``; other operators and
  unsupported members answer 400 ``INVALID_DATA_POINT_FILTER...``). A civil time is the
  athlete's local wall-clock time without a zone (``"2026-03-04T00:00:00"``), so a window of
  real (UTC) start times is asked for padded by :data:`CIVIL_PADDING` (±14 h: UTC offsets run
  from -12:00 to +14:00) and the items are then kept by their real start
  (``exercise.interval.startTime``); only the real window is ever declared complete. Each data
  point goes to ``private.normalize_fitbit`` as it came (``name`` ends with the data point id;
  ``exercise.interval`` has ``startTime``, ``startUtcOffset`` as a Duration such as
  ``"-25200s"``, ``endTime``; ``activeDuration`` ``"1741.989s"``; ``metricsSummary`` with
  ``distanceMillimeters``, ``caloriesKcal``, int64s such as ``averageHeartRateBeatsPerMinute``
  as JSON strings).
- Webhooks: a *subscriber* (``projects.subscribers.create``, a Cloud project call, not per
  athlete) registers our HTTPS endpoint, its ``subscriberConfigs`` (``dataTypes`` with
  ``exercise`` among them and a ``subscriptionCreatePolicy``: ``AUTOMATIC`` — every athlete who
  grants a matching scope is subscribed — or ``MANUAL``, where each athlete needs a
  ``projects.subscribers.subscriptions.create`` call; Trainlytics expects ``AUTOMATIC``) and an
  ``endpointAuthorization.secret`` — the **full** ``Authorization`` header value Google sends
  with every notification. Registration is verified by two POSTs of ``{"type":
  "verification"}``: with the header (expects **201**) and without it (expects 401/403).
  Notifications are notify-only: ``{"data": {"healthUserId", "dataType", "operation":
  "UPSERT"|"DELETE", "intervals": [{"physicalTimeInterval": {"startTime", "endTime"}}, ...],
  ...}}``; the receiver fetches the data itself. Register the subscriber with secret
  ``"Bearer " + FITBIT_WEBHOOK_SECRET``: ``verify_webhook`` compares that header in constant
  time **and** verifies the ECDSA P-256 signature Google's reference says clients "must
  verify" (header ``X-HEALTHAPI-SIGNATURE`` or ``GOOGLE-HEALTH-API-SIGNATURE``; see
  :mod:`trainlytics.providers.google_signatures`). A notification without a valid signature
  is refused (401); only the registration check (which changes nothing) passes on the
  ``Authorization`` header alone.

UNCONFIRMED (not settled by official documentation at the time of writing):

- Where the signature's public key is published and the signature's wire format: not on
  Google's pages; independent receivers of the live API use the Tink keyset at
  ``www.gstatic.com/googlehealthapi/webhooks/webhooks_public_keyset.json`` and Tink's
  prefixed DER signatures over the raw body (:mod:`~trainlytics.providers.google_signatures`).
  If Google moves the keyset, notifications are refused (401) and Google retries them for up
  to 7 days — nothing unverified is ever queued.
- The ack status for notifications: 204 is used (as for the legacy Fitbit API and a
  third-party client library); the verification POST wants 201 — see ``webhook_ack_for``.
- Whether a delivery may batch several notifications in a JSON array (one third-party receiver
  accepts both forms; so does ``parse_webhook``).
- Whether ``DELETE`` notifications name the deleted exercise: none observed — they carry only the
  changed intervals, so they become ``activity_deleted`` events without an ``object_id``.
- No deauthorisation webhook exists: a withdrawn grant surfaces as ``invalid_grant`` on the next
  refresh (Google's Cross-Account Protection / RISC events are not used).
- Refresh tokens of an OAuth client in "Testing" publishing status expire after 7 days
  (documented for Google OAuth in general; not restated on the Health pages).
- Whether a notified interval always covers the changed exercise's start: ``fetch_for_event``
  therefore lists every exercise starting from ``EVENT_LOOKBACK`` before each interval to its
  end. A DELETE notification names no exercise: that listing is declared complete for its
  window and the engine soft-deletes the stored activities of the window that are no longer
  listed (``public.delete_missing_activities``; see ``fetch_for_event``).
- The Health API's quotas (per project and per user) are not published in a form the limiter
  can use: no rate-limit buckets are declared; 429s are honoured through ``Retry-After``.
- metricsSummary fields beyond the documented five (``averageSpeedMillimetersPerSecond``,
  ``elevationGainMillimeters``, ``mobilityMetrics.avgCadenceStepsPerMinute``,
  ``averagePaceSecondsPerMeter``) and ``dataSource.recordingMethod == "MANUAL"`` are read when
  present, as third-party clients of the live API do.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from trainlytics import errors
from trainlytics.json_limits import loads_bounded
from trainlytics.providers import base
from trainlytics.providers.base import ActivityPage, TokenSet, WebhookEvent, WebhookRequest
from trainlytics.providers.google_signatures import KEYSET_URL, TinkKeysetVerifier
from trainlytics.providers.http import response_json
from trainlytics.providers.oauth2 import OAuth2Provider, error_code
from trainlytics.providers.payloads import parse_instant

__all__ = [
    "EXERCISE_PAGE_SIZE",
    "SCOPES",
    "SCOPE_ACTIVITY",
    "SCOPE_HEALTH_METRICS",
    "SCOPE_LOCATION",
    "FitbitProvider",
]

HEALTH_API_BASE = "https://health.googleapis.com/v4"
IDENTITY_URL = f"{HEALTH_API_BASE}/users/me/identity"
EXERCISE_DATA_POINTS_URL = f"{HEALTH_API_BASE}/users/me/dataTypes/exercise/dataPoints"

_SCOPE_PREFIX = "https://www.googleapis.com/auth/googlehealth."
SCOPE_ACTIVITY = f"{_SCOPE_PREFIX}activity_and_fitness.readonly"
SCOPE_LOCATION = f"{_SCOPE_PREFIX}location.readonly"
#: Heart-rate samples (data type heart-rate), read by the stream job.
SCOPE_HEALTH_METRICS = f"{_SCOPE_PREFIX}health_metrics_and_measurements.readonly"
#: Requested scopes. GPS (location) and heart rate (health metrics) are optional: activities
#: sync without their tracks, and their heart-rate streams are "unavailable" without the latter.
SCOPES: tuple[str, ...] = (SCOPE_ACTIVITY, SCOPE_LOCATION, SCOPE_HEALTH_METRICS)
#: Broader scopes that include a required one. An earlier version of the scope page listed a
#: read+write ``activity_and_fitness`` scope; a grant of it also covers reading.
_SCOPE_SUPERSETS: Mapping[str, tuple[str, ...]] = {
    SCOPE_ACTIVITY: (f"{_SCOPE_PREFIX}activity_and_fitness",),
}

#: The notification data type of exercises (activities); other data types are ignored.
DATA_TYPE_EXERCISE = "exercise"
#: The largest page the dataPoints list serves for exercise.
EXERCISE_PAGE_SIZE = 25
#: How far before a notified interval an exercise touching it may have started.
EVENT_LOOKBACK = timedelta(hours=24)
#: The civil (local wall-clock) filter is padded by this on both sides of a UTC window: UTC
#: offsets run from -12:00 to +14:00, so every exercise whose real start lies in the window has
#: a civil start inside the padded range.
CIVIL_PADDING = timedelta(hours=14)
#: The only filter member the API accepts for exercise sessions.
FILTER_FIELD = "exercise.interval.civil_start_time"


class FitbitProvider(OAuth2Provider):
    name: ClassVar[str] = "fitbit"
    position: ClassVar[int] = 6
    uses_pkce: ClassVar[bool] = True
    required_scopes: ClassVar[tuple[str, ...]] = (SCOPE_ACTIVITY,)
    #: FITBIT_WEBHOOK_SECRET: the subscriber's endpointAuthorization secret is
    #: ``"Bearer " + FITBIT_WEBHOOK_SECRET``.
    webhook_secret_setting: ClassVar[str | None] = "WEBHOOK_SECRET"  # noqa: S105 - a variable name

    # --- OAuth: the shared OAuth 2 client (providers/oauth2.py), with Google's settings ----------

    authorize_url: ClassVar[str] = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: ClassVar[str] = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    requested_scopes: ClassVar[tuple[str, ...]] = SCOPES
    #: A refresh token is only issued with ``access_type=offline``; ``prompt=consent`` makes a
    #: reconnect get one again.
    authorize_params: ClassVar[Mapping[str, str]] = {"access_type": "offline", "prompt": "consent"}
    missing_refresh_token_error: ClassVar[type[errors.ProviderError]] = errors.TokenRevokedError
    #: Google does not rotate refresh tokens: the shared client keeps the stored one unless a
    #: new one comes, and keeps the stored scopes when the refresh response has none.
    revoke_url: ClassVar[str | None] = "https://oauth2.googleapis.com/revoke"
    revoke_token_field: ClassVar[str | None] = "token"  # noqa: S105 - a field name
    revoke_done: ClassVar[frozenset[int]] = frozenset({200})
    revoke_gone: ClassVar[frozenset[int]] = frozenset()

    def _revocable_token(self, tokens: TokenSet) -> str:
        # Revoking the refresh token ends the whole grant; the access token is the fallback.
        return tokens.refresh_token or tokens.access_token

    def _already_revoked(self, response: httpx.Response) -> bool:
        # Google answers 400 invalid_token for a token already revoked or expired.
        return response.status_code == 400 and error_code(response) == "invalid_token"

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> base.ProviderIdentity:
        granted = tokens.scopes if tokens.scopes is not None else ()
        response = self._send("GET", IDENTITY_URL, headers=self._bearer(tokens))
        if response.status_code == 403:
            # PERMISSION_DENIED: none of the scopes allowing getIdentity was granted.
            missing = self._missing(granted) or list(self.required_scopes)
            raise errors.InsufficientScopeError(self.name, missing)
        self._check_api_status(response, "GET users/me/identity")
        body = response_json(response, self.name)
        health_user_id = body.get("healthUserId") if isinstance(body, dict) else None
        if not isinstance(health_user_id, str) or not health_user_id:
            raise errors.BadPayloadError(
                self.name, "users/me/identity answered without healthUserId"
            )
        return base.ProviderIdentity(
            provider_user_id=health_user_id,
            username=None,  # the Health API has no display name; profile needs another scope
            profile={"healthUserId": health_user_id},
            scopes=granted,
        )

    def missing_scopes(self, identity: base.ProviderIdentity) -> list[str]:
        return self._missing(identity.scopes)

    def _missing(self, granted: tuple[str, ...]) -> list[str]:
        have = set(granted)
        return [
            scope
            for scope in self.required_scopes
            if scope not in have and not have.intersection(_SCOPE_SUPERSETS.get(scope, ()))
        ]

    # --- Activities ----------------------------------------------------------------------------

    def fetch_activities(
        self, tokens: TokenSet, window: base.SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        """One page of the padded civil-time listing of ``window``, keeping only the exercises
        whose real start (``exercise.interval.startTime``) lies in the window. No window is
        declared complete here: a run's listing spans several pages (and calls)."""
        token = cursor.get("pageToken") if cursor else None
        points, next_token = self._exercise_page(
            tokens, window.start, window.end, token if isinstance(token, str) else None
        )
        return ActivityPage(
            items=_starting_in(points, window),
            next_cursor={"pageToken": next_token} if next_token else None,
        )

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        """The exercises of the notified intervals, every page of each, as one complete listing.

        Notifications carry only intervals, never a data point id (UNCONFIRMED whether Google
        ever names one). For each interval, every exercise starting from :data:`EVENT_LOOKBACK`
        before it to its end is read, all pages, and that start-time window is declared
        *complete* (``complete_windows``): the engine soft-deletes the stored activities of the
        window that Google no longer returns — how a DELETE is applied — and an UPSERT re-reads
        what changed (and applies any deletion it reveals the same way). The listing asks for
        civil start times padded by :data:`CIVIL_PADDING` around the window, pages through
        ``nextPageToken`` and has no history limit, so every exercise whose real start lies in
        the window is among the answers; the items are then kept by their real start, and only
        that real window is declared complete (the padding is never claimed: an exercise
        starting there may be in no listing of ours)."""
        if event.kind not in ("activities_available", "activity_deleted"):
            return ActivityPage(items=(), api_calls=0)
        intervals = event.payload.get("intervals")
        if not isinstance(intervals, list):
            raise errors.BadPayloadError(self.name, "exercise notification without intervals")
        items: dict[str, Mapping[str, Any]] = {}
        windows: list[base.SyncWindow] = []
        calls = 0
        for interval in intervals:
            physical = interval.get("physicalTimeInterval") if isinstance(interval, dict) else None
            start = parse_instant(physical.get("startTime")) if isinstance(physical, dict) else None
            end = parse_instant(physical.get("endTime")) if isinstance(physical, dict) else None
            if start is None or end is None:
                raise errors.BadPayloadError(
                    self.name, "exercise notification with an invalid interval"
                )
            window = base.SyncWindow(start - EVENT_LOOKBACK, max(end, start + timedelta(seconds=1)))
            token: str | None = None
            while True:
                points, token = self._exercise_page(tokens, window.start, window.end, token)
                calls += 1
                for point in _starting_in(points, window):
                    items[str(point.get("name"))] = point
                if not token:
                    break
            windows.append(window)
        return ActivityPage(items=list(items.values()), api_calls=calls, complete_windows=windows)

    def _exercise_page(
        self, tokens: TokenSet, start: datetime, end: datetime, page_token: str | None
    ) -> tuple[list[Mapping[str, Any]], str | None]:
        params = {
            "pageSize": str(EXERCISE_PAGE_SIZE),
            "filter": (
                f'{FILTER_FIELD} >= "{_civil(start - CIVIL_PADDING)}" AND '
                f'{FILTER_FIELD} < "{_civil(end + CIVIL_PADDING)}"'
            ),
        }
        if page_token:
            params["pageToken"] = page_token
        response = self._send(
            "GET", EXERCISE_DATA_POINTS_URL, params=params, headers=self._bearer(tokens)
        )
        if response.status_code == 403:
            raise errors.InsufficientScopeError(self.name, list(self.required_scopes))
        self._check_api_status(response, "GET exercise dataPoints")
        body = response_json(response, self.name)
        if not isinstance(body, dict):
            raise errors.BadPayloadError(
                self.name, "exercise dataPoints answered a non-object body"
            )
        points = body.get("dataPoints", [])
        if not isinstance(points, list):
            raise errors.BadPayloadError(self.name, "exercise dataPoints answered without a list")
        next_token = body.get("nextPageToken")
        return (
            [point for point in points if isinstance(point, dict)],
            next_token if isinstance(next_token, str) and next_token else None,
        )

    # --- Webhooks ------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """The ``Authorization`` header must be ``"Bearer " + FITBIT_WEBHOOK_SECRET`` (constant
        time), and every request other than the registration check must carry a valid ECDSA
        signature of its raw body (``X-HEALTHAPI-SIGNATURE`` or ``GOOGLE-HEALTH-API-SIGNATURE``;
        :class:`~trainlytics.providers.google_signatures.TinkKeysetVerifier`)."""
        secret = self.credentials.webhook_secret
        if not secret:
            raise errors.WebhookVerificationError(
                "fitbit webhooks are not configured on this server"
            )
        provided = request.headers.get("authorization")
        expected = f"Bearer {secret}"
        if provided is None or not hmac.compare_digest(
            provided.strip().encode("utf-8"), expected.encode("utf-8")
        ):
            # Also what Google's registration check without the header expects (401/403).
            raise errors.WebhookVerificationError(
                "fitbit webhook Authorization header does not match"
            )
        if _is_verification(request.body):
            return  # the registration check: nothing is queued, nothing changes
        self._signatures().verify(request.headers, request.body)

    def _signatures(self) -> TinkKeysetVerifier:
        verifier = getattr(self, "_signature_verifier", None)
        if verifier is None:
            verifier = TinkKeysetVerifier(self.http, KEYSET_URL)
            self._signature_verifier = verifier
        return verifier

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            body = loads_bounded(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.BadPayloadError(self.name, "webhook body is not JSON") from exc
        items: list[Any] = body if isinstance(body, list) else [body]
        events: list[WebhookEvent] = []
        for item in items:
            if not isinstance(item, dict):
                raise errors.BadPayloadError(self.name, "webhook notification is not a JSON object")
            if item.get("type") == "verification":
                continue  # subscriber registration check: nothing to queue
            events.extend(self._events_of(item))
        return events

    def _events_of(self, item: Mapping[str, Any]) -> list[WebhookEvent]:
        data = item.get("data")
        if not isinstance(data, dict):
            raise errors.BadPayloadError(self.name, "webhook notification without a data object")
        health_user_id = data.get("healthUserId")
        data_type = data.get("dataType")
        operation = data.get("operation")
        if not isinstance(health_user_id, str) or not health_user_id:
            raise errors.BadPayloadError(self.name, "webhook notification without healthUserId")
        if not isinstance(data_type, str) or operation not in ("UPSERT", "DELETE"):
            raise errors.BadPayloadError(
                self.name, "webhook notification without dataType/operation"
            )
        if data_type != DATA_TYPE_EXERCISE:
            return []  # steps, sleep, weight...: not synced by Trainlytics
        intervals = data.get("intervals", [])
        if not isinstance(intervals, list):
            raise errors.BadPayloadError(self.name, "webhook notification intervals is not a list")
        return [
            WebhookEvent(
                provider_user_id=health_user_id,
                # Notify-only: the sync fetches the exercises of the changed intervals.
                kind="activities_available" if operation == "UPSERT" else "activity_deleted",
                object_id=None,
                payload=dict(data),
            )
        ]

    def webhook_ack(self) -> base.WebhookResponse:
        return base.WebhookResponse(204, None)

    def webhook_ack_for(self, request: WebhookRequest) -> base.WebhookResponse:
        """The ack for a verified request: Google's subscriber registration check wants
        ``201 Created`` for ``{"type": "verification"}``; notifications get 204."""
        try:
            body = loads_bounded(request.body)
        except (ValueError, UnicodeDecodeError):
            return self.webhook_ack()
        if isinstance(body, dict) and body.get("type") == "verification":
            return base.WebhookResponse(201, None)
        return self.webhook_ack()


def _civil(moment: datetime) -> str:
    """A civil-time filter literal: wall-clock ``YYYY-MM-DDTHH:MM:SS`` without a zone (the
    filter guide's example ``"2026-03-04T00:00:00"``), rounded down to the second (the
    padding makes the rounding harmless)."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return utc.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")


def _starting_in(
    points: list[Mapping[str, Any]], window: base.SyncWindow
) -> list[Mapping[str, Any]]:
    """The data points whose real start (``exercise.interval.startTime``) lies in ``window``.
    A point without a readable start is kept: the normaliser reports it as a skipped item
    rather than it being silently dropped."""
    kept: list[Mapping[str, Any]] = []
    for point in points:
        exercise = point.get("exercise")
        interval = exercise.get("interval") if isinstance(exercise, dict) else None
        start = parse_instant(interval.get("startTime")) if isinstance(interval, dict) else None
        if start is None or window.start <= start < window.end:
            kept.append(point)
    return kept


def _is_verification(body: bytes) -> bool:
    """Whether a (bounded) body is exactly Google's subscriber check ``{"type":
    "verification"}``."""
    if len(body) > 256:
        return False
    try:
        parsed: Any = loads_bounded(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return bool(parsed == {"type": "verification"})


#: The provider this module defines (found by ``trainlytics.providers`` discovery).
PROVIDER = FitbitProvider
