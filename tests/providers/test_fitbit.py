# ruff: noqa: S105 - test token literals, not credentials
"""Fitbit accounts through Google OAuth 2.0 + the Google Health API: authorize URL (PKCE S256,
offline access), code exchange, scope check from the token response, identity, non-rotating
refresh, revocation, subscriber webhooks — provider HTTP through httpx.MockTransport, bodies in
Google's shapes (tests/fixtures/providers/fitbit)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from tests.fakes.fitbit import FakeFitbit
from trainlytics.errors import (
    BadPayloadError,
    InsufficientScopeError,
    ProviderError,
    ProviderUnavailableError,
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
    WebhookRequest,
)
from trainlytics.providers.fitbit import (
    SCOPE_ACTIVITY,
    SCOPE_HEALTH_METRICS,
    SCOPE_LOCATION,
    FitbitProvider,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "fitbit"
CLIENT_SECRET = "GOCSPX-client-secret-DO-NOT-LEAK"
WEBHOOK_SECRET = "google-health-webhook-secret-DO-NOT-LEAK"
CREDENTIALS = ProviderCredentials(
    client_id="123-trainlytics.apps.googleusercontent.com",
    client_secret=CLIENT_SECRET,
    redirect_uri="https://api.trainlytics.test/oauth/fitbit/callback",
    webhook_secret=WEBHOOK_SECRET,
)
Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def provider(handler: Handler, credentials: ProviderCredentials = CREDENTIALS) -> FitbitProvider:
    return FitbitProvider(credentials, httpx.Client(transport=httpx.MockTransport(handler)))


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


def tokens(**overrides: Any) -> TokenSet:
    values: dict[str, Any] = {
        "access_token": "ya29.access-SECRET",
        "refresh_token": "1//refresh-SECRET",
        "expires_at": datetime.now(UTC) + timedelta(minutes=1),
        "scopes": (SCOPE_ACTIVITY, SCOPE_LOCATION),
    }
    values.update(overrides)
    return TokenSet(**values)


def assert_no_secret(exc: BaseException, *secret_values: str) -> None:
    texts = [str(exc), repr(exc), getattr(exc, "message", ""), str(getattr(exc, "hint", ""))]
    for secret in (*secret_values, CLIENT_SECRET, WEBHOOK_SECRET):
        for text in texts:
            assert secret not in text


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


# --- OAuth -------------------------------------------------------------------------------------


def test_authorization_url_is_google_oauth_with_pkce_offline_access_and_scopes() -> None:
    verifier = secrets.token_urlsafe(48)
    url = provider(lambda r: httpx.Response(500)).authorization_url(
        state="state-xyz", code_challenge=s256(verifier)
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://accounts.google.com/o/oauth2/v2/auth"
    )
    assert query["client_id"] == [CREDENTIALS.client_id]
    assert query["redirect_uri"] == [CREDENTIALS.redirect_uri]
    assert query["response_type"] == ["code"]
    assert query["state"] == ["state-xyz"]
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert query["code_challenge"] == [s256(verifier)]
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"][0].split(" ") == [
        "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly",
        "https://www.googleapis.com/auth/googlehealth.location.readonly",
        # heart-rate samples for the stream job (developers.google.com/health/scopes)
        "https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly",
    ]
    assert CLIENT_SECRET not in url
    assert verifier not in url
    assert FitbitProvider.uses_pkce is True


def test_exchange_code_sends_the_verifier_and_normalises_the_token_response() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("token_exchange.json"))

    before = datetime.now(UTC)
    result = provider(handler).exchange_code(
        code="4/0A-code", code_verifier="v" * 64, callback_query={"scope": "ignored"}
    )
    assert (seen[0].method, str(seen[0].url)) == ("POST", "https://oauth2.googleapis.com/token")
    assert form(seen[0]) == {
        "client_id": CREDENTIALS.client_id,
        "client_secret": CLIENT_SECRET,
        "code": "4/0A-code",
        "code_verifier": "v" * 64,
        "grant_type": "authorization_code",
        "redirect_uri": CREDENTIALS.redirect_uri,
    }
    assert result.access_token == "ya29.fixture-access-1"
    assert result.refresh_token == "1//fixture-refresh-1"
    assert result.scopes == (SCOPE_LOCATION, SCOPE_ACTIVITY)
    assert result.expires_at is not None
    assert before + timedelta(seconds=3590) <= result.expires_at
    assert result.expires_at <= datetime.now(UTC) + timedelta(seconds=3599)
    assert result.provider_user_id is None  # comes from users/me/identity


def test_exchange_refused_raises_token_exchange_error() -> None:
    body = {"error": "invalid_grant", "error_description": "Malformed auth code 4/0A-SECRET."}
    with pytest.raises(TokenExchangeError) as caught:
        provider(lambda r: httpx.Response(400, json=body)).exchange_code(
            code="4/0A-SECRET", code_verifier="v" * 43, callback_query={}
        )
    assert "invalid_grant" in str(caught.value)
    assert_no_secret(caught.value, "4/0A-SECRET", "v" * 43)


def test_exchange_with_the_fake_checks_the_pkce_challenge() -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    verifier = secrets.token_urlsafe(48)
    query = fake.callback_query("s", code_challenge=s256(verifier))
    with pytest.raises(TokenExchangeError):
        p.exchange_code(code=query["code"], code_verifier="x" * 64, callback_query=query)
    query = fake.callback_query("s", code_challenge=s256(verifier))
    granted = p.exchange_code(code=query["code"], code_verifier=verifier, callback_query=query)
    assert fake.token_exchanges == 1
    assert granted.refresh_token is not None


def test_scope_check_reads_the_token_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "oauth2.googleapis.com":
            return httpx.Response(200, json=fixture("token_exchange_without_activity.json"))
        return httpx.Response(200, json=fixture("identity.json"))

    p = provider(handler)
    granted = p.exchange_code(code="c", code_verifier="v" * 43, callback_query={})
    identity = p.fetch_identity(granted, callback_query={})
    assert p.missing_scopes(identity) == [SCOPE_ACTIVITY]


def test_location_is_optional_and_the_broader_activity_scope_counts() -> None:
    p = provider(lambda r: httpx.Response(500))
    only_activity = ProviderIdentity("u", None, {}, (SCOPE_ACTIVITY,))
    broader = ProviderIdentity(
        "u", None, {}, ("https://www.googleapis.com/auth/googlehealth.activity_and_fitness",)
    )
    assert p.missing_scopes(only_activity) == []
    assert p.missing_scopes(broader) == []
    # heart rate is requested, never required: an athlete who leaves it unticked connects
    assert SCOPE_HEALTH_METRICS in FitbitProvider.requested_scopes
    assert SCOPE_HEALTH_METRICS not in FitbitProvider.required_scopes
    assert p.missing_scopes(ProviderIdentity("u", None, {}, (SCOPE_ACTIVITY, SCOPE_LOCATION))) == []


def test_identity_is_the_health_user_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("identity.json"))

    identity = provider(handler).fetch_identity(tokens(), callback_query={})
    assert str(seen[0].url) == "https://health.googleapis.com/v4/users/me/identity"
    assert seen[0].headers["authorization"] == "Bearer ya29.access-SECRET"
    assert identity.provider_user_id == "3141592653589793238"
    assert identity.scopes == (SCOPE_ACTIVITY, SCOPE_LOCATION)
    assert "legacyUserId" not in identity.profile  # may only serve legacy migrations


def test_identity_permission_denied_is_insufficient_scope() -> None:
    p = provider(lambda r: httpx.Response(403, json=fixture("error_permission_denied.json")))
    with pytest.raises(InsufficientScopeError) as caught:
        p.fetch_identity(tokens(scopes=(SCOPE_LOCATION,)), callback_query={})
    assert caught.value.missing == [SCOPE_ACTIVITY]


def test_identity_refused_token_is_revoked() -> None:
    body = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "ya29.access-SECRET"}}
    with pytest.raises(TokenRevokedError) as caught:
        provider(lambda r: httpx.Response(401, json=body)).fetch_identity(
            tokens(), callback_query={}
        )
    assert_no_secret(caught.value, "ya29.access-SECRET")


@pytest.mark.parametrize("body", [{"name": "users/me/identity"}, {"healthUserId": ""}, []])
def test_identity_without_health_user_id_is_a_bad_payload(body: Any) -> None:
    with pytest.raises(BadPayloadError):
        provider(lambda r: httpx.Response(200, json=body)).fetch_identity(
            tokens(), callback_query={}
        )


# --- refresh -----------------------------------------------------------------------------------


def test_refresh_keeps_the_refresh_token_google_does_not_return() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("token_refresh.json"))

    result = provider(handler).refresh(tokens())
    assert form(seen[0]) == {
        "client_id": CREDENTIALS.client_id,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": "1//refresh-SECRET",
    }
    assert result.access_token == "ya29.fixture-access-2"
    assert result.refresh_token == "1//refresh-SECRET"
    assert result.expires_at is not None
    assert result.expires_at > datetime.now(UTC) + timedelta(minutes=59)


def test_refresh_takes_a_new_refresh_token_when_google_sends_one() -> None:
    body = fixture("token_refresh.json") | {"refresh_token": "1//rotated"}
    result = provider(lambda r: httpx.Response(200, json=body)).refresh(tokens())
    assert result.refresh_token == "1//rotated"


def test_refresh_without_scope_keeps_the_known_scopes() -> None:
    body = fixture("token_refresh.json")
    del body["scope"]
    result = provider(lambda r: httpx.Response(200, json=body)).refresh(tokens())
    assert result.scopes == (SCOPE_ACTIVITY, SCOPE_LOCATION)


def test_refresh_with_the_fake_does_not_rotate_and_revoked_grant_is_refused() -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    query = fake.callback("s")
    granted = p.exchange_code(code=query["code"], code_verifier="v" * 43, callback_query=query)
    first = p.refresh(granted)
    second = p.refresh(first)
    assert first.refresh_token == second.refresh_token == granted.refresh_token
    assert first.access_token != second.access_token
    assert p.fetch_identity(second, callback_query=query).provider_user_id == fake.provider_user_id
    p.revoke(second)
    assert fake.revocations == 1
    with pytest.raises(TokenRevokedError) as caught:
        p.refresh(second)
    assert fake.refresh_calls == 3
    assert_no_secret(caught.value, *fake.issued_secrets)


@pytest.mark.parametrize("status", [400, 401])
def test_refresh_refused_raises_token_revoked(status: int) -> None:
    p = provider(lambda r: httpx.Response(status, json=fixture("error_invalid_grant.json")))
    with pytest.raises(TokenRevokedError) as caught:
        p.refresh(tokens())
    assert "invalid_grant" in str(caught.value)
    assert_no_secret(caught.value, "1//refresh-SECRET", "ya29.access-SECRET")


def test_refresh_other_4xx_is_a_refresh_error() -> None:
    with pytest.raises(TokenRefreshError):
        provider(lambda r: httpx.Response(403, json={"error": "access_denied"})).refresh(tokens())


def test_rate_limited() -> None:
    with pytest.raises(RateLimitedError) as caught:
        provider(lambda r: httpx.Response(429, headers={"Retry-After": "30"})).refresh(tokens())
    assert caught.value.retry_after == 30


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable(status: int) -> None:
    with pytest.raises(ProviderUnavailableError):
        provider(lambda r: httpx.Response(status)).fetch_identity(tokens(), callback_query={})


def test_timeout_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(ProviderUnavailableError) as caught:
        provider(handler).refresh(tokens())
    assert_no_secret(caught.value, "1//refresh-SECRET")


# --- revoke ------------------------------------------------------------------------------------


def test_revoke_posts_the_refresh_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    provider(handler).revoke(tokens())
    assert (seen[0].method, str(seen[0].url)) == ("POST", "https://oauth2.googleapis.com/revoke")
    assert form(seen[0]) == {"token": "1//refresh-SECRET"}


def test_revoke_falls_back_to_the_access_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    provider(handler).revoke(tokens(refresh_token=None))
    assert form(seen[0]) == {"token": "ya29.access-SECRET"}


def test_revoking_an_already_revoked_token_is_fine() -> None:
    provider(lambda r: httpx.Response(400, json=fixture("error_invalid_token.json"))).revoke(
        tokens()
    )


def test_revoke_other_failure_is_a_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        provider(lambda r: httpx.Response(400, json={"error": "unsupported_token_type"})).revoke(
            tokens()
        )
    assert_no_secret(caught.value, "1//refresh-SECRET")


# --- webhooks ----------------------------------------------------------------------------------


def webhook(body: bytes, authorization: str | None = f"Bearer {WEBHOOK_SECRET}") -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return WebhookRequest("POST", headers, {}, body)


def signing_google() -> tuple[FakeFitbit, FitbitProvider]:
    """A fake Google that serves its public keyset, and a provider configured like the fake."""
    fake = FakeFitbit()
    credentials = ProviderCredentials(
        CREDENTIALS.client_id, CLIENT_SECRET, CREDENTIALS.redirect_uri, WEBHOOK_SECRET
    )
    return fake, FitbitProvider(credentials, httpx.Client(transport=fake.transport()))


def test_exercise_upsert_notification_verifies_and_parses() -> None:
    fake, p = signing_google()
    body = fixture_bytes("webhook_exercise_upsert.json")
    request = webhook(body)
    request.headers["x-healthapi-signature"] = fake.sign(body)  # type: ignore[index]
    p.verify_webhook(request)
    [event] = p.parse_webhook(request)
    assert event.provider_user_id == "3141592653589793238"
    assert event.kind == "activities_available"
    assert event.object_id is None
    assert event.payload["intervals"][0]["physicalTimeInterval"]["startTime"] == (
        "2026-11-24T16:48:12Z"
    )
    assert p.webhook_ack().status_code == 204
    assert p.webhook_ack_for(request).status_code == 204


def test_exercise_delete_notification() -> None:
    [event] = provider(lambda r: httpx.Response(500)).parse_webhook(
        webhook(fixture_bytes("webhook_exercise_delete.json"))
    )
    assert (event.kind, event.object_id) == ("activity_deleted", None)


def test_other_data_types_are_ignored() -> None:
    p = provider(lambda r: httpx.Response(500))
    assert p.parse_webhook(webhook(fixture_bytes("webhook_steps_upsert.json"))) == []


def test_batched_notifications_are_parsed() -> None:
    body = json.dumps(
        [fixture("webhook_exercise_upsert.json"), fixture("webhook_steps_upsert.json")]
    ).encode()
    events = provider(lambda r: httpx.Response(500)).parse_webhook(webhook(body))
    assert [e.kind for e in events] == ["activities_available"]


def test_subscriber_verification_handshake() -> None:
    p = provider(lambda r: httpx.Response(500))
    body = fixture_bytes("webhook_verification.json")
    # With the Authorization header: verified, nothing queued, answered 201 Created.
    request = webhook(body)
    p.verify_webhook(request)
    assert p.parse_webhook(request) == []
    assert p.webhook_ack_for(request).status_code == 201
    # Without it: rejected (the app answers 401, which Google expects).
    with pytest.raises(WebhookVerificationError):
        p.verify_webhook(webhook(body, authorization=None))


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        WEBHOOK_SECRET,  # without the scheme
        f"Basic {WEBHOOK_SECRET}",
        f"Bearer {WEBHOOK_SECRET}x",
        f"Bearer {WEBHOOK_SECRET[:-1]}",
        "Bearer forged",
    ],
)
def test_wrong_authorization_is_rejected(authorization: str | None) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        provider(lambda r: httpx.Response(500)).verify_webhook(
            webhook(fixture_bytes("webhook_exercise_upsert.json"), authorization)
        )
    assert_no_secret(caught.value)


def test_verification_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("trainlytics.providers.fitbit.hmac.compare_digest", spy)
    provider(lambda r: httpx.Response(500)).verify_webhook(
        webhook(fixture_bytes("webhook_verification.json"))
    )
    assert calls


def test_webhooks_rejected_when_no_secret_is_configured() -> None:
    credentials = ProviderCredentials("c", "s", "https://x.test/cb", webhook_secret=None)
    with pytest.raises(WebhookVerificationError):
        provider(lambda r: httpx.Response(500), credentials).verify_webhook(
            webhook(fixture_bytes("webhook_exercise_upsert.json"), "Bearer None")
        )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"\xff",
        b'"text"',
        b"[1]",
        b"{}",
        b'{"data": []}',
        b'{"data": {"dataType": "exercise", "operation": "UPSERT"}}',
        b'{"data": {"healthUserId": "u", "dataType": "exercise", "operation": "PATCH"}}',
        b'{"data": {"healthUserId": "u", "operation": "UPSERT"}}',
        b'{"data": {"healthUserId": "u", "dataType": "exercise", "operation": "UPSERT",'
        b' "intervals": {}}}',
    ],
)
def test_malformed_notifications_are_bad_payloads(raw: bytes) -> None:
    with pytest.raises(BadPayloadError):
        provider(lambda r: httpx.Response(500)).parse_webhook(webhook(raw))


def test_fake_webhooks_verify_and_forged_ones_do_not() -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    headers, body, query = fake.signed_webhook()
    request = WebhookRequest("POST", headers, query, body)
    p.verify_webhook(request)
    [event] = p.parse_webhook(request)
    assert event.provider_user_id == fake.provider_user_id
    headers, body, query = fake.forged_webhook()
    with pytest.raises(WebhookVerificationError):
        p.verify_webhook(WebhookRequest("POST", headers, query, body))


@pytest.mark.parametrize("header", ["x-healthapi-signature", "google-health-api-signature"])
def test_both_documented_signature_headers_are_verified(header: str) -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    headers, body, query = fake.signed_webhook(header=header)
    p.verify_webhook(WebhookRequest("POST", headers, query, body))
    assert fake.keyset_fetches == 1


def test_eve_with_the_leaked_authorization_secret_cannot_notify_without_googles_signature() -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    for parts in (fake.unsigned_webhook(), fake.wrongly_signed_webhook()):
        headers, body, query = parts
        with pytest.raises(WebhookVerificationError):
            p.verify_webhook(WebhookRequest("POST", headers, query, body))


def test_eve_cannot_replay_a_signature_over_another_body() -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    headers, body, query = fake.signed_webhook()
    tampered = body.replace(fake.provider_user_id.encode(), b"999999999")
    with pytest.raises(WebhookVerificationError):
        p.verify_webhook(WebhookRequest("POST", headers, query, tampered))


def test_a_rotated_key_refetches_the_keyset_once() -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    headers, body, query = fake.signed_webhook()
    p.verify_webhook(WebhookRequest("POST", headers, query, body))
    # Google rotates: a new key id the cached keyset does not know.
    from cryptography.hazmat.primitives.asymmetric import ec

    fake.signing_key = ec.generate_private_key(ec.SECP256R1())
    fake.key_id += 1
    headers, body, query = fake.signed_webhook()
    import trainlytics.providers.google_signatures as signatures

    verifier = p._signatures()
    verifier._fetched_at = (verifier._fetched_at or 0.0) - signatures.MIN_REFETCH_SECONDS
    p.verify_webhook(WebhookRequest("POST", headers, query, body))
    assert fake.keyset_fetches == 2


def test_the_registration_check_needs_no_signature_but_the_right_authorization() -> None:
    fake = FakeFitbit()
    p = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    body = fixture_bytes("webhook_verification.json")
    p.verify_webhook(
        WebhookRequest(
            "POST", {"authorization": f"Bearer {fake.credentials.webhook_secret}"}, {}, body
        )
    )
    assert fake.keyset_fetches == 0


def test_reprs_hide_secrets() -> None:
    assert CLIENT_SECRET not in repr(CREDENTIALS)
    assert WEBHOOK_SECRET not in repr(CREDENTIALS)
    assert "SECRET" not in repr(tokens())
