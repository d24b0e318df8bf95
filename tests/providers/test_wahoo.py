# ruff: noqa: S105 - test token literals, not credentials
"""Wahoo provider: OAuth, single-use rotating refresh, identity, revocation, webhooks — provider
HTTP through httpx.MockTransport, bodies in Wahoo's real shapes (tests/fixtures/providers/wahoo)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from tests.fakes.wahoo import FakeWahoo
from trainlytics.errors import (
    BadPayloadError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenExchangeError,
    TokenRefreshError,
    TokenRevokedError,
    WebhookVerificationError,
)
from trainlytics.providers.base import ProviderCredentials, TokenSet, WebhookRequest
from trainlytics.providers.wahoo import WahooProvider

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "wahoo"
CLIENT_SECRET = "wahoo-client-secret-DO-NOT-LEAK"
WEBHOOK_TOKEN = "wahoo-fixture-webhook-token"
CREDENTIALS = ProviderCredentials(
    client_id="wahoo-client",
    client_secret=CLIENT_SECRET,
    redirect_uri="https://api.trainlytics.test/oauth/wahoo/callback",
    webhook_secret=WEBHOOK_TOKEN,
)
Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def provider(handler: Handler, credentials: ProviderCredentials = CREDENTIALS) -> WahooProvider:
    return WahooProvider(credentials, httpx.Client(transport=httpx.MockTransport(handler)))


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


def tokens(**overrides: Any) -> TokenSet:
    values: dict[str, Any] = {
        "access_token": "wahoo-access-SECRET",
        "refresh_token": "wahoo-refresh-SECRET",
        "expires_at": datetime.now(UTC) + timedelta(minutes=2),
        "scopes": ("user_read", "workouts_read", "offline_data"),
    }
    values.update(overrides)
    return TokenSet(**values)


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    texts = [str(exc), repr(exc), getattr(exc, "message", ""), str(getattr(exc, "hint", ""))]
    for secret in (*secrets, CLIENT_SECRET, WEBHOOK_TOKEN):
        for text in texts:
            assert secret not in text


# --- OAuth -------------------------------------------------------------------------------------


def test_authorization_url_requests_the_three_scopes_and_state() -> None:
    url = provider(lambda r: httpx.Response(500)).authorization_url(
        state="state-123", code_challenge=None
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == "https://api.wahooligan.com/oauth/authorize"
    )
    assert query["client_id"] == ["wahoo-client"]
    assert query["redirect_uri"] == [CREDENTIALS.redirect_uri]
    assert query["response_type"] == ["code"]
    assert query["state"] == ["state-123"]
    assert query["scope"] == ["user_read workouts_read offline_data"]
    assert "code_challenge" not in query
    assert CLIENT_SECRET not in url


def test_exchange_code_posts_the_form_and_normalises_the_token_response() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("token_exchange.json"))

    before = datetime.now(UTC)
    result = provider(handler).exchange_code(code="the-code", code_verifier=None, callback_query={})
    assert str(seen[0].url) == "https://api.wahooligan.com/oauth/token"
    assert form(seen[0]) == {
        "client_id": "wahoo-client",
        "client_secret": CLIENT_SECRET,
        "code": "the-code",
        "grant_type": "authorization_code",
        "redirect_uri": CREDENTIALS.redirect_uri,
    }
    assert result.access_token == "wahoo-fixture-access-1"
    assert result.refresh_token == "wahoo-fixture-refresh-1"
    assert result.scopes == ("user_read", "workouts_read", "offline_data")
    assert result.expires_at is not None
    assert result.expires_at.tzinfo is not None
    assert before + timedelta(seconds=7190) <= result.expires_at
    assert result.expires_at <= datetime.now(UTC) + timedelta(seconds=7200)
    assert "wahoo-fixture" not in repr(result)


def test_exchange_refused_raises_token_exchange_error_without_echoing_the_body() -> None:
    body = {"error": "invalid_grant", "error_description": "code the-code-SECRET is invalid"}
    p = provider(lambda r: httpx.Response(400, json=body))
    with pytest.raises(TokenExchangeError) as caught:
        p.exchange_code(code="the-code-SECRET", code_verifier=None, callback_query={})
    assert "invalid_grant" in str(caught.value)
    assert caught.value.status_code == 400
    assert_no_secret(caught.value, "the-code-SECRET")


def test_scope_check_uses_the_token_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=fixture("token_exchange_partial_scope.json"))
        return httpx.Response(200, json=fixture("user.json"))

    p = provider(handler)
    granted = p.exchange_code(code="c", code_verifier=None, callback_query={})
    identity = p.fetch_identity(granted, callback_query={})
    assert p.missing_scopes(identity) == ["offline_data"]


def test_full_grant_has_no_missing_scope() -> None:
    p = provider(lambda r: httpx.Response(200, json=fixture("user.json")))
    identity = p.fetch_identity(tokens(), callback_query={})
    assert p.missing_scopes(identity) == []


def test_identity_from_get_v1_user() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("user.json"))

    identity = provider(handler).fetch_identity(tokens(), callback_query={})
    assert str(seen[0].url) == "https://api.wahooligan.com/v1/user"
    assert seen[0].headers["authorization"] == "Bearer wahoo-access-SECRET"
    assert identity.provider_user_id == "60462"
    assert identity.username == "Ada Lovelace"
    assert "email" not in identity.profile  # not needed, not kept


@pytest.mark.parametrize("body", [{"first": "Ada"}, {"id": None}, [1, 2]])
def test_identity_without_an_id_is_a_bad_payload(body: Any) -> None:
    with pytest.raises(BadPayloadError):
        provider(lambda r: httpx.Response(200, json=body)).fetch_identity(
            tokens(), callback_query={}
        )


# --- refresh -----------------------------------------------------------------------------------


def test_refresh_rotates_the_single_use_refresh_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("token_refresh.json"))

    result = provider(handler).refresh(tokens())
    assert form(seen[0]) == {
        "client_id": "wahoo-client",
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": "wahoo-refresh-SECRET",
    }
    assert result.access_token == "wahoo-fixture-access-2"
    assert result.refresh_token == "wahoo-fixture-refresh-2"


def test_spent_refresh_token_is_refused_by_the_fake_and_means_revoked() -> None:
    fake = FakeWahoo()
    p = WahooProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    first = p.exchange_code(code=fake.callback("s")["code"], code_verifier=None, callback_query={})
    second = p.refresh(first)
    assert second.refresh_token != first.refresh_token
    third = p.refresh(second)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)
    with pytest.raises(TokenRevokedError) as caught:
        p.refresh(first)  # single use: already spent
    assert fake.refresh_calls == 3
    assert_no_secret(caught.value, *fake.issued_secrets)


@pytest.mark.parametrize("status", [400, 401])
def test_refresh_refused_raises_token_revoked(status: int) -> None:
    p = provider(lambda r: httpx.Response(status, json=fixture("error_invalid_grant.json")))
    with pytest.raises(TokenRevokedError) as caught:
        p.refresh(tokens())
    assert "invalid_grant" in str(caught.value)
    assert_no_secret(caught.value, "wahoo-refresh-SECRET", "wahoo-access-SECRET")


def test_refresh_other_4xx_is_a_refresh_error() -> None:
    with pytest.raises(TokenRefreshError):
        provider(lambda r: httpx.Response(403, text="forbidden")).refresh(tokens())


def test_refresh_without_a_refresh_token_is_revoked() -> None:
    with pytest.raises(TokenRevokedError):
        provider(lambda r: httpx.Response(500)).refresh(tokens(refresh_token=None))


def test_rate_limited_refresh() -> None:
    p = provider(lambda r: httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimitedError) as caught:
        p.refresh(tokens())
    assert caught.value.retry_after == 120


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_unavailable(status: int) -> None:
    with pytest.raises(ProviderUnavailableError):
        provider(lambda r: httpx.Response(status)).refresh(tokens())


def test_timeout_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    p = provider(handler)
    with pytest.raises(ProviderUnavailableError) as caught:
        p.exchange_code(code="the-code-SECRET", code_verifier=None, callback_query={})
    assert_no_secret(caught.value, "the-code-SECRET")


def test_token_response_that_is_not_json_is_a_bad_payload() -> None:
    p = provider(lambda r: httpx.Response(200, text="<html>wahoo-refresh-SECRET</html>"))
    with pytest.raises(BadPayloadError) as caught:
        p.refresh(tokens())
    assert_no_secret(caught.value, "wahoo-refresh-SECRET")


# --- revoke ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204, 401])
def test_revoke_deletes_permissions(status: int) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={})

    provider(handler).revoke(tokens())
    assert (seen[0].method, str(seen[0].url)) == (
        "DELETE",
        "https://api.wahooligan.com/v1/permissions",
    )
    assert seen[0].headers["authorization"] == "Bearer wahoo-access-SECRET"


def test_revoke_with_the_fake_withdraws_every_token() -> None:
    fake = FakeWahoo()
    p = WahooProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    granted = p.exchange_code(
        code=fake.callback("s")["code"], code_verifier=None, callback_query={}
    )
    assert p.fetch_identity(granted, callback_query={}).provider_user_id == fake.provider_user_id
    p.revoke(granted)
    assert fake.revocations == 1
    with pytest.raises(TokenRevokedError):
        p.refresh(granted)


# --- webhooks ----------------------------------------------------------------------------------


def webhook(body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", {"content-type": "application/json"}, {}, body)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_webhook_with_the_right_token_verifies_and_parses() -> None:
    p = provider(lambda r: httpx.Response(500))
    request = webhook(fixture_bytes("webhook_workout_summary.json"))
    p.verify_webhook(request)
    [event] = p.parse_webhook(request)
    assert event.provider_user_id == "60462"
    assert event.kind == "activity_created"
    assert event.object_id == "170441"
    assert "webhook_token" not in event.payload  # the secret never reaches the queue
    assert event.payload["workout_summary"]["distance_accum"] == "40213.54"
    assert p.webhook_ack().status_code == 200


def test_webhook_verification_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("trainlytics.providers.wahoo.hmac.compare_digest", spy)
    provider(lambda r: httpx.Response(500)).verify_webhook(
        webhook(fixture_bytes("webhook_workout_summary.json"))
    )
    assert calls


@pytest.mark.parametrize(
    "token", ["wrong-token", "", "wahoo-fixture-webhook-toke", "wahoo-fixture-webhook-token2"]
)
def test_webhook_with_a_wrong_token_is_rejected(token: str) -> None:
    body = fixture("webhook_workout_summary.json")
    body["webhook_token"] = token
    with pytest.raises(WebhookVerificationError) as caught:
        provider(lambda r: httpx.Response(500)).verify_webhook(webhook(json.dumps(body).encode()))
    assert_no_secret(caught.value, token or "wahoo-fixture-webhook-token")


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'{"event_type":"workout_summary"}'])
def test_webhook_without_a_token_is_rejected(raw: bytes) -> None:
    with pytest.raises(WebhookVerificationError):
        provider(lambda r: httpx.Response(500)).verify_webhook(webhook(raw))


def test_webhook_rejected_when_no_token_is_configured() -> None:
    credentials = ProviderCredentials("c", "s", "https://x.test/cb", webhook_secret=None)
    with pytest.raises(WebhookVerificationError):
        provider(lambda r: httpx.Response(500), credentials).verify_webhook(
            webhook(fixture_bytes("webhook_workout_summary.json"))
        )


def test_legacy_event_field_name_is_understood() -> None:
    body = fixture("webhook_workout_summary.json")
    body["event"] = body.pop("event_type")
    events = provider(lambda r: httpx.Response(500)).parse_webhook(
        webhook(json.dumps(body).encode())
    )
    assert [e.object_id for e in events] == ["170441"]


def test_unknown_event_types_are_ignored() -> None:
    body = {"event_type": "plan_updated", "webhook_token": WEBHOOK_TOKEN, "user": {"id": 1}}
    assert (
        provider(lambda r: httpx.Response(500)).parse_webhook(webhook(json.dumps(body).encode()))
        == []
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("user"),
        lambda b: b.__setitem__("user", {"id": None}),
        lambda b: b.pop("workout_summary"),
        lambda b: b["workout_summary"].pop("workout"),
        lambda b: b["workout_summary"].__setitem__("workout", {"id": True}),
    ],
)
def test_malformed_workout_summary_is_a_bad_payload(
    mutate: Callable[[dict[str, Any]], Any],
) -> None:
    body = fixture("webhook_workout_summary.json")
    mutate(body)
    with pytest.raises(BadPayloadError):
        provider(lambda r: httpx.Response(500)).parse_webhook(webhook(json.dumps(body).encode()))


@pytest.mark.parametrize("raw", [b"{", b"[1]", b'"text"', b"\xff\xfe"])
def test_unparseable_body_is_a_bad_payload(raw: bytes) -> None:
    with pytest.raises(BadPayloadError):
        provider(lambda r: httpx.Response(500)).parse_webhook(webhook(raw))


def test_fake_webhooks_verify_and_forged_ones_do_not() -> None:
    fake = FakeWahoo()
    p = WahooProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    headers, body, query = fake.signed_webhook()
    request = WebhookRequest("POST", headers, query, body)
    p.verify_webhook(request)
    [event] = p.parse_webhook(request)
    assert event.provider_user_id == fake.provider_user_id
    headers, body, query = fake.forged_webhook()
    with pytest.raises(WebhookVerificationError):
        p.verify_webhook(WebhookRequest("POST", headers, query, body))


def test_credentials_and_tokens_reprs_hide_secrets() -> None:
    assert CLIENT_SECRET not in repr(CREDENTIALS)
    assert WEBHOOK_TOKEN not in repr(CREDENTIALS)
    assert "SECRET" not in repr(tokens())
