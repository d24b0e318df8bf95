"""Polar AccessLink v3: OAuth 2.0 (client authenticated with HTTP Basic), mandatory user
registration, no refresh token, HMAC-SHA256-signed webhooks.

Quirks handled here (sources: Polar's AccessLink documentation as mirrored by api-evangelist/polar
``openapi/polar-users-api-openapi.yml`` and ``polar-accesslink-webhooks-asyncapi.yml``; the
integrations polarofficial/accesslink-example-python and c2corg/c2c_tracking):

- The token endpoint authenticates the client with HTTP Basic ``client_id:client_secret``; the form
  body carries only ``grant_type``, ``code`` and ``redirect_uri``.
- The token response holds ``x_user_id`` (the Polar user id) and an access token valid for about
  14.6 years (``expires_in`` 461375999). There is **no refresh token**: :meth:`refresh` always
  fails with :class:`TokenRefreshError`, and ``needs_refresh`` is False because the token set has
  no refresh token. When the token finally expires or is withdrawn, the athlete reconnects.
- After consent the user **must be registered**: ``POST /v3/users`` with ``{"member-id": ...}``.
  200 returns the user's base information; **409 means already registered** (a reconnect), in
  which case ``GET /v3/users/{user-id}`` gives the same information; 403 means the athlete did not
  accept Polar's mandatory consents. Only data uploaded after registration is visible.
- Revocation is de-registration: ``DELETE /v3/users/{user-id}`` (204), which also revokes the
  access token. It needs the Polar user id, so the token set passed to :meth:`revoke` must carry
  ``provider_user_id``.
- Webhooks: one per client, created with ``POST /v3/webhooks`` (Basic auth); the creation answer
  holds ``signature_secret_key``, shown once, which we read as ``POLAR_WEBHOOK_SECRET``. Every
  delivery carries ``Polar-Webhook-Signature`` = lower-case hex HMAC-SHA256 of the raw body keyed
  with that secret, and ``Polar-Webhook-Event``. Events handled: ``EXERCISE`` (a new exercise;
  ``entity_id`` is its hashed id) and ``PING`` (sent when the webhook is created or its URL is
  changed; it must be answered 200). Other event types (SLEEP, ACTIVITY_SUMMARY, ...) are ignored.

- Activities: ``GET /v3/exercises`` lists the exercises **uploaded in the last 30 days** (and
  after registration), all of them in one answer, without paging; the initial backfill therefore
  reaches back 30 days (:attr:`backfill_horizon`). The list is ordered by nothing we rely on and
  filtered by upload, not start, time: a window cannot be requested, so every listed exercise is
  handed to the ingest, which skips the unchanged ones. ``GET /v3/exercises/{id}`` (the
  ``url`` of an EXERCISE webhook) returns one exercise; 404 means it is no longer available.
  A 403 means the athlete has not accepted Polar's mandatory consents (reconnect), a 401 that
  the token was withdrawn. Payloads are handed on verbatim (snake_case; the deprecated
  transactional API's kebab-case is normalised by the same SQL function).

UNCONFIRMED (not established by public documentation; decided here, revisit with Polar's docs):

- The PING Polar sends while a webhook is being *created* (or re-created) arrives before the
  creation response reveals the new ``signature_secret_key``, so it cannot be verified by us:
  it is signed with a key we do not hold yet. A body that is exactly a PING (``event`` and
  ``timestamp`` only) is therefore accepted whatever its signature — it carries no athlete
  data and nothing is queued for it — and everything else must verify. (Before, a configured
  old secret made the re-creation's signed PING fail with 401, so Polar refused the new
  webhook.)
- **Secret rotation.** Re-creating the webhook (one per client) gives a new secret. Set it as
  POLAR_WEBHOOK_SECRET and move the old one to POLAR_WEBHOOK_PREVIOUS_SECRET: a delivery
  verifies against either (deliveries signed before the switch and Polar's retries of them
  still pass); remove the previous secret once no delivery has needed it for a day. Both are
  compared in constant time.
- Whether the token response ever carries ``scope``; when it does not, the granted scope is taken
  to be ``accesslink.read_all`` (Polar's consent has no per-scope choice; missing mandatory
  consents surface as the 403 of the registration).
- The shape of token-endpoint error bodies (taken to be RFC 6749 ``{"error": ...}``).
- Whether ``GET /v3/exercises`` ever answers 204 for "nothing new" as the deprecated
  transactional API did; 204 is read as an empty list.
- Polar's rate limits are dynamic (scaled by the number of registered users); their headers are
  not documented reliably, so no rate-limit bucket is declared and only a 429 is honoured.
- The ``member-id`` we register is opaque: a UUIDv5 of the Polar user id (stable across
  reconnects, reveals nothing of ours). Polar also answers 409 for a duplicated member-id.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from trainlytics import errors
from trainlytics.json_limits import loads_bounded
from trainlytics.providers import base
from trainlytics.providers.base import ActivityPage, TokenSet, WebhookEvent, WebhookRequest
from trainlytics.providers.http import response_json
from trainlytics.providers.oauth2 import ClientAuth, OAuth2Provider
from trainlytics.providers.payloads import json_object

__all__ = [
    "API_BASE_URL",
    "AUTHORIZE_URL",
    "EXERCISES_URL",
    "SCOPE",
    "TOKEN_URL",
    "USERS_URL",
    "PolarProvider",
    "member_id_for",
]

AUTHORIZE_URL = "https://flow.polar.com/oauth2/authorization"
TOKEN_URL = "https://polarremote.com/v2/oauth2/token"  # noqa: S105 - a URL, not a secret
API_BASE_URL = "https://www.polaraccesslink.com/v3"
USERS_URL = f"{API_BASE_URL}/users"
EXERCISES_URL = f"{API_BASE_URL}/exercises"
#: AccessLink serves exercises uploaded in the last 30 days only.
EXERCISE_HORIZON = timedelta(days=30)
SCOPE = "accesslink.read_all"

SIGNATURE_HEADER = "polar-webhook-signature"
#: POLAR_WEBHOOK_PREVIOUS_SECRET: the secret before a rotation, still accepted.
_PREVIOUS_SECRET_SETTING = "WEBHOOK_PREVIOUS_SECRET"  # noqa: S105 - a setting name
EVENT_HEADER = "polar-webhook-event"

#: Namespace of the opaque member ids we register users under (a fixed random UUID).
MEMBER_ID_NAMESPACE = uuid.UUID("7c1f2b8e-5d0a-4e4f-9a57-2f0d6c3b9e41")

#: User information kept as the connection's profile.
_PROFILE_KEYS = ("polar-user-id", "member-id", "registration-date", "first-name", "last-name")


def member_id_for(polar_user_id: str) -> str:
    """The opaque, stable ``member-id`` we register a Polar user under."""
    return str(uuid.uuid5(MEMBER_ID_NAMESPACE, f"polar:{polar_user_id}"))


class PolarProvider(OAuth2Provider):
    name: ClassVar[str] = "polar"
    position: ClassVar[int] = 3
    uses_pkce: ClassVar[bool] = False
    required_scopes: ClassVar[tuple[str, ...]] = (SCOPE,)
    webhook_secret_setting: ClassVar[str | None] = "WEBHOOK_SECRET"  # noqa: S105 - env suffix
    #: POLAR_WEBHOOK_PREVIOUS_SECRET: the secret before a rotation, still accepted.
    extra_settings: ClassVar[tuple[str, ...]] = (_PREVIOUS_SECRET_SETTING,)
    backfill_horizon: ClassVar[timedelta | None] = EXERCISE_HORIZON

    # --- OAuth: the shared OAuth 2 client (providers/oauth2.py), with Polar's settings -----------

    authorize_url: ClassVar[str] = AUTHORIZE_URL
    token_url: ClassVar[str] = TOKEN_URL
    #: Polar's token endpoint authenticates the client with HTTP Basic.
    client_auth: ClassVar[ClientAuth] = "client_secret_basic"
    oauth_accept: ClassVar[str | None] = "application/json;charset=UTF-8"
    requested_scopes: ClassVar[tuple[str, ...]] = (SCOPE,)
    malformed_token_is_grant_error: ClassVar[bool] = True
    #: De-registration withdraws the app; 401/403/404: already withdrawn or de-registered.
    revoke_method: ClassVar[str] = "DELETE"
    revoke_gone: ClassVar[frozenset[int]] = frozenset({401, 403, 404})

    def _token_quirks(
        self, tokens: TokenSet, body: Mapping[str, Any], *, exchange: bool
    ) -> TokenSet:
        """``x_user_id``: the athlete's Polar user id, needed to register and de-register."""
        user_id = _user_id(body.get("x_user_id"))
        if user_id is None:
            raise errors.TokenExchangeError(self.name, "token response has no valid x_user_id")
        return replace(tokens, provider_user_id=user_id)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """AccessLink issues long-lived access tokens and no refresh token."""
        raise errors.TokenRefreshError(
            self.name,
            "Polar access tokens cannot be refreshed (AccessLink issues no refresh token)",
            hint="the athlete reconnects Polar when the access token expires",
        )

    def _revoke_target(self, tokens: TokenSet) -> str:
        if not tokens.provider_user_id:
            raise errors.ProviderError(
                self.name, "cannot deregister a user without the Polar user id"
            )
        return f"{USERS_URL}/{tokens.provider_user_id}"

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> base.ProviderIdentity:
        user_id = tokens.provider_user_id
        if not user_id:
            raise errors.BadPayloadError(
                self.name, "token set carries no Polar user id (x_user_id)"
            )
        response = self._send(
            "POST",
            USERS_URL,
            json={"member-id": member_id_for(user_id)},
            headers=self._bearer(tokens),
        )
        if response.status_code == 409:
            # Already registered (a reconnect): read the same base information.
            response = self._send("GET", f"{USERS_URL}/{user_id}", headers=self._bearer(tokens))
        if response.status_code == 403:
            raise errors.InsufficientScopeError(self.name, ["the mandatory Polar Flow consents"])
        self._check_api_status(response, "user registration")
        info = response_json(response, self.name)
        if not isinstance(info, dict):
            raise errors.BadPayloadError(self.name, "user information is not a JSON object")
        registered_id = info.get("polar-user-id")
        if registered_id is not None and _user_id(registered_id) != user_id:
            raise errors.BadPayloadError(self.name, "user information is for another Polar user")
        first = info.get("first-name")
        last = info.get("last-name")
        names = [part for part in (first, last) if isinstance(part, str) and part.strip()]
        # Data minimisation: weight, height, birthdate, gender and extra-info are not kept.
        profile = {key: info[key] for key in _PROFILE_KEYS if key in info}
        return base.ProviderIdentity(
            provider_user_id=user_id,
            username=" ".join(part.strip() for part in names) or None,
            profile=profile,
            scopes=tokens.scopes if tokens.scopes is not None else (SCOPE,),
        )

    # --- Webhooks --------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        headers = {key.lower(): value for key, value in request.headers.items()}
        if _is_bare_ping(request.body):
            return  # the (re-)creation check, signed with a key we cannot know yet: no data
        secrets = [
            s
            for s in (
                self.credentials.webhook_secret,
                self.credentials.extra.get(_PREVIOUS_SECRET_SETTING),
            )
            if s
        ]
        if not secrets:
            raise errors.WebhookVerificationError(
                "polar webhook rejected: POLAR_WEBHOOK_SECRET is not configured"
            )
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            raise errors.WebhookVerificationError(
                "polar webhook rejected: no Polar-Webhook-Signature"
            )
        given = signature.strip().lower().encode()
        matches = [
            hmac.compare_digest(
                hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest().encode(), given
            )
            for secret in secrets  # every secret is compared: no early exit
        ]
        if not any(matches):
            raise errors.WebhookVerificationError("polar webhook rejected: signature mismatch")

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        body = json_object(request.body, self.name)
        event = body.get("event")
        if not isinstance(event, str) or not event:
            raise errors.BadPayloadError(self.name, "webhook body has no event type")
        if event == "PING":
            return []
        if event != "EXERCISE":
            return []  # Not subscribed by Trainlytics (SLEEP, ACTIVITY_SUMMARY, ...).
        user_id = _user_id(body.get("user_id"))
        if user_id is None:
            raise errors.BadPayloadError(self.name, "EXERCISE webhook has no valid user_id")
        entity_id = body.get("entity_id")
        if not isinstance(entity_id, str) or not entity_id:
            raise errors.BadPayloadError(self.name, "EXERCISE webhook has no entity_id")
        return [
            WebhookEvent(
                provider_user_id=user_id,
                kind="activity_created",
                object_id=entity_id,
                payload=body,
            )
        ]

    # --- Activities ------------------------------------------------------------------------------

    def fetch_activities(
        self, tokens: TokenSet, window: base.SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        # One answer holds every exercise uploaded in the last 30 days: no paging, no range. The
        # list is by upload time, so filtering on the window's start times would lose late
        # uploads; the ingest skips what it already holds.
        response = self._send("GET", EXERCISES_URL, headers=self._bearer(tokens))
        if response.status_code == 204:
            return ActivityPage(items=())
        self._check_exercise_status(response, "exercise list")
        body = response_json(response, self.name)
        if not isinstance(body, list):
            raise errors.BadPayloadError(self.name, "exercise list is not a JSON array")
        # Items go to the ingest verbatim, malformed ones included: it reports them one by one.
        return ActivityPage(items=body)

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        if event.kind not in ("activity_created", "activity_updated") or not event.object_id:
            return ActivityPage(items=(), api_calls=0)
        response = self._send("GET", self._exercise_url(event), headers=self._bearer(tokens))
        if response.status_code in (204, 404):
            # Gone, or older than the 30-day horizon: nothing to ingest.
            return ActivityPage(items=())
        self._check_exercise_status(response, "exercise")
        body = response_json(response, self.name)
        if not isinstance(body, dict):
            raise errors.BadPayloadError(self.name, "exercise is not a JSON object")
        return ActivityPage(items=(body,))

    @staticmethod
    def _exercise_url(event: WebhookEvent) -> str:
        """The event's ``url`` when it points at an exercise on the AccessLink host (never
        anywhere else: the token goes with the request); otherwise built from ``entity_id``."""
        own = f"{EXERCISES_URL}/{quote(event.object_id or '', safe='')}"
        url = event.payload.get("url")
        if not isinstance(url, str):
            return own
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError):
            return own
        expected = httpx.URL(EXERCISES_URL)
        if (
            parsed.scheme == "https"
            and parsed.host == expected.host
            and parsed.port is None
            and parsed.path == f"{expected.path}/{event.object_id}"
            and not parsed.query
        ):
            return str(parsed)
        return own

    def _check_exercise_status(self, response: httpx.Response, what: str) -> None:
        if response.status_code == 403:
            raise errors.TokenRevokedError(
                self.name,
                f"{what} refused (403): the athlete has not accepted Polar's mandatory consents",
                status_code=403,
                hint="the athlete accepts the consents in Polar Flow and reconnects",
            )
        self._check_api_status(response, what)


def _user_id(value: Any) -> str | None:
    """Polar user ids are integers (sometimes sent as digit strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit() and value.isascii() and int(value) > 0:
        return str(int(value))
    return None


def _is_bare_ping(raw: bytes) -> bool:
    """A body that is exactly Polar's PING (``event`` and ``timestamp``, nothing else)."""
    try:
        body = loads_bounded(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return (
        isinstance(body, dict)
        and body.get("event") == "PING"
        and set(body) <= {"event", "timestamp"}
        and isinstance(body.get("timestamp", ""), str)
    )


#: The provider this module defines (found by ``trainlytics.providers`` discovery).
PROVIDER = PolarProvider
