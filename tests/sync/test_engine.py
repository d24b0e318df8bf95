"""The sync engine end to end: Strava's API (transport level) → engine → real Postgres."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.sync.engine_support import (
    NOW,
    T0,
    StravaListServer,
    admin,
    cursor_of,
    history,
    make_engine,
    new_connection,
    pool,
    stored_ids,
    sync_database_url,
)
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.errors import SyncBusyError
from trainlytics.providers.base import WebhookEvent
from trainlytics.sync.engine import SyncProgress
from trainlytics.sync.rate_limits import RateLimiter

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]


def test_backfill_of_5000_activities_over_many_pages(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    server = StravaListServer()
    server.add(*range(1, 5001))
    connection_id = new_connection(admin, server.fake.provider_user_id)
    updates: list[SyncProgress] = []
    outcome = make_engine(pool, server).run(connection_id, "initial", progress=updates.append)

    assert outcome.status == "success"
    # Items re-read at a page boundary (keyset paging with overlap) are skipped, never doubled.
    assert outcome.created == 5000
    assert outcome.fetched == 5000 + outcome.skipped
    assert outcome.pages == len(server.list_requests) >= 25
    assert stored_ids(admin, connection_id) == list(range(1, 5001))
    assert updates[-1].fetched == outcome.fetched
    assert updates[-1].windows_done == updates[-1].windows_total - 1
    (run,) = history(admin, connection_id)
    assert run["sync_status"] == "success"
    assert run["sync_trigger"] == "initial"
    assert (run["activities_fetched"], run["activities_created"], run["api_calls"]) == (
        outcome.fetched,
        5000,
        len(server.list_requests),
    )
    cursor = cursor_of(admin, connection_id)
    assert cursor["window"] is None
    assert cursor["synced_until"].startswith(NOW.date().isoformat())
    row = admin.execute(
        "select last_sync_at is not null, consecutive_failures, last_error"
        " from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert row == (True, 0, None)


def test_incremental_runs_overlap_and_apply_updates(pool: ConnectionPool[Any], admin: Conn) -> None:
    server = StravaListServer()
    server.add(*range(1, 1501))  # started from T0 - 1 day to T0 + 1 h
    connection_id = new_connection(admin, server.fake.provider_user_id)
    now = [T0 + timedelta(hours=2)]
    engine = make_engine(pool, server, clock=lambda: now[0])
    first = engine.run(connection_id, "initial")
    assert (first.status, first.created) == ("success", 1500)

    now[0] = NOW
    server.add(3001, 3002, 3003)  # uploaded since, starting after the first run
    server.activities[1500] = {**server.activities[1500], "name": "Renamed at Strava"}
    requests_before = len(server.list_requests)
    second = engine.run(connection_id, "scheduled")
    assert second.status == "success"
    # The window starts 6 h (the overlap) before the previous run's end: the 300 activities of
    # those hours are read again; unchanged ones are skipped, the renamed one is updated.
    after = int(server.list_requests[requests_before]["after"])
    assert abs(after - int((T0 - timedelta(hours=4)).timestamp())) <= 1
    assert (second.created, second.updated) == (3, 1)
    assert second.fetched >= 303
    assert second.skipped == second.fetched - 4
    assert stored_ids(admin, connection_id) == [*range(1, 1501), 3001, 3002, 3003]
    name = admin.execute(
        "select name from public.activities where connection_id = %s and external_id = '1500'",
        [connection_id],
    ).fetchone()
    assert name == ("Renamed at Strava",)
    runs = history(admin, connection_id)
    assert [r["sync_status"] for r in runs] == ["success", "success"]
    assert runs[1]["activities_updated"] == 1


def test_webhook_events_ingest_update_and_delete(pool: ConnectionPool[Any], admin: Conn) -> None:
    server = StravaListServer()
    server.add(1, 2)
    connection_id = new_connection(admin, server.fake.provider_user_id)
    engine = make_engine(pool, server)
    assert engine.run(connection_id, "initial").created == 2

    server.add(7)
    user = server.fake.provider_user_id
    created = engine.process_event(
        connection_id, WebhookEvent(user, "activity_created", "7", {"aspect_type": "create"})
    )
    assert (created.status, created.created) == ("success", 1)
    stale = server.activities.pop(2)  # the athlete deletes it at Strava: its detail is a 404
    deleted = engine.process_event(
        connection_id, WebhookEvent(user, "activity_deleted", "2", {"aspect_type": "delete"})
    )
    assert (deleted.status, deleted.deleted) == ("success", 1)
    assert stored_ids(admin, connection_id) == [1, 7]
    # A later sync whose (stale) listing still shows the deleted activity does not resurrect it.
    server.activities[2] = stale
    again = engine.run(connection_id, "scheduled")
    assert again.status == "success"
    assert stored_ids(admin, connection_id) == [1, 7]
    runs = history(admin, connection_id)
    assert [r["sync_trigger"] for r in runs] == ["initial", "webhook", "webhook", "scheduled"]
    # Webhook runs do not move the cursor.
    assert cursor_of(admin, connection_id)["window"] is None


def test_reconnect_after_a_strava_disconnect_backfills_again(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    server = StravaListServer()
    server.add(*range(1, 51))
    connection_id = new_connection(admin, server.fake.provider_user_id)
    engine = make_engine(pool, server)
    assert engine.run(connection_id, "initial").created == 50

    # Even when the caller does not ask for it, a Strava disconnect deletes the Strava data and
    # resets the cursor (Strava's terms; issue 14: one disconnect path, decided in SQL).
    admin.execute("select public.connection_disconnect(%s, false)", [connection_id])
    assert stored_ids(admin, connection_id) == []
    skipped = engine.run(connection_id, "scheduled")
    assert skipped.status == "skipped"  # no tokens: nothing to do, nothing recorded
    # Reconnecting reuses the row (connection_upsert): status back to active.
    admin.execute(
        "update public.provider_connections set status = 'active' where id = %s", [connection_id]
    )
    late = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    server.add(51, 52, start_date=late, start_date_local=late)
    again = engine.run(connection_id, "initial")
    assert again.status == "success"
    assert again.created == 52  # a full backfill: the cursor was reset with the data
    assert stored_ids(admin, connection_id) == list(range(1, 53))


def test_one_synchronisation_at_a_time_per_connection(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    server = StravaListServer()
    server.add(1)
    connection_id = new_connection(admin, server.fake.provider_user_id)
    engine = make_engine(pool, server)
    gateway = PsycopgGateway(pool, role="service_role")
    held = gateway.call(
        "sync_start",
        {"p_connection_id": connection_id, "p_trigger": "manual", "p_holder": "other-worker"},
    )[0]
    assert held["status"] == "started"
    with pytest.raises(SyncBusyError):
        engine.run(connection_id, "scheduled")
    # A webhook run is not exclusive: it goes ahead beside the synchronisation.
    event = WebhookEvent(server.fake.provider_user_id, "activity_created", "1", {})
    assert engine.process_event(connection_id, event).status == "success"
    gateway.call(
        "sync_finish",
        {"p_sync_id": held["sync_id"], "p_holder": "other-worker", "p_status": "success"},
    )
    assert engine.run(connection_id, "scheduled").status == "success"


def test_shared_rate_limiter_records_headers_and_refuses_when_full(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    server = StravaListServer()
    server.add(*range(1, 11))
    connection_id = new_connection(admin, server.fake.provider_user_id)
    gateway = PsycopgGateway(pool, role="service_role")
    limiter = RateLimiter(gateway, max_wait=0)
    engine = make_engine(pool, server, limiter=limiter)
    assert engine.run(connection_id, "initial").status == "success"
    used = admin.execute(
        "select bucket, used from private.rate_limit_windows where bucket like 'strava:%%'"
        " and window_start + make_interval(secs => window_seconds) > now() order by bucket"
    ).fetchall()
    assert {b for b, _ in used} >= {"strava:overall:15min", "strava:read:daily"}
    # Fill the read bucket as the provider's headers would report it: the next run waits.
    admin.execute(
        "update private.rate_limit_windows set used = request_limit"
        " where bucket = 'strava:read:15min'"
    )
    from trainlytics.errors import RateLimitWait

    with pytest.raises(RateLimitWait) as caught:
        engine.run(connection_id, "scheduled")
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 900
    (_, last) = history(admin, connection_id)
    assert last["sync_status"] == "failed"
    assert "rate limit" in last["error_message"]
