"""Webhooks of every provider through the real app: verified on the raw body, routed by the
provider's user id, queued once however often replayed; forged requests leave no trace but a
log line; unknown owners are a logged no-op."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.fakes import FAKES
from tests.http.conftest import World
from trainlytics.sync import jobs

PROVIDERS = sorted(FAKES)


def _post(world: World, provider: str, parts: tuple[dict[str, str], bytes, dict[str, str]]):  # type: ignore[no-untyped-def]
    headers, body, query = parts
    return world.client.post(
        f"/webhooks/{provider}", content=body, headers=headers, params=query or None
    )


def _webhook_jobs(world: World, connection_id: int | None = None) -> int:
    if connection_id is None:
        query = "select count(*) from queue.procrastinate_jobs where task_name = %s"
        return int(world.one(query, [jobs.PROCESS_WEBHOOK_EVENT]))
    return int(
        world.one(
            "select count(*) from queue.procrastinate_jobs where task_name = %s"
            " and (args->>'connection_id')::bigint = %s",
            [jobs.PROCESS_WEBHOOK_EVENT, connection_id],
        )
    )


def _connection_id(world: World, provider: str, label: str = "alice") -> int:
    return int(
        world.one(
            "select id from public.provider_connections where user_id = %s and provider = %s",
            [world.user(label), provider],
        )
    )


def _trace(world: World) -> tuple[int, int, int]:
    """Everything a webhook could leave behind: jobs, connection events, connection changes."""
    return (
        int(world.one("select count(*) from queue.procrastinate_jobs")),
        int(world.one("select count(*) from public.connection_events")),
        int(
            world.one(
                "select coalesce(sum(xmin::text::bigint), 0) from public.provider_connections"
            )
        ),
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_signed_webhook_queues_its_event_once_even_when_replayed(
    world: World, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert world.connect(provider)["status"] == "connected"
    connection_id = _connection_id(world, provider)
    parts = world.fakes[provider].signed_webhook()

    first = _post(world, provider, parts)
    assert 200 <= first.status_code < 300, first.text
    queued = _webhook_jobs(world, connection_id)
    assert queued >= 1
    args = world.one(
        "select args from queue.procrastinate_jobs where task_name = %s"
        " and (args->>'connection_id')::bigint = %s order by id limit 1",
        [jobs.PROCESS_WEBHOOK_EVENT, connection_id],
    )
    assert args["provider"] == provider
    assert args["event"]["provider_user_id"] == world.fakes[provider].provider_user_id

    replay = _post(world, provider, parts)
    assert replay.status_code == first.status_code
    assert replay.content == first.content
    assert _webhook_jobs(world, connection_id) == queued
    assert "already queued (replay)" in caplog.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_forged_webhook_gets_401_and_leaves_nothing_but_a_log_line(
    world: World, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.connect(provider)["status"] == "connected"
    before = _trace(world)
    caplog.clear()
    caplog.set_level(logging.INFO)
    response = _post(world, provider, world.fakes[provider].forged_webhook())
    assert response.status_code == 401
    assert response.json() == {"detail": "webhook verification failed"}
    assert _trace(world) == before
    rejections = [r for r in caplog.records if r.name == "trainlytics.sync.webhooks"]
    assert len(rejections) == 1
    assert rejections[0].levelno == logging.WARNING
    assert "rejected" in rejections[0].getMessage()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_webhook_for_an_unknown_owner_is_a_logged_no_op(
    world: World, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = _trace(world)
    response = _post(world, provider, world.fakes[provider].signed_webhook())
    assert 200 <= response.status_code < 300, response.text
    assert _trace(world) == before
    assert "no active connection, ignored" in caplog.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_webhook_for_a_disconnected_account_is_not_queued(world: World, provider: str) -> None:
    world.connect(provider)
    connection_id = _connection_id(world, provider)
    world.client.post(f"/connections/{provider}/disconnect", headers=world.auth("alice"))
    response = _post(world, provider, world.fakes[provider].signed_webhook())
    assert 200 <= response.status_code < 300
    assert _webhook_jobs(world, connection_id) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_malformed_but_verified_body_is_400_or_acknowledged_never_500(
    world: World, provider: str
) -> None:
    headers, _body, query = world.fakes[provider].signed_webhook()
    response = _post(world, provider, (headers, b"\x00not json", query))
    assert response.status_code in (400, 401)


def test_strava_subscription_handshake(world: World) -> None:
    token = world.fakes["strava"].credentials.webhook_secret
    ok = world.client.get(
        "/webhooks/strava",
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "15f7d1a91c1f40f8",
            "hub.verify_token": token,
        },
    )
    assert ok.status_code == 200
    assert ok.json() == {"hub.challenge": "15f7d1a91c1f40f8"}
    wrong = world.client.get(
        "/webhooks/strava",
        params={"hub.mode": "subscribe", "hub.challenge": "x", "hub.verify_token": "nope"},
    )
    assert wrong.status_code == 403


def test_a_strava_deauthorization_is_only_queued_for_confirmation(world: World) -> None:
    """The request deletes nothing: the worker confirms with Strava first
    (tests/http/test_attacks.py covers both outcomes)."""
    fake = world.fakes["strava"]
    world.connect("strava")
    connection_id = _connection_id(world, "strava")
    response = _post(world, "strava", fake.signed_webhook("deauthorized"))
    assert response.status_code == 200
    assert (
        world.one(
            "select status::text from public.provider_connections where id = %s", [connection_id]
        )
        == "active"
    )
    assert _webhook_jobs(world, connection_id) == 1


def test_unknown_method_on_a_webhook_is_405_not_500(world: World) -> None:
    provider = PROVIDERS[0]
    response = world.client.put(f"/webhooks/{provider}", content=b"{}")
    assert response.status_code == 405


def test_webhooks_answer_without_calling_the_provider(world: World) -> None:
    """Providers give seconds before retrying: the endpoint queues, it never fetches."""
    for provider in PROVIDERS:
        world.connect(provider)
        fake = world.fakes[provider]
        if provider == "fitbit":
            # Google's public keyset (not athlete data) is fetched once and cached: warm it.
            assert 200 <= _post(world, provider, fake.signed_webhook()).status_code < 300
        seen = len(fake.requests)
        fake.handle = lambda request: httpx.Response(500)  # type: ignore[method-assign]
        response = _post(world, provider, fake.signed_webhook())
        assert 200 <= response.status_code < 300
        assert len(fake.requests) == seen
