"""Issue 13 over the real HTTP app and database: tokens obtained by a completion that stores no
connection are revoked at the provider (unless the account holds a live connection, which a
revocation would end), Strava's athlete cap is refused with a clear message before anyone is
sent to Strava, Strava accepts athletes who untick private activities, and a Strava refresh
refused by Strava deletes the Strava data even though no webhook arrived."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.fakes import FAKES, FakeProvider
from tests.fakes.fitbit import FakeFitbit
from tests.fakes.garmin import FakeGarmin
from tests.fakes.strava import FakeStrava
from tests.fakes.wahoo import FakeWahoo
from tests.http.conftest import World, make_world, state_of


def _narrow(world: World, provider: str) -> None:
    """The athlete grants less than the sync needs, at the provider's consent screen."""
    fake: Any = world.fakes[provider]
    if isinstance(fake, FakeStrava):
        fake.scope = "read"
    elif isinstance(fake, FakeFitbit):
        fake.scope = "https://www.googleapis.com/auth/googlehealth.location.readonly"
    elif isinstance(fake, FakeGarmin):
        fake.permissions = ["HEALTH_EXPORT"]
    elif isinstance(fake, FakeWahoo):
        fake.scope = "user_read offline_data"
    else:  # pragma: no cover - the parametrisation names the providers above
        raise AssertionError(provider)


@pytest.mark.parametrize("provider", ["fitbit", "garmin", "strava", "wahoo"])
def test_tokens_of_a_refused_scope_do_not_dangle_at_the_provider(
    world: World, provider: str
) -> None:
    _narrow(world, provider)
    outcome = world.connect(provider)
    assert outcome["reason"] == "insufficient_scope"
    fake = world.fakes[provider]
    assert fake.token_exchanges == 1
    assert fake.revocations == 1  # revoked at once: nothing stored holds them
    assert (
        world.one(
            "select count(*) from public.provider_connections where user_id = %s",
            [world.user("alice")],
        )
        == 0
    )


@pytest.mark.parametrize("provider", ["fitbit", "garmin", "polar", "strava", "wahoo"])
def test_a_refused_link_to_an_account_live_elsewhere_does_not_revoke_its_grant(
    world: World, provider: str
) -> None:
    """Mallory's completion for Alice's provider account is refused; revoking the tokens it
    got would end Alice's access too (every provider here revokes per account), so they are
    left to expire and Alice's connection keeps working."""
    assert world.connect(provider, "alice")["status"] == "connected"
    assert world.connect(provider, "mallory")["reason"] == "account_linked_elsewhere"
    assert world.fakes[provider].revocations == 0
    status = world.one(
        "select status from public.provider_connections where user_id = %s",
        [world.user("alice")],
    )
    assert status == "active"


def test_a_strava_athlete_who_unticks_private_activities_is_connected(world: World) -> None:
    fake = world.fakes["strava"]
    assert isinstance(fake, FakeStrava)
    fake.scope = "read,activity:read"
    url = world.start("strava")
    consent = fake.authorize(url)  # Strava's page accepts every scope we ask for
    assert consent.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(consent.headers["location"]).query).items()}
    assert query["scope"] == "read,activity:read"
    assert world.callback("strava", query)["status"] == "connected"
    scopes = world.one(
        "select scopes from public.provider_connections where user_id = %s",
        [world.user("alice")],
    )
    assert scopes == ["read", "activity:read"]


def test_strava_refuses_a_scope_string_it_does_not_know() -> None:
    fake = FakeStrava()
    url = (
        "https://www.strava.com/oauth/authorize?client_id=104729&response_type=code"
        "&redirect_uri=https%3A%2F%2Fx.test%2Fcb&scope=read%2Cactivity%3Aread_al&state=s"
    )
    response = fake.authorize(url)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"resource": "Authorize", "field": "scope", "code": "invalid"}
    ]
    twice = url.replace("read%2Cactivity%3Aread_al", "read%2Cread")
    assert fake.authorize(twice).status_code == 400


