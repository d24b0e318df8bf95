"""GarminProvider against the Garmin partner API's shapes (fixtures in
tests/fixtures/providers/garmin), over httpx.MockTransport; plus the fake Garmin server the
end-to-end tests use."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.garmin import FakeGarmin
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
from trainlytics.providers.base import (
    RECEIVED_AT_KEY,
    ProviderCredentials,
    TokenSet,
    WebhookRequest,
)
from trainlytics.providers.garmin import AUTHORIZE_URL, GarminProvider

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "garmin"

CLIENT_ID = "3f6c2b1a-8e7d-4c5b-9a0f-1e2d3c4b5a69"
CLIENT_SECRET = "garmin-unit-client-secret-8f14e45fceea167a"  # noqa: S105 - test value
CODE = "garmin-unit-code-c9f0f895fb98ab91"
VERIFIER = "garmin-unit-verifier-" + "a" * 43
REFRESH_TOKEN = "garmin-unit-refresh-45c48cce2e2d7fbd"  # noqa: S105 - test value
ACCESS_TOKEN = "garmin-unit-access-d3d9446802a44259"  # noqa: S105 - test value
SECRETS = (CLIENT_SECRET, CODE, VERIFIER, REFRESH_TOKEN, ACCESS_TOKEN)
USER_ID = "5f1c2a9e-7b3d-4c8e-a1f0-93d6b2e4c7a1"
REDIRECT_URI = "https://api.trainlytics.test/oauth/garmin/callback"

CREDENTIALS = ProviderCredentials(
    client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI
)
CALLBACK = {"code": CODE, "state": "s"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def make() -> Iterator[Callable[[Handler], tuple[GarminProvider, Recorder]]]:
    clients: list[httpx.Client] = []

    def _make(handler: Handler) -> tuple[GarminProvider, Recorder]:
        recorder = Recorder(handler)
        client = httpx.Client(transport=httpx.MockTransport(recorder))
        clients.append(client)
        return GarminProvider(CREDENTIALS, client), recorder

    yield _make
    for client in clients:
        client.close()


def route(routes: dict[tuple[str, str], httpx.Response]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        key = (request.method, str(request.url))
        return routes.get(key, httpx.Response(404))

    return handler


def stored_tokens(**overrides: Any) -> TokenSet:
    values: dict[str, Any] = {
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "expires_at": datetime.now(UTC) + timedelta(minutes=2),
        "refresh_token_expires_at": datetime.now(UTC) + timedelta(days=80),
        "scopes": ("PARTNER_READ",),
        "provider_user_id": USER_ID,
    }
    values.update(overrides)
    return TokenSet(**values)


def webhook(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    all_headers = {"content-type": "application/json", "garmin-client-id": CLIENT_ID}
    all_headers.update(headers or {})
    return WebhookRequest(method="POST", headers=all_headers, query={}, body=body)


def assert_no_secret(exc: BaseException) -> None:
    texts = [str(exc), repr(exc)]
    if isinstance(exc, TrainlyticsError):
        texts += [exc.message, exc.hint or ""]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- OAuth: authorize URL with PKCE ------------------------------------------------------------


def test_authorize_url_carries_an_s256_challenge_and_state(make: Any) -> None:
    provider, _ = make(respond(500))
    challenge = s256(VERIFIER)
    url = provider.authorization_url(state="state-123", code_challenge=challenge)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "code_challenge": [challenge],
        "code_challenge_method": ["S256"],
        "redirect_uri": [REDIRECT_URI],
        "state": ["state-123"],
    }
    assert "scope" not in parse_qs(parts.query)  # permissions are ticked on Garmin's screen
    assert GarminProvider.uses_pkce is True
    assert GarminProvider.required_scopes == ("ACTIVITY_EXPORT",)


def test_authorize_url_without_a_challenge_is_a_programming_error(make: Any) -> None:
    provider, _ = make(respond(500))
    with pytest.raises(ValueError, match="PKCE"):
        provider.authorization_url(state="s", code_challenge=None)


# --- OAuth: code exchange ----------------------------------------------------------------------


def test_exchange_sends_secret_verifier_and_redirect_uri(make: Any) -> None:
    body = fixture("token_exchange.json")
    provider, recorder = make(respond(200, body))
    before = datetime.now(UTC)
    tokens = provider.exchange_code(code=CODE, code_verifier=VERIFIER, callback_query=CALLBACK)
    after = datetime.now(UTC)

    request = recorder.requests[0]
    assert (request.method, str(request.url)) == (
        "POST",
        "https://diauth.garmin.com/di-oauth2-service/oauth/token",
    )
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert recorder.form() == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": CODE,
        "code_verifier": VERIFIER,
        "redirect_uri": REDIRECT_URI,
    }
    assert tokens.access_token == body["access_token"]
    assert tokens.refresh_token == body["refresh_token"]
    assert tokens.expires_at is not None
    assert tokens.refresh_token_expires_at is not None
    assert (
        before + timedelta(seconds=86399) <= tokens.expires_at <= after + timedelta(seconds=86399)
    )
    assert (
        before + timedelta(seconds=7775999)
        <= tokens.refresh_token_expires_at
        <= after + timedelta(seconds=7775999)
    )
    assert tokens.scopes == ("PARTNER_WRITE", "PARTNER_READ", "CONNECT_READ", "CONNECT_WRITE")
    assert tokens.provider_user_id is None  # Garmin's id comes from /user/id
    assert body["access_token"] not in repr(tokens)


def test_exchange_without_a_verifier_is_refused_before_any_request(make: Any) -> None:
    provider, recorder = make(respond(500))
    with pytest.raises(TokenExchangeError):
        provider.exchange_code(code=CODE, code_verifier=None, callback_query=CALLBACK)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("status", "error_fixture", "code"),
    [
        (400, "error_invalid_grant.json", "invalid_grant"),
        (401, "error_invalid_client.json", "invalid_client"),
    ],
)
def test_refused_code_exchange_raises_token_exchange_error(
    make: Any, status: int, error_fixture: str, code: str
) -> None:
    provider, _ = make(respond(status, fixture(error_fixture)))
    with pytest.raises(TokenExchangeError) as caught:
        provider.exchange_code(code=CODE, code_verifier=VERIFIER, callback_query=CALLBACK)
    assert caught.value.status_code == status
    assert code in caught.value.message
    assert "error_description" not in caught.value.message
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in fixture("token_exchange.json").items() if k != "access_token"},
        {k: v for k, v in fixture("token_exchange.json").items() if k != "refresh_token"},
        dict(fixture("token_exchange.json"), refresh_token=42),
        ["access_token"],
        b"<html>",
    ],
    ids=["no-access", "no-refresh", "refresh-not-string", "list", "html"],
)
def test_malformed_token_response_raises_bad_payload(make: Any, body: Any) -> None:
    provider, _ = make(respond(200, body))
    with pytest.raises(BadPayloadError):
        provider.exchange_code(code=CODE, code_verifier=VERIFIER, callback_query=CALLBACK)


# --- identity and permissions ------------------------------------------------------------------

USER_ID_URL = "https://apis.garmin.com/partner-gateway/rest/user/id"
PERMISSIONS_URL = "https://apis.garmin.com/partner-gateway/rest/user/permissions"
REGISTRATION_URL = "https://apis.garmin.com/partner-gateway/rest/user/registration"


def test_identity_reads_user_id_and_permissions(make: Any) -> None:
    provider, recorder = make(
        route(
            {
                ("GET", USER_ID_URL): httpx.Response(200, json=fixture("user_id.json")),
                ("GET", PERMISSIONS_URL): httpx.Response(200, json=fixture("permissions.json")),
            }
        )
    )
    identity = provider.fetch_identity(stored_tokens(), callback_query=CALLBACK)
    assert identity.provider_user_id == USER_ID
    assert identity.username is None
    assert identity.scopes == tuple(fixture("permissions.json"))
    assert provider.missing_scopes(identity) == []
    assert {r.headers["authorization"] for r in recorder.requests} == {f"Bearer {ACCESS_TOKEN}"}


def test_permissions_without_activity_export_are_insufficient(make: Any) -> None:
    provider, _ = make(
        route(
            {
                ("GET", USER_ID_URL): httpx.Response(200, json=fixture("user_id.json")),
                ("GET", PERMISSIONS_URL): httpx.Response(
                    200, json=fixture("permissions_without_activity.json")
                ),
            }
        )
    )
    identity = provider.fetch_identity(stored_tokens(), callback_query=CALLBACK)
    assert provider.missing_scopes(identity) == ["ACTIVITY_EXPORT"]


@pytest.mark.parametrize(
    ("user", "permissions"),
    [
        ({}, ["ACTIVITY_EXPORT"]),
        ({"userId": None}, ["ACTIVITY_EXPORT"]),
        ({"userId": USER_ID}, {"permissions": "ACTIVITY_EXPORT"}),
        ({"userId": USER_ID}, ["ACTIVITY_EXPORT", 7]),
    ],
)
def test_malformed_identity_responses_raise_bad_payload(
    make: Any, user: Any, permissions: Any
) -> None:
    provider, _ = make(
        route(
            {
                ("GET", USER_ID_URL): httpx.Response(200, json=user),
                ("GET", PERMISSIONS_URL): httpx.Response(200, json=permissions),
            }
        )
    )
    with pytest.raises(BadPayloadError):
        provider.fetch_identity(stored_tokens(), callback_query=CALLBACK)


def test_identity_with_a_refused_access_token_raises_revoked(make: Any) -> None:
    provider, _ = make(respond(401, {"errorMessage": "Unauthorized"}))
    with pytest.raises(TokenRevokedError) as caught:
        provider.fetch_identity(stored_tokens(), callback_query=CALLBACK)
    assert_no_secret(caught.value)


def test_identity_with_another_failure_raises_provider_error(make: Any) -> None:
    provider, _ = make(respond(403, {"errorMessage": "Forbidden"}))
    with pytest.raises(ProviderError) as caught:
        provider.fetch_identity(stored_tokens(), callback_query=CALLBACK)
    assert caught.value.status_code == 403


# --- refresh -----------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(make: Any) -> None:
    body = fixture("token_refresh.json")
    provider, recorder = make(respond(200, body))
    old = stored_tokens()
    new = provider.refresh(old)
    assert recorder.form() == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    assert new.access_token == body["access_token"]
    assert new.refresh_token == body["refresh_token"] != REFRESH_TOKEN
    assert new.refresh_token_expires_at is not None
    assert new.refresh_token_expires_at > datetime.now(UTC) + timedelta(days=89)
    assert new.provider_user_id == USER_ID


def test_refresh_without_rotation_keeps_the_old_refresh_token_and_its_expiry(make: Any) -> None:
    body = {
        k: v
        for k, v in fixture("token_refresh.json").items()
        if k not in ("refresh_token", "refresh_token_expires_in", "scope")
    }
    provider, _ = make(respond(200, body))
    old = stored_tokens()
    new = provider.refresh(old)
    assert new.refresh_token == REFRESH_TOKEN
    assert new.refresh_token_expires_at == old.refresh_token_expires_at
    assert new.scopes == old.scopes


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, fixture("error_invalid_grant.json")),
        (401, fixture("error_invalid_grant.json")),
        (401, None),
        (400, {"error": "invalid_request"}),
    ],
)
def test_refused_refresh_token_raises_token_revoked(make: Any, status: int, body: Any) -> None:
    provider, _ = make(respond(status, body))
    with pytest.raises(TokenRevokedError) as caught:
        provider.refresh(stored_tokens())
    assert caught.value.status_code == status
    assert_no_secret(caught.value)


def test_refresh_refused_for_the_apps_credentials_is_not_a_revocation(make: Any) -> None:
    provider, _ = make(respond(401, fixture("error_invalid_client.json")))
    with pytest.raises(TokenRefreshError) as caught:
        provider.refresh(stored_tokens())
    assert not isinstance(caught.value, TokenRevokedError)
    assert "GARMIN_CLIENT_SECRET" in (caught.value.hint or "")


def test_refresh_with_an_unexpected_status_raises_token_refresh_error(make: Any) -> None:
    provider, _ = make(respond(403, {"error": "access_denied"}))
    with pytest.raises(TokenRefreshError) as caught:
        provider.refresh(stored_tokens())
    assert not isinstance(caught.value, TokenRevokedError)


# --- transient failures ------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "retry_after"), [({"Retry-After": "30"}, 30.0), ({}, None)])
def test_429_raises_rate_limited_with_retry_after(
    make: Any, headers: dict[str, str], retry_after: float | None
) -> None:
    provider, _ = make(respond(429, {"errorMessage": "Too Many Requests"}, headers))
    with pytest.raises(RateLimitedError) as caught:
        provider.refresh(stored_tokens())
    assert caught.value.retry_after == retry_after


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    "handler",
    [
        respond(500, {"error": "server_error"}),
        respond(503, b"Service Unavailable"),
        _raise(httpx.ReadTimeout("timed out")),
        _raise(httpx.ConnectTimeout("timed out")),
        _raise(httpx.ConnectError("refused")),
    ],
    ids=["500", "503", "read-timeout", "connect-timeout", "connect"],
)
@pytest.mark.parametrize("call", ["exchange", "refresh", "identity", "revoke"])
def test_5xx_and_timeouts_raise_provider_unavailable(
    make: Any, handler: Handler, call: str
) -> None:
    provider, _ = make(handler)
    calls: dict[str, Callable[[], object]] = {
        "exchange": lambda: provider.exchange_code(
            code=CODE, code_verifier=VERIFIER, callback_query=CALLBACK
        ),
        "refresh": lambda: provider.refresh(stored_tokens()),
        "identity": lambda: provider.fetch_identity(stored_tokens(), callback_query=CALLBACK),
        "revoke": lambda: provider.revoke(stored_tokens()),
    }
    with pytest.raises(ProviderUnavailableError) as caught:
        calls[call]()
    assert_no_secret(caught.value)


# --- revoke ------------------------------------------------------------------------------------


def test_revoke_deletes_the_user_registration(make: Any) -> None:
    provider, recorder = make(respond(204))
    provider.revoke(stored_tokens())
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("DELETE", REGISTRATION_URL)
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_revoking_an_already_gone_registration_is_not_an_error(make: Any, status: int) -> None:
    provider, _ = make(respond(status))
    provider.revoke(stored_tokens())


def test_revoke_with_an_unexpected_status_raises_provider_error(make: Any) -> None:
    provider, _ = make(respond(400, {"error": "invalid_request"}))
    with pytest.raises(ProviderError) as caught:
        provider.revoke(stored_tokens())
    assert caught.value.status_code == 400


# --- webhooks: verification --------------------------------------------------------------------


def test_webhook_with_our_client_id_header_is_verified(make: Any) -> None:
    provider, _ = make(respond(500))
    provider.verify_webhook(webhook(fixture_bytes("webhook_activities_push.json")))


@pytest.mark.parametrize(
    "headers",
    [
        {"garmin-client-id": "another-client-id"},
        {"garmin-client-id": CLIENT_ID + " "},
        {"garmin-client-id": ""},
        {"garmin-client-id": CLIENT_ID.upper()},
    ],
)
def test_webhook_with_a_wrong_client_id_header_is_rejected(
    make: Any, headers: dict[str, str]
) -> None:
    provider, _ = make(respond(500))
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(webhook(fixture_bytes("webhook_activities_push.json"), headers))


def test_webhook_without_the_header_is_rejected(make: Any) -> None:
    provider, _ = make(respond(500))
    request = WebhookRequest("POST", {}, {}, fixture_bytes("webhook_activities_push.json"))
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(request)


def test_webhook_get_is_not_allowed(make: Any) -> None:
    provider, _ = make(respond(500))
    response = provider.handle_webhook_get(WebhookRequest("GET", {}, {}, b""))
    assert response.status_code == 405
    assert provider.webhook_ack().status_code == 200


# --- webhooks: parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("webhook_activities_ping.json", "activities_available"),
        ("webhook_deregistrations.json", "deauthorized"),
        ("webhook_user_permissions_change.json", "permissions_changed"),
    ],
)
def test_notifications_are_parsed(make: Any, name: str, kind: str) -> None:
    provider, _ = make(respond(500))
    [event] = provider.parse_webhook(webhook(fixture_bytes(name)))
    assert (event.provider_user_id, event.kind, event.object_id) == (USER_ID, kind, None)
    [(_, [item])] = fixture(name).items()
    assert {k: v for k, v in event.payload.items() if k != RECEIVED_AT_KEY} == item


@pytest.mark.parametrize(
    "name",
    [
        "webhook_activities_push.json",
        "webhook_activity_details_push.json",
        "webhook_manually_updated_activities_push.json",
    ],
)
def test_forged_garmin_pushes_are_never_trusted_with_data(
    make: Any, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14, finding 3: a push is authenticated only by the public garmin-client-id, so its
    content is not an event at all (logged, ignored); only pings, fetched from Garmin, are."""
    provider, _ = make(respond(500))
    assert provider.parse_webhook(webhook(fixture_bytes(name))) == []
    assert "push for user" in caplog.text
    assert "ignored" in caplog.text


