"""Each provider end to end through the real app: start → callback → stored encrypted tokens →
refresh with rotation → disconnect; reconnect; and no secret in any log line or response."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.fakes import FAKES, PROVIDER_NAMES
from tests.helpers import act_as_user
from tests.http.conftest import World, state_of
from trainlytics.connections.revocation import revoke_queued
from trainlytics.errors import TokenRevokedError
from trainlytics.providers import PROVIDER_CLASSES
from trainlytics.sync import jobs
from trainlytics.sync.engine import SyncEngine

PROVIDERS = sorted(FAKES)


def test_every_provider_has_a_fake_and_the_registry_names_them_all() -> None:
    assert tuple(PROVIDER_CLASSES) == PROVIDER_NAMES
    missing = sorted(set(PROVIDER_CLASSES) - set(FAKES))
    assert missing == [], f"no tests/fakes/<name>.py for {missing}"


def _token_request(world: World, provider: str) -> dict[str, str]:
    """The form of the fake's last token-endpoint request carrying a code (the exchange)."""
    for request in reversed(world.fakes[provider].requests):
        if request.method == "POST":
            form = {k: v[0] for k, v in parse_qs(request.content.decode(errors="replace")).items()}
            query = dict(request.url.params)
            merged = {**query, **form}
            if "code" in merged:
                return merged
    raise AssertionError("no code exchange reached the provider")