@pytest.fixture
def capped_world(database_url: str, service_pool: ConnectionPool[Any]) -> Iterator[World]:
    """A deployment whose Strava application may serve ten more athletes than the suite's
    database already holds (it keeps what other tests connected)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from public.provider_connections where provider = 'strava'"
            " and is_active"
        ).fetchone()
    assert row is not None
    fakes: dict[str, FakeProvider] = {name: cls() for name, cls in FAKES.items()}
    strava = fakes["strava"]
    strava.credentials = replace(
        strava.credentials,
        extra={**strava.credentials.extra, "ATHLETE_CAPACITY": str(int(row[0]) + 10)},
    )
    yield from make_world(database_url, service_pool, fakes)


def test_a_full_strava_application_is_refused_with_a_clear_message(capped_world: World) -> None:
    world = capped_world
    capacity = world.deps.providers["strava"].athlete_capacity()
    assert capacity is not None
    for n in range(10):  # ten more athletes fill the application
        world.conn.execute(
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " values (%s, 'strava', %s)",
            [world.user(f"athlete{n}"), f"cap-{uuid.uuid4().hex}"],
        )
    response = world.client.post("/connections/strava/start", headers=world.auth("alice"))
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "provider_capacity"
    assert f"{capacity} athletes" in body["detail"]
    assert "Extended Access" in body["hint"]
    assert "STRAVA_ATHLETE_CAPACITY" in body["hint"]
    # An athlete already connected may reconnect (their own row does not count).
    world.conn.execute(
        "update public.provider_connections set user_id = %s where user_id = %s",
        [world.user("alice"), world.user("athlete0")],
    )
    assert (
        world.client.post("/connections/strava/start", headers=world.auth("alice")).status_code
        == 200
    )


def test_the_standard_tier_cap_is_the_default() -> None:
    from trainlytics.providers.strava import StravaProvider

    fake = FakeStrava()
    unset = replace(fake.credentials, extra={"SUBSCRIPTION_ID": "1"})
    assert StravaProvider(unset, httpx.Client()).athlete_capacity() == 10
    raised = replace(fake.credentials, extra={"ATHLETE_CAPACITY": "500"})
    assert StravaProvider(raised, httpx.Client()).athlete_capacity() == 500


def test_without_our_check_strava_itself_shows_the_capacity_page() -> None:
    """What the athlete would meet at Strava (the fake's page, as quoted in public reports)."""
    fake = FakeStrava()
    fake.connected_athletes = {str(n) for n in range(10)}
    url = (
        "https://www.strava.com/oauth/authorize?client_id=104729&response_type=code"
        "&redirect_uri=https%3A%2F%2Fx.test%2Fcb&scope=read%2Cactivity%3Aread&state=s"
    )
    response = fake.authorize(url)
    assert response.status_code == 403
    assert "Limit of connected athletes exceeded" in response.text


def test_a_refused_strava_refresh_deletes_the_strava_data_without_a_webhook(
    world: World,
) -> None:
    """The athlete deauthorised at Strava and the webhook was lost: the next refresh is
    refused by Strava itself, which is the deauthorisation; the data goes (API agreement)."""
    assert world.connect("strava")["status"] == "connected"
    connection_id = world.one(
        "select id from public.provider_connections where user_id = %s", [world.user("alice")]
    )
    world.conn.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " name, activity_type, start_date, is_manual)"
        " values (%s, %s, 'strava', 'provider', '77', 'Run', 'run', now(), false)",
        [world.user("alice"), connection_id],
    )
    fake = world.fakes["strava"]
    assert isinstance(fake, FakeStrava)
    fake.athlete_deauthorizes_at_strava()
    world.conn.execute(
        "update private.provider_tokens set access_token_expires_at = now() - interval '1 hour'"
        " where connection_id = %s",
        [connection_id],
    )
    from trainlytics.errors import TokenRevokedError

    with pytest.raises(TokenRevokedError):
        world.deps.tokens.valid_tokens(connection_id)
    assert (
        world.one(
            "select count(*) from public.activities where connection_id = %s", [connection_id]
        )
        == 0
    )
    row = world.one(
        "select status, provider_profile, provider_username from public.provider_connections"
        " where id = %s",
        [connection_id],
    )
    assert row == ("disconnected", {}, None)


