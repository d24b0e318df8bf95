"""Strava (API v3): OAuth 2.0 with a client secret, rotating refresh tokens, push webhooks.

Facts this module relies on (see ``shared/docs/providers.md`` §2):

- Authorize at ``/oauth/authorize`` with comma-separated scopes. The redirect to our callback
  carries ``code``, ``state`` and the ``scope`` the athlete actually granted (they can untick
  boxes), so granted scopes come from the callback query, not from the token response.
- ``POST /oauth/token`` exchanges the code (``grant_type=authorization_code``) and refreshes
  (``grant_type=refresh_token``). The response holds ``access_token``, ``refresh_token``,
  ``expires_at`` (epoch s) and ``expires_in``; the code exchange adds an ``athlete`` summary,
  whose ``id`` is the provider user id. A refresh may return a new refresh token, after which
  the old one stops working: always keep the newest.
- Errors are Strava's own shape, not RFC 6749's:
  ``{"message": "Bad Request", "errors": [{"resource": "RefreshToken", "field":
  "refresh_token", "code": "invalid"}]}``. A refused refresh token answers 400; a revoked
  access token answers 401 ``Authorization Error``. An ``Application`` resource in the errors
  means *our* client id/secret is wrong — a deployment problem, not a revoked athlete.
- ``POST /oauth/deauthorize`` (form field ``access_token``) withdraws access; 401 means the
  token is already invalid (already deauthorised).
- Rate limits: 200 req/15 min and 2,000/day per application; windows reset at :00, :15, :30,
  :45 and at midnight UTC. A 429 carries no ``Retry-After``; we wait for the next quarter hour.
- Webhook events are **not signed**. Authenticity rests on the handshake (``hub.verify_token``
  = STRAVA_WEBHOOK_VERIFY_TOKEN) and on ``subscription_id`` = STRAVA_SUBSCRIPTION_ID in every
  event. Events: ``object_type`` activity|athlete, ``aspect_type`` create|update|delete,
  ``object_id``, ``owner_id``, ``updates`` (string values), ``event_time``. Deauthorisation =
  athlete ``update`` with ``updates.authorized == "false"``. Strava requires deleting the
  athlete's Strava data when that happens (API agreement). Since events are unsigned, the
  worker first confirms with Strava that the athlete's token no longer works
  (:meth:`StravaProvider.check_access`), then deletes (``trainlytics.webhooks``). Likewise an
  activity ``delete`` is applied only once ``GET /activities/{id}`` answers 404: a forged
  delete of an activity Strava still serves deletes nothing.

UNCONFIRMED (no public primary source found; handled defensively):

- Whether ``POST /oauth/deauthorize`` answers 401 or 400 for an already-revoked token: both are
  treated as "already revoked".
- Whether an ``athlete`` update can carry other ``updates`` keys than ``authorized``: any
  athlete update without ``authorized == "false"`` is ignored.
- Whether a token exchange can also answer the athlete-capacity 403 (only the authorize page's
  message is on record): such a 403 would be reported as ``exchange_failed``; the cap is
  enforced before the athlete is sent to Strava (``athlete_capacity``).
- A 429 carries no ``Retry-After``: we wait for the next quarter hour, or until midnight UTC
  when the 429's ``X-RateLimit-Usage``/``X-ReadRateLimit-Usage`` show a spent daily quota.
- Whether ``after``/``before`` of ``GET /athlete/activities`` are inclusive (both are widened by
  one second), and that a list with ``after`` comes oldest first (relied on only when a page
  actually is ascending; otherwise paging falls back to page numbers).
- List items are SummaryActivities (no calories, no description); only webhook events fetch
  the DetailedActivity. A later list page of the same activity carries neither field.

Activities (``fetch_activities``/``fetch_for_event``): ``GET /athlete/activities`` pages of 200
with ``after``/``before`` (epoch s); ``GET /activities/{id}`` for webhook creates, updates and
deletes (a delete is applied only on Strava's 404). Deletes arrive only by webhook (the API has
no delete listing). Every API response carries
``X-RateLimit-Limit``/``-Usage`` (overall) and ``X-ReadRateLimit-Limit``/``-Usage`` (reads),
each ``"15-min,daily"``: reported as :class:`RateLimitObservation` for the shared limiter.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from trainlytics import errors
from trainlytics.errors import JsonTooDeepError
from trainlytics.json_limits import loads_bounded
from trainlytics.logs import get_logger
from trainlytics.providers import base
from trainlytics.providers.base import ActivityPage, TokenSet, WebhookEvent, WebhookRequest
from trainlytics.providers.http import response_json
from trainlytics.providers.oauth2 import OAuth2Provider, split_scopes
from trainlytics.providers.payloads import json_object, parse_instant

__all__ = [
    "API_BASE_URL",
    "AUTHORIZE_URL",
    "DEAUTHORIZE_URL",
    "REQUESTED_SCOPES",
    "REQUIRED_SCOPES",
    "TOKEN_URL",
    "StravaProvider",
]

log = get_logger(__name__)

AUTHORIZE_URL = "https://www.strava.com/oauth/authorize"
TOKEN_URL = "https://www.strava.com/oauth/token"  # noqa: S105 - an endpoint, not a secret
DEAUTHORIZE_URL = "https://www.strava.com/oauth/deauthorize"
API_BASE_URL = "https://www.strava.com/api/v3"
ATHLETE_URL = f"{API_BASE_URL}/athlete"
ACTIVITIES_URL = f"{API_BASE_URL}/athlete/activities"
ACTIVITY_URL = f"{API_BASE_URL}/activities/{{activity_id}}"

#: Strava's largest page (``per_page`` default 30, max 200).
PAGE_SIZE = 200

#: Strava's rate-limit buckets per application: (bucket, limit, window s). Overall 200/15 min
#: and 2,000/day; non-upload ("read") requests 100/15 min and 1,000/day. The limits the
#: responses' headers report win over these defaults (they can be raised on request).
RATE_LIMIT_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("strava:overall:15min", 200, 900),
    ("strava:overall:daily", 2000, 86400),
    ("strava:read:15min", 100, 900),
    ("strava:read:daily", 1000, 86400),
)
#: Response headers ("15-min,daily" pairs) and the bucket family they describe.
_RATE_LIMIT_HEADERS = (
    ("x-ratelimit-limit", "x-ratelimit-usage", "strava:overall"),
    ("x-readratelimit-limit", "x-readratelimit-usage", "strava:read"),
)

#: ``read`` gives the public profile; ``activity:read`` the athlete's Everyone and Followers
#: activities; ``activity:read_all`` adds "Only You" activities and privacy zones (and the
#: privacy-change webhooks). Both activity scopes are asked for: Strava's consent screen shows
#: private activities as a separate, optional box, and an athlete who unticks it still grants
#: ``activity:read`` — which must be requested explicitly, or Strava sends no webhook events
#: for that athlete (Strava community hub, "webhook events missing", answer of 2025-01-31;
#: support.strava.com/hc/en-us/articles/360018969732 "App Authorization Settings").
REQUESTED_SCOPES: tuple[str, ...] = ("read", "activity:read", "activity:read_all")
#: Either activity scope suffices; with ``activity:read`` alone, "Only You" activities are
#: neither listed nor readable (``GET /activities/{id}`` answers 404: handled as gone).
REQUIRED_SCOPES: tuple[str, ...] = ("activity:read",)
#: Scopes that satisfy :data:`REQUIRED_SCOPES` (``activity:read_all`` includes reading).
ACTIVITY_READ_SCOPES: frozenset[str] = frozenset({"activity:read", "activity:read_all"})
#: Every scope string Strava's authorize endpoint accepts (developers.strava.com/docs/
#: authentication, "Details About Requesting Access"); anything else, or a duplicate, is
#: answered 400 ``{"message": "Bad Request", "errors": [{"resource": "Authorize", "field":
#: "scope", "code": "invalid"}]}``.
VALID_SCOPES: frozenset[str] = frozenset(
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
#: Athletes an application on Strava's Standard tier may connect (since 1 June 2026; more
#: needs the reviewed Extended Access). STRAVA_ATHLETE_CAPACITY overrides it ("0": no limit).
STANDARD_ATHLETE_CAPACITY = 10
#: What Strava shows on its own authorize page when the application is full (quoted in many
#: public issue reports, e.g. github.com/jat255/strava-to-fittrackee/issues/22,
#: thomaschampagne/elevate#1223, TrackMyIndoorWorkout#511): "Error 403: Limit of connected
#: athletes exceeded. This app has exceeded the limit of connected athletes. If you are a
#: developer of this application, please contact Strava developer support for how to request a
#: quota increase." The athlete then never comes back to our callback, so Trainlytics counts
#: its connected athletes itself and refuses before sending anyone to Strava.
CAPACITY_MESSAGE = (
    "Strava connections are full: this Trainlytics server has connected the {capacity} athletes "
    "its Strava application may serve"
)
_CAPACITY_SETTING = "ATHLETE_CAPACITY"  # STRAVA_ATHLETE_CAPACITY
CAPACITY_HINT = (
    "operator: request Strava's Extended Access (developers.strava.com) and raise "
    "STRAVA_ATHLETE_CAPACITY; athletes: try again later"
)

#: Strava's short rate-limit window (seconds); windows are aligned to the quarter hour.
RATE_LIMIT_WINDOW_SECONDS = 15 * 60

# Strava's error vocabulary: resources are CamelCase words ("RefreshToken"), fields and codes
# lower-case words ("refresh_token", "invalid"). Anything else (e.g. an echoed token, which has
# digits) is left out of messages.
_ERROR_RESOURCE = re.compile(r"^[A-Z][A-Za-z]{0,39}$")
_ERROR_WORD = re.compile(r"^[a-z][a-z_ ]{0,39}$")
_WEBHOOK_KINDS: dict[str, base.WebhookEventKind] = {
    "create": "activity_created",
    "update": "activity_updated",
    "delete": "activity_deleted",
}


class StravaProvider(OAuth2Provider):
    name: ClassVar[str] = "strava"
    position: ClassVar[int] = 1
    uses_pkce: ClassVar[bool] = False
    required_scopes: ClassVar[tuple[str, ...]] = REQUIRED_SCOPES
    webhook_secret_setting: ClassVar[str | None] = "WEBHOOK_VERIFY_TOKEN"  # noqa: S105
    extra_settings: ClassVar[tuple[str, ...]] = ("SUBSCRIPTION_ID", _CAPACITY_SETTING)
    #: Strava's API agreement: delete the athlete's Strava data when they deauthorise.
    delete_activities_on_disconnect: ClassVar[bool] = True
    #: The whole history is listable, 200 activities per request, any window length.
    backfill_horizon: ClassVar[timedelta | None] = None
    max_window: ClassVar[timedelta | None] = None
    rate_limit_buckets: ClassVar[tuple[tuple[str, int, int], ...]] = RATE_LIMIT_BUCKETS
    #: An event is a few hundred bytes: ids, an aspect, an ``updates`` hash of short strings, no
    #: activity data (developers.strava.com/docs/webhooks, "Event Data").
    max_webhook_body_bytes: ClassVar[int] = 64 * 1024

    # --- OAuth: the shared OAuth 2 client (providers/oauth2.py), with Strava's settings ----------

    authorize_url: ClassVar[str] = AUTHORIZE_URL
    token_url: ClassVar[str] = TOKEN_URL
    requested_scopes: ClassVar[tuple[str, ...]] = REQUESTED_SCOPES
    scope_separator: ClassVar[str] = ","
    authorize_params: ClassVar[Mapping[str, str]] = {"approval_prompt": "auto"}
    # Strava documents no PKCE and no redirect_uri in the code exchange.
    exchange_sends_redirect_uri: ClassVar[bool] = False
    refresh_token_required: ClassVar[bool] = True
    #: The response carries both ``expires_at`` (epoch s) and ``expires_in``: the absolute wins.
    trusts_expires_at: ClassVar[bool] = True
    #: The token response does not say which scopes were granted: the callback does.
    scopes_from_callback: ClassVar[bool] = True
    revoke_url: ClassVar[str | None] = DEAUTHORIZE_URL
    revoke_token_field: ClassVar[str | None] = "access_token"  # noqa: S105 - a field name
    #: 400/401: the token is no longer valid, i.e. access is already withdrawn.
    revoke_gone: ClassVar[frozenset[int]] = frozenset({400, 401})

    def _token_quirks(
        self, tokens: TokenSet, body: Mapping[str, Any], *, exchange: bool
    ) -> TokenSet:
        """The code exchange's ``athlete`` summary: its id is the provider user id."""
        athlete = body.get("athlete")
        if exchange and (not isinstance(athlete, dict) or not _is_id(athlete.get("id"))):
            raise errors.BadPayloadError(
                self.name, "the token response has no athlete id", status_code=200
            )
        if not isinstance(athlete, dict):
            return tokens
        user_id = str(athlete["id"]) if exchange else tokens.provider_user_id
        return replace(tokens, provider_user_id=user_id, extra={"athlete": athlete})

    def _error_detail(self, response: httpx.Response) -> str | None:
        """Strava's error codes (``RefreshToken.refresh_token:invalid``), not RFC 6749's."""
        codes = []
        for error in _errors(response)[:3]:
            resource, field, code = error.get("resource"), error.get("field"), error.get("code")
            if (
                isinstance(resource, str)
                and isinstance(field, str)
                and isinstance(code, str)
                and _ERROR_RESOURCE.match(resource)
                and _ERROR_WORD.match(field)
                and _ERROR_WORD.match(code)
            ):
                codes.append(f"{resource}.{field}:{code}")
        return ", ".join(codes) or None

    def _blames_client(self, response: httpx.Response) -> bool:
        """An ``Application`` resource in the errors: our client id/secret is wrong."""
        return any(error.get("resource") == "Application" for error in _errors(response))

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> base.ProviderIdentity:
        athlete = tokens.extra.get("athlete")
        if not isinstance(athlete, Mapping) or not _is_id(athlete.get("id")):
            athlete = self._get_athlete(tokens)
        scopes = (
            (split_scopes(callback_query["scope"]) or ())
            if "scope" in callback_query
            else (tokens.scopes or ())
        )
        username = athlete.get("username")
        return base.ProviderIdentity(
            provider_user_id=str(athlete["id"]),
            username=username if isinstance(username, str) and username else None,
            profile=dict(athlete),
            scopes=scopes,
        )

    def missing_scopes(self, identity: base.ProviderIdentity) -> list[str]:
        """Missing only when neither ``activity:read`` nor ``activity:read_all`` was granted."""
        if ACTIVITY_READ_SCOPES.intersection(identity.scopes):
            return []
        return list(REQUIRED_SCOPES)

    def athlete_capacity(self) -> int | None:
        """How many athletes the Strava application may connect (None: no limit known)."""
        raw = self.credentials.extra.get(_CAPACITY_SETTING)
        if raw is None or not raw.strip():
            return STANDARD_ATHLETE_CAPACITY
        try:
            value = int(raw)
        except ValueError:
            return STANDARD_ATHLETE_CAPACITY
        return value if value > 0 else None

    def capacity_message(self, capacity: int) -> tuple[str, str]:
        return CAPACITY_MESSAGE.format(capacity=capacity), CAPACITY_HINT

    def check_access(self, tokens: TokenSet) -> base.AccessCheck:
        """``GET /athlete`` with the athlete's token: 401 means the access was withdrawn.
        Strava: deauthorising an application invalidates every access and refresh token it
        holds for the athlete (developers.strava.com/docs/authentication, "Deauthorization");
        a request with such a token answers 401 "Authorization Error"."""
        try:
            self._get_athlete(tokens)
        except errors.TokenRevokedError:
            return base.AccessCheck(withdrawn=True)
        return base.AccessCheck(withdrawn=False)

    # --- Webhooks --------------------------------------------------------------------------------

    def handle_webhook_get(self, request: WebhookRequest) -> base.WebhookResponse:
        """The subscription handshake: echo ``hub.challenge`` when the verify token is ours."""
        expected = self.credentials.webhook_secret
        mode = request.query.get("hub.mode")
        challenge = request.query.get("hub.challenge")
        token = request.query.get("hub.verify_token", "")
        if mode != "subscribe" or not challenge:
            return base.WebhookResponse(400, {"detail": "not a subscription handshake"})
        if not expected or not _equal(token, expected):
            return base.WebhookResponse(403, {"detail": "verify token mismatch"})
        return base.WebhookResponse(200, {"hub.challenge": challenge})

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Events are unsigned: the body must name our push subscription."""
        expected = self.credentials.extra.get("SUBSCRIPTION_ID")
        if not expected:
            raise errors.WebhookVerificationError(
                "strava webhook rejected: STRAVA_SUBSCRIPTION_ID is not configured",
                hint="set STRAVA_SUBSCRIPTION_ID to the id of the app's push subscription",
            )
        try:
            body = loads_bounded(request.body)
        except JsonTooDeepError:
            raise errors.BadPayloadError(self.name, "webhook body nests too deeply") from None
        except (ValueError, UnicodeDecodeError):
            raise errors.WebhookVerificationError(
                "strava webhook rejected: the body is not JSON"
            ) from None
        subscription_id = body.get("subscription_id") if isinstance(body, dict) else None
        if not _is_id(subscription_id) or not _equal(str(subscription_id), expected):
            raise errors.WebhookVerificationError(
                "strava webhook rejected: unknown or missing subscription_id"
            )

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        event = json_object(request.body, self.name)
        object_type = event.get("object_type")
        aspect_type = event.get("aspect_type")
        owner_id = event.get("owner_id")
        object_id = event.get("object_id")
        updates = event.get("updates", {})
        if not _is_id(owner_id) or not _is_id(object_id):
            raise errors.BadPayloadError(
                self.name, "webhook event without a numeric owner_id/object_id"
            )
        if aspect_type not in _WEBHOOK_KINDS:
            raise errors.BadPayloadError(self.name, "webhook event with an unknown aspect_type")
        if updates is None:
            updates = {}
        if not isinstance(updates, dict):
            raise errors.BadPayloadError(self.name, "webhook event whose updates is not an object")
        if object_type == "activity":
            return [
                WebhookEvent(
                    provider_user_id=str(owner_id),
                    kind=_WEBHOOK_KINDS[aspect_type],
                    object_id=str(object_id),
                    payload=event,
                )
            ]
        if object_type == "athlete":
            if aspect_type == "update" and str(updates.get("authorized", "")).lower() == "false":
                return [
                    WebhookEvent(
                        provider_user_id=str(owner_id),
                        kind="deauthorized",
                        object_id=None,
                        payload=event,
                    )
                ]
            return []  # profile changes: nothing to sync
        raise errors.BadPayloadError(self.name, "webhook event with an unknown object_type")

    # --- Activities ------------------------------------------------------------------------------

    def fetch_activities(
        self, tokens: TokenSet, window: base.SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        """One page (up to 200) of the athlete's SummaryActivities starting in ``window``.

        ``GET /athlete/activities?after=&before=&page=&per_page=200``. With ``after`` Strava
        lists oldest first, so the next page continues *after the newest start seen* (keyset,
        one second of overlap): an activity deleted meanwhile cannot shift the next page past
        one we have not seen. Should a page not come back in ascending order, or a full page
        share one start second, the cursor falls back to the page number. Items repeated at a
        page boundary are harmless (the ingest upserts). ``after`` and ``before`` are widened
        by one second each, since Strava does not document whether they are inclusive."""
        after = int(window.start.timestamp()) - 1
        page = 1
        if cursor:
            after = _cursor_int(cursor, "after", after)
            page = max(1, _cursor_int(cursor, "page", 1))
        before = int(window.end.timestamp()) + 1
        response = self._api_call(
            "GET",
            ACTIVITIES_URL,
            tokens,
            "listing activities",
            params={"after": after, "before": before, "page": page, "per_page": PAGE_SIZE},
        )
        body = response_json(response, self.name)
        if not isinstance(body, list):
            raise errors.BadPayloadError(
                self.name, "the activity list is not a JSON array", status_code=200
            )
        items = [item for item in body if isinstance(item, dict)]
        if len(items) != len(body):
            raise errors.BadPayloadError(
                self.name,
                "the activity list holds something that is not an object",
                status_code=200,
            )
        next_cursor: dict[str, Any] | None = None
        if len(items) >= PAGE_SIZE:
            starts = [_epoch(parse_instant(item.get("start_date"))) for item in items]
            known = [start for start in starts if start is not None]
            ascending = len(known) == len(starts) and known == sorted(known)
            if ascending and known and known[-1] - 1 > after:
                next_cursor = {"after": known[-1] - 1, "page": 1}
            else:
                next_cursor = {"after": after, "page": page + 1}
        return ActivityPage(
            items=items,
            next_cursor=next_cursor,
            api_calls=1,
            rate_limits=rate_limit_observations(response.headers),
        )

    def rate_limit_observations(
        self, headers: Mapping[str, str]
    ) -> Sequence[base.RateLimitObservation]:
        """The four buckets from ``X-RateLimit-*``/``X-ReadRateLimit-*`` (also those of a 429)."""
        return rate_limit_observations(headers)

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        """What an activity event means, always asked of Strava first (``GET /activities/{id}``
        with the athlete's token): events are not signed, so an event is a hint, never a
        command (DESIGN.md: "Trust nothing unauthenticated").

        - Create/update: the DetailedActivity (title, type and privacy as they are now, plus
          calories and description) — unless it belongs to another athlete (then nothing).
        - Delete: confirmed only by Strava's 404 (``Record Not Found``); an activity Strava
          still serves is kept and the event logged as NOT confirmed.
        - A 404 on a create/update likewise means the activity is gone: applied as a delete.

        A 401 is a revoked token; 429 and 5xx are transient (retried by the job queue); any
        other status fails the event (``ProviderError``). Deauthorisation and other events
        carry nothing to ingest (the webhook worker confirms them with :meth:`check_access`)."""
        kinds = ("activity_created", "activity_updated", "activity_deleted")
        if event.kind not in kinds or not event.object_id:
            return ActivityPage(items=(), api_calls=0)
        if not event.object_id.isdigit():
            raise errors.BadPayloadError(self.name, "webhook event with a non-numeric activity id")
        response = self._api_call(
            "GET",
            ACTIVITY_URL.format(activity_id=event.object_id),
            tokens,
            "reading an activity",
            params={"include_all_efforts": "false"},
            accepted=(200, 404),
        )
        observations = rate_limit_observations(response.headers)
        if response.status_code == 404:
            return ActivityPage(
                items=(),
                deleted_external_ids=(event.object_id,),
                rate_limits=observations,
            )
        detail = response_json(response, self.name)
        if not isinstance(detail, dict) or str(detail.get("id")) != event.object_id:
            raise errors.BadPayloadError(
                self.name, "the activity response is not the requested activity", status_code=200
            )
        if event.kind == "activity_deleted":
            log.warning(
                "strava delete event for activity %s of athlete %s NOT confirmed: Strava still "
                "serves the activity; nothing deleted",
                event.object_id,
                event.provider_user_id,
            )
            return ActivityPage(items=(), rate_limits=observations)
        owner = detail.get("athlete")
        owner_id = owner.get("id") if isinstance(owner, dict) else None
        expected = tokens.provider_user_id or event.provider_user_id
        if owner_id is not None and str(owner_id) != expected:
            log.warning(
                "strava %s event for activity %s ignored: Strava says it belongs to athlete %s, "
                "not to the connection's athlete %s",
                event.kind,
                event.object_id,
                owner_id if _is_id(owner_id) else "<unreadable>",
                expected,
            )
            return ActivityPage(items=(), rate_limits=observations)
        return ActivityPage(items=(detail,), rate_limits=observations)

    # --- internals -------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return super()._send(method, url, **kwargs)
        except errors.RateLimitedError as exc:
            if exc.retry_after is not None:
                raise
            headers = exc.rate_limit_headers or {}
            now = self.clock()
            # A 429 carries no Retry-After: wait for the next quarter hour, or for midnight UTC
            # when the headers say a daily quota is spent.
            retry_after = (
                seconds_to_midnight(now)
                if _daily_quota_spent(headers)
                else seconds_to_next_window(now)
            )
            raise errors.RateLimitedError(
                self.name,
                exc.message.removeprefix(f"{self.name}: "),
                retry_after=retry_after,
                status_code=exc.status_code or 429,
                rate_limit_headers=headers,
            ) from exc

    def _get_athlete(self, tokens: TokenSet) -> Mapping[str, Any]:
        athlete = self._api_json(ATHLETE_URL, tokens, "reading the athlete")
        if not isinstance(athlete, dict) or not _is_id(athlete.get("id")):
            raise errors.BadPayloadError(
                self.name, "the athlete response has no id", status_code=200
            )
        return athlete


def seconds_to_next_window(now: datetime) -> float:
    """Seconds until Strava's next 15-minute rate-limit window (at :00, :15, :30, :45 UTC)."""
    now = now.astimezone(UTC)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return (start + timedelta(seconds=RATE_LIMIT_WINDOW_SECONDS) - now).total_seconds()


def seconds_to_midnight(now: datetime) -> float:
    """Seconds until Strava's daily rate-limit window resets (midnight UTC)."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return (midnight - now).total_seconds()


def rate_limit_observations(headers: Mapping[str, str]) -> tuple[base.RateLimitObservation, ...]:
    """The four buckets' usage from ``X-RateLimit-*`` (overall) and ``X-ReadRateLimit-*``
    (non-upload) headers, each ``"<15-min>,<daily>"``. Absent or malformed headers give
    nothing."""
    lowered = {name.lower(): value for name, value in headers.items()}
    observations: list[base.RateLimitObservation] = []
    for limit_header, usage_header, family in _RATE_LIMIT_HEADERS:
        limits = _pair(lowered.get(limit_header))
        usage = _pair(lowered.get(usage_header))
        if limits is None or usage is None:
            continue
        for (suffix, window), limit, used in zip(
            (("15min", 900), ("daily", 86400)), limits, usage, strict=True
        ):
            observations.append(
                base.RateLimitObservation(
                    bucket=f"{family}:{suffix}", used=used, limit=limit, window_seconds=window
                )
            )
    return tuple(observations)


def _pair(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1])


def _daily_quota_spent(headers: Mapping[str, str]) -> bool:
    return any(
        o.bucket.endswith(":daily") and o.used >= o.limit for o in rate_limit_observations(headers)
    )


def _cursor_int(cursor: Mapping[str, Any], key: str, default: int) -> int:
    value = cursor.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.isdigit()


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


#: The provider this module defines (found by ``trainlytics.providers`` discovery).
PROVIDER = StravaProvider
