"""The original design's example queries run as written, and their views under RLS.

The three queries are copied verbatim from ``../shared/seed/ARCHITECTURE.fr.md`` (section
"Exemples de requêtes"); the only change is ``a.user_id = 1`` / ``u.id = 1`` becoming a uuid
literal, since users.id is now the Supabase Auth id. They run as the superuser (as an analyst
would), then the same questions go through the views as the athlete, under row-level security.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_user, create_auth_user

Conn = psycopg.Connection[Any]

QUERY_ACTIVITIES = """
SELECT
    a.id,
    a.name,
    a.activity_type,
    a.start_date,
    a.distance,
    pc.provider,
    pc.provider_username
FROM activities a
JOIN provider_connections pc ON a.connection_id = pc.id
WHERE a.user_id = 1
ORDER BY a.start_date DESC;
"""

QUERY_CONNECTIONS = """
SELECT
    u.email,
    pc.provider,
    pc.is_active,
    pc.last_sync_at
FROM users u
LEFT JOIN provider_connections pc ON u.id = pc.user_id
WHERE u.id = 1;
"""

QUERY_SYNC_STATISTICS = """
SELECT
    pc.provider,
    sh.sync_status,
    SUM(sh.activities_created) as total_created,
    COUNT(*) as sync_count
FROM sync_history sh
JOIN provider_connections pc ON sh.connection_id = pc.id
GROUP BY pc.provider, sh.sync_status;
"""

UTC = dt.UTC
LAST_SYNC = dt.datetime(2025, 6, 4, 12, 0, tzinfo=UTC)


def for_user(query: str, user_id: uuid.UUID) -> str:
    """The one edit the queries need: the integer user id becomes a uuid literal."""
    edited = query.replace("a.user_id = 1", f"a.user_id = '{user_id}'").replace(
        "u.id = 1", f"u.id = '{user_id}'"
    )
    assert edited != query
    return edited


@dataclass
class Fixture:
    alice: uuid.UUID
    bob: uuid.UUID
    activities: dict[str, int] = field(default_factory=dict)


def _one(conn: Conn, query: str, params: list[object]) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


def _connection(
    conn: Conn, user: uuid.UUID, provider: str, username: str, status: str, last_sync: Any
) -> int:
    return int(
        _one(
            conn,
            "insert into public.provider_connections (user_id, provider, provider_user_id,"
            " provider_username, status, last_sync_at) values (%s, %s, %s, %s, %s, %s)"
            " returning id",
            [user, provider, f"{provider}-{username}", username, status, last_sync],
        )
    )


def _activity(
    conn: Conn,
    user: uuid.UUID,
    connection: int | None,
    provider: str | None,
    name: str,
    start: str,
    distance: float,
    activity_type: str = "run",
    utc_offset: int = 7200,
    deleted: bool = False,
) -> int:
    return int(
        _one(
            conn,
            "insert into public.activities (user_id, connection_id, provider, source, is_manual,"
            " external_id, name, activity_type, start_date, utc_offset, distance, moving_time,"
            " elapsed_time, elevation_gain, calories, deleted_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " case when %s then now() end) returning id",
            [
                user,
                connection,
                provider,
                "provider" if connection else "manual",
                connection is None,
                name,
                name,
                activity_type,
                start,
                utc_offset,
                distance,
                int(distance / 4),
                int(distance / 4) + 100,
                distance / 200,
                distance / 10,
                deleted,
            ],
        )
    )


def _sync(conn: Conn, user: uuid.UUID, connection: int, status: str, created: int) -> None:
    conn.execute(
        "insert into public.sync_history (connection_id, user_id, sync_trigger, sync_status,"
        " sync_completed_at, activities_created) values (%s, %s, 'scheduled', %s,"
        " case when %s <> 'running' then now() end, %s)",
        [connection, user, status, status, created],
    )


@pytest.fixture
def seed(db: Conn) -> Fixture:
    db.execute("select 1")  # open the test transaction (see test_rls_matrix.world)
    fx = Fixture(
        alice=create_auth_user(db, "alice@example.com", confirmed=True),
        bob=create_auth_user(db, "bob@example.com", confirmed=True),
    )
    strava = _connection(db, fx.alice, "strava", "alice_runs", "active", LAST_SYNC)
    garmin = _connection(db, fx.alice, "garmin", "alice.g", "revoked", None)
    bob_garmin = _connection(db, fx.bob, "garmin", "bobby", "active", LAST_SYNC)
    a = fx.activities
    a["morning"] = _activity(
        db, fx.alice, strava, "strava", "Morning Run", "2025-06-01T05:00Z", 10000
    )
    a["garmin"] = _activity(
        db, fx.alice, garmin, "garmin", "Lunch Ride", "2025-06-02T11:00Z", 42195.5, "ride"
    )
    a["evening"] = _activity(
        db, fx.alice, strava, "strava", "Evening Run", "2025-06-03T18:00Z", 5000
    )
    a["manual"] = _activity(db, fx.alice, None, None, "Treadmill", "2025-06-04T07:00Z", 3000)
    a["bob"] = _activity(db, fx.bob, bob_garmin, "garmin", "Bob Run", "2025-06-02T06:00Z", 8000)
    _sync(db, fx.alice, strava, "success", 5)
    _sync(db, fx.alice, strava, "success", 2)
    _sync(db, fx.alice, strava, "failed", 0)
    _sync(db, fx.alice, garmin, "partial", 1)
    _sync(db, fx.bob, bob_garmin, "success", 4)
    return fx


def _expected_activities(fx: Fixture) -> list[tuple[Any, ...]]:
    a = fx.activities
    return [
        (a["evening"], "Evening Run", "run", dt.datetime(2025, 6, 3, 18, tzinfo=UTC), 5000.0,
         "strava", "alice_runs"),
        (a["garmin"], "Lunch Ride", "ride", dt.datetime(2025, 6, 2, 11, tzinfo=UTC), 42195.5,
         "garmin", "alice.g"),
        (a["morning"], "Morning Run", "run", dt.datetime(2025, 6, 1, 5, tzinfo=UTC), 10000.0,
         "strava", "alice_runs"),
    ]  # fmt: skip


def test_activities_of_a_user_across_providers(db: Conn, seed: Fixture) -> None:
    rows = db.execute(for_user(QUERY_ACTIVITIES, seed.alice).encode()).fetchall()
    assert rows == _expected_activities(seed)


def test_providers_a_user_connected(db: Conn, seed: Fixture) -> None:
    rows = db.execute(for_user(QUERY_CONNECTIONS, seed.alice).encode()).fetchall()
    assert sorted(rows, key=lambda r: r[1]) == [
        ("alice@example.com", "garmin", False, None),
        ("alice@example.com", "strava", True, LAST_SYNC),
    ]


def test_user_without_connections_appears_once(db: Conn, seed: Fixture) -> None:
    loner = create_auth_user(db, "loner@example.com")
    rows = db.execute(for_user(QUERY_CONNECTIONS, loner).encode()).fetchall()
    assert rows == [("loner@example.com", None, None, None)]


def test_sync_statistics_per_provider(db: Conn, seed: Fixture) -> None:
    rows = db.execute(QUERY_SYNC_STATISTICS.encode()).fetchall()
    assert sorted(rows) == [
        ("garmin", "partial", 1, 1),
        ("garmin", "success", 4, 1),
        ("strava", "failed", 0, 1),
        ("strava", "success", 7, 2),
    ]


def test_the_views_answer_the_same_questions_for_the_athlete(db: Conn, seed: Fixture) -> None:
    act_as_user(db, seed.alice)
    activities = db.execute(
        "select id, name, activity_type, start_date, distance, provider, provider_username"
        " from public.activities_with_provider order by start_date desc"
    ).fetchall()
    assert activities == _expected_activities(seed)
    connections = db.execute(
        "select email, provider, is_active, last_sync_at from public.user_provider_connections"
        " order by provider"
    ).fetchall()
    assert connections == [
        ("alice@example.com", "strava", True, LAST_SYNC),
        ("alice@example.com", "garmin", False, None),
    ]  # enum order: strava before garmin
    statistics = db.execute(
        "select provider, sync_status, total_created, sync_count from public.sync_statistics"
    ).fetchall()
    assert sorted(statistics) == [
        ("garmin", "partial", 1, 1),
        ("strava", "failed", 0, 1),
        ("strava", "success", 7, 2),
    ]


def test_the_views_show_bob_only_bobs_rows(db: Conn, seed: Fixture) -> None:
    act_as_user(db, seed.bob)
    assert db.execute("select name, provider from public.activities_with_provider").fetchall() == [
        ("Bob Run", "garmin")
    ]
    assert db.execute(
        "select email, provider from public.user_provider_connections"
    ).fetchall() == [("bob@example.com", "garmin")]
    assert db.execute(
        "select provider, sync_status, total_created, sync_count from public.sync_statistics"
    ).fetchall() == [("garmin", "success", 4, 1)]


# --- weekly and monthly volume in the athlete's local calendar -----------------------------

LOS_ANGELES = -8 * 3600  # PST, in November


@pytest.fixture
def volume(db: Conn, seed: Fixture) -> Fixture:
    a, alice = seed.activities, seed.alice
    # Sunday 2025-11-23 23:30 in Los Angeles = Monday 2025-11-24 07:30 UTC.
    a["sunday_night"] = _activity(
        db, alice, None, None, "Sunday night", "2025-11-24T07:30Z", 10000, utc_offset=LOS_ANGELES
    )
    a["tuesday"] = _activity(
        db, alice, None, None, "Tuesday", "2025-11-18T15:00Z", 5000, utc_offset=LOS_ANGELES
    )
    a["monday"] = _activity(
        db, alice, None, None, "Monday", "2025-11-24T16:00Z", 8000, utc_offset=LOS_ANGELES
    )
    # Sunday 2025-11-30 20:00 in Los Angeles = Monday 2025-12-01 04:00 UTC: still November.
    a["month_end"] = _activity(
        db, alice, None, None, "Last ride of November", "2025-12-01T04:00Z", 30000, "ride",
        utc_offset=LOS_ANGELES,
    )  # fmt: skip
    a["deleted"] = _activity(
        db, alice, None, None, "Deleted", "2025-11-19T15:00Z", 99000, utc_offset=LOS_ANGELES,
        deleted=True,
    )  # fmt: skip
    _activity(db, seed.bob, None, None, "Bob November", "2025-11-20T10:00Z", 7000)
    return seed


WEEKLY_NOVEMBER = [
    # activity_type, week_start, count, distance, moving, elapsed, elevation, calories
    ("ride", dt.date(2025, 11, 24), 1, 30000.0, 7500, 7600, 150.0, 3000.0),
    ("run", dt.date(2025, 11, 17), 2, 15000.0, 3750, 3950, 75.0, 1500.0),
    ("run", dt.date(2025, 11, 24), 1, 8000.0, 2000, 2100, 40.0, 800.0),
]
MONTHLY_NOVEMBER = [
    ("ride", dt.date(2025, 11, 1), 1, 30000.0, 7500, 7600, 150.0, 3000.0),
    ("run", dt.date(2025, 11, 1), 3, 23000.0, 5750, 6050, 115.0, 2300.0),
]
_VOLUME_COLUMNS = (
    "activity_type::text, {period}, activity_count, total_distance, total_moving_time,"
    " total_elapsed_time, total_elevation_gain, total_calories"
)


def _volume(db: Conn, view: str, period: str, since: str) -> list[tuple[Any, ...]]:
    columns = _VOLUME_COLUMNS.format(period=period)
    query = f"select {columns} from public.{view} where {period} >= %s order by 1, 2"
    return db.execute(query.encode(), [since]).fetchall()


def test_weekly_volume_follows_the_local_calendar(db: Conn, volume: Fixture) -> None:
    act_as_user(db, volume.alice)
    assert _volume(db, "weekly_volume", "week_start", "2025-11-01") == WEEKLY_NOVEMBER


def test_monthly_volume_follows_the_local_calendar(db: Conn, volume: Fixture) -> None:
    act_as_user(db, volume.alice)
    assert _volume(db, "monthly_volume", "month_start", "2025-11-01") == MONTHLY_NOVEMBER


def test_volume_excludes_deleted_activities_even_for_analysts(db: Conn, volume: Fixture) -> None:
    """As the superuser (no RLS) the deleted 99 km run still does not count."""
    rows = db.execute(
        "select week_start, activity_count, total_distance from public.weekly_volume"
        " where user_id = %s and activity_type = 'run' and week_start = '2025-11-17'",
        [volume.alice],
    ).fetchall()
    assert rows == [(dt.date(2025, 11, 17), 2, 15000.0)]


def test_volume_is_the_callers_own(db: Conn, volume: Fixture) -> None:
    act_as_user(db, volume.bob)
    assert db.execute(
        "select distinct user_id from public.weekly_volume union"
        " select distinct user_id from public.monthly_volume"
    ).fetchall() == [(volume.bob,)]