def test_state_is_kept_for_the_connection_after_a_revoked_attempt(world: World) -> None:
    """After a refused scope (tokens revoked), the athlete can simply try again."""
    fake = world.fakes["strava"]
    assert isinstance(fake, FakeStrava)
    fake.scope = "read"
    assert world.connect("strava")["reason"] == "insufficient_scope"
    fake.scope = "read,activity:read,activity:read_all"
    url = world.start("strava")
    assert world.callback("strava", fake.callback(state_of(url)))["status"] == "connected"


def test_eve_with_the_leaked_google_secret_cannot_queue_a_notification(world: World) -> None:
    assert world.connect("fitbit")["status"] == "connected"
    fake = world.fakes["fitbit"]
    assert isinstance(fake, FakeFitbit)
    for headers, body, _ in (fake.unsigned_webhook(), fake.wrongly_signed_webhook()):
        response = world.client.post("/webhooks/fitbit", content=body, headers=headers)
        assert response.status_code == 401
    headers, body, _ = fake.signed_webhook(header="google-health-api-signature")
    assert world.client.post("/webhooks/fitbit", content=body, headers=headers).status_code == 204
    queued = world.one(
        "select count(*) from queue.procrastinate_jobs as j"
        " join public.provider_connections as pc on pc.id = (j.args->>'connection_id')::bigint"
        " where pc.user_id = %s and j.task_name like '%%webhook%%'",
        [world.user("alice")],
    )
    assert queued == 1


def test_an_activity_details_ping_queues_only_its_callback(world: World) -> None:
    """activityDetails bodies reach 100 MB: the job holds the ping's userId and callbackURL."""
    assert world.connect("garmin")["status"] == "connected"
    fake = world.fakes["garmin"]
    assert isinstance(fake, FakeGarmin)
    url = (
        "https://apis.garmin.com/wellness-api/rest/activityDetails?uploadStartTimeInSeconds=1"
        "&uploadEndTimeInSeconds=2&token=CPT-details"
    )
    body = {"activityDetails": [{"userId": fake.provider_user_id, "callbackURL": url}]}
    headers = {"garmin-client-id": fake.credentials.client_id}
    response = world.client.post("/webhooks/garmin", json=body, headers=headers)
    assert response.status_code == 200
    (args,) = world.conn.execute(
        "select j.args from queue.procrastinate_jobs as j"
        " join public.provider_connections as pc on pc.id = (j.args->>'connection_id')::bigint"
        " where pc.user_id = %s and j.args::text like '%%activityDetails%%'",
        [world.user("alice")],
    ).fetchone() or (None,)
    assert args is not None
    assert len(str(args)) < 2000
    assert "samples" not in str(args)


def test_reconnecting_with_another_account_revokes_the_replaced_accounts_tokens(
    world: World,
) -> None:
    """Alice reconnects Wahoo with a different Wahoo account: the first account's token would
    otherwise stay live at Wahoo (counted in its 10-token cap) with nothing holding it."""
    fake = world.fakes["wahoo"]
    assert isinstance(fake, FakeWahoo)
    assert world.connect("wahoo")["status"] == "connected"
    connection_id = world.one(
        "select id from public.provider_connections where user_id = %s and provider = 'wahoo'",
        [world.user("alice")],
    )
    first_token = world.deps.tokens.stored_tokens(connection_id)[1].access_token
    first_account = fake.provider_user_id
    fake.provider_user_id = str(int(first_account) + 1)  # the athlete's other Wahoo account
    assert world.connect("wahoo")["status"] == "connected"
    revocations = [
        r for r in fake.requests if (r.method, r.url.path) == ("DELETE", "/v1/permissions")
    ]
    assert [r.headers["authorization"] for r in revocations] == [f"Bearer {first_token}"]
    assert (
        world.one(
            "select provider_user_id from public.provider_connections where id = %s",
            [connection_id],
        )
        == fake.provider_user_id
    )


def test_reconnecting_the_same_account_keeps_its_grant(world: World) -> None:
    fake = world.fakes["wahoo"]
    assert world.connect("wahoo")["status"] == "connected"
    assert world.connect("wahoo")["status"] == "connected"
    assert fake.revocations == 0