def _jobs(world: World, task: str, connection_id: int) -> list[dict[str, Any]]:
    rows = world.conn.execute(
        "select args from queue.procrastinate_jobs where task_name = %s"
        " and (args->>'connection_id')::bigint = %s order by id",
        [task, connection_id],
    ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connect_refresh_disconnect(
    world: World, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = world.fakes[provider]
    cls = PROVIDER_CLASSES[provider]
    responses: list[str] = []

    # start: an authorize URL at the provider, with a fresh state (and PKCE where supported)
    start = world.client.post(f"/connections/{provider}/start", headers=world.auth("alice"))
    assert start.status_code == 200, start.text
    responses.append(start.text)
    url = start.json()["authorize_url"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    state = params["state"]
    assert len(state) >= 43
    stored = world.one(
        "select user_id, provider::text, expires_at > now() from private.oauth_states"
        " where state_hash = %s",
        [hashlib.sha256(state.encode()).hexdigest()],
    )
    assert stored == (world.user("alice"), provider, True)
    assert (
        world.one("select count(*) from private.oauth_states where state_hash = %s", [state]) == 0
    )

    # callback: the provider's redirect is forwarded to the frontend's completion page, which
    # completes with the athlete's own token → connected
    query = fake.callback(state)
    response = world.client.get(f"/oauth/{provider}/callback", params=query)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location == (
        f"https://app.trainlytics.test/connections/complete?provider={provider}&{urlencode(query)}"
    )
    assert fake.token_exchanges == 0  # the bounce completes nothing
    response = world.client.post(
        f"/connections/{provider}/complete", json=query, headers=world.auth("alice")
    )
    responses.append(response.text + str(dict(response.headers)))
    assert response.status_code == 200, response.text
    assert response.json() == {"provider": provider, "status": "connected", "reason": None}
    assert fake.token_exchanges == 1

    exchange = _token_request(world, provider)
    verifier = exchange.get("code_verifier")
    if cls.uses_pkce:
        # RFC 7636: 43-128 unreserved characters; challenge = BASE64URL(SHA256(verifier)).
        assert verifier is not None
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        )
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        assert params["code_challenge"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
        assert params["code_challenge_method"] == "S256"
    else:
        assert "code_challenge" not in params
        assert verifier is None

    # the stored connection and its encrypted tokens
    connection = world.one(
        "select id, status::text, provider_user_id from public.provider_connections"
        " where user_id = %s and provider = %s",
        [world.user("alice"), provider],
    )
    assert connection is not None
    connection_id, status, provider_user_id = connection
    assert (status, provider_user_id) == ("active", fake.provider_user_id)
    row = world.one(
        "select access_token_ciphertext, coalesce(refresh_token_ciphertext, '') from"
        " private.provider_tokens where connection_id = %s",
        [connection_id],
    )
    _, tokens = world.deps.tokens.stored_tokens(connection_id)
    assert tokens.access_token in fake.issued_secrets
    for ciphertext in row:
        for secret in fake.issued_secrets:
            assert secret not in ciphertext
    assert row[0] != tokens.access_token
    assert (
        world.one(
            "select event::text from public.connection_events where connection_id = %s",
            [connection_id],
        )
        == "connected"
    )
    assert _jobs(world, jobs.SYNC_CONNECTION, connection_id) == [
        {"connection_id": connection_id, "trigger": "initial"}
    ]

    # refresh ahead of expiry, persisting a rotated refresh token
    world.conn.execute(
        "update private.provider_tokens set access_token_expires_at = now() + interval '1 minute'"
        " where connection_id = %s",
        [connection_id],
    )
    version = world.one(
        "select version from private.provider_tokens where connection_id = %s", [connection_id]
    )
    refreshed = world.deps.tokens.valid_tokens(connection_id)
    if tokens.refresh_token is None:  # Polar: no refresh token, long-lived access token
        assert fake.refresh_calls == 0
        assert refreshed.access_token == tokens.access_token
    else:
        assert fake.refresh_calls == 1
        assert refreshed.expires_at is not None
        assert refreshed.expires_at > datetime.now(UTC)
        assert (
            world.one(
                "select version from private.provider_tokens where connection_id = %s",
                [connection_id],
            )
            == version + 1
        )
        again = world.deps.tokens.valid_tokens(connection_id)
        assert fake.refresh_calls == 1
        assert again.access_token == refreshed.access_token
        if refreshed.refresh_token != tokens.refresh_token:
            # the spent refresh token is refused by the provider: it must never be used again
            with pytest.raises(TokenRevokedError):
                world.deps.providers[provider].refresh(tokens)
            assert world.deps.tokens.stored_tokens(connection_id)[1].refresh_token == (
                refreshed.refresh_token
            )

    # disconnect: revoked at the provider, tokens gone, connection disconnected
    response = world.client.post(f"/connections/{provider}/disconnect", headers=world.auth("alice"))
    responses.append(response.text)
    assert response.status_code == 200, response.text
    assert response.json()["disconnected"] is True
    assert response.json()["revoked_at_provider"] is True
    assert fake.revocations == 1
    assert (
        world.one(
            "select status::text from public.provider_connections where id = %s", [connection_id]
        )
        == "disconnected"
    )
    assert (
        world.one(
            "select count(*) from private.provider_tokens where connection_id = %s", [connection_id]
        )
        == 0
    )

    # nothing secret in any log line or response of the whole flow
    secrets = {*fake.issued_secrets, state, world.auth("alice")["Authorization"][7:]}
    if verifier:
        secrets.add(verifier)
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    assert logged  # the flow was logged
    for secret in secrets:
        assert secret not in logged, f"a secret of {provider} reached the logs"
    # (the state travels in the authorize URL on purpose: it is only checked against the logs)
    for secret in secrets - {state}:
        for text in responses:
            assert secret not in text, f"a secret of {provider} reached a response"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reconnect_reuses_the_row_and_activities_survive_unless_the_terms_say_delete(
    world: World, provider: str
) -> None:
    assert world.connect(provider)["status"] == "connected"
    user = world.user("alice")
    connection_id = world.one(
        "select id from public.provider_connections where user_id = %s and provider = %s",
        [user, provider],
    )
    world.conn.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " start_date, is_manual) values (%s, %s, %s, 'provider', 'ext-1', now(), false)",
        [user, connection_id, provider],
    )
    response = world.client.post(f"/connections/{provider}/disconnect", headers=world.auth("alice"))
    assert response.status_code == 200
    deletes = PROVIDER_CLASSES[provider].delete_activities_on_disconnect
    assert response.json()["activities_deleted"] == (1 if deletes else 0)
    kept = world.one(
        "select count(*) from public.activities where connection_id = %s", [connection_id]
    )
    assert kept == (0 if deletes else 1)

    assert world.connect(provider)["status"] == "connected"
    again = world.one(
        "select id, status::text from public.provider_connections where user_id = %s"
        " and provider = %s",
        [user, provider],
    )
    assert again == (connection_id, "active")
    events = world.conn.execute(
        "select event::text from public.connection_events where connection_id = %s order by id",
        [connection_id],
    ).fetchall()
    assert [e[0] for e in events] == ["connected", "disconnected", "reconnected"]
    assert (
        world.one(
            "select count(*) from public.activities where connection_id = %s", [connection_id]
        )
        == kept
    )


def test_strava_terms_require_deleting_its_activities_on_disconnect() -> None:
    assert PROVIDER_CLASSES["strava"].delete_activities_on_disconnect is True
    others = [n for n, c in PROVIDER_CLASSES.items() if c.delete_activities_on_disconnect]
    assert others == ["strava"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failed_revocation_still_disconnects(world: World, provider: str) -> None:
    world.connect(provider)
    fake = world.fakes[provider]
    fake.handle = lambda request: httpx.Response(503)  # type: ignore[method-assign]
    response = world.client.post(f"/connections/{provider}/disconnect", headers=world.auth("alice"))
    assert response.status_code == 200
    assert response.json()["disconnected"] is True
    assert response.json()["revoked_at_provider"] is False


def test_disconnecting_nothing_is_not_an_error(world: World) -> None:
    provider = PROVIDERS[0]
    response = world.client.post(f"/connections/{provider}/disconnect", headers=world.auth("bob"))
    assert response.status_code == 200
    assert response.json()["disconnected"] is False


def test_state_in_the_authorize_url_is_stored_only_hashed(world: World) -> None:
    provider = PROVIDERS[0]
    state = state_of(world.start(provider))
    assert (
        world.one("select count(*) from private.oauth_states where state_hash = %s", [state]) == 0
    )


# --- issue 14, finding 11: one disconnect path with one behaviour ------------------------------


def _queued_revocations(world: World, connection_id: int) -> int:
    return int(
        world.one(
            "select count(*) from private.token_revocations where connection_id = %s",
            [connection_id],
        )
    )


def _state_after_disconnect(world: World, connection_id: int) -> tuple[Any, ...]:
    return (
        world.one(
            "select status::text from public.provider_connections where id = %s", [connection_id]
        ),
        world.one(
            "select count(*) from private.provider_tokens where connection_id = %s",
            [connection_id],
        ),
        world.one(
            "select count(*) from public.activities where connection_id = %s", [connection_id]
        ),
        world.one(
            "select count(*) from queue.procrastinate_jobs where task_name = %s"
            " and (args->>'connection_id')::bigint = %s",
            [jobs.REVOKE_TOKENS, connection_id],
        ),
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_disconnecting_through_the_data_api_deletes_strava_data_and_revokes_like_http(
    world: World, provider: str
) -> None:
    assert world.connect(provider)["status"] == "connected"
    user = world.user("alice")
    connection_id = world.one(
        "select id from public.provider_connections where user_id = %s and provider = %s",
        [user, provider],
    )
    world.conn.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " start_date, is_manual) values (%s, %s, %s, 'provider', 'ext-1', now(), false)",
        [user, connection_id, provider],
    )
    # The athlete disconnects through the Data API (PostgREST), not through the HTTP app.
    with world.conn.transaction():
        act_as_user(world.conn, user)
        world.conn.execute(
            "update public.provider_connections set status = 'disconnected' where id = %s",
            [connection_id],
        )
    deletes = PROVIDER_CLASSES[provider].delete_activities_on_disconnect
    # Tokens out of reach, Strava data gone, a revocation job queued: what HTTP does.
    assert _state_after_disconnect(world, connection_id) == (
        "disconnected",
        0,
        0 if deletes else 1,
        1,
    )
    assert world.fakes[provider].revocations == 0
    # The worker's job revokes at the provider with the queued tokens.
    engine = SyncEngine(world.deps.store.gateway, world.deps.tokens, world.deps.providers)
    jobs.build_app(world.database_url).run_worker(
        queues=[jobs.REVOCATION_QUEUE],
        wait=False,
        install_signal_handlers=False,
        additional_context={"engine": engine},
    )
    # (at least: the shared test database may hold revocations other tests left queued)
    assert world.fakes[provider].revocations >= 1
    assert _queued_revocations(world, connection_id) == 0
    assert (
        world.one(
            "select status::text from queue.procrastinate_jobs where task_name = %s"
            " and (args->>'connection_id')::bigint = %s",
            [jobs.REVOKE_TOKENS, connection_id],
        )
        == "succeeded"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_http_disconnect_runs_the_same_sql_and_revokes_at_once(world: World, provider: str) -> None:
    world.connect(provider)
    user = world.user("alice")
    connection_id = world.one(
        "select id from public.provider_connections where user_id = %s and provider = %s",
        [user, provider],
    )
    response = world.client.post(f"/connections/{provider}/disconnect", headers=world.auth("alice"))
    assert response.json()["revoked_at_provider"] is True
    # The same state as the Data API path (the job queued by SQL finds nothing left to do).
    assert _state_after_disconnect(world, connection_id) == ("disconnected", 0, 0, 1)
    assert _queued_revocations(world, connection_id) == 0
    assert world.fakes[provider].revocations == 1


def test_a_failed_revocation_stays_queued_for_the_worker(world: World) -> None:
    provider = PROVIDERS[0]
    world.connect(provider)
    connection_id = world.one(
        "select id from public.provider_connections where user_id = %s and provider = %s",
        [world.user("alice"), provider],
    )
    fake = world.fakes[provider]
    handle = fake.handle
    fake.handle = lambda request: httpx.Response(503)  # type: ignore[method-assign]
    response = world.client.post(f"/connections/{provider}/disconnect", headers=world.auth("alice"))
    assert response.json()["revoked_at_provider"] is False
    queued = world.one(
        "select attempts, last_error is not null from private.token_revocations"
        " where connection_id = %s",
        [connection_id],
    )
    assert queued == (1, True)
    fake.handle = handle  # type: ignore[method-assign]
    report = revoke_queued(
        world.deps.store, world.deps.cipher, world.deps.providers, connection_id=connection_id
    )
    assert report.revoked == [connection_id]
    assert fake.revocations == 1
    assert _queued_revocations(world, connection_id) == 0


def test_sql_and_python_agree_on_which_providers_data_a_disconnect_deletes(world: World) -> None:
    for name, cls in PROVIDER_CLASSES.items():
        in_sql = world.one("select private.provider_deletes_data_on_disconnect(%s)", [name])
        assert in_sql is cls.delete_activities_on_disconnect, name
