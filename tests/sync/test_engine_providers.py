"""The sync engine end to end for EVERY provider, each through its own fake API (transport
level, real payload shapes) into real Postgres: a backfill over several pages (or, for Garmin,
the backfill request and the pushes it triggers), an incremental run, an update, a delete where
the provider can express one, and a reconnect — checking the rows in ``activities``, the counts
in ``sync_history`` and that nothing is ever duplicated.

Also here: deletions by omission (Google Health DELETE notifications name no exercise), the
error classification, the 429/extra-call accounting of the shared rate limiter, webhook events
answered in several steps, and Garmin's backfill horizon."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.fakes import FakeProvider
from tests.fakes.coros import FakeCoros
from tests.fakes.fitbit import FakeFitbit
from tests.fakes.garmin import FakeGarmin
from tests.fakes.polar import FakePolar
from tests.fakes.strava import FakeStrava
from tests.fakes.wahoo import FakeWahoo
from tests.helpers import create_auth_user
from tests.sync.engine_support import admin, history, pool, sync_database_url
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.errors import (
    BadPayloadError,
    DatabaseUnavailableError,
    InsufficientScopeError,
    ProviderError,
    ProviderNotConfiguredError,
    ProviderUnavailableError,
    RateLimitedError,
    SyncLeaseLostError,
    TokenRefreshError,
    TokenRevokedError,
)
from trainlytics.providers import PROVIDER_CLASSES
from trainlytics.providers.base import (
    ActivityPage,
    Provider,
    SyncWindow,
    TokenSet,
    WebhookEvent,
    WebhookRequest,
)
from trainlytics.providers.coros import CorosProvider
from trainlytics.providers.fitbit import FitbitProvider
from trainlytics.providers.garmin import GarminProvider
from trainlytics.providers.polar import PolarProvider
from trainlytics.providers.strava import StravaProvider
from trainlytics.providers.wahoo import WahooProvider
from trainlytics.sync.engine import Cursor, SyncEngine, is_transient, plan_windows
from trainlytics.sync.jobs import SYNC_RETRY
from trainlytics.sync.rate_limits import RateLimiter, buckets_for

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
ACCESS_TOKEN = "e2e-access-token"  # noqa: S105 - a test value


def _iso(moment: datetime, *, millis: bool = True) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".000Z" if millis else "Z")


class Tokens:
    """Valid tokens for any connection (the token service has its own tests)."""

    def __init__(self, fake: FakeProvider) -> None:
        live = getattr(fake, "_live_access_tokens", None)
        if live is None:
            live = fake.live_access_tokens  # type: ignore[attr-defined]
        live.add(ACCESS_TOKEN)
        self.provider_user_id = fake.provider_user_id

    def valid_tokens(self, connection_id: int) -> TokenSet:
        return TokenSet(
            access_token=ACCESS_TOKEN,
            refresh_token="e2e-refresh",  # noqa: S106 - a test value
            expires_at=datetime.now(UTC) + timedelta(hours=6),
            provider_user_id=self.provider_user_id,
        )


# --- one adapter per provider: how its fake holds, changes and deletes activities -----------


@dataclass
class Case:
    name: str
    fake: Any
    provider: Provider
    #: Store activity ``n`` at the fake, starting at ``start``; returns its external id.
    add: Callable[[int, datetime], str]
    #: Change activity ``n`` at the fake; returns the webhook event telling us (None: a sync
    #: run discovers the change).
    update: Callable[[int], WebhookEvent | None]
    #: Delete activity ``n`` at the fake; returns the event expressing it, None when the
    #: provider cannot express a deletion.
    delete: Callable[[int], WebhookEvent | None] | None
    #: How many activities make the backfill span several pages.
    backfill_size: int
    #: After the initial run: the events a provider delivers asynchronously (Garmin pushes).
    deliveries: Callable[[], list[WebhookEvent]] = field(default=lambda: [])
    #: The least number of provider pages the initial run reads.
    min_pages: int = 2


def strava_case() -> Case:
    fake = FakeStrava()
    provider = StravaProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    by_id: dict[int, dict[str, Any]] = {}

    def add(n: int, start: datetime) -> str:
        by_id[n] = fake.add_activity(n, start)
        return str(n)

    def update(n: int) -> WebhookEvent:
        by_id[n]["name"] = f"Renamed {n}"
        by_id[n]["private"] = True
        return WebhookEvent(fake.provider_user_id, "activity_updated", str(n), {})

    def delete(n: int) -> WebhookEvent:
        fake.activities.remove(by_id.pop(n))
        return WebhookEvent(fake.provider_user_id, "activity_deleted", str(n), {})

    return Case("strava", fake, provider, add, update, delete, backfill_size=230)


def garmin_case() -> Case:
    fake = FakeGarmin()
    fake.permissions = ["ACTIVITY_EXPORT", "HISTORICAL_DATA_EXPORT"]
    provider = GarminProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    by_id: dict[int, dict[str, Any]] = {}
    uploads: list[int] = []

    def add(n: int, start: datetime) -> str:
        stamp = int(start.timestamp())
        # A start position (documented summary fields, as in fixtures/providers/garmin):
        # Garmin sends an offset but no zone; the sync derives the zone from the position.
        by_id[n] = fake.add_activity(
            n,
            stamp,
            uploaded_at=stamp + 60,
            startingLatitudeInDegree=48.8566,
            startingLongitudeInDegree=2.3522,
        )
        uploads.append(stamp + 60)
        return str(n)

    def pings(body: dict[str, Any]) -> list[WebhookEvent]:
        headers = {"garmin-client-id": fake.credentials.client_id}
        request = WebhookRequest("POST", headers, {}, json.dumps(body).encode())
        return provider.parse_webhook(request)

    def update(n: int) -> WebhookEvent:
        # In ping mode (the only one trusted: issue 14) an edit is re-uploaded and pinged.
        by_id[n]["activityName"] = f"Renamed {n}"
        uploaded = int(datetime.now(UTC).timestamp())
        fake.upload_times[str(n)] = uploaded
        (event,) = pings(fake.ping_body(uploaded - 60, uploaded + 60))
        return event

    def deliveries() -> list[WebhookEvent]:
        # What Garmin sends: the pings of the backfills requested, and (ping mode) one ping per
        # upload since the last delivery.
        bodies = fake.backfill_ping_bodies()
        bodies += [fake.ping_body(u - 1, u + 1) for u in uploads]
        uploads.clear()
        return [event for body in bodies for event in pings(body)]

    # Garmin expresses no deletion of an activity (only deregistrations).
    return Case("garmin", fake, provider, add, update, None, 12, deliveries=deliveries, min_pages=1)


def polar_case() -> Case:
    fake = FakePolar()
    fake.registered = True
    provider = PolarProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    by_id: dict[int, dict[str, Any]] = {}

    def add(n: int, start: datetime) -> str:
        local = start + timedelta(hours=2)
        exercise = fake.make_exercise(
            n,
            start_time=local.strftime("%Y-%m-%dT%H:%M:%S"),
            upload_time=_iso(start + timedelta(hours=1)),
        )
        fake.activities.append(exercise)
        by_id[n] = exercise
        return str(exercise["id"])

    def update(n: int) -> WebhookEvent:
        by_id[n]["calories"] = 777
        exercise_id = str(by_id[n]["id"])
        return WebhookEvent(
            fake.provider_user_id,
            "activity_created",
            exercise_id,
            {"event": "EXERCISE", "entity_id": exercise_id},
        )

    # Polar lists everything in one answer, and its webhooks carry no deletion.
    return Case("polar", fake, provider, add, update, None, 15, min_pages=1)


def coros_case() -> Case:
    fake = FakeCoros()
    provider = CorosProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    by_id: dict[int, dict[str, Any]] = {}

    def add(n: int, start: datetime) -> str:
        stamp = int(start.timestamp())
        workout = fake.make_workout(n, startTime=stamp, endTime=stamp + 2990)
        fake.activities.append(workout)
        by_id[n] = workout
        return str(workout["labelId"])

    def update(n: int) -> WebhookEvent:
        by_id[n]["calorie"] = 600000
        payload = {**by_id[n], "openId": fake.provider_user_id}
        return WebhookEvent(fake.provider_user_id, "activity_updated", by_id[n]["labelId"], payload)

    # Several 27-day windows over the year's backfill: several sport/list requests.
    return Case("coros", fake, provider, add, update, None, 10)


def wahoo_case() -> Case:
    fake = FakeWahoo()
    fake.max_per_page = 10  # Wahoo pages of 60 would make a slow test: the fake caps them
    provider = WahooProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    template = json.loads((FIXTURES / "wahoo/activities/workout_run_no_power.json").read_text())
    by_id: dict[int, dict[str, Any]] = {}

    def add(n: int, start: datetime) -> str:
        workout = copy.deepcopy(template)
        workout["id"] = 300000000 + n
        workout["starts"] = _iso(start)
        workout["updated_at"] = workout["created_at"] = _iso(start + timedelta(hours=1))
        workout["workout_summary"]["id"] = 400000000 + n
        fake.activities.append(workout)
        by_id[n] = workout
        return str(workout["id"])

    def update(n: int) -> WebhookEvent:
        by_id[n]["name"] = f"Renamed {n}"
        by_id[n]["updated_at"] = _iso(datetime.now(UTC))
        return WebhookEvent(fake.provider_user_id, "activity_updated", str(by_id[n]["id"]), {})

    # Wahoo's only webhook is workout_summary: no deletion.
    return Case("wahoo", fake, provider, add, update, None, 25)


def fitbit_case() -> Case:
    fake = FakeFitbit()
    provider = FitbitProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    template = json.loads((FIXTURES / "fitbit/activities/exercise_run.json").read_text())
    by_id: dict[int, dict[str, Any]] = {}

    def add(n: int, start: datetime) -> str:
        point = copy.deepcopy(template)
        point_id = str(7000000000000000000 + n)
        point["name"] = f"users/{fake.provider_user_id}/dataTypes/exercise/dataPoints/{point_id}"
        point["exercise"]["interval"]["startTime"] = _iso(start)
        point["exercise"]["interval"]["endTime"] = _iso(start + timedelta(minutes=40))
        fake.activities.append(point)
        by_id[n] = point
        return point_id

    def notification(n: int, kind: str, point: Mapping[str, Any]) -> WebhookEvent:
        interval = point["exercise"]["interval"]
        return WebhookEvent(
            fake.provider_user_id,
            kind,  # type: ignore[arg-type]
            None,
            {
                "healthUserId": fake.provider_user_id,
                "dataType": "exercise",
                "operation": "UPSERT" if kind == "activities_available" else "DELETE",
                "intervals": [
                    {
                        "physicalTimeInterval": {
                            "startTime": interval["startTime"],
                            "endTime": interval["endTime"],
                        }
                    }
                ],
            },
        )

    def update(n: int) -> WebhookEvent:
        by_id[n]["exercise"]["displayName"] = f"Renamed {n}"
        return notification(n, "activities_available", by_id[n])

    def delete(n: int) -> WebhookEvent:
        point = by_id.pop(n)
        fake.activities.remove(point)
        return notification(n, "activity_deleted", point)

    return Case("fitbit", fake, provider, add, update, delete, backfill_size=30)


CASES: dict[str, Callable[[], Case]] = {
    "strava": strava_case,
    "garmin": garmin_case,
    "polar": polar_case,
    "coros": coros_case,
    "wahoo": wahoo_case,
    "fitbit": fitbit_case,
}


def test_the_matrix_covers_every_provider() -> None:
    assert set(CASES) == set(PROVIDER_CLASSES)


def new_connection(admin: Conn, provider: str, provider_user_id: str) -> int:
    user_id = create_auth_user(admin, f"{uuid.uuid4().hex}@example.com")
    row = admin.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, %s, %s) returning id",
        [user_id, provider, provider_user_id],
    ).fetchone()
    assert row is not None
    return int(row[0])


def rows(admin: Conn, connection_id: int) -> dict[str, tuple[bool, str | None]]:
    """external_id → (deleted, name) of the connection's activities; fails on a duplicate."""
    found = admin.execute(
        "select external_id, deleted_at is not null, name from public.activities"
        " where connection_id = %s",
        [connection_id],
    ).fetchall()
    result = {r[0]: (r[1], r[2]) for r in found}
    assert len(result) == len(found), "an activity is stored twice"
    return result


