"""StravaProvider against Strava's documented shapes (fixtures in tests/fixtures/providers/strava),
over httpx.MockTransport; plus the fake Strava server the end-to-end tests use."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.strava import FakeStrava
from tests.providers.provider_support import Handler, Recorder, respond
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
from trainlytics.providers.strava import (
    AUTHORIZE_URL,
    StravaProvider,
    seconds_to_next_window,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "strava"

CLIENT_SECRET = "strava-unit-client-secret-5d41402abc4b2a76"  # noqa: S105 - test value
VERIFY_TOKEN = "strava-unit-verify-token-7e240de74fb1ed08"  # noqa: S105 - test value
SUBSCRIPTION_ID = "287019"
CODE = "strava-unit-code-0c4e7a2d91f3"
REFRESH_TOKEN = "strava-unit-refresh-9b71d224bd62f378"  # noqa: S105 - test value
ACCESS_TOKEN = "strava-unit-access-2fd4e1c67a2d28fc"  # noqa: S105 - test value
SECRETS = (CLIENT_SECRET, VERIFY_TOKEN, CODE, REFRESH_TOKEN, ACCESS_TOKEN)

CREDENTIALS = ProviderCredentials(
    client_id="104729",
    client_secret=CLIENT_SECRET,
    redirect_uri="https://api.trainlytics.test/oauth/strava/callback",
    webhook_secret=VERIFY_TOKEN,
    extra={"SUBSCRIPTION_ID": SUBSCRIPTION_ID},
)
FULL_CALLBACK = {"code": CODE, "state": "s", "scope": "read,activity:read_all"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def make() -> Iterator[Callable[[Handler], tuple[StravaProvider, Recorder]]]:
    clients: list[httpx.Client] = []

    def _make(handler: Handler) -> tuple[StravaProvider, Recorder]:
        recorder = Recorder(handler)
        client = httpx.Client(transport=httpx.MockTransport(recorder))
        clients.append(client)
        return StravaProvider(CREDENTIALS, client), recorder

    yield _make
    for client in clients:
        client.close()


def stored_tokens(**overrides: Any) -> TokenSet:
    values: dict[str, Any] = {
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "expires_at": datetime.now(UTC) + timedelta(minutes=2),
        "scopes": ("read", "activity:read_all"),
        "provider_user_id": "28456123",
        "extra": {"athlete": fixture("token_exchange.json")["athlete"]},
    }
    values.update(overrides)
    return TokenSet(**values)


def webhook(
    body: bytes, method: str = "POST", query: dict[str, str] | None = None
) -> WebhookRequest:
    return WebhookRequest(
        method=method, headers={"content-type": "application/json"}, query=query or {}, body=body
    )


def assert_no_secret(exc: BaseException) -> None:
    texts = [str(exc), repr(exc)]
    if isinstance(exc, TrainlyticsError):
        texts += [exc.message, exc.hint or ""]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- OAuth: authorize URL ----------------------------------------------------------------------


def test_authorize_url_asks_for_both_activity_scopes_with_state_and_no_pkce(make: Any) -> None:
    provider, _ = make(respond(500))
    url = provider.authorization_url(state="state-123", code_challenge="ignored-challenge")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL
    query = parse_qs(parts.query)
    assert query == {
        "client_id": ["104729"],
        "redirect_uri": ["https://api.trainlytics.test/oauth/strava/callback"],
        "response_type": ["code"],
        "approval_prompt": ["auto"],
        # activity:read must be asked for explicitly: an athlete who unticks private
        # activities still grants it (and only then does Strava send webhooks for them).
        "scope": ["read,activity:read,activity:read_all"],
        "state": ["state-123"],
    }
    assert StravaProvider.uses_pkce is False
    assert StravaProvider.required_scopes == ("activity:read",)
    assert StravaProvider.webhook_secret_setting == "WEBHOOK_VERIFY_TOKEN"  # noqa: S105
    assert StravaProvider.extra_settings == ("SUBSCRIPTION_ID", "ATHLETE_CAPACITY")
    # Every requested scope is one Strava's authorize endpoint accepts (the fake checks it).
    fake = FakeStrava()
    assert fake.authorize(url).status_code == 302
    assert StravaProvider.delete_activities_on_disconnect is True


# --- OAuth: code exchange ----------------------------------------------------------------------


def test_exchange_code_posts_the_form_and_returns_tokens_with_the_athlete(make: Any) -> None:
    body = fixture("token_exchange.json")
    provider, recorder = make(respond(200, body))
    tokens = provider.exchange_code(code=CODE, code_verifier=None, callback_query=FULL_CALLBACK)

    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://www.strava.com/oauth/token")
    assert recorder.form() == {
        "client_id": "104729",
        "client_secret": CLIENT_SECRET,
        "code": CODE,
        "grant_type": "authorization_code",
    }
    assert tokens.access_token == body["access_token"]
    assert tokens.refresh_token == body["refresh_token"]
    assert tokens.expires_at == datetime.fromtimestamp(body["expires_at"], UTC)
    assert tokens.provider_user_id == "28456123"
    assert tokens.scopes == ("read", "activity:read_all")
    assert tokens.extra["athlete"]["username"] == "lena_runs"
    assert body["access_token"] not in repr(tokens)
    assert body["refresh_token"] not in repr(tokens)


def test_expiry_falls_back_to_expires_in(make: Any) -> None:
    body = fixture("token_exchange.json")
    del body["expires_at"]
    provider, _ = make(respond(200, body))
    before = datetime.now(UTC)
    tokens = provider.exchange_code(code=CODE, code_verifier=None, callback_query=FULL_CALLBACK)
    assert tokens.expires_at is not None
    assert before + timedelta(seconds=21600) <= tokens.expires_at
    assert tokens.expires_at <= datetime.now(UTC) + timedelta(seconds=21600)


@pytest.mark.parametrize(
    ("status", "error_fixture", "expected_code"),
    [
        (400, "error_authorization_code_invalid.json", "AuthorizationCode.code:invalid"),
        (400, "error_client_secret_invalid.json", "Application.client_secret:invalid"),
        (401, "error_authorization.json", "Athlete.access_token:invalid"),
    ],
)
def test_refused_code_exchange_raises_token_exchange_error(
    make: Any, status: int, error_fixture: str, expected_code: str
) -> None:
    provider, _ = make(respond(status, fixture(error_fixture)))
    with pytest.raises(TokenExchangeError) as caught:
        provider.exchange_code(code=CODE, code_verifier=None, callback_query=FULL_CALLBACK)
    assert caught.value.status_code == status
    assert expected_code in caught.value.message
    assert_no_secret(caught.value)


def test_exchange_blaming_the_app_hints_at_the_configuration(make: Any) -> None:
    provider, _ = make(respond(400, fixture("error_client_secret_invalid.json")))
    with pytest.raises(TokenExchangeError) as caught:
        provider.exchange_code(code=CODE, code_verifier=None, callback_query=FULL_CALLBACK)
    assert caught.value.hint is not None
    assert "STRAVA_CLIENT_SECRET" in caught.value.hint


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in fixture("token_exchange.json").items() if k != "athlete"},
        {k: v for k, v in fixture("token_exchange.json").items() if k != "access_token"},
        {k: v for k, v in fixture("token_exchange.json").items() if k != "refresh_token"},
        dict(fixture("token_exchange.json"), athlete={"id": "not-a-number"}),
        [],
        b"<html>maintenance</html>",
    ],
    ids=["no-athlete", "no-access-token", "no-refresh-token", "bad-athlete-id", "list", "html"],
)
def test_malformed_token_response_raises_bad_payload(make: Any, body: Any) -> None:
    provider, _ = make(respond(200, body))
    with pytest.raises(BadPayloadError):
        provider.exchange_code(code=CODE, code_verifier=None, callback_query=FULL_CALLBACK)


# --- scopes and identity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ("read,activity:read,activity:read_all", []),
        ("read,activity:read_all", []),
        ("read,activity:read_all,profile:read_all", []),
        # Private activities unticked: accepted (public and followers activities sync).
        ("read,activity:read", []),
        ("read", ["activity:read"]),
        ("", ["activity:read"]),
    ],
)
def test_scope_check_uses_the_scope_of_the_callback(
    make: Any, granted: str, missing: list[str]
) -> None:
    provider, recorder = make(respond(500))
    identity = provider.fetch_identity(
        stored_tokens(), callback_query={"code": CODE, "state": "s", "scope": granted}
    )
    assert provider.missing_scopes(identity) == missing
    assert recorder.requests == []  # the athlete came with the token response


def test_identity_comes_from_the_athlete_of_the_token_response(make: Any) -> None:
    provider, recorder = make(respond(500))
    identity = provider.fetch_identity(stored_tokens(), callback_query=FULL_CALLBACK)
    assert identity.provider_user_id == "28456123"
    assert identity.username == "lena_runs"
    assert identity.profile["firstname"] == "Lena"
    assert identity.scopes == ("read", "activity:read_all")
    assert recorder.requests == []


def test_identity_reads_the_athlete_when_the_token_response_had_none(make: Any) -> None:
    provider, recorder = make(respond(200, fixture("athlete.json")))
    identity = provider.fetch_identity(stored_tokens(extra={}), callback_query={})
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("GET", "https://www.strava.com/api/v3/athlete")
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert identity.provider_user_id == "28456123"
    assert identity.scopes == ("read", "activity:read_all")  # from the stored token set


def test_identity_with_a_refused_access_token_raises_revoked(make: Any) -> None:
    provider, _ = make(respond(401, fixture("error_authorization.json")))
    with pytest.raises(TokenRevokedError) as caught:
        provider.fetch_identity(stored_tokens(extra={}), callback_query={})
    assert_no_secret(caught.value)


# --- refresh -----------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(make: Any) -> None:
    body = fixture("token_refresh.json")
    provider, recorder = make(respond(200, body))
    old = stored_tokens()
    new = provider.refresh(old)
    assert recorder.form() == {
        "client_id": "104729",
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
    }
    assert new.access_token == body["access_token"]
    assert new.refresh_token == body["refresh_token"] != REFRESH_TOKEN
    assert new.expires_at == datetime.fromtimestamp(body["expires_at"], UTC)
    assert new.provider_user_id == old.provider_user_id
    assert new.scopes == old.scopes
    assert new.extra == old.extra


def test_refresh_without_a_new_refresh_token_keeps_the_old_one(make: Any) -> None:
    body = fixture("token_refresh.json")
    del body["refresh_token"]
    provider, _ = make(respond(200, body))
    assert provider.refresh(stored_tokens()).refresh_token == REFRESH_TOKEN


@pytest.mark.parametrize(
    ("status", "error_fixture"),
    [(400, "error_refresh_token_invalid.json"), (401, "error_authorization.json")],
)
def test_refused_refresh_token_raises_token_revoked(
    make: Any, status: int, error_fixture: str
) -> None:
    provider, _ = make(respond(status, fixture(error_fixture)))
    with pytest.raises(TokenRevokedError) as caught:
        provider.refresh(stored_tokens())
    assert caught.value.status_code == status
    assert_no_secret(caught.value)


def test_refresh_refused_for_the_apps_credentials_is_not_a_revocation(make: Any) -> None:
    provider, _ = make(respond(400, fixture("error_client_secret_invalid.json")))
    with pytest.raises(TokenRefreshError) as caught:
        provider.refresh(stored_tokens())
    assert not isinstance(caught.value, TokenRevokedError)
    assert "STRAVA_CLIENT_SECRET" in (caught.value.hint or "")


def test_refresh_with_an_unexpected_status_raises_token_refresh_error(make: Any) -> None:
    provider, _ = make(respond(403, {"message": "Forbidden", "errors": []}))
    with pytest.raises(TokenRefreshError) as caught:
        provider.refresh(stored_tokens())
    assert not isinstance(caught.value, TokenRevokedError)


def test_refresh_without_a_refresh_token_raises_token_refresh_error(make: Any) -> None:
    provider, recorder = make(respond(500))
    with pytest.raises(TokenRefreshError):
        provider.refresh(stored_tokens(refresh_token=None))
    assert recorder.requests == []


# --- transient failures ------------------------------------------------------------------------


def test_429_with_retry_after_raises_rate_limited(make: Any) -> None:
    provider, _ = make(respond(429, fixture("error_rate_limit.json"), {"Retry-After": "120"}))
    with pytest.raises(RateLimitedError) as caught:
        provider.refresh(stored_tokens())
    assert caught.value.retry_after == 120
    assert caught.value.status_code == 429


def test_429_without_retry_after_waits_for_the_next_quarter_hour(make: Any) -> None:
    headers = {"X-RateLimit-Limit": "200,2000", "X-RateLimit-Usage": "201,812"}
    provider, _ = make(respond(429, fixture("error_rate_limit.json"), headers))
    with pytest.raises(RateLimitedError) as caught:
        provider.exchange_code(code=CODE, code_verifier=None, callback_query=FULL_CALLBACK)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 900
    assert caught.value.message.startswith("strava: ")
    assert not caught.value.message.startswith("strava: strava:")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC), 900),
        (datetime(2026, 11, 25, 10, 14, 30, tzinfo=UTC), 30),
        (datetime(2026, 11, 25, 10, 59, 59, 500000, tzinfo=UTC), 0.5),
        (datetime(2026, 11, 25, 23, 50, 0, tzinfo=UTC), 600),
    ],
)
def test_seconds_to_next_window(now: datetime, expected: float) -> None:
    assert seconds_to_next_window(now) == pytest.approx(expected)


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    "handler",
    [
        respond(500, {"message": "Internal Server Error"}),
        respond(502, b"<html>Bad Gateway</html>"),
        respond(503),
        _raise(httpx.ReadTimeout("timed out")),
        _raise(httpx.ConnectError("connection refused")),
    ],
    ids=["500", "502", "503", "timeout", "connect"],
)
@pytest.mark.parametrize("call", ["exchange", "refresh", "revoke"])
def test_5xx_and_timeouts_raise_provider_unavailable(
    make: Any, handler: Handler, call: str
) -> None:
    provider, _ = make(handler)
    calls: dict[str, Callable[[], object]] = {
        "exchange": lambda: provider.exchange_code(
            code=CODE, code_verifier=None, callback_query=FULL_CALLBACK
        ),
        "refresh": lambda: provider.refresh(stored_tokens()),
        "revoke": lambda: provider.revoke(stored_tokens()),
    }
    with pytest.raises(ProviderUnavailableError) as caught:
        calls[call]()
    assert_no_secret(caught.value)


# --- revoke ------------------------------------------------------------------------------------


def test_revoke_posts_the_access_token_to_deauthorize(make: Any) -> None:
    provider, recorder = make(respond(200, fixture("deauthorize.json")))
    provider.revoke(stored_tokens())
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == (
        "POST",
        "https://www.strava.com/oauth/deauthorize",
    )
    assert recorder.form() == {"access_token": ACCESS_TOKEN}


def test_revoking_an_already_revoked_token_is_not_an_error(make: Any) -> None:
    provider, _ = make(respond(401, fixture("error_authorization.json")))
    provider.revoke(stored_tokens())  # no exception


def test_revoke_with_an_unexpected_status_raises_provider_error(make: Any) -> None:
    provider, _ = make(respond(404, {"message": "Record Not Found", "errors": []}))
    with pytest.raises(ProviderError) as caught:
        provider.revoke(stored_tokens())
    assert caught.value.status_code == 404
    assert_no_secret(caught.value)


# --- webhooks: handshake and verification ------------------------------------------------------


def handshake(**overrides: str) -> WebhookRequest:
    query = fixture("webhook_subscription_handshake.json")
    query["hub.verify_token"] = VERIFY_TOKEN
    query.update(overrides)
    return webhook(b"", method="GET", query=query)


def test_handshake_with_our_verify_token_echoes_the_challenge(make: Any) -> None:
    provider, _ = make(respond(500))
    response = provider.handle_webhook_get(handshake())
    assert response.status_code == 200
    assert response.body == {"hub.challenge": "15f7d1a91c1f40f8a748fd134752feb3"}


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"hub.verify_token": "STRAVA"}, 403),
        ({"hub.verify_token": ""}, 403),
        ({"hub.verify_token": VERIFY_TOKEN + "x"}, 403),
        ({"hub.mode": "unsubscribe"}, 400),
        ({"hub.challenge": ""}, 400),
    ],
)
def test_handshake_with_a_wrong_verify_token_is_refused(
    make: Any, overrides: dict[str, str], status: int
) -> None:
    provider, _ = make(respond(500))
    response = provider.handle_webhook_get(handshake(**overrides))
    assert response.status_code == status
    assert "hub.challenge" not in (response.body or {})
    assert VERIFY_TOKEN not in json.dumps(response.body)


def test_handshake_is_refused_when_no_verify_token_is_configured() -> None:
    with httpx.Client(transport=httpx.MockTransport(respond(500))) as client:
        provider = StravaProvider(
            ProviderCredentials("104729", CLIENT_SECRET, "https://x.test/cb"), client
        )
        response = provider.handle_webhook_get(handshake(**{"hub.verify_token": ""}))
    assert response.status_code == 403


def test_event_of_our_subscription_is_verified(make: Any) -> None:
    provider, _ = make(respond(500))
    provider.verify_webhook(webhook(fixture_bytes("webhook_activity_create.json")))


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(dict(fixture("webhook_activity_create.json"), subscription_id=287020)).encode(),
        json.dumps(
            dict(fixture("webhook_activity_create.json"), subscription_id="287019x")
        ).encode(),
        json.dumps(
            {
                k: v
                for k, v in fixture("webhook_activity_create.json").items()
                if k != "subscription_id"
            }
        ).encode(),
        b"not json",
        b"[287019]",
    ],
    ids=["other-subscription", "garbage-id", "missing", "not-json", "not-object"],
)
def test_event_of_another_subscription_is_rejected(make: Any, body: bytes) -> None:
    provider, _ = make(respond(500))
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(webhook(body))


def test_events_are_rejected_when_no_subscription_id_is_configured() -> None:
    with httpx.Client(transport=httpx.MockTransport(respond(500))) as client:
        provider = StravaProvider(
            ProviderCredentials("104729", CLIENT_SECRET, "https://x.test/cb", VERIFY_TOKEN), client
        )
        with pytest.raises(WebhookVerificationError) as caught:
            provider.verify_webhook(webhook(fixture_bytes("webhook_activity_create.json")))
    assert "STRAVA_SUBSCRIPTION_ID" in caught.value.message


# --- webhooks: parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "object_id"),
    [
        ("webhook_activity_create.json", "activity_created", "16327730912"),
        ("webhook_activity_update.json", "activity_updated", "16327730912"),
        ("webhook_activity_delete.json", "activity_deleted", "16327730912"),
        ("webhook_athlete_deauthorize.json", "deauthorized", None),
    ],
)
def test_events_are_parsed(make: Any, name: str, kind: str, object_id: str | None) -> None:
    provider, _ = make(respond(500))
    events = provider.parse_webhook(webhook(fixture_bytes(name)))
    assert len(events) == 1
    event = events[0]
    assert (event.provider_user_id, event.kind, event.object_id) == ("28456123", kind, object_id)
    assert event.payload == fixture(name)


def test_other_athlete_updates_are_ignored(make: Any) -> None:
    body = dict(fixture("webhook_athlete_deauthorize.json"), updates={"authorized": "true"})
    provider, _ = make(respond(500))
    assert provider.parse_webhook(webhook(json.dumps(body).encode())) == []


def _event(**changes: Any) -> bytes:
    body = fixture("webhook_activity_create.json")
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b"null",
        _event(owner_id=...),
        _event(owner_id="athlete"),
        _event(owner_id=True),
        _event(object_id=None),
        _event(aspect_type="archive"),
        _event(aspect_type=...),
        _event(object_type="route"),
        _event(updates=["title"]),
    ],
)
def test_malformed_events_raise_bad_payload(make: Any, body: bytes) -> None:
    provider, _ = make(respond(500))
    with pytest.raises(BadPayloadError) as caught:
        provider.parse_webhook(webhook(body))
    assert caught.value.provider == "strava"


# --- no secret in messages ---------------------------------------------------------------------


def test_no_secret_reaches_a_message_even_when_the_provider_echoes_it(make: Any) -> None:
    echoed = {
        "message": f"Bad Request {REFRESH_TOKEN} {CLIENT_SECRET} {CODE}",
        "errors": [{"resource": ACCESS_TOKEN, "field": "refresh_token", "code": REFRESH_TOKEN}],
    }
    raised: list[TrainlyticsError] = []
    for status in (400, 401, 403, 404):
        provider, _ = make(respond(status, echoed))
        for call in _every_call(provider):
            try:
                call()
            except TrainlyticsError as error:
                raised.append(error)
    assert len(raised) == 10  # all 12 calls failed but the revokes answered 400/401 (tolerated)
    for caught in raised:
        assert_no_secret(caught)


def _every_call(provider: StravaProvider) -> list[Callable[[], object]]:
    def exchange() -> object:
        return provider.exchange_code(code=CODE, code_verifier=None, callback_query=FULL_CALLBACK)

    def refresh() -> object:
        return provider.refresh(stored_tokens())

    def revoke() -> object:
        provider.revoke(stored_tokens())
        return None

    return [exchange, refresh, revoke]


def test_reprs_hide_secrets(make: Any) -> None:
    provider, _ = make(respond(500))
    assert CLIENT_SECRET not in repr(provider.credentials)
    assert VERIFY_TOKEN not in repr(provider.credentials)
    tokens = stored_tokens()
    assert ACCESS_TOKEN not in repr(tokens)
    assert REFRESH_TOKEN not in repr(tokens)


# --- the fake Strava used by the end-to-end tests ----------------------------------------------


def test_fake_strava_serves_a_whole_connection_life() -> None:
    fake = FakeStrava()
    with httpx.Client(transport=fake.transport()) as client:
        provider = StravaProvider(fake.credentials, client)
        query = fake.callback("state-1")
        assert set(query) == {"code", "state", "scope"}
        tokens = provider.exchange_code(
            code=query["code"], code_verifier=None, callback_query=query
        )
        identity = provider.fetch_identity(tokens, callback_query=query)
        assert identity.provider_user_id == fake.provider_user_id == tokens.provider_user_id
        assert provider.missing_scopes(identity) == []

        with pytest.raises(TokenExchangeError):  # a code is single-use
            provider.exchange_code(code=query["code"], code_verifier=None, callback_query=query)

        refreshed = provider.refresh(tokens)
        assert refreshed.refresh_token != tokens.refresh_token
        with pytest.raises(TokenRevokedError):  # the spent refresh token is refused
            provider.refresh(tokens)
        assert provider.refresh(refreshed).access_token != refreshed.access_token
        assert (fake.token_exchanges, fake.refresh_calls) == (1, 3)

        fake.expire_access_tokens()
        with pytest.raises(TokenRevokedError):
            provider.fetch_identity(
                TokenSet(access_token=refreshed.access_token), callback_query={}
            )

    fake = FakeStrava(scope="read")
    with httpx.Client(transport=fake.transport()) as client:
        provider = StravaProvider(fake.credentials, client)
        query = fake.callback("state-2")
        tokens = provider.exchange_code(
            code=query["code"], code_verifier=None, callback_query=query
        )
        identity = provider.fetch_identity(tokens, callback_query=query)
        assert provider.missing_scopes(identity) == ["activity:read"]
        provider.revoke(tokens)
        assert fake.revocations == 1
        with pytest.raises(TokenRevokedError):  # deauthorisation kills the refresh token too
            provider.refresh(tokens)
    assert tokens.access_token in fake.issued_secrets
    assert query["code"] in fake.issued_secrets


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("activity_created", "activity_created"),
        ("activity_updated", "activity_updated"),
        ("activity_deleted", "activity_deleted"),
        ("deauthorized", "deauthorized"),
    ],
)
def test_fake_strava_webhooks_verify_and_forged_ones_do_not(kind: str, expected: str) -> None:
    fake = FakeStrava()
    with httpx.Client(transport=fake.transport()) as client:
        provider = StravaProvider(fake.credentials, client)
        headers, body, query = fake.signed_webhook(kind)
        request = WebhookRequest("POST", headers, query, body)
        provider.verify_webhook(request)
        [event] = provider.parse_webhook(request)
        assert (event.kind, event.provider_user_id) == (expected, fake.provider_user_id)

        headers, body, query = fake.forged_webhook(kind)
        with pytest.raises(WebhookVerificationError):
            provider.verify_webhook(WebhookRequest("POST", headers, query, body))

        good = provider.handle_webhook_get(WebhookRequest("GET", {}, fake.handshake_query(), b""))
        assert good.status_code == 200
        wrong_query = fake.handshake_query(verify_token="nope")  # noqa: S106
        bad = provider.handle_webhook_get(WebhookRequest("GET", {}, wrong_query, b""))
        assert bad.status_code == 403