def test_ping_payload_keeps_the_callback_url_for_the_worker(make: Any) -> None:
    provider, _ = make(respond(500))
    [event] = provider.parse_webhook(webhook(fixture_bytes("webhook_activities_ping.json")))
    assert str(event.payload["callbackURL"]).startswith(
        "https://apis.garmin.com/wellness-api/rest/activities?"
    )


def test_permission_change_carries_the_new_permissions(make: Any) -> None:
    provider, _ = make(respond(500))
    [event] = provider.parse_webhook(webhook(fixture_bytes("webhook_user_permissions_change.json")))
    assert event.payload["permissions"] == ["HEALTH_EXPORT"]


def test_one_body_may_carry_several_users_and_types(make: Any) -> None:
    ping = fixture("webhook_activities_ping.json")["activities"][0]
    other = dict(ping, userId="other-user")
    body = {
        "activities": [ping, other, fixture("webhook_activities_push.json")["activities"][0]],
        "deregistrations": [{"userId": "gone-user"}],
        "dailies": fixture("webhook_dailies_push.json")["dailies"],
    }
    provider, _ = make(respond(500))
    events = provider.parse_webhook(webhook(json.dumps(body).encode()))
    assert [(e.provider_user_id, e.kind, e.object_id) for e in events] == [
        (USER_ID, "activities_available", None),
        ("other-user", "activities_available", None),
        ("gone-user", "deauthorized", None),
    ]


