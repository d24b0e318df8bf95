"""Wahoo Cloud API: OAuth 2.0 (authorization code + client secret), identity, revocation and the
``workout_summary`` webhook.

Sources: developers.wahooligan.com/cloud (via the api-evangelist/wahoo OpenAPI), and the shapes
recorded in docs/providers.md §6.

Quirks handled here:

- **Refresh tokens are single-use and rotate.** Every refresh answers a new refresh token and the
  old one stops working. Since 2026-01-01 Wahoo also caps an application at **10 unrevoked tokens
  per user**: two concurrent refreshes of the same connection would fork the token chain (and
  burn through the cap). Nothing in this module guards against that on purpose — ``refresh()`` is
  only ever called by the token service while it holds the connection's refresh lease
  (``tokens_acquire_refresh_lease``), so exactly one refresh is in flight per connection.
- Scopes: ``user_read`` (``GET /v1/user`` gives the athlete id), ``workouts_read`` (the sync) and
  ``offline_data`` (without it Wahoo sends no webhooks). All three are required.
- Webhooks are not signed: Wahoo puts the application's ``webhook_token`` (set in the developer
  portal, configured here as ``WAHOO_WEBHOOK_TOKEN``) *inside the JSON body*. It is compared in
  constant time and stripped from the payload handed to the sync worker.
- Revocation: ``DELETE /v1/permissions`` with the athlete's access token withdraws the app.

Activities (the sync):

- ``GET /v1/workouts?page=&per_page=`` answers ``{"workouts": [...], "total", "page",
  "per_page", "order": "descending", "sort": "starts"}``: every workout of the athlete, newest
  first, each with its ``workout_summary`` (null while the upload is processed). There is no
  date filter, so a window is read from page 1 down to the first workout that starts before
  the window (or the last page). Pages are ``PER_PAGE`` workouts (real pages of 60 are seen).
- Each workout is handed to ``private.normalize_wahoo`` as it came (decimal strings, UTC
  ``starts``). The workout summary's ``time_zone`` (an IANA name such as
  ``"America/Toronto"``, in the payloads recorded by several public clients:
  shared/docs/providers.md §6) sets the activity's time zone and its UTC offset at the start;
  without it (older summaries) the start stays UTC.
- A ``workout_summary`` webhook carries the workout itself: ``fetch_for_event`` turns it into
  the list's shape (the workout with its summary) without calling the API, or fetches
  ``GET /v1/workouts/{id}`` when the webhook names only the id.
- Rate limits per application: 200 requests / 5 min, 1,000 / hour, 5,000 / day (production);
  excess answers 429 (``RateLimitedError`` from ``providers.http``).

UNCONFIRMED: whether ``per_page`` may exceed 60 (the OpenAPI says 100); whether Wahoo sends
rate-limit headers (none are documented: no observations are parsed); whether the summary's
newer ``manual``/``time_zone`` fields are set by all apps (absent: UTC, as before); whether
``DELETE /v1/permissions`` revokes only the token it is called with or every token of the
athlete (Trainlytics assumes the latter and never revokes a token whose account holds a live
connection here: see ``trainlytics.connections.connect``).

UNCONFIRMED: whether the token response always carries ``scope`` (Doorkeeper, which Wahoo runs,
does by default; when it is absent the callback's ``scope`` or, failing that, the requested
scopes are assumed — Wahoo's consent screen has no per-scope tick boxes as far as documented).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

from trainlytics import errors
from trainlytics.errors import JsonTooDeepError
from trainlytics.json_limits import loads_bounded
from trainlytics.providers import base
from trainlytics.providers.base import ActivityPage, TokenSet, WebhookEvent, WebhookRequest
from trainlytics.providers.oauth2 import OAuth2Provider, split_scopes
from trainlytics.providers.payloads import json_object, parse_instant

__all__ = [
    "AUTHORIZE_URL",
    "PERMISSIONS_URL",
    "SCOPES",
    "TOKEN_URL",
    "USER_URL",
    "WORKOUTS_URL",
    "WahooProvider",
]

API_BASE = "https://api.wahooligan.com"
AUTHORIZE_URL = f"{API_BASE}/oauth/authorize"
TOKEN_URL = f"{API_BASE}/oauth/token"
USER_URL = f"{API_BASE}/v1/user"
PERMISSIONS_URL = f"{API_BASE}/v1/permissions"
WORKOUTS_URL = f"{API_BASE}/v1/workouts"
#: Workouts per page of GET /v1/workouts (default 30; pages of 60 are seen in real use).
PER_PAGE = 60
#: Wahoo separates scopes with spaces (``+`` once form-encoded).
SCOPES: tuple[str, ...] = ("user_read", "workouts_read", "offline_data")

#: The only webhook event type Wahoo documents.
EVENT_WORKOUT_SUMMARY = "workout_summary"


class WahooProvider(OAuth2Provider):
    name: ClassVar[str] = "wahoo"
    position: ClassVar[int] = 5
    uses_pkce: ClassVar[bool] = False
    required_scopes: ClassVar[tuple[str, ...]] = SCOPES
    webhook_secret_setting: ClassVar[str | None] = "WEBHOOK_TOKEN"  # noqa: S105 - a variable name
    #: Production limits per application (sandbox: 25/5 min, 100/h, 250/day).
    rate_limit_buckets: ClassVar[tuple[tuple[str, int, int], ...]] = (
        ("wahoo:5min", 200, 300),
        ("wahoo:hourly", 1000, 3600),
        ("wahoo:daily", 5000, 86400),
    )

    # --- OAuth: the shared OAuth 2 client (providers/oauth2.py), with Wahoo's settings -----------

    authorize_url: ClassVar[str] = AUTHORIZE_URL
    token_url: ClassVar[str] = TOKEN_URL
    oauth_accept: ClassVar[str | None] = "application/json"
    requested_scopes: ClassVar[tuple[str, ...]] = SCOPES
    #: A refresh without a refresh token cannot succeed: the athlete reconnects.
    missing_refresh_token_error: ClassVar[type[errors.ProviderError]] = errors.TokenRevokedError
    #: Single-use refresh tokens: Wahoo always rotates, and the shared client keeps the new one
    #: (should a response lack it, the old one is kept: spent, so the next refresh is refused
    #: and the athlete reconnects). ``refresh()`` runs only under the connection's refresh
    #: lease (see the module docstring), so the chain never forks.
    revoke_url: ClassVar[str | None] = PERMISSIONS_URL
    revoke_method: ClassVar[str] = "DELETE"

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> base.ProviderIdentity:
        body = self._api_json(USER_URL, tokens, "GET /v1/user")
        user_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(user_id, int | str) or isinstance(user_id, bool) or str(user_id) == "":
            raise errors.BadPayloadError(self.name, "GET /v1/user answered without a user id")
        first = body.get("first") if isinstance(body.get("first"), str) else None
        last = body.get("last") if isinstance(body.get("last"), str) else None
        username = " ".join(part for part in (first, last) if part) or None
        # Keep the athlete's name only: email, birth date, height and weight are not needed.
        profile = {"id": user_id, "first": first, "last": last}
        return base.ProviderIdentity(
            provider_user_id=str(user_id),
            username=username,
            profile=profile,
            scopes=self._granted_scopes(tokens, callback_query),
        )

    # --- Activities ----------------------------------------------------------------------------

    def fetch_activities(
        self, tokens: TokenSet, window: base.SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        page = _page_number(cursor)
        body = self._get_json(
            tokens, WORKOUTS_URL, params={"page": page, "per_page": PER_PAGE}, what="workouts"
        )
        workouts = body.get("workouts")
        if not isinstance(workouts, list):
            raise errors.BadPayloadError(
                self.name, "GET /v1/workouts answered without a workouts list"
            )
        items: list[Mapping[str, Any]] = []
        reached_older = False
        for workout in workouts:
            if not isinstance(workout, dict):
                continue
            starts = parse_instant(workout.get("starts"))
            if starts is None:
                items.append(workout)  # the ingest reports it as malformed
            elif starts < window.start:
                reached_older = True
            elif starts < window.end:
                items.append(workout)
        per_page = _positive_int(body.get("per_page")) or PER_PAGE
        total = _positive_int(body.get("total"), allow_zero=True)
        descending = body.get("order", "descending") == "descending"
        done = (
            not workouts
            or (descending and reached_older)
            or (total is not None and page * per_page >= total)
        )
        return ActivityPage(items=items, next_cursor=None if done else {"page": page + 1})

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        if event.kind not in ("activity_created", "activity_updated"):
            return ActivityPage(items=(), api_calls=0)
        summary = event.payload.get("workout_summary")
        workout = summary.get("workout") if isinstance(summary, dict) else None
        if isinstance(summary, dict) and isinstance(workout, dict) and "starts" in workout:
            # The list's shape: the workout with its summary (without the back reference).
            rest = {key: value for key, value in summary.items() if key != "workout"}
            return ActivityPage(items=[{**workout, "workout_summary": rest}], api_calls=0)
        if event.object_id is None:
            raise errors.BadPayloadError(self.name, "workout_summary event without a workout id")
        detail = self._get_json(
            tokens, f"{WORKOUTS_URL}/{event.object_id}", params=None, what="workout"
        )
        return ActivityPage(items=[detail])

    def _get_json(
        self,
        tokens: TokenSet,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        what: str,
    ) -> dict[str, Any]:
        body = self._api_json(url, tokens, f"reading {what}", params=params)
        if not isinstance(body, dict):
            raise errors.BadPayloadError(self.name, f"reading {what} answered a non-object body")
        return body

    # --- Webhooks ------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        secret = self.credentials.webhook_secret
        if not secret:
            raise errors.WebhookVerificationError(
                "wahoo webhooks are not configured on this server"
            )
        # The token travels inside the body: the raw bytes must be decoded to find it.
        try:
            body = loads_bounded(request.body)
        except JsonTooDeepError:
            raise errors.BadPayloadError(self.name, "webhook body nests too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.WebhookVerificationError("wahoo webhook body is not JSON") from exc
        token = body.get("webhook_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8"), secret.encode("utf-8")
        ):
            raise errors.WebhookVerificationError("wahoo webhook_token does not match")

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        body = json_object(request.body, self.name)
        # Older examples name the field "event" instead of "event_type".
        event_type = body.get("event_type", body.get("event"))
        if event_type != EVENT_WORKOUT_SUMMARY:
            return []  # nothing else is documented; ignore rather than fail the delivery
        user = body.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, int | str) or isinstance(user_id, bool) or str(user_id) == "":
            raise errors.BadPayloadError(self.name, "workout_summary webhook without user.id")
        summary = body.get("workout_summary")
        if not isinstance(summary, dict):
            raise errors.BadPayloadError(
                self.name, "workout_summary webhook without workout_summary"
            )
        workout = summary.get("workout")
        workout_id = workout.get("id") if isinstance(workout, dict) else None
        if workout_id is None:
            workout_id = summary.get("workout_id")
        if not isinstance(workout_id, int | str) or isinstance(workout_id, bool):
            raise errors.BadPayloadError(self.name, "workout_summary webhook without a workout id")
        # Never hand the webhook token on to the queue.
        payload = {key: value for key, value in body.items() if key != "webhook_token"}
        return [
            WebhookEvent(
                provider_user_id=str(user_id),
                # Wahoo sends a summary when a workout is uploaded (and again if it is
                # reprocessed); the sync upserts by workout id, so "created" covers both.
                kind="activity_created",
                object_id=str(workout_id),
                payload=payload,
            )
        ]

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _granted_scopes(tokens: TokenSet, callback_query: Mapping[str, str]) -> tuple[str, ...]:
        if tokens.scopes is not None:
            return tokens.scopes
        from_callback = split_scopes(callback_query.get("scope"))
        if from_callback is not None:
            return from_callback
        return SCOPES  # UNCONFIRMED fallback, see the module docstring


def _page_number(cursor: Mapping[str, Any] | None) -> int:
    page = cursor.get("page") if cursor else None
    return page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1


def _positive_int(value: Any, *, allow_zero: bool = False) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= (0 if allow_zero else 1):
        return value
    return None


#: The provider this module defines (found by ``trainlytics.providers`` discovery).
PROVIDER = WahooProvider
