"""Statistics views over the rollups: weekly, monthly, yearly volume by sport in the local
calendar, volume by provider, each workout counted once; recurring sync errors; and their RLS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.analytics.test_rollups import T0, insert_activity, make_athletes
from tests.helpers import act_as_user, create_auth_user

Conn = psycopg.Connection[Any]


def _as(conn: Conn, user: uuid.UUID, query: str, params: list[Any] | None = None) -> list[Any]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, user)
        return conn.execute(query.encode(), params or []).fetchall()


def test_volume_is_bucketed_in_the_local_calendar(db: Conn) -> None:
    """A Sunday-evening run in Los Angeles (Monday in UTC) counts in that Sunday's week, and a
    run on the evening of 31 December in New York (1 January UTC) in the old month and year."""
    world = make_athletes(db, 1)
    (alice,) = world.users
    sunday_la = datetime(2026, 3, 9, 3, 0, tzinfo=UTC)  # Sun 8 Mar 2026 19:00 at UTC-8
    insert_activity(db, world, alice, "garmin", sunday_la, utc_offset=-28800, distance=10000.0)
    new_year_ny = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # Wed 31 Dec 2025 21:00 at UTC-5
    insert_activity(db, world, alice, "garmin", new_year_ny, utc_offset=-18000, distance=5000.0)
    weeks = _as(
        db, alice, "select week_start::text, activity_count from public.weekly_volume order by 1"
    )
    assert weeks == [("2025-12-29", 1), ("2026-03-02", 1)]
    months = _as(
        db, alice, "select month_start::text, activity_count from public.monthly_volume order by 1"
    )
    assert months == [("2025-12-01", 1), ("2026-03-01", 1)]
    years = _as(
        db,
        alice,
        "select year_start::text, activity_count, total_distance from public.yearly_volume"
        " order by 1",
    )
    assert years == [("2025-01-01", 1, 5000.0), ("2026-01-01", 1, 10000.0)]


def test_a_week_straddling_two_months_sums_exactly(db: Conn) -> None:
    world = make_athletes(db, 1)
    (alice,) = world.users
    # Monday 30 March 2026 and Thursday 2 April 2026: one ISO week, two months
    insert_activity(db, world, alice, "garmin", datetime(2026, 3, 30, 8, tzinfo=UTC))
    insert_activity(db, world, alice, "garmin", datetime(2026, 4, 2, 8, tzinfo=UTC))
    assert _as(db, alice, "select week_start::text, activity_count from public.weekly_volume") == [
        ("2026-03-30", 2)
    ]
    assert _as(
        db, alice, "select month_start::text, activity_count from public.monthly_volume order by 1"
    ) == [("2026-03-01", 1), ("2026-04-01", 1)]


def test_each_workout_counts_once_and_deleted_ones_never(db: Conn) -> None:
    """The same ride from Garmin and Strava, grouped as duplicates: one workout in every view,
    under its primary copy's provider; a soft-deleted ride counts nowhere."""
    world = make_athletes(db, 1)
    (alice,) = world.users
    garmin = insert_activity(db, world, alice, "garmin", T0, distance=40000.0)
    strava = insert_activity(
        db, world, alice, "strava", T0 + timedelta(seconds=15), distance=40100.0
    )
    gone = insert_activity(db, world, alice, "garmin", T0 + timedelta(days=1))
    db.execute("update public.activities set deleted_at = now() where id = %s", [gone])
    # Whatever the automatic grouping decided, make it explicit: Garmin's copy is the primary.
    db.execute("update public.activities set primary_activity_id = null where id = %s", [garmin])
    db.execute(
        "update public.activities set primary_activity_id = %s where id = %s", [garmin, strava]
    )
    for view in ("weekly_volume", "monthly_volume", "yearly_volume"):
        rows = _as(db, alice, f"select activity_count, total_distance from public.{view}")
        assert rows == [(1, 40000.0)], view
    by_provider = _as(
        db, alice, "select provider::text, activity_count from public.provider_volume"
    )
    assert by_provider == [("garmin", 1)]


