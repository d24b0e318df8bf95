"""Issue 13 in the sync engine over real Postgres: Garmin's refusal of history without
HISTORICAL_DATA_EXPORT is a ``skipped`` run with a hint the athlete sees (not a failure), and
every finished run's counts add up: fetched = created + updated + skipped + failed, a
malformed item counted as failed (not as skipped, as the column comment used to claim)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg_pool import ConnectionPool

from tests.fakes.garmin import FakeGarmin
from tests.fakes.strava import FakeStrava
from tests.sync.engine_support import admin, history, pool, sync_database_url
from tests.sync.test_engine_providers import Tokens, new_connection
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.providers.base import (
    ActivityPage,
    SyncWindow,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
)
from trainlytics.providers.garmin import GarminProvider
from trainlytics.providers.strava import StravaProvider
from trainlytics.sync.engine import SyncEngine

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]


def test_garmin_history_without_permission_is_a_skipped_run_with_a_hint(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    fake = FakeGarmin(permissions=["ACTIVITY_EXPORT"])  # historical export not granted
    provider = GarminProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    connection_id = new_connection(admin, "garmin", fake.provider_user_id)
    engine = SyncEngine(
        PsycopgGateway(pool, role="service_role"), Tokens(fake), {"garmin": provider}
    )

    outcome = engine.run(connection_id, "initial")

    assert outcome.status == "skipped"
    assert outcome.error is not None
    assert "HISTORICAL_DATA_EXPORT" in outcome.error
    (run,) = history(admin, connection_id)
    assert run["sync_status"] == "skipped"
    assert "historical data" in run["error_message"]
    status, last_error, failures = admin.execute(
        "select status, last_error, consecutive_failures from public.provider_connections"
        " where id = %s",
        [connection_id],
    ).fetchone() or (None, None, None)
    # The athlete sees what to grant; the connection is not in error (new activities arrive).
    assert status == "active"
    assert last_error is not None
    assert "HISTORICAL_DATA_EXPORT" in last_error
    assert failures == 0
    # New activities still arrive by ping and are stored.
    now = int(datetime.now(UTC).timestamp())
    fake.add_activity(4242, now - 3600, uploaded_at=now - 60)
    body = fake.ping_body(now - 120, now)
    request = WebhookRequest(
        "POST", {"garmin-client-id": fake.credentials.client_id}, {}, json.dumps(body).encode()
    )
    (event,) = provider.parse_webhook(request)
    assert engine.process_event(connection_id, event).created == 1
    assert fake.tokenless_pulls == 0


class StravaWithAGarbledItem(StravaProvider):
    """Strava's list with one item that lost its id on the way (a garbled page)."""

    def fetch_activities(
        self, tokens: TokenSet, window: SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        page = super().fetch_activities(tokens, window, cursor)
        items = [dict(i) for i in page.items]
        if items:
            items[0] = {k: v for k, v in items[0].items() if k != "id"}
        return replace(page, items=items)


def test_every_finished_run_adds_up_with_a_malformed_item(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    fake = FakeStrava()
    provider = StravaWithAGarbledItem(fake.credentials, httpx.Client(transport=fake.transport()))
    connection_id = new_connection(admin, "strava", fake.provider_user_id)
    engine = SyncEngine(
        PsycopgGateway(pool, role="service_role"), Tokens(fake), {"strava": provider}
    )
    now = datetime.now(UTC)
    for n in range(1, 6):
        fake.add_activity(n, now - timedelta(days=2, minutes=n))
    first = engine.run(connection_id, "initial")
    # A webhook run re-reads one activity (its detail).
    second = engine.process_event(
        connection_id, WebhookEvent(fake.provider_user_id, "activity_updated", "2", {})
    )
    assert (first.fetched, first.created, first.failed) == (5, 4, 1)
    assert (second.fetched, second.failed) == (1, 0)
    cur = admin.execute(
        "select activities_fetched, activities_created, activities_updated, activities_skipped,"
        " activities_failed from public.sync_history where connection_id = %s order by id",
        [connection_id],
    )
    names = [d.name for d in cur.description or []]
    runs = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    assert len(runs) == 2
    for run in runs:
        assert run["activities_fetched"] == (
            run["activities_created"]
            + run["activities_updated"]
            + run["activities_skipped"]
            + run["activities_failed"]
        )
    assert [r["activities_failed"] for r in runs] == [1, 0]
