"""COROS provider: OAuth with the secret in the form, errors inside HTTP 200 envelopes, refresh
that extends validity or returns new tokens, deauthorization, client/secret-header webhooks.
Provider HTTP only through MockTransport, payloads in COROS's shapes
(tests/fixtures/providers/coros)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.coros import FakeCoros
from tests.providers.provider_support import ScriptedRecorder as Recorder
from trainlytics.errors import (
    BadPayloadError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TokenExchangeError,
    TokenRefreshError,
    TokenRevokedError,
    TrainlyticsError,
    WebhookVerificationError,
)
from trainlytics.providers.base import ProviderCredentials, TokenSet, WebhookRequest
from trainlytics.providers.coros import CorosProvider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "coros"

CLIENT_ID = "f3a9c1d27b8e4e0f9a6b5c4d3e2f1a0b"
CLIENT_SECRET = "coros-client-secret-Zr8uQ2-test"  # noqa: S105 - test value
REDIRECT_URI = "https://api.trainlytics.test/oauth/coros/callback"
CODE = "coros-auth-code-K9pL2"
OPEN_ID = "8c41d2e9b07f4a13a6e5f0c2d1b9a874"
ACCESS = "coros-fixture-access-3e7a9c1b5d"
REFRESH = "rg2-5b0e7f1c9a3d4e2f8c6b1a0d9e8f7c6b"
THIRTY_DAYS = timedelta(seconds=2592000)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def make_provider(recorder: Recorder | None = None) -> CorosProvider:
    credentials = ProviderCredentials(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI
    )
    transport = httpx.MockTransport(recorder or Recorder())
    return CorosProvider(credentials, httpx.Client(transport=transport))


def tokens(**overrides: Any) -> TokenSet:
    values: dict[str, Any] = {
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "expires_at": datetime.now(UTC) + timedelta(minutes=2),
        "provider_user_id": OPEN_ID,
    }
    values.update(overrides)
    return TokenSet(**values)


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def about(actual: datetime | None, expected_from_now: timedelta) -> bool:
    assert actual is not None
    delta = actual - (datetime.now(UTC) + expected_from_now)
    return abs(delta) < timedelta(seconds=60)


def webhook(
    body: bytes, *, client: str | None = CLIENT_ID, secret: str | None = CLIENT_SECRET
) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if client is not None:
        headers["client"] = client
    if secret is not None:
        headers["secret"] = secret
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


# --- authorize URL ------------------------------------------------------------------------------


def test_authorization_url_carries_client_redirect_and_state_without_scope() -> None:
    url = make_provider().authorization_url(state="st4te", code_challenge=None)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "open.coros.com",
        "/oauth2/authorize",
    )
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "state": "st4te",
    }
    assert CorosProvider.uses_pkce is False
    assert CorosProvider.required_scopes == ()
    assert CorosProvider.webhook_secret_setting is None


# --- code exchange ------------------------------------------------------------------------------


def test_exchange_posts_the_form_and_reads_open_id() -> None:
    recorder = Recorder(httpx.Response(200, json=fixture("token_response.json")))
    result = make_provider(recorder).exchange_code(
        code=CODE, code_verifier=None, callback_query={"code": CODE, "state": "s"}
    )
    (sent,) = recorder.requests
    assert (sent.method, str(sent.url)) == ("POST", "https://open.coros.com/oauth2/accesstoken")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(sent) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": CODE,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT_URI,
    }
    assert result.access_token == ACCESS
    assert result.refresh_token == REFRESH
    assert result.provider_user_id == OPEN_ID
    assert about(result.expires_at, THIRTY_DAYS)


def test_exchange_error_inside_an_http_200_envelope_is_a_token_exchange_error() -> None:
    envelope = fixture("token_error_envelope.json")
    assert envelope["result"] != "0000"
    with pytest.raises(TokenExchangeError) as caught:
        make_provider(Recorder(httpx.Response(200, json=envelope))).exchange_code(
            code=CODE, code_verifier=None, callback_query={}
        )
    assert "result 1001" in str(caught.value)


def test_exchange_accepts_tokens_wrapped_in_a_success_envelope() -> None:
    wrapped = {"result": "0000", "message": "OK", "data": fixture("token_response.json")}
    result = make_provider(Recorder(httpx.Response(200, json=wrapped))).exchange_code(
        code=CODE, code_verifier=None, callback_query={}
    )
    assert (result.access_token, result.provider_user_id) == (ACCESS, OPEN_ID)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400, json={"result": "1001", "message": "bad"}),
        httpx.Response(200, text="<html/>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"result": "0000", "message": "OK"}),
        httpx.Response(200, json={"access_token": "a", "refresh_token": "r", "expires_in": 9}),
        httpx.Response(200, json={"result": 5001, "message": "numeric code"}),
    ],
    ids=["http-400", "not-json", "array", "envelope-without-tokens", "no-open-id", "int-result"],
)
def test_exchange_with_an_unusable_answer_raises_token_exchange_error(
    response: httpx.Response,
) -> None:
    with pytest.raises(TokenExchangeError):
        make_provider(Recorder(response)).exchange_code(
            code=CODE, code_verifier=None, callback_query={}
        )


# --- identity -----------------------------------------------------------------------------------


def test_identity_is_the_open_id_of_the_token_response() -> None:
    recorder = Recorder()
    identity = make_provider(recorder).fetch_identity(tokens(), callback_query={})
    assert identity.provider_user_id == OPEN_ID
    assert identity.scopes == ()
    assert make_provider().missing_scopes(identity) == []
    assert recorder.requests == []
    with pytest.raises(BadPayloadError):
        make_provider().fetch_identity(tokens(provider_user_id=None), callback_query={})


# --- refresh ------------------------------------------------------------------------------------


def test_envelope_only_refresh_extends_the_current_tokens() -> None:
    recorder = Recorder(httpx.Response(200, json=fixture("refresh_extended.json")))
    current = tokens()
    result = make_provider(recorder).refresh(current)

    (sent,) = recorder.requests
    assert (sent.method, str(sent.url)) == ("POST", "https://open.coros.com/oauth2/refresh-token")
    assert form(sent) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
    }
    assert (result.access_token, result.refresh_token) == (ACCESS, REFRESH)
    assert result.provider_user_id == OPEN_ID
    assert about(result.expires_at, THIRTY_DAYS)
    assert make_provider().needs_refresh(result, datetime.now(UTC), 300) is False
    assert make_provider().needs_refresh(current, datetime.now(UTC), 300) is True


def test_refresh_answered_with_new_tokens_replaces_them() -> None:
    body = fixture("refresh_new_tokens.json")
    result = make_provider(Recorder(httpx.Response(200, json=body))).refresh(tokens())
    assert result.access_token == body["access_token"]
    assert result.refresh_token == body["refresh_token"]
    assert result.provider_user_id == OPEN_ID
    assert about(result.expires_at, THIRTY_DAYS)


def test_refresh_with_a_new_access_token_only_keeps_the_refresh_token() -> None:
    body = {"access_token": "coros-new-access", "expires_in": 86400}
    result = make_provider(Recorder(httpx.Response(200, json=body))).refresh(tokens())
    assert (result.access_token, result.refresh_token) == ("coros-new-access", REFRESH)
    assert result.provider_user_id == OPEN_ID
    assert about(result.expires_at, timedelta(days=1))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json=fixture("refresh_refused.json")),
        httpx.Response(400, json={"result": "1002", "message": "bad"}),
        httpx.Response(401),
    ],
    ids=["envelope-error", "http-400", "http-401"],
)
def test_refused_refresh_raises_token_revoked(response: httpx.Response) -> None:
    with pytest.raises(TokenRevokedError):
        make_provider(Recorder(response)).refresh(tokens())


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"message": "OK"}),
    ],
    ids=["http-404", "not-json", "neither-tokens-nor-result"],
)
def test_other_refresh_failures_raise_token_refresh_error(response: httpx.Response) -> None:
    with pytest.raises(TokenRefreshError) as caught:
        make_provider(Recorder(response)).refresh(tokens())
    assert not isinstance(caught.value, TokenRevokedError)


def test_refresh_without_a_refresh_token_fails_without_calling_coros() -> None:
    recorder = Recorder()
    with pytest.raises(TokenRefreshError):
        make_provider(recorder).refresh(tokens(refresh_token=None))
    assert recorder.requests == []


def test_rate_limited_refresh_raises_rate_limited_error() -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "30"}))
    with pytest.raises(RateLimitedError) as caught:
        make_provider(recorder).refresh(tokens())
    assert caught.value.retry_after == 30


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(500), httpx.Response(503), httpx.ReadTimeout("slow"), httpx.ConnectError("x")],
    ids=["500", "503", "timeout", "connect"],
)
def test_unavailable_coros_raises_provider_unavailable(answer: httpx.Response | Exception) -> None:
    with pytest.raises(ProviderUnavailableError):
        make_provider(Recorder(answer)).refresh(tokens())
    with pytest.raises(ProviderUnavailableError):
        make_provider(Recorder(answer)).exchange_code(
            code=CODE, code_verifier=None, callback_query={}
        )


# --- revoke = deauthorize ------------------------------------------------------------------------


def test_revoke_posts_the_access_token_to_deauthorize() -> None:
    recorder = Recorder(httpx.Response(200, json=fixture("deauthorize_ok.json")))
    make_provider(recorder).revoke(tokens())
    (sent,) = recorder.requests
    assert (sent.method, str(sent.url)) == ("POST", "https://open.coros.com/oauth2/deauthorize")
    assert form(sent) == {"token": ACCESS}


def test_revoke_refused_in_the_envelope_raises_provider_error() -> None:
    refused = httpx.Response(200, json={"result": "1003", "message": "invalid token"})
    with pytest.raises(ProviderError):
        make_provider(Recorder(refused)).revoke(tokens())
    with pytest.raises(BadPayloadError):
        make_provider(Recorder(httpx.Response(200, json={"ok": True}))).revoke(tokens())
    make_provider(Recorder(httpx.Response(401))).revoke(tokens())  # already withdrawn


# --- webhooks -----------------------------------------------------------------------------------


def test_webhook_with_our_client_and_secret_verifies() -> None:
    make_provider().verify_webhook(webhook(fixture_bytes("webhook_sport_data.json")))


@pytest.mark.parametrize(
    ("client", "secret"),
    [
        (CLIENT_ID, "wrong-secret"),
        ("other-client", CLIENT_SECRET),
        (None, CLIENT_SECRET),
        (CLIENT_ID, None),
        (CLIENT_ID, ""),
        (CLIENT_ID, CLIENT_SECRET + " "),
        (CLIENT_ID, "ü" + CLIENT_SECRET),
    ],
    ids=["wrong-secret", "wrong-client", "no-client", "no-secret", "empty", "padded", "non-ascii"],
)
def test_webhook_with_wrong_credentials_is_rejected(client: str | None, secret: str | None) -> None:
    body = fixture_bytes("webhook_sport_data.json")
    with pytest.raises(WebhookVerificationError) as caught:
        make_provider().verify_webhook(webhook(body, client=client, secret=secret))
    assert CLIENT_SECRET not in str(caught.value)


def test_parse_sport_data_list() -> None:
    events = make_provider().parse_webhook(webhook(fixture_bytes("webhook_sport_data.json")))
    assert [(e.provider_user_id, e.kind, e.object_id) for e in events] == [
        (OPEN_ID, "activity_created", "472901853316481024"),
        (OPEN_ID, "activity_created", "472955120347267072"),
    ]
    assert events[0].payload["fitUrl"].endswith(".fit")


def test_empty_sport_data_list_yields_nothing() -> None:
    assert make_provider().parse_webhook(webhook(b'{"sportDataList": []}')) == []


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        b"\xff",
        b"[]",
        b"{}",
        b'{"sportDataList": {}}',
        b'{"sportDataList": [1]}',
        b'{"sportDataList": [{"labelId": "1"}]}',
        b'{"sportDataList": [{"openId": "", "labelId": "1"}]}',
        b'{"sportDataList": [{"openId": "abc"}]}',
        b'{"sportDataList": [{"openId": "abc", "labelId": true}]}',
    ],
)
def test_malformed_webhook_bodies_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayloadError):
        make_provider().parse_webhook(webhook(body))


def test_webhook_ack_is_the_coros_success_envelope() -> None:
    ack = make_provider().webhook_ack()
    assert (ack.status_code, ack.body) == (200, {"result": "0000", "message": "ok"})


# --- no secret in errors or reprs ---------------------------------------------------------------


def test_no_secret_appears_in_exception_messages_or_reprs() -> None:
    secrets_ = [CLIENT_SECRET, CODE, ACCESS, REFRESH]
    echo = {"result": "1001", "message": f"bad {CODE} {CLIENT_SECRET} {ACCESS} {REFRESH}"}
    scenarios: list[Callable[[CorosProvider], object]] = [
        lambda p: p.exchange_code(code=CODE, code_verifier=None, callback_query={"code": CODE}),
        lambda p: p.refresh(tokens()),
        lambda p: p.revoke(tokens()),
    ]
    answers: list[httpx.Response | Exception] = [
        httpx.Response(200, json=echo),
        httpx.Response(200, json={**echo, "result": f"x{CLIENT_SECRET}"}),
        httpx.Response(400, json=echo),
        httpx.Response(200, text=f"<p>{ACCESS}</p>"),
        httpx.Response(502, text=REFRESH),
        httpx.ReadTimeout(ACCESS),
        httpx.Response(429, json=echo),
    ]
    raised: list[TrainlyticsError] = []
    for scenario in scenarios:
        for answer in answers:
            try:
                scenario(make_provider(Recorder(answer)))
            except TrainlyticsError as exc:
                raised.append(exc)
    body = fixture_bytes("webhook_sport_data.json")
    guessed = "guess"
    for bad in (webhook(body, secret=guessed), webhook(CLIENT_SECRET.encode())):
        for step in (make_provider().verify_webhook, make_provider().parse_webhook):
            try:
                step(bad)
            except TrainlyticsError as exc:
                raised.append(exc)
    assert len(raised) >= 20
    provider = make_provider()
    texts = [f"{exc} {exc!r} {exc.hint} {exc.args}" for exc in raised]
    texts += [repr(provider.credentials), repr(tokens()), repr(provider)]
    for text in texts:
        for secret in secrets_:
            assert secret not in text


# --- the fake used by the end-to-end tests ------------------------------------------------------


def _connect(fake: FakeCoros, provider: CorosProvider) -> TokenSet:
    query = fake.callback("state-1")
    assert set(query) == {"code", "state"}
    first = provider.exchange_code(code=query["code"], code_verifier=None, callback_query=query)
    assert provider.fetch_identity(first, callback_query=query).provider_user_id == (
        fake.provider_user_id
    )
    with pytest.raises(TokenExchangeError):  # single-use codes, refused inside HTTP 200
        provider.exchange_code(code=query["code"], code_verifier=None, callback_query=query)
    return first


def test_fake_coros_extending_refresh_and_deauthorize() -> None:
    fake = FakeCoros()
    provider = CorosProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    first = _connect(fake, provider)
    extended = provider.refresh(first)
    assert (extended.access_token, extended.refresh_token) == (
        first.access_token,
        first.refresh_token,
    )
    assert fake.refresh_calls == 1
    provider.revoke(extended)
    assert fake.revocations == 1
    with pytest.raises(TokenRevokedError):
        provider.refresh(extended)


def test_fake_coros_rotating_refresh_rejects_a_spent_refresh_token() -> None:
    fake = FakeCoros(refresh_mode="rotate")
    provider = CorosProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    first = _connect(fake, provider)
    second = provider.refresh(first)
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    with pytest.raises(TokenRevokedError):
        provider.refresh(first)
    assert provider.refresh(second).refresh_token not in (first.refresh_token, second.refresh_token)
    assert fake.refresh_calls == 3
    assert fake.token_exchanges == 1


def test_fake_coros_webhooks() -> None:
    fake = FakeCoros()
    provider = CorosProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    headers, body, query = fake.signed_webhook()
    signed = WebhookRequest(method="POST", headers=headers, query=query, body=body)
    provider.verify_webhook(signed)
    (event,) = provider.parse_webhook(signed)
    assert event.provider_user_id == fake.provider_user_id
    headers, body, query = fake.forged_webhook()
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(WebhookRequest("POST", headers, query, body))
