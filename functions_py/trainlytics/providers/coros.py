"""COROS partner API: OAuth 2.0 with the client secret in the form body, errors inside HTTP 200
envelopes, refresh that extends validity, webhooks authenticated by ``client``/``secret`` headers.

COROS's API documentation is private (handed to approved partners). Everything here is what
independent integrations agree on (c2corg/c2c_tracking ``src/server/coros/coros.api.ts`` and its
tests, Rove-LTD/Rove, a tapiriik fork, and other clients citing "COROS Partner API V2.1.1"):

- Authorize ``GET https://open.coros.com/oauth2/authorize`` with ``client_id``, ``redirect_uri``,
  ``response_type=code`` and ``state``; COROS defines no scope vocabulary, so none is sent and
  ``required_scopes`` is empty.
- Token ``POST /oauth2/accesstoken`` (form: ``client_id``, ``client_secret``, ``code``,
  ``grant_type=authorization_code``, ``redirect_uri``) answers ``access_token``,
  ``refresh_token``, ``openId`` (the athlete's id) and ``expires_in`` (2592000 s = 30 days).
- Every other answer is an envelope ``{"result": "0000", "message": "OK", ...}``: **any result
  other than "0000" is an error even though the HTTP status is 200**.
- Refresh ``POST /oauth2/refresh-token`` (form: ``client_id``, ``client_secret``,
  ``grant_type=refresh_token``, ``refresh_token``). Some integrations see only an envelope, which
  **extends the validity of the current access token** (we keep both tokens and push the expiry
  30 days out); others store new tokens when the body carries them. Both are handled.
- Deauthorize ``POST /oauth2/deauthorize`` with ``token=<access token>``.
- Webhook: COROS POSTs ``{"sportDataList": [workout + "openId", ...]}`` with headers ``client``
  and ``secret`` equal to our client id and client secret (plain values, no signature); the answer
  must be ``{"result": "0000", "message": "ok"}``. Each pushed workout is complete: it is
  ingested as it arrived, without a further request.
- Activities: ``GET /v2/coros/sport/list?token=&openId=&startDate=YYYYMMDD&endDate=YYYYMMDD``
  answers the envelope with ``data``, the workouts of that date range, without paging.
  Integrations ask for at most 30 days at a time. The dates are calendar dates whose time zone
  is not documented (the athlete's local dates, presumably), so each request pads its UTC window
  by a day on both sides and keeps only the workouts whose ``startTime`` falls inside the window;
  a window therefore spans at most 27 days (:attr:`max_window`) so that a request never covers
  more than 30 dates. A window larger than that is walked in steps through the page cursor.

UNCONFIRMED (decided here; check against COROS's partner documentation when available):

- The meaning of individual non-"0000" result codes is not public. A non-"0000" answer to the
  token exchange is a :class:`TokenExchangeError`; to a refresh, a :class:`TokenRevokedError`
  (the refresh token is refused and the athlete must reconnect); to a deauthorization, a
  :class:`ProviderError` (the disconnect flow logs it and carries on).
- The access-token lifetime after an envelope-only refresh (30 days assumed, as the token
  response's ``expires_in``; c2c_tracking assumes 29 days).
- Whether a refresh ever rotates the refresh token (when the body carries one, it is kept).
- Where the deauthorize call expects the token: integrations send it as a form field
  (c2c_tracking), a query parameter (Rove) or a ``token`` header; we send the form field.
- Whether the token response can itself be wrapped in an envelope (``data``); both are accepted.
- No profile endpoint is publicly known: the identity is the ``openId`` alone.
- COROS sends no deauthorization webhook that any public source shows.
- The largest date range sport/list accepts (30 days assumed), how far back it serves history
  (the initial backfill asks for one year: :attr:`backfill_horizon`), and which result codes mean
  a dead token: a non-"0000" answer to sport/list is a :class:`ProviderUnavailableError` naming
  the code (transient: retried with backoff, a bounded number of times), unless the code is in
  :data:`REVOKED_RESULTS` (then :class:`TokenRevokedError`, permanent).
- COROS's rate limits are not public: no bucket is declared, only a 429 is honoured.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from trainlytics import errors
from trainlytics.providers import base
from trainlytics.providers.base import ActivityPage, TokenSet, WebhookEvent, WebhookRequest
from trainlytics.providers.http import response_json
from trainlytics.providers.oauth2 import OAuth2Provider
from trainlytics.providers.payloads import json_object

__all__ = [
    "AUTHORIZE_URL",
    "BASE_URL",
    "DEAUTHORIZE_URL",
    "DEFAULT_TOKEN_LIFETIME",
    "REFRESH_URL",
    "REVOKED_RESULTS",
    "SPORT_LIST_URL",
    "SUCCESS_RESULT",
    "TOKEN_URL",
    "CorosProvider",
]

BASE_URL = "https://open.coros.com"
AUTHORIZE_URL = f"{BASE_URL}/oauth2/authorize"
TOKEN_URL = f"{BASE_URL}/oauth2/accesstoken"
REFRESH_URL = f"{BASE_URL}/oauth2/refresh-token"
DEAUTHORIZE_URL = f"{BASE_URL}/oauth2/deauthorize"
SPORT_LIST_URL = f"{BASE_URL}/v2/coros/sport/list"
#: Padding of each sport/list request's UTC window, for the dates' unknown time zone.
DATE_PADDING = timedelta(days=1)

SUCCESS_RESULT = "0000"
#: sport/list result codes known to mean a dead access token (the athlete must reconnect):
#: none is publicly documented yet, so every error envelope is treated as transient (retried
#: with backoff, a bounded number of times). Add codes here once COROS's documentation says.
REVOKED_RESULTS: frozenset[str] = frozenset()
#: Validity of an access token when COROS does not say (token responses say 2592000 s).
DEFAULT_TOKEN_LIFETIME = timedelta(days=30)

CLIENT_HEADER = "client"
SECRET_HEADER = "secret"  # noqa: S105 - a header name, not a secret

#: COROS result codes are short digit strings; anything else is not echoed (it could be anything).
_SAFE_CODE = re.compile(r"^[0-9]{1,8}$")


class CorosProvider(OAuth2Provider):
    name: ClassVar[str] = "coros"
    display_name: ClassVar[str] = "COROS"
    position: ClassVar[int] = 4
    uses_pkce: ClassVar[bool] = False
    #: COROS's consent screen has no scopes to choose from.
    required_scopes: ClassVar[tuple[str, ...]] = ()
    #: Webhooks are authenticated with our client id and secret, no secret of their own.
    webhook_secret_setting: ClassVar[str | None] = None
    #: 27 days plus a day of padding on each side: at most 30 calendar dates per request.
    max_window: ClassVar[timedelta | None] = timedelta(days=27)
    #: How far back the initial backfill asks (COROS's own history limit is not public).
    backfill_horizon: ClassVar[timedelta | None] = timedelta(days=365)

    # --- OAuth: the shared OAuth 2 client (providers/oauth2.py), with COROS's settings -----------

    authorize_url: ClassVar[str] = AUTHORIZE_URL
    token_url: ClassVar[str] = TOKEN_URL
    refresh_url: ClassVar[str | None] = REFRESH_URL
    oauth_accept: ClassVar[str | None] = "application/json"
    malformed_token_is_grant_error: ClassVar[bool] = True
    default_token_lifetime: ClassVar[timedelta | None] = DEFAULT_TOKEN_LIFETIME
    revoke_url: ClassVar[str | None] = DEAUTHORIZE_URL
    revoke_token_field: ClassVar[str | None] = "token"  # noqa: S105 - a field name
    revoke_done: ClassVar[frozenset[int]] = frozenset({200})
    #: 401/403: already withdrawn.
    revoke_gone: ClassVar[frozenset[int]] = frozenset({401, 403})

    def _read_token_response(
        self, response: httpx.Response, *, previous: TokenSet | None, query: Mapping[str, str]
    ) -> TokenSet:
        """COROS's envelope: a result other than "0000" is a refusal despite the HTTP 200; a
        refresh answered by the envelope alone extends the current access token."""
        exchange = previous is None
        body = self._token_json(response, exchange=exchange)
        result = _failed_result(body)
        if result is not None and exchange:
            raise errors.TokenExchangeError(self.name, f"token exchange refused (result {result})")
        if result is not None:
            raise errors.TokenRevokedError(self.name, f"refresh refused (result {result})")
        payload = _token_payload(body)
        if payload is not None:
            return self._parse_tokens(payload, previous=previous, query=query)
        if previous is not None and body.get("result") == SUCCESS_RESULT:
            return replace(previous, expires_at=self.clock() + DEFAULT_TOKEN_LIFETIME)
        raise self._malformed("the token response has no access_token", exchange=exchange)

    def _token_quirks(
        self, tokens: TokenSet, body: Mapping[str, Any], *, exchange: bool
    ) -> TokenSet:
        """``openId``: the athlete's id, required from the code exchange."""
        open_id = _open_id(body.get("openId"))
        if open_id is None and exchange:
            raise errors.TokenExchangeError(self.name, "token response has no openId")
        return replace(tokens, provider_user_id=open_id) if open_id else tokens

    def _check_revocation(self, response: httpx.Response) -> None:
        body = response_json(response, self.name)
        if not isinstance(body, dict) or "result" not in body:
            raise errors.BadPayloadError(self.name, "deauthorize answer is not a COROS envelope")
        result = _failed_result(body)
        if result is not None:
            raise errors.ProviderError(self.name, f"deauthorize refused (result {result})")

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> base.ProviderIdentity:
        if not tokens.provider_user_id:
            raise errors.BadPayloadError(self.name, "token set carries no COROS openId")
        return base.ProviderIdentity(
            provider_user_id=tokens.provider_user_id,
            username=None,
            profile={"openId": tokens.provider_user_id},
            scopes=tokens.scopes or (),
        )

    # --- Webhooks --------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        headers = {key.lower(): value for key, value in request.headers.items()}
        client = headers.get(CLIENT_HEADER)
        secret = headers.get(SECRET_HEADER)
        if not client or not secret:
            raise errors.WebhookVerificationError(
                "coros webhook rejected: client/secret headers missing"
            )
        # Compare both, always, so timing does not reveal which one failed.
        client_ok = hmac.compare_digest(client.encode(), self.credentials.client_id.encode())
        secret_ok = hmac.compare_digest(secret.encode(), self.credentials.client_secret.encode())
        if not (client_ok and secret_ok):
            raise errors.WebhookVerificationError("coros webhook rejected: client/secret mismatch")

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        body = json_object(request.body, self.name)
        items = body.get("sportDataList")
        if not isinstance(items, list):
            raise errors.BadPayloadError(self.name, "webhook body has no sportDataList")
        events: list[WebhookEvent] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise errors.BadPayloadError(self.name, f"sportDataList[{index}] is not an object")
            open_id = _open_id(item.get("openId"))
            if open_id is None:
                raise errors.BadPayloadError(self.name, f"sportDataList[{index}] has no openId")
            label_id = item.get("labelId")
            if isinstance(label_id, bool) or not isinstance(label_id, str | int) or label_id == "":
                raise errors.BadPayloadError(self.name, f"sportDataList[{index}] has no labelId")
            events.append(
                WebhookEvent(
                    provider_user_id=open_id,
                    kind="activity_created",
                    object_id=str(label_id),
                    payload=item,
                )
            )
        return events

    def webhook_ack(self) -> base.WebhookResponse:
        return base.WebhookResponse(200, {"result": SUCCESS_RESULT, "message": "ok"})

    # --- Activities ------------------------------------------------------------------------------

    def fetch_activities(
        self, tokens: TokenSet, window: base.SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        open_id = tokens.provider_user_id
        if not open_id:
            raise errors.ProviderError(self.name, "the connection has no COROS openId")
        start = _cursor_start(cursor, window)
        if start >= window.end:
            return ActivityPage(items=(), api_calls=0)
        step = self.max_window or timedelta(days=27)
        end = min(window.end, start + step)
        response = self._send(
            "GET",
            SPORT_LIST_URL,
            params={
                "token": tokens.access_token,
                "openId": open_id,
                "startDate": (start - DATE_PADDING).strftime("%Y%m%d"),
                "endDate": (end + DATE_PADDING).strftime("%Y%m%d"),
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code == 403:
            raise errors.TokenRevokedError(
                self.name, "sport list refused the access token (403)", status_code=403
            )
        self._check_api_status(response, "sport list")
        body = response_json(response, self.name)
        if not isinstance(body, dict) or "result" not in body:
            raise errors.BadPayloadError(self.name, "sport list answer is not a COROS envelope")
        result = _failed_result(body)
        if result is not None:
            if result in REVOKED_RESULTS:
                raise errors.TokenRevokedError(
                    self.name,
                    f"sport list refused the access token (result {result})",
                    hint="the athlete must reconnect COROS",
                )
            # The codes' meanings are not public: an error envelope may be a passing server
            # problem, so it is retried (the job's attempts are bounded), not given up at once.
            raise errors.ProviderUnavailableError(
                self.name, f"sport list refused (result {result})"
            )
        data = body.get("data")
        if data is None:
            data = []
        if not isinstance(data, list):
            raise errors.BadPayloadError(self.name, "sport list data is not a JSON array")
        return ActivityPage(
            items=_starting_within(data, start, end),
            next_cursor={"from": end.isoformat()} if end < window.end else None,
        )

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        # A push carries the whole workout: nothing to fetch.
        if event.kind not in ("activity_created", "activity_updated") or not event.payload:
            return ActivityPage(items=(), api_calls=0)
        return ActivityPage(items=(dict(event.payload),), api_calls=0)


def _cursor_start(cursor: Mapping[str, Any] | None, window: base.SyncWindow) -> datetime:
    """Where this step of the window starts: the cursor's ``from`` when it lies in the window."""
    value = cursor.get("from") if cursor else None
    if isinstance(value, str):
        try:
            start = datetime.fromisoformat(value)
        except ValueError:
            start = None
        if start is not None and start.tzinfo is not None and window.start <= start:
            return start
    return window.start


def _starting_within(items: Sequence[Any], start: datetime, end: datetime) -> list[Any]:
    """The workouts whose ``startTime`` lies in ``[start, end)`` (the padded dates return
    neighbours, which belong to the next or previous step). Items without a readable startTime
    are kept, for the ingest to report them."""
    low, high = start.timestamp(), end.timestamp()
    kept: list[Any] = []
    for item in items:
        begins = item.get("startTime") if isinstance(item, dict) else None
        if (
            isinstance(begins, int | float)
            and not isinstance(begins, bool)
            and not low <= float(begins) < high
        ):
            continue
        kept.append(item)
    return kept


def _failed_result(body: Mapping[str, Any]) -> str | None:
    """The (safe-to-print) result code of an envelope that reports an error; None otherwise."""
    if "result" not in body:
        return None
    result = body.get("result")
    if result == SUCCESS_RESULT:
        return None
    text = str(result) if isinstance(result, str | int) and not isinstance(result, bool) else ""
    return text if _SAFE_CODE.fullmatch(text) else "unrecognised"


def _token_payload(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The token fields, at the top level (observed) or under ``data`` (tolerated)."""
    for candidate in (body, body.get("data")):
        if isinstance(candidate, dict):
            token = candidate.get("access_token")
            if isinstance(token, str) and token:
                return candidate
    return None


def _open_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


#: The provider this module defines (found by ``trainlytics.providers`` discovery).
PROVIDER = CorosProvider
