# ruff: noqa: S105, S106 - test tokens and secrets are fake values
"""The shared OAuth 2.0 client (``providers/oauth2.py``) on RFC 6749's own examples: client
authentication (§2.3.1), the token response (§5.1: expires_in from the injected clock, scope
formats, refresh-token rotation) and the error response (§5.2: invalid_grant → revoked,
invalid_client → a configuration error, never a revocation)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest

from trainlytics.errors import (
    BadPayloadError,
    ProviderError,
    RateLimitedError,
    TokenExchangeError,
    TokenRefreshError,
    TokenRevokedError,
    WebhookVerificationError,
)
from trainlytics.providers.base import (
    ProviderCredentials,
    ProviderIdentity,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
)
from trainlytics.providers.oauth2 import ClientAuth, OAuth2Provider, split_scopes
from trainlytics.providers.strava import StravaProvider

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CREDENTIALS = ProviderCredentials("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw", "https://client.test/cb")
#: RFC 6749 §5.1's example response (token_type as RFC 6750 names it).
TOKEN_RESPONSE = {
    "access_token": "2YotnFZFEjr1zCsicMWpAA",
    "token_type": "Bearer",
    "expires_in": 3600,
    "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
}
STORED = TokenSet(
    access_token="old-access",
    refresh_token="old-refresh",
    expires_at=NOW,
    scopes=("read",),
    provider_user_id="42",
)


class Rfc6749Provider(OAuth2Provider):
    """The plainest provider: every setting at the base's default."""

    name: ClassVar[str] = "rfc"
    uses_pkce: ClassVar[bool] = False
    required_scopes: ClassVar[tuple[str, ...]] = ()
    authorize_url: ClassVar[str] = "https://server.test/authorize"
    token_url: ClassVar[str] = "https://server.test/token"
    revoke_url: ClassVar[str | None] = "https://server.test/revoke"
    revoke_token_field: ClassVar[str | None] = "token"

    def fetch_identity(
        self, tokens: TokenSet, *, callback_query: Mapping[str, str]
    ) -> ProviderIdentity:
        return ProviderIdentity("1", None, {}, tokens.scopes or ())

    def verify_webhook(self, request: WebhookRequest) -> None:
        raise WebhookVerificationError("this server sends no webhooks")

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        return []


class BasicAuthProvider(Rfc6749Provider):
    client_auth: ClassVar[ClientAuth] = "client_secret_basic"