def live(admin: Conn, connection_id: int) -> set[str]:
    return {k for k, (deleted, _) in rows(admin, connection_id).items() if not deleted}


def assert_history_matches(admin: Conn, connection_id: int) -> None:
    """Every run closed truthfully; its created counts add up to the stored activities."""
    runs = history(admin, connection_id)
    assert all(r["sync_status"] == "success" for r in runs), runs
    assert all(r["sync_completed_at"] is not None for r in runs)
    total = admin.execute(
        "select count(*) from public.activities where connection_id = %s", [connection_id]
    ).fetchone()
    assert total is not None
    assert sum(r["activities_created"] for r in runs) == total[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_provider_end_to_end(name: str, pool: ConnectionPool[Any], admin: Conn) -> None:
    case = CASES[name]()
    now = datetime.now(UTC).replace(microsecond=0)
    connection_id = new_connection(admin, name, case.fake.provider_user_id)
    gateway = PsycopgGateway(pool, role="service_role")
    engine = SyncEngine(
        gateway,
        Tokens(case.fake),
        {name: case.provider},
        limiter=RateLimiter(gateway, max_wait=0),
    )

    # Backfill: activities over the last days, over several pages.
    expected = {
        case.add(n, now - timedelta(days=3) + timedelta(minutes=10 * n))
        for n in range(1, case.backfill_size + 1)
    }
    first = engine.run(connection_id, "initial")
    assert first.status == "success"
    assert first.pages >= case.min_pages
    for event in case.deliveries():  # Garmin: the backfill arrives as pushes
        assert engine.process_event(connection_id, event).status == "success"
    assert live(admin, connection_id) == expected
    (initial, *_pushes) = history(admin, connection_id)
    assert (initial["sync_trigger"], initial["activities_created"]) == (
        "initial",
        first.created,
    )
    assert initial["api_calls"] == first.api_calls >= case.min_pages

    # Incremental: a new activity; nothing already stored is created again. (Garmin: the run
    # requests a backfill of the gap; the activity arrives by the ping it causes.)
    expected.add(case.add(10_000, now - timedelta(hours=1)))
    second = engine.run(connection_id, "scheduled")
    assert second.status == "success"
    delivered = [engine.process_event(connection_id, e) for e in case.deliveries()]
    assert all(d.status == "success" for d in delivered)
    assert second.created + sum(d.created for d in delivered) == 1
    assert live(admin, connection_id) == expected

    # An update, told by a webhook: the row changes, nothing is created.
    changed = case.update(1)
    assert changed is not None
    updated = engine.process_event(connection_id, changed)
    assert (updated.status, updated.created, updated.updated) == ("success", 0, 1)
    assert live(admin, connection_id) == expected

    # A delete, where the provider can express one: soft deleted, not resurrected.
    if case.delete is not None:
        gone = case.add(20_000, now - timedelta(hours=2))
        assert engine.run(connection_id, "scheduled").created == 1
        assert not case.deliveries()
        removed = case.delete(20_000)
        assert removed is not None
        deleted = engine.process_event(connection_id, removed)
        assert (deleted.status, deleted.deleted) == ("success", 1)
        assert rows(admin, connection_id)[gone][0] is True
        assert engine.run(connection_id, "scheduled").status == "success"
        assert live(admin, connection_id) == expected

    # Reconnect: the same row comes back; stored activities stay, new ones arrive once. (A
    # Strava disconnect deletes the Strava data whatever the caller asks, issue 14: the
    # reconnect then backfills everything again.)
    admin.execute("select public.connection_disconnect(%s, false)", [connection_id])
    deletes = case.provider.delete_activities_on_disconnect
    assert (live(admin, connection_id) == set()) is deletes
    assert engine.run(connection_id, "scheduled").status == "skipped"
    admin.execute(
        "update public.provider_connections set status = 'active' where id = %s", [connection_id]
    )
    expected.add(case.add(30_000, now - timedelta(minutes=30)))
    again = engine.run(connection_id, "initial")
    delivered = [engine.process_event(connection_id, e) for e in case.deliveries()]
    assert again.status == "success"
    assert again.created + sum(d.created for d in delivered) == (len(expected) if deletes else 1)
    assert live(admin, connection_id) == expected
    if not deletes:  # (the runs before a deleting disconnect created rows that are gone)
        assert_history_matches(admin, connection_id)
    # Rows with a start position but no zone from the provider got the zone of the position.
    zones = admin.execute(
        "select coalesce(timezone, 'none'), count(*) from public.activities"
        " where connection_id = %s and deleted_at is null"
        " and (activity_data ? 'start_latlng' or activity_data ? 'startingLatitudeInDegree')"
        " group by 1",
        [connection_id],
    ).fetchall()
    assert all(zone != "none" for zone, _ in zones), zones
    if name == "garmin":
        assert zones == [("Europe/Paris", len(expected))]


# --- deletions by omission ----------------------------------------------------------------------


def test_google_delete_notification_soft_deletes_only_the_missing_exercise(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    case = fitbit_case()
    now = datetime.now(UTC).replace(microsecond=0)
    connection_id = new_connection(admin, "fitbit", case.fake.provider_user_id)
    engine = SyncEngine(
        PsycopgGateway(pool, role="service_role"), Tokens(case.fake), {"fitbit": case.provider}
    )
    inside = [case.add(n, now - timedelta(hours=5) + timedelta(minutes=n)) for n in range(1, 4)]
    far = case.add(9, now - timedelta(days=4))  # outside the notified window
    assert engine.run(connection_id, "initial").created == 4
    event = case.delete  # the second exercise goes; the notification names none
    assert event is not None
    deletion = event(2)
    assert deletion is not None
    outcome = engine.process_event(connection_id, deletion)
    assert outcome.deleted == 1
    assert live(admin, connection_id) == {inside[0], inside[2], far}
    (run,) = [r for r in history(admin, connection_id) if r["sync_trigger"] == "webhook"]
    assert run["activities_deleted"] == 1
    # Applied twice (a replayed notification): nothing more happens.
    assert engine.process_event(connection_id, _replay(case)).deleted == 0
    assert live(admin, connection_id) == {inside[0], inside[2], far}


def _replay(case: Case) -> WebhookEvent:
    """The same DELETE notification again (the exercise is already gone at the fake)."""
    return WebhookEvent(
        case.fake.provider_user_id,
        "activity_deleted",
        None,
        {
            "healthUserId": case.fake.provider_user_id,
            "dataType": "exercise",
            "operation": "DELETE",
            "intervals": [
                {
                    "physicalTimeInterval": {
                        "startTime": _iso(datetime.now(UTC) - timedelta(hours=5)),
                        "endTime": _iso(datetime.now(UTC) - timedelta(hours=4)),
                    }
                }
            ],
        },
    )


def test_delete_missing_activities_guards_and_privileges(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    fake = FakeStrava()
    connection_id = new_connection(admin, "strava", fake.provider_user_id)
    start = datetime.now(UTC) - timedelta(days=1)
    items = [
        {**fake.add_activity(n, start + timedelta(minutes=n)), "resource_state": 2}
        for n in (1, 2, 3)
    ]
    admin.execute(
        "select * from public.ingest_activities(%s, %s::jsonb)", [connection_id, json.dumps(items)]
    )
    window = (start, start + timedelta(hours=1))
    call = "select public.delete_missing_activities(%s, %s, %s, %s, %s)"
    # Changed after the listing began: kept.
    earlier = datetime.now(UTC) - timedelta(hours=2)
    row = admin.execute(call, [connection_id, *window, ["1"], earlier]).fetchone()
    assert row == (0,)
    # A null list is refused; an inverted window too.
    for bad in (
        [connection_id, *window, None, datetime.now(UTC)],
        [connection_id, window[1], window[0], [], datetime.now(UTC)],
    ):
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            admin.execute(call, bad)
    row = admin.execute(call, [connection_id, *window, ["1"], datetime.now(UTC)]).fetchone()
    assert row == (2,)
    assert live(admin, connection_id) == {"1"}
    # Eve (authenticated) and anon cannot call it: service role only.
    for role in ("authenticated", "anon"):
        with admin.transaction():
            admin.execute(f"set local role {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                admin.execute(call, [connection_id, *window, [], datetime.now(UTC)])
        with admin.transaction():
            admin.execute(f"set local role {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                admin.execute("select public.rate_limit_charge(array['x'], array[1], array[60], 5)")
    assert live(admin, connection_id) == {"1"}


# --- error classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (TokenRevokedError("strava", "refused"), False),
        (InsufficientScopeError("fitbit", ["activity"]), False),
        (ProviderNotConfiguredError("wahoo", ["WAHOO_CLIENT_ID"]), False),
        (ProviderError("garmin", "refused (403)", status_code=403), False),
        (ValueError("a bug"), False),
        (ProviderUnavailableError("coros", "sport list refused (result 1003)"), True),
        (RateLimitedError("strava", "429", retry_after=60), True),
        (TokenRefreshError("polar", "502"), True),
        (DatabaseUnavailableError("dropped"), True),
        (BadPayloadError("wahoo", "truncated"), True),
        (SyncLeaseLostError("lost"), True),
    ],
)
def test_errors_are_classified_once_for_the_engine_and_the_queue(
    exc: BaseException, transient: bool
) -> None:
    assert is_transient(exc) is transient

    class Job:
        attempts = 0

    decision = SYNC_RETRY.get_retry_decision(exception=exc, job=Job())  # type: ignore[arg-type]
    assert (decision is not None) is transient


def test_coros_error_envelopes_are_transient_unless_marked_revoked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trainlytics.providers import coros

    fake = FakeCoros()
    provider = CorosProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    dead = TokenSet(access_token="not-live", provider_user_id=fake.provider_user_id)  # noqa: S106
    window = SyncWindow(datetime.now(UTC) - timedelta(days=2), datetime.now(UTC))
    with pytest.raises(ProviderUnavailableError, match="result 1003") as raised:
        provider.fetch_activities(dead, window, None)
    assert is_transient(raised.value)
    monkeypatch.setattr(coros, "REVOKED_RESULTS", frozenset({"1003"}))
    with pytest.raises(TokenRevokedError) as revoked:
        provider.fetch_activities(dead, window, None)
    assert not is_transient(revoked.value)


# --- rate limits, event steps, planning ------------------------------------------------------


def test_a_429_is_recorded_for_every_worker_and_extra_calls_are_charged(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    fake = FakeStrava()
    provider = StravaProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    connection_id = new_connection(admin, "strava", fake.provider_user_id)
    gateway = PsycopgGateway(pool, role="service_role")
    admin.execute("delete from private.rate_limit_windows where bucket like 'strava:%%'")
    engine = SyncEngine(
        gateway, Tokens(fake), {"strava": provider}, limiter=RateLimiter(gateway, max_wait=0)
    )
    fake.usage["read"][0] = fake.rate_limits["read"][0]  # the read quarter hour is spent
    with pytest.raises(RateLimitedError):
        engine.run(connection_id, "initial")
    used = dict(
        admin.execute(
            "select bucket, used from private.rate_limit_windows"
            " where bucket = 'strava:read:15min'"
            " and window_start + make_interval(secs => window_seconds) > now()"
        ).fetchall()
    )
    # The 429's headers, parsed by Strava's own parser, say the bucket is full: every worker
    # now waits (our own limiter refuses before asking Strava again).
    assert used["strava:read:15min"] >= fake.rate_limits["read"][0]
    from trainlytics.errors import RateLimitWait

    with pytest.raises(RateLimitWait):
        engine.run(connection_id, "scheduled")

    # A page that took three calls is charged two more than the one reserved.
    limiter = RateLimiter(gateway, max_wait=0)
    buckets = buckets_for(provider, fake.provider_user_id)
    wahoo_like = [b for b in buckets if b.name == "strava:overall:daily"]
    admin.execute("delete from private.rate_limit_windows where bucket = 'strava:overall:daily'")
    limiter.acquire("strava", wahoo_like)
    limiter.charge(wahoo_like, 2)
    limiter.charge(wahoo_like, -5)  # giving back never goes below zero
    limiter.charge(wahoo_like, 4)
    (value,) = admin.execute(
        "select used from private.rate_limit_windows where bucket = 'strava:overall:daily'"
        " and window_start + make_interval(secs => window_seconds) > now()"
    ).fetchone() or (None,)
    assert value == 4


class SteppedProvider(StravaProvider):
    """A provider answering one event in three steps (cursor ``{"step": n}``), three calls each."""

    calls: list[Mapping[str, Any] | None]
    provider_user_id: str

    def fetch_for_event(
        self, tokens: TokenSet, event: WebhookEvent, cursor: Mapping[str, Any] | None = None
    ) -> ActivityPage:
        self.calls.append(cursor)
        step = int((cursor or {}).get("step", 0))
        start = datetime.now(UTC) - timedelta(days=1)
        item = self._item(step + 1, start + timedelta(minutes=step))
        return ActivityPage(
            items=(item,),
            next_cursor={"step": step + 1} if step < 2 else None,
            api_calls=3,
        )

    def _item(self, n: int, start: datetime) -> dict[str, Any]:
        fake = FakeStrava(self.provider_user_id)
        return {**fake.add_activity(n, start), "resource_state": 2}


def test_webhook_events_follow_next_cursor_under_the_limiter(
    pool: ConnectionPool[Any], admin: Conn
) -> None:
    fake = FakeStrava()
    provider = SteppedProvider(fake.credentials, httpx.Client(transport=fake.transport()))
    provider.calls = []
    provider.provider_user_id = fake.provider_user_id
    connection_id = new_connection(admin, "strava", fake.provider_user_id)
    gateway = PsycopgGateway(pool, role="service_role")
    admin.execute("delete from private.rate_limit_windows where bucket like 'strava:%%'")
    engine = SyncEngine(
        gateway, Tokens(fake), {"strava": provider}, limiter=RateLimiter(gateway, max_wait=0)
    )
    event = WebhookEvent(fake.provider_user_id, "activity_created", "1", {})
    outcome = engine.process_event(connection_id, event)
    assert provider.calls == [None, {"step": 1}, {"step": 2}]
    assert (outcome.status, outcome.pages, outcome.created, outcome.api_calls) == (
        "success",
        3,
        3,
        9,
    )
    (run,) = history(admin, connection_id)
    assert (run["activities_created"], run["api_calls"]) == (3, 9)
    (used,) = admin.execute(
        "select used from private.rate_limit_windows where bucket = 'strava:overall:daily'"
        " and window_start + make_interval(secs => window_seconds) > now()"
    ).fetchone() or (None,)
    assert used == 9  # three reserved, six charged


def test_garmin_backfill_reaches_about_a_month_not_all_history() -> None:
    assert GarminProvider.backfill_horizon == timedelta(days=30)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    windows, resume = plan_windows(GarminProvider, Cursor(), None, now)  # type: ignore[arg-type]
    assert resume is None
    assert windows == [SyncWindow(now - timedelta(days=30), now)]
    # Every provider's initial plan stays small (Strava and Fitbit: one open window).
    for cls in PROVIDER_CLASSES.values():
        planned, _ = plan_windows(cls, Cursor(), None, now)  # type: ignore[arg-type]
        assert 1 <= len(planned) <= 20, cls.name
