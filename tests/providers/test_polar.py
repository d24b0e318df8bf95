"""Polar AccessLink provider: OAuth with HTTP Basic client auth, mandatory user registration,
no refresh, de-registration, HMAC-signed webhooks. Provider HTTP only through MockTransport,
payloads in Polar's shapes (tests/fixtures/providers/polar)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.polar import FakePolar
from tests.providers.provider_support import ScriptedRecorder as Recorder
from trainlytics.errors import (
    BadPayloadError,
    InsufficientScopeError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenExchangeError,
    TokenRefreshError,
    TrainlyticsError,
    WebhookVerificationError,
)
from trainlytics.providers.base import ProviderCredentials, TokenSet, WebhookRequest
from trainlytics.providers.polar import (
    SCOPE,
    PolarProvider,
    member_id_for,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "polar"

CLIENT_ID = "polar-client-4711"
CLIENT_SECRET = "polar-client-secret-S3cr3t-value"  # noqa: S105 - test value
WEBHOOK_SECRET = "7e3f0b52-6a1d-4c8e-9f27-0d5b8a6c4e13"  # noqa: S105 - test value
REDIRECT_URI = "https://api.trainlytics.test/oauth/polar/callback"
CODE = "polar-auth-code-Qx7Tz"
USER_ID = "38751204"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def make_provider(
    recorder: Recorder | None = None, *, webhook_secret: str | None = WEBHOOK_SECRET
) -> PolarProvider:
    credentials = ProviderCredentials(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        webhook_secret=webhook_secret,
    )
    transport = httpx.MockTransport(recorder or Recorder())
    return PolarProvider(credentials, httpx.Client(transport=transport))


def tokens(**overrides: Any) -> TokenSet:
    values: dict[str, Any] = {
        "access_token": "polar-fixture-access-9f2c41d7e0b84a6c",
        "expires_at": datetime.now(UTC) + timedelta(days=5000),
        "provider_user_id": USER_ID,
    }
    values.update(overrides)
    return TokenSet(**values)


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def webhook(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {"content-type": "application/json", "polar-webhook-event": "EXERCISE"}
    if signature is not None:
        headers["polar-webhook-signature"] = signature
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


def sign(body: bytes, key: str = WEBHOOK_SECRET) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


# --- authorize URL ------------------------------------------------------------------------------


def test_authorization_url_carries_client_redirect_scope_and_state() -> None:
    url = make_provider().authorization_url(state="st4te", code_challenge=None)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "flow.polar.com",
        "/oauth2/authorization",
    )
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "st4te",
    }
    assert PolarProvider.uses_pkce is False
    assert PolarProvider.required_scopes == ("accesslink.read_all",)
    assert PolarProvider.webhook_secret_setting == "WEBHOOK_SECRET"  # noqa: S105


# --- code exchange ------------------------------------------------------------------------------


def test_exchange_authenticates_the_client_with_http_basic() -> None:
    recorder = Recorder(httpx.Response(200, json=fixture("token_response.json")))
    result = make_provider(recorder).exchange_code(
        code=CODE, code_verifier=None, callback_query={"code": CODE, "state": "s"}
    )

    (sent,) = recorder.requests
    assert sent.method == "POST"
    assert str(sent.url) == "https://polarremote.com/v2/oauth2/token"
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    # The secret travels only in the Basic header, never in the form body.
    assert form(sent) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT_URI,
    }

    assert result.access_token == fixture("token_response.json")["access_token"]
    assert result.refresh_token is None
    assert result.provider_user_id == USER_ID
    assert result.expires_at is not None
    lifetime = result.expires_at - datetime.now(UTC)
    assert timedelta(seconds=461375999 - 60) < lifetime <= timedelta(seconds=461375999)


def test_exchange_refused_raises_token_exchange_error_with_the_error_code() -> None:
    recorder = Recorder(httpx.Response(400, json=fixture("token_error_invalid_grant.json")))
    with pytest.raises(TokenExchangeError) as caught:
        make_provider(recorder).exchange_code(code=CODE, code_verifier=None, callback_query={})
    assert "invalid_grant" in str(caught.value)
    assert caught.value.status_code == 400
    assert CODE not in str(caught.value)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"token_type": "bearer", "x_user_id": 1}),
        httpx.Response(200, json={"access_token": "a-token", "token_type": "bearer"}),
        httpx.Response(200, json={"access_token": "a-token", "x_user_id": True}),
        httpx.Response(401, json={"error": "invalid_client"}),
    ],
    ids=["not-json", "array", "no-access-token", "no-user-id", "bool-user-id", "bad-client"],
)
def test_exchange_with_an_unusable_answer_raises_token_exchange_error(
    response: httpx.Response,
) -> None:
    with pytest.raises(TokenExchangeError):
        make_provider(Recorder(response)).exchange_code(
            code=CODE, code_verifier=None, callback_query={}
        )


# --- identity and mandatory registration ---------------------------------------------------------


def test_identity_registers_the_user_with_an_opaque_member_id() -> None:
    recorder = Recorder(httpx.Response(200, json=fixture("user_registered.json")))
    identity = make_provider(recorder).fetch_identity(tokens(), callback_query={})

    (sent,) = recorder.requests
    assert (sent.method, str(sent.url)) == ("POST", "https://www.polaraccesslink.com/v3/users")
    assert sent.headers["authorization"] == "Bearer polar-fixture-access-9f2c41d7e0b84a6c"
    body = json.loads(sent.content)
    assert body == {"member-id": member_id_for(USER_ID)}
    assert USER_ID not in body["member-id"]
    assert member_id_for(USER_ID) == member_id_for(USER_ID)  # stable across reconnects

    assert identity.provider_user_id == USER_ID
    assert identity.username == "Aino Virtanen"
    assert identity.scopes == (SCOPE,)
    assert identity.profile["polar-user-id"] == int(USER_ID)
    for personal in ("weight", "height", "birthdate", "gender", "extra-info"):
        assert personal not in identity.profile
    assert make_provider().missing_scopes(identity) == []


def test_identity_of_an_already_registered_user_reads_the_user_information() -> None:
    recorder = Recorder(
        httpx.Response(409),
        httpx.Response(200, json=fixture("user_registered.json")),
    )
    identity = make_provider(recorder).fetch_identity(tokens(), callback_query={})

    assert [(r.method, str(r.url)) for r in recorder.requests] == [
        ("POST", "https://www.polaraccesslink.com/v3/users"),
        ("GET", f"https://www.polaraccesslink.com/v3/users/{USER_ID}"),
    ]
    assert identity.provider_user_id == USER_ID
    assert identity.username == "Aino Virtanen"


def test_identity_without_mandatory_consents_is_insufficient_scope() -> None:
    with pytest.raises(InsufficientScopeError):
        make_provider(Recorder(httpx.Response(403))).fetch_identity(tokens(), callback_query={})


def test_identity_for_another_polar_user_is_a_bad_payload() -> None:
    other = {**fixture("user_registered.json"), "polar-user-id": 99}
    with pytest.raises(BadPayloadError):
        make_provider(Recorder(httpx.Response(200, json=other))).fetch_identity(
            tokens(), callback_query={}
        )


@pytest.mark.parametrize("status", [204, 401])
def test_identity_registration_failures_are_provider_errors(status: int) -> None:
    with pytest.raises(ProviderError):
        make_provider(Recorder(httpx.Response(status))).fetch_identity(tokens(), callback_query={})


def test_identity_needs_the_polar_user_id() -> None:
    with pytest.raises(BadPayloadError):
        make_provider().fetch_identity(tokens(provider_user_id=None), callback_query={})


# --- refresh: Polar has none ------------------------------------------------------------------


def test_refresh_is_impossible_and_never_needed() -> None:
    recorder = Recorder()
    provider = make_provider(recorder)
    current = tokens(expires_at=datetime.now(UTC) + timedelta(seconds=10))
    assert provider.needs_refresh(current, datetime.now(UTC), 300) is False
    with pytest.raises(TokenRefreshError) as caught:
        provider.refresh(current)
    assert "cannot be refreshed" in str(caught.value)
    assert recorder.requests == []


# --- transient failures -------------------------------------------------------------------------


def test_rate_limited_registration_raises_rate_limited_error() -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimitedError) as caught:
        make_provider(recorder).fetch_identity(tokens(), callback_query={})
    assert caught.value.retry_after == 120


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(502), httpx.Response(503), httpx.ReadTimeout("slow")],
    ids=["502", "503", "timeout"],
)
def test_unavailable_token_endpoint_raises_provider_unavailable(
    answer: httpx.Response | Exception,
) -> None:
    with pytest.raises(ProviderUnavailableError):
        make_provider(Recorder(answer)).exchange_code(
            code=CODE, code_verifier=None, callback_query={}
        )


def test_timeout_on_deregistration_raises_provider_unavailable() -> None:
    with pytest.raises(ProviderUnavailableError):
        make_provider(Recorder(httpx.ConnectTimeout("down"))).revoke(tokens())


# --- revoke = de-registration --------------------------------------------------------------------


def test_revoke_deletes_the_registered_user() -> None:
    recorder = Recorder(httpx.Response(204))
    make_provider(recorder).revoke(tokens())
    (sent,) = recorder.requests
    assert (sent.method, str(sent.url)) == (
        "DELETE",
        f"https://www.polaraccesslink.com/v3/users/{USER_ID}",
    )
    assert sent.headers["authorization"] == "Bearer polar-fixture-access-9f2c41d7e0b84a6c"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_revoke_of_an_already_withdrawn_access_is_not_an_error(status: int) -> None:
    make_provider(Recorder(httpx.Response(status))).revoke(tokens())


def test_revoke_failures_and_missing_user_id_raise_provider_error() -> None:
    with pytest.raises(ProviderError):
        make_provider(Recorder(httpx.Response(400))).revoke(tokens())
    with pytest.raises(ProviderError):
        make_provider().revoke(tokens(provider_user_id=None))


# --- webhooks -----------------------------------------------------------------------------------


def test_webhook_with_the_right_signature_verifies() -> None:
    body = fixture_bytes("webhook_exercise.json")
    provider = make_provider()
    provider.verify_webhook(webhook(body, sign(body)))
    provider.verify_webhook(webhook(body, sign(body).upper()))  # hex case is not significant


@pytest.mark.parametrize(
    "signature",
    [None, "", "deadbeef", sign(b"{}"), sign(fixture_bytes("webhook_exercise.json"), "wrong")],
    ids=["missing", "empty", "short", "other-body", "other-key"],
)
def test_webhook_with_a_wrong_signature_is_rejected(signature: str | None) -> None:
    body = fixture_bytes("webhook_exercise.json")
    with pytest.raises(WebhookVerificationError):
        make_provider().verify_webhook(webhook(body, signature))


def test_webhook_signature_covers_the_raw_bytes() -> None:
    body = fixture_bytes("webhook_exercise.json")
    reformatted = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    assert reformatted != body
    with pytest.raises(WebhookVerificationError):
        make_provider().verify_webhook(webhook(reformatted, sign(body)))


def test_webhook_with_a_non_ascii_signature_is_rejected_not_crashed() -> None:
    body = fixture_bytes("webhook_exercise.json")
    with pytest.raises(WebhookVerificationError):
        make_provider().verify_webhook(webhook(body, "é" * 64))


def test_without_a_configured_secret_only_the_creation_ping_is_accepted() -> None:
    provider = make_provider(webhook_secret=None)
    provider.verify_webhook(webhook(fixture_bytes("webhook_ping.json"), None))
    exercise = fixture_bytes("webhook_exercise.json")
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(webhook(exercise, sign(exercise)))
    padded_ping = json.dumps({"event": "PING", "timestamp": "x", "user_id": 1}).encode()
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(webhook(padded_ping, None))


def test_re_creating_the_webhook_passes_polars_ping_signed_with_the_new_secret() -> None:
    """Issue 13: with the old secret configured, the re-creation's PING (signed with the new
    secret, not known yet) used to get 401 and Polar refused the new webhook. A bare PING
    carries no data and queues nothing: it is accepted whatever its signature."""
    ping = fixture_bytes("webhook_ping.json")
    provider = make_provider()
    provider.verify_webhook(webhook(ping, sign(ping)))
    provider.verify_webhook(webhook(ping, sign(ping, "the-new-secret-polar-just-made")))
    provider.verify_webhook(webhook(ping, None))
    assert provider.parse_webhook(webhook(ping, None)) == []


def test_eve_cannot_dress_an_exercise_up_as_a_ping() -> None:
    body = json.dumps(
        {"event": "PING", "timestamp": "2026-11-20T10:00:00Z", "user_id": 1, "entity_id": "x"}
    ).encode()
    with pytest.raises(WebhookVerificationError):
        make_provider().verify_webhook(webhook(body, None))


def rotating_provider() -> PolarProvider:
    credentials = ProviderCredentials(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        webhook_secret="new-secret-after-rotation",  # noqa: S106 - test value
        extra={"WEBHOOK_PREVIOUS_SECRET": WEBHOOK_SECRET},
    )
    return PolarProvider(credentials, httpx.Client(transport=httpx.MockTransport(lambda r: 0)))  # type: ignore[arg-type]


def test_during_a_rotation_old_and_new_secrets_are_both_accepted() -> None:
    body = fixture_bytes("webhook_exercise.json")
    provider = rotating_provider()
    provider.verify_webhook(webhook(body, sign(body, WEBHOOK_SECRET)))
    provider.verify_webhook(webhook(body, sign(body, "new-secret-after-rotation")))
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(webhook(body, sign(body, "a-third-secret")))
    # After the rotation (previous secret removed), the old one no longer passes.
    with pytest.raises(WebhookVerificationError):
        make_provider(webhook_secret="new-secret-after-rotation").verify_webhook(  # noqa: S106
            webhook(body, sign(body, WEBHOOK_SECRET))
        )


def test_parse_exercise_event() -> None:
    body = fixture_bytes("webhook_exercise.json")
    (event,) = make_provider().parse_webhook(webhook(body, sign(body)))
    assert event.provider_user_id == USER_ID
    assert event.kind == "activity_created"
    assert event.object_id == "Zx81pQ4T"
    assert event.payload["url"] == "https://www.polaraccesslink.com/v3/exercises/Zx81pQ4T"


@pytest.mark.parametrize("name", ["webhook_ping.json", "webhook_sleep.json"])
def test_ping_and_unsubscribed_events_yield_nothing(name: str) -> None:
    body = fixture_bytes(name)
    assert make_provider().parse_webhook(webhook(body, sign(body))) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"user_id": 1}',
        b'{"event": 5}',
        b'{"event": "EXERCISE", "user_id": 38751204}',
        b'{"event": "EXERCISE", "entity_id": "x"}',
        b'{"event": "EXERCISE", "user_id": true, "entity_id": "x"}',
        b'{"event": "EXERCISE", "user_id": "abc", "entity_id": "x"}',
        b'{"event": "EXERCISE", "user_id": 1, "entity_id": ""}',
    ],
)
def test_malformed_webhook_bodies_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayloadError):
        make_provider().parse_webhook(webhook(body, sign(body)))


def test_webhook_ack_is_a_plain_200() -> None:
    assert make_provider().webhook_ack().status_code == 200


# --- no secret in errors or reprs ---------------------------------------------------------------


def test_no_secret_appears_in_exception_messages_or_reprs() -> None:
    access = "polar-fixture-access-9f2c41d7e0b84a6c"
    secrets_ = [CLIENT_SECRET, WEBHOOK_SECRET, CODE, access]
    echo = {"error": "invalid_grant", "error_description": f"{CODE} {CLIENT_SECRET} {access}"}
    scenarios: list[Callable[[PolarProvider], object]] = [
        lambda p: p.exchange_code(code=CODE, code_verifier=None, callback_query={"code": CODE}),
        lambda p: p.fetch_identity(tokens(), callback_query={}),
        lambda p: p.revoke(tokens()),
        lambda p: p.refresh(tokens()),
    ]
    answers: list[httpx.Response | Exception] = [
        httpx.Response(400, json=echo),
        httpx.Response(200, text=f"<p>{access}</p>"),
        httpx.Response(418, text=CLIENT_SECRET),
        httpx.Response(500, text=access),
        httpx.ReadTimeout(access),
        httpx.Response(429, json=echo),
    ]
    raised: list[TrainlyticsError] = []
    for scenario in scenarios:
        for answer in answers:
            try:
                scenario(make_provider(Recorder(answer)))
            except TrainlyticsError as exc:
                raised.append(exc)
    body = fixture_bytes("webhook_exercise.json")
    for bad in (webhook(body, sign(body, "x")), webhook(b"{" + CODE.encode(), sign(b"x"))):
        for step in (make_provider().verify_webhook, make_provider().parse_webhook):
            try:
                step(bad)
            except TrainlyticsError as exc:
                raised.append(exc)
    assert len(raised) >= 20
    provider = make_provider()
    texts = [f"{exc} {exc!r} {exc.hint} {exc.args}" for exc in raised]
    texts += [repr(provider.credentials), repr(tokens(refresh_token=CODE)), repr(provider)]
    for text in texts:
        for secret in secrets_:
            assert secret not in text


# --- the fake used by the end-to-end tests ------------------------------------------------------


def test_fake_polar_serves_a_whole_connection_life() -> None:
    fake = FakePolar()
    provider = PolarProvider(fake.credentials, httpx.Client(transport=fake.transport()))

    query = fake.callback("state-1")
    assert set(query) == {"code", "state"}
    first = provider.exchange_code(code=query["code"], code_verifier=None, callback_query=query)
    assert first.provider_user_id == fake.provider_user_id
    identity = provider.fetch_identity(first, callback_query=query)
    assert identity.provider_user_id == fake.provider_user_id
    assert fake.registrations == 1

    with pytest.raises(TokenExchangeError):  # authorization codes are single-use
        provider.exchange_code(code=query["code"], code_verifier=None, callback_query=query)

    again = fake.callback("state-2")
    second = provider.exchange_code(code=again["code"], code_verifier=None, callback_query=again)
    assert provider.fetch_identity(second, callback_query=again).username == "Aino Virtanen"
    assert fake.registrations == 1  # the reconnect hit 409 and read the user instead
    assert fake.token_exchanges == 2

    with pytest.raises(TokenRefreshError):
        provider.refresh(second)
    assert fake.refresh_calls == 0

    provider.revoke(second)
    assert fake.revocations == 1
    provider.revoke(second)  # already withdrawn: not an error
    assert fake.revocations == 1

    for kind in ("activity_created", "ping"):
        headers, body, query_ = fake.signed_webhook(kind)
        signed = WebhookRequest(method="POST", headers=headers, query=query_, body=body)
        provider.verify_webhook(signed)
        headers, body, query_ = fake.forged_webhook(kind)
        forged = WebhookRequest(method="POST", headers=headers, query=query_, body=body)
        if kind == "ping":
            # A bare PING carries nothing and is accepted whatever its signature (the
            # re-creation check is signed with a secret not known yet); nothing is queued.
            provider.verify_webhook(forged)
            assert provider.parse_webhook(forged) == []
            continue
        with pytest.raises(WebhookVerificationError):
            provider.verify_webhook(forged)
    headers, body, query_ = fake.signed_webhook()
    (event,) = provider.parse_webhook(WebhookRequest("POST", headers, query_, body))
    assert event.provider_user_id == fake.provider_user_id
    assert first.access_token in fake.issued_secrets
    assert query["code"] in fake.issued_secrets