def test_non_activity_summaries_are_ignored(make: Any) -> None:
    provider, _ = make(respond(500))
    assert provider.parse_webhook(webhook(fixture_bytes("webhook_dailies_push.json"))) == []
    assert provider.parse_webhook(webhook(b'{"activities": []}')) == []


def _push(**changes: Any) -> dict[str, Any]:
    item = fixture("webhook_activities_push.json")["activities"][0]
    for key, value in changes.items():
        if value is ...:
            item.pop(key)
        else:
            item[key] = value
    return {"activities": [item]}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{oops",
        b"\xff",
        b"[]",
        b"{}",
        b'"activities"',
        json.dumps({"activities": {"userId": USER_ID}}).encode(),
        json.dumps({"activities": ["21873461203"]}).encode(),
        json.dumps(_push(userId=...)).encode(),
        json.dumps(_push(userId=12345)).encode(),
        json.dumps({"activities": [{"userId": USER_ID, "callbackURL": 5}]}).encode(),
        json.dumps(
            {"activities": [{"userId": USER_ID, "callbackURL": "http://evil.test/x"}]}
        ).encode(),
        json.dumps(
            {
                "activities": [
                    {
                        "userId": USER_ID,
                        "callbackURL": "https://evil.test/wellness-api/rest/activities?token=x",
                    }
                ]
            }
        ).encode(),
        json.dumps({"deregistrations": [{}]}).encode(),
        json.dumps({"userPermissionsChange": [{"userId": USER_ID}]}).encode(),
        json.dumps({"userPermissionsChange": [{"userId": USER_ID, "permissions": "ALL"}]}).encode(),
    ],
)
def test_malformed_bodies_raise_bad_payload(make: Any, body: bytes) -> None:
    provider, _ = make(respond(500))
    with pytest.raises(BadPayloadError) as caught:
        provider.parse_webhook(webhook(body))
    assert caught.value.provider == "garmin"


