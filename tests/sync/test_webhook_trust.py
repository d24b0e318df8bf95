"""Webhooks are hints, never commands (DESIGN: "Trust nothing unauthenticated"), end to end
through the sync engine into real Postgres:

- Strava events are unsigned: an activity ``delete`` is applied only when Strava itself answers
  404 for the activity (``GET /activities/{id}`` with the athlete's token); while Strava still
  serves it, nothing is deleted.
- A Garmin ping's callback is Garmin's own host, but what it returns is still checked against
  the connection's Garmin user: items of another user are refused (counted as failed, with a
  reason), never written — not to this connection, not to anyone's."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from tests.fakes.garmin import FakeGarmin
from tests.fakes.strava import FakeStrava
from tests.helpers import act_as_anon, act_as_service, act_as_user, create_auth_user
from tests.sync.engine_support import admin, history, pool, sync_database_url
from tests.sync.test_engine_providers import Tokens, live, new_connection, rows
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.providers.base import WebhookRequest
from trainlytics.providers.garmin import GarminProvider
from trainlytics.providers.strava import StravaProvider
from trainlytics.sync.engine import SyncEngine

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]


def _adds_up(run: dict[str, Any], failed: int) -> bool:
    return bool(
        run["activities_fetched"]
        == run["activities_created"]
        + run["activities_updated"]
        + run["activities_skipped"]
        + failed
    )


def test_a_forged_strava_delete_event_deletes_nothing(
    pool: ConnectionPool[Any], admin: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeStrava()
    provider = StravaProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    connection_id = new_connection(admin, "strava", fake.provider_user_id)
    engine = SyncEngine(
        PsycopgGateway(pool, role="service_role"), Tokens(fake), {"strava": provider}
    )
    fake.add_activity(fake.activity_id, datetime.now(UTC) - timedelta(days=1))
    assert engine.run(connection_id, "initial").created == 1
    # A delete event with the right subscription id (Strava events carry no signature, so
    # this is all a forger needs) for an activity the athlete did NOT delete.
    headers, body, query = fake.signed_webhook("activity_deleted")
    (event,) = provider.parse_webhook(WebhookRequest("POST", headers, query, body))
    before = len(fake.requests)

    with caplog.at_level("WARNING", logger="trainlytics"):
        outcome = engine.process_event(connection_id, event)

    assert outcome.status == "success"
    assert outcome.deleted == 0
    assert live(admin, connection_id) == {str(fake.activity_id)}
    # Strava was asked, once, with the athlete's token.
    (asked,) = fake.requests[before:]
    assert asked.url.path == f"/api/v3/activities/{fake.activity_id}"
    assert outcome.api_calls == 1
    assert "NOT confirmed" in caplog.text


def test_a_genuine_strava_delete_still_deletes(pool: ConnectionPool[Any], admin: Conn) -> None:
    fake = FakeStrava()
    provider = StravaProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    connection_id = new_connection(admin, "strava", fake.provider_user_id)
    engine = SyncEngine(
        PsycopgGateway(pool, role="service_role"), Tokens(fake), {"strava": provider}
    )
    fake.add_activity(fake.activity_id, datetime.now(UTC) - timedelta(days=1))
    engine.run(connection_id, "initial")
    fake.delete_activity(fake.activity_id)  # the athlete deletes it at Strava
    headers, body, query = fake.signed_webhook("activity_deleted")
    (event,) = provider.parse_webhook(WebhookRequest("POST", headers, query, body))

    outcome = engine.process_event(connection_id, event)

    assert outcome.deleted == 1
    assert live(admin, connection_id) == set()
    assert rows(admin, connection_id)[str(fake.activity_id)][0] is True  # soft deleted


def test_a_garmin_callback_carrying_another_users_activities_writes_nothing_for_them(
    pool: ConnectionPool[Any], admin: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeGarmin()
    provider = GarminProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    connection_id = new_connection(admin, "garmin", fake.provider_user_id)
    other = FakeGarmin()  # another athlete of the same application
    other_connection = new_connection(admin, "garmin", other.provider_user_id)
    engine = SyncEngine(
        PsycopgGateway(pool, role="service_role"), Tokens(fake), {"garmin": provider}
    )
    now = int(datetime.now(UTC).timestamp())
    fake.add_activity(4242, now - 3600, uploaded_at=now - 60)
    foreign = other.add_activity(9191, now - 7200, uploaded_at=now - 90)
    other.upload_times.pop(foreign["summaryId"])
    fake.upload_times[foreign["summaryId"]] = now - 90
    fake.other_users_activities.append({"userId": other.provider_user_id, **foreign})
    body = fake.ping_body(now - 120, now)
    request = WebhookRequest(
        "POST", {"garmin-client-id": fake.credentials.client_id}, {}, json.dumps(body).encode()
    )
    (event,) = provider.parse_webhook(request)

    with caplog.at_level("WARNING", logger="trainlytics"):
        outcome = engine.process_event(connection_id, event)

    assert outcome.status == "success"
    assert (outcome.fetched, outcome.created, outcome.failed) == (2, 1, 1)
    assert [e["external_id"] for e in outcome.item_errors] == ["9191"]
    assert "another Garmin user" in str(outcome.item_errors[0]["reason"])
    assert set(rows(admin, connection_id)) == {"4242"}
    assert rows(admin, other_connection) == {}
    found = admin.execute(
        "select count(*) from public.activities where external_id = '9191'"
    ).fetchone()
    assert found == (0,)
    assert "of another Garmin user refused" in caplog.text
    # The run's counts add up, and the reason is kept with the run.
    (run,) = history(admin, connection_id)
    failed = admin.execute(
        "select activities_failed from public.sync_history where id = %s", [run["id"]]
    ).fetchone()
    assert failed == (1,)
    assert _adds_up(run, 1)
    (skipped,) = run["error_details"]["skipped_items"]
    assert skipped["external_id"] == "9191"
    assert "another Garmin user" in skipped["reason"]


def _started_run(admin: Conn, holder: str) -> tuple[int, int, uuid.UUID]:
    fake = FakeGarmin()
    connection_id = new_connection(admin, "garmin", fake.provider_user_id)
    row = admin.execute(
        "select sync_id from public.sync_start(%s, 'webhook', %s, 300, false)",
        [connection_id, holder],
    ).fetchone()
    assert row is not None
    owner = admin.execute(
        "select user_id from public.provider_connections where id = %s", [connection_id]
    ).fetchone()
    assert owner is not None
    return connection_id, int(row[0]), owner[0]


def _fetched_and_details(admin: Conn, sync_id: int) -> tuple[int, Any]:
    row = admin.execute(
        "select activities_fetched, error_details from public.sync_history where id = %s",
        [sync_id],
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


REFUSED = [{"external_id": "1", "reason": "refused: another Garmin user"}]


def test_eve_cannot_write_refused_items_into_alices_sync_run(admin: Conn) -> None:
    """sync_refuse_items is the worker's (service role): neither an athlete nor anon may
    inflate another run's counts or plant reasons in its history."""
    _, sync_id, alice = _started_run(admin, "worker-1")
    eve = create_auth_user(admin, f"{uuid.uuid4().hex}@example.com")
    for become in (lambda c: act_as_user(c, eve), lambda c: act_as_user(c, alice), act_as_anon):
        with admin.transaction(force_rollback=True):
            become(admin)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                admin.execute(
                    "select public.sync_refuse_items(%s, 'worker-1', %s)",
                    [sync_id, Jsonb(REFUSED)],
                )
    assert _fetched_and_details(admin, sync_id) == (0, None)


def test_a_holder_that_lost_the_run_records_no_refused_items(admin: Conn) -> None:
    _, sync_id, _ = _started_run(admin, "worker-1")
    with admin.transaction():
        act_as_service(admin)
        stale = admin.execute(
            "select public.sync_refuse_items(%s, 'worker-2', %s)", [sync_id, Jsonb(REFUSED)]
        ).fetchone()
        held = admin.execute(
            "select public.sync_refuse_items(%s, 'worker-1', %s)", [sync_id, Jsonb(REFUSED)]
        ).fetchone()
    assert (stale, held) == ((False,), (True,))
    fetched, details = _fetched_and_details(admin, sync_id)
    assert fetched == 1
    assert details["skipped_items"] == [
        {"index": None, "external_id": "1", "reason": "refused: another Garmin user"}
    ]