def make(
    answer: Callable[[httpx.Request], httpx.Response], cls: type[OAuth2Provider] = Rfc6749Provider
) -> tuple[OAuth2Provider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return cls(CREDENTIALS, http, clock=lambda: NOW), seen


def respond(status: int, body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def test_client_secret_post_puts_the_credentials_in_the_form() -> None:
    provider, seen = make(respond(200, TOKEN_RESPONSE))
    provider.exchange_code(code="SplxlOBeZQQYbYS6WxSbIA", code_verifier=None, callback_query={})
    sent = form(seen[0])
    assert sent["client_id"] == ["s6BhdRkqt3"]
    assert sent["client_secret"] == ["7Fjfp0ZBr1KtDRbnfVdmIw"]
    assert sent["grant_type"] == ["authorization_code"]
    assert sent["redirect_uri"] == ["https://client.test/cb"]
    assert "authorization" not in seen[0].headers


def test_client_secret_basic_uses_http_basic_and_keeps_the_secret_out_of_the_form() -> None:
    provider, seen = make(respond(200, TOKEN_RESPONSE), BasicAuthProvider)
    provider.refresh(STORED)
    # RFC 6749 §2.3.1's example header for these credentials.
    assert seen[0].headers["authorization"] == "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"
    assert base64.b64decode(seen[0].headers["authorization"][6:]) == (
        b"s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw"
    )
    assert "client_secret" not in form(seen[0])
    assert form(seen[0])["refresh_token"] == ["old-refresh"]


def test_expires_in_counts_from_the_injected_clock() -> None:
    provider, _ = make(respond(200, TOKEN_RESPONSE))
    tokens = provider.exchange_code(code="c", code_verifier=None, callback_query={})
    assert tokens.expires_at == NOW + timedelta(seconds=3600)


def test_an_absolute_expires_at_wins_only_where_the_provider_says_so() -> None:
    body = {**TOKEN_RESPONSE, "expires_at": int((NOW + timedelta(hours=6)).timestamp())}
    plain, _ = make(respond(200, body))
    assert plain.refresh(STORED).expires_at == NOW + timedelta(seconds=3600)
    strava = StravaProvider(
        CREDENTIALS,
        httpx.Client(transport=httpx.MockTransport(respond(200, body))),
        clock=lambda: NOW,
    )
    assert strava.refresh(STORED).expires_at == NOW + timedelta(hours=6)


def test_a_refresh_keeps_what_the_response_does_not_replace_and_takes_a_rotated_token() -> None:
    not_rotated = {k: v for k, v in TOKEN_RESPONSE.items() if k != "refresh_token"}
    provider, _ = make(respond(200, not_rotated))
    kept = provider.refresh(STORED)
    assert (kept.refresh_token, kept.scopes, kept.provider_user_id) == (
        "old-refresh",
        ("read",),
        "42",
    )
    rotated, _ = make(respond(200, {**TOKEN_RESPONSE, "scope": "read write"}))
    new = rotated.refresh(STORED)
    assert (new.refresh_token, new.scopes) == ("tGzv3JOkF0XG5Qx2TlKWIA", ("read", "write"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("read write", ("read", "write")),  # RFC 6749 §3.3
        ("read,activity:read_all", ("read", "activity:read_all")),  # Strava
        ("user_read+workouts_read", ("user_read", "workouts_read")),  # left form-encoded
        ("", None),
        (None, None),
        (["read"], None),
    ],
)
def test_scope_formats(value: Any, expected: tuple[str, ...] | None) -> None:
    assert split_scopes(value) == expected


@pytest.mark.parametrize("status", [400, 401])
def test_invalid_grant_means_revoked_and_invalid_client_does_not(status: int) -> None:
    provider, _ = make(respond(status, {"error": "invalid_grant", "error_description": "x"}))
    with pytest.raises(TokenRevokedError) as revoked:
        provider.refresh(STORED)
    assert "invalid_grant" in revoked.value.message
    assert "error_description" not in revoked.value.message
    provider, _ = make(respond(status, {"error": "invalid_client"}))
    with pytest.raises(TokenRefreshError) as misconfigured:
        provider.refresh(STORED)
    assert not isinstance(misconfigured.value, TokenRevokedError)
    assert "RFC_CLIENT_SECRET" in (misconfigured.value.hint or "")


def test_an_echoed_value_is_never_quoted_as_an_error_code() -> None:
    provider, _ = make(respond(400, {"error": "old-refresh-9f8e7d"}))
    with pytest.raises(TokenRevokedError) as caught:
        provider.refresh(STORED)
    assert "old-refresh" not in caught.value.message


def test_a_refused_exchange_and_a_failed_refresh() -> None:
    provider, _ = make(respond(400, {"error": "invalid_grant"}))
    with pytest.raises(TokenExchangeError):
        provider.exchange_code(code="c", code_verifier=None, callback_query={})
    provider, _ = make(respond(403, {}))
    with pytest.raises(TokenRefreshError) as caught:
        provider.refresh(STORED)
    assert not isinstance(caught.value, TokenRevokedError)


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer"},
        {**TOKEN_RESPONSE, "access_token": ""},
        {**TOKEN_RESPONSE, "refresh_token": 42},
        {**TOKEN_RESPONSE, "token_type": "mac"},
        ["2YotnFZFEjr1zCsicMWpAA"],
    ],
)
def test_a_malformed_token_response_is_a_bad_payload(body: Any) -> None:
    provider, _ = make(respond(200, body))
    with pytest.raises(BadPayloadError):
        provider.exchange_code(code="c", code_verifier=None, callback_query={})


def test_revocation_sends_the_token_and_accepts_an_already_invalid_one() -> None:
    provider, seen = make(lambda request: httpx.Response(200))
    provider.revoke(STORED)
    assert form(seen[0]) == {"token": ["old-access"]}
    gone, _ = make(lambda request: httpx.Response(401))
    gone.revoke(STORED)
    failing, _ = make(lambda request: httpx.Response(418))
    with pytest.raises(ProviderError):
        failing.revoke(STORED)


def test_a_bearer_call_refused_with_401_is_a_revoked_token() -> None:
    provider, seen = make(lambda request: httpx.Response(401))
    with pytest.raises(TokenRevokedError):
        provider._api_json("https://server.test/me", STORED, "reading the athlete")
    assert seen[0].headers["authorization"] == "Bearer old-access"


def test_strava_waits_for_the_next_quarter_hour_of_the_injected_clock() -> None:
    # A 429 without Retry-After (Strava sends none): 12:05 → the window at 12:15.
    transport = httpx.MockTransport(lambda request: httpx.Response(429))
    strava = StravaProvider(
        CREDENTIALS, httpx.Client(transport=transport), clock=lambda: NOW + timedelta(minutes=5)
    )
    with pytest.raises(RateLimitedError) as caught:
        strava.refresh(STORED)
    assert caught.value.retry_after == 600