# --- no secret in messages ---------------------------------------------------------------------


def test_no_secret_reaches_a_message_even_when_the_provider_echoes_it(make: Any) -> None:
    echoed = {
        "error": REFRESH_TOKEN,
        "error_description": f"bad {CODE} {VERIFIER} {CLIENT_SECRET} {ACCESS_TOKEN}",
    }
    raised: list[TrainlyticsError] = []
    for status in (400, 401, 403, 409):
        provider, _ = make(respond(status, echoed))
        for call in _every_call(provider):
            try:
                call()
            except TrainlyticsError as error:
                raised.append(error)
    assert len(raised) == 12
    for caught in raised:
        assert_no_secret(caught)


def _every_call(provider: GarminProvider) -> list[Callable[[], object]]:
    def exchange() -> object:
        return provider.exchange_code(code=CODE, code_verifier=VERIFIER, callback_query=CALLBACK)

    def refresh() -> object:
        return provider.refresh(stored_tokens())

    def identity() -> object:
        return provider.fetch_identity(stored_tokens(), callback_query=CALLBACK)

    return [exchange, refresh, identity]


def test_reprs_hide_secrets(make: Any) -> None:
    provider, _ = make(respond(500))
    assert CLIENT_SECRET not in repr(provider.credentials)
    assert ACCESS_TOKEN not in repr(stored_tokens())
    assert REFRESH_TOKEN not in repr(stored_tokens())