def test_volume_views_keep_their_columns(db: Conn) -> None:
    """The seed queries, the CLI and the report read these columns by name."""
    columns = {
        view: [
            r[0]
            for r in db.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0"
                " order by attnum",
                [f"public.{view}"],
            ).fetchall()
        ]
        for view in ("weekly_volume", "monthly_volume")
    }
    common = [
        "activity_count",
        "total_distance",
        "total_moving_time",
        "total_elapsed_time",
        "total_elevation_gain",
        "total_calories",
        "total_load",
    ]
    assert columns["weekly_volume"] == ["user_id", "activity_type", "week_start", *common]
    assert columns["monthly_volume"] == ["user_id", "activity_type", "month_start", *common]


def test_coach_volume_excludes_private_and_strava_sourced(db: Conn) -> None:
    world = make_athletes(db, 1)
    (alice,) = world.users
    insert_activity(db, world, alice, "garmin", T0, distance=10000.0)
    insert_activity(db, world, alice, "garmin", T0 + timedelta(hours=5), is_private=True)
    insert_activity(db, world, alice, "strava", T0 + timedelta(days=1))
    coach = create_auth_user(db, f"coach-{uuid.uuid4().hex[:8]}@example.com")
    db.execute("update public.users set role = 'coach' where id = %s", [coach])
    db.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, coach],
    )
    for view in ("weekly_volume", "monthly_volume", "yearly_volume", "provider_volume"):
        assert _as(db, coach, f"select sum(activity_count)::int from public.{view}") == [(1,)], view
        assert _as(db, alice, f"select sum(activity_count)::int from public.{view}") == [(3,)], view
    assert _as(db, coach, "select distinct provider::text from public.provider_volume") == [
        ("garmin",)
    ]


# --- recurring sync errors ---------------------------------------------------------------------


def _runs(conn: Conn, connection_id: int, user: uuid.UUID, outcomes: list[str | None]) -> None:
    """Finished runs, oldest first: None means success, a text a failure with that message."""
    start = datetime.now(UTC) - timedelta(hours=len(outcomes) + 1)
    for n, error in enumerate(outcomes):
        at = start + timedelta(hours=n)
        conn.execute(
            "insert into public.sync_history (connection_id, user_id, sync_trigger, sync_status,"
            " sync_started_at, sync_completed_at, error_message)"
            " values (%s, %s, 'scheduled', %s, %s, %s, %s)",
            [connection_id, user, "failed" if error else "success", at, at, error],
        )


def test_recurring_sync_errors(db: Conn) -> None:
    world = make_athletes(db, 3)
    alice, eve, zoe = world.users
    # alice's Garmin: failing three times in a row since its last success
    _runs(db, world.connections[(alice, "garmin")], alice, [None, "boom", "HTTP 500", "HTTP 503"])
    # alice's Strava: failures, then a success: the streak is over
    _runs(db, world.connections[(alice, "strava")], alice, ["x", "x", "x", None])
    # eve's and zoe's Garmin: the same error on two connections (a provider-wide problem)
    _runs(db, world.connections[(eve, "garmin")], eve, ["garmin says 429", None])
    _runs(db, world.connections[(zoe, "garmin")], zoe, [None, "garmin says 429"])
    admin = create_auth_user(db, f"admin-{uuid.uuid4().hex[:8]}@example.com")
    db.execute("update public.users set role = 'admin' where id = %s", [admin])

    query = (
        "select kind, provider::text, connection_id, error_message, failures::int,"
        " connections::int from public.recurring_sync_errors order by kind, error_message"
    )
    garmin_alice = world.connections[(alice, "garmin")]
    assert _as(db, admin, query) == [
        ("failing_connection", "garmin", garmin_alice, "HTTP 503", 3, 1),
        ("shared_error", "garmin", None, "garmin says 429", 2, 2),
    ]
    # an athlete sees only what their own history shows: no other athlete's connection
    assert _as(db, alice, query) == [
        ("failing_connection", "garmin", garmin_alice, "HTTP 503", 3, 1)
    ]
    assert _as(db, eve, query) == []
    assert all(row[0] != "failing_connection" for row in _as(db, zoe, query))