# --- the fake Garmin used by the end-to-end tests ----------------------------------------------


def test_fake_garmin_serves_a_whole_connection_life_with_pkce() -> None:
    fake = FakeGarmin()
    with httpx.Client(transport=fake.transport()) as client:
        provider = GarminProvider(fake.credentials, client)
        verifier = secrets.token_urlsafe(48)
        url = provider.authorization_url(state="state-1", code_challenge=s256(verifier))
        query = fake.callback_query("state-1", authorize_url=url)
        assert set(query) == {"code", "state"}

        tokens = provider.exchange_code(
            code=query["code"], code_verifier=verifier, callback_query=query
        )
        identity = provider.fetch_identity(tokens, callback_query=query)
        assert identity.provider_user_id == fake.provider_user_id
        assert provider.missing_scopes(identity) == []

        refreshed = provider.refresh(tokens)
        assert refreshed.refresh_token != tokens.refresh_token
        with pytest.raises(TokenRevokedError):  # the spent refresh token is refused
            provider.refresh(tokens)
        assert (fake.token_exchanges, fake.refresh_calls) == (1, 2)

        provider.revoke(refreshed)
        assert fake.revocations == 1
        with pytest.raises(TokenRevokedError):
            provider.refresh(refreshed)


def test_fake_garmin_refuses_a_wrong_pkce_verifier_and_a_reused_code() -> None:
    fake = FakeGarmin(permissions=fixture("permissions_without_activity.json"))
    with httpx.Client(transport=fake.transport()) as client:
        provider = GarminProvider(fake.credentials, client)
        verifier = secrets.token_urlsafe(48)
        url = provider.authorization_url(state="st", code_challenge=s256(verifier))
        query = fake.callback_query("st", authorize_url=url)
        with pytest.raises(TokenExchangeError):
            provider.exchange_code(
                code=query["code"], code_verifier=verifier + "x", callback_query=query
            )
        with pytest.raises(TokenExchangeError):  # the code was consumed by the failed attempt
            provider.exchange_code(code=query["code"], code_verifier=verifier, callback_query=query)

        query = fake.callback_query("st2")
        tokens = provider.exchange_code(
            code=query["code"], code_verifier=verifier, callback_query=query
        )
        identity = provider.fetch_identity(tokens, callback_query=query)
        assert provider.missing_scopes(identity) == ["ACTIVITY_EXPORT"]


@pytest.mark.parametrize(
    "kind",
    [
        "activity_created",
        "activity_updated",
        "activities_available",
        "deauthorized",
        "permissions_changed",
    ],
)
def test_fake_garmin_webhooks_verify_and_forged_ones_do_not(kind: str) -> None:
    fake = FakeGarmin()
    with httpx.Client(transport=fake.transport()) as client:
        provider = GarminProvider(fake.credentials, client)
        headers, body, query = fake.signed_webhook(kind)
        request = WebhookRequest("POST", headers, query, body)
        provider.verify_webhook(request)
        [event] = provider.parse_webhook(request)
        expected = "activities_available" if kind.startswith("activit") else kind
        assert (event.kind, event.provider_user_id) == (expected, fake.provider_user_id)

        headers, body, query = fake.forged_webhook(kind)
        with pytest.raises(WebhookVerificationError):
            provider.verify_webhook(WebhookRequest("POST", headers, query, body))
