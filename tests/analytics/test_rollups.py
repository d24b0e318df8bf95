"""Rollups (public.weekly_rollups, public.daily_loads): incremental maintenance, RLS, rebuild.

The central property: whatever sequence of inserts, updates, soft and hard deletes, duplicate
regroupings, privacy and preference changes the activities go through, the rollups kept by the
triggers equal a full rebuild (public.rebuild_rollups) exactly (numeric sums), and equal a direct
aggregation of the primary, non-deleted activities.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.helpers import act_as_service, act_as_user, create_auth_user, reset_role
from tests.hypothesis_profiles import examples
from tests.sync.ingest_support import ingest, make_connection, strava_activity
from trainlytics.cli.main import app

Conn = psycopg.Connection[Any]

WEEKLY_COLUMNS = (
    "user_id, week_start, month_start, activity_type, provider, shareable, activity_count,"
    " distance, moving_time, elapsed_time, elevation_gain, calories, load"
)
DAILY_COLUMNS = "user_id, day, shareable, load, activity_count"
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday


def snapshot(conn: Conn, users: list[uuid.UUID]) -> tuple[list[Any], list[Any]]:
    weekly = conn.execute(
        f"select {WEEKLY_COLUMNS} from public.weekly_rollups where user_id = any(%s)"
        " order by 1, 2, 3, 4, 5 nulls first, 6",
        [users],
    ).fetchall()
    daily = conn.execute(
        f"select {DAILY_COLUMNS} from public.daily_loads where user_id = any(%s) order by 1, 2, 3",
        [users],
    ).fetchall()
    return weekly, daily


def direct_aggregate(conn: Conn, users: list[uuid.UUID]) -> list[Any]:
    """Per athlete, local week and sport: counted workouts and distance, from activities."""
    return conn.execute(
        "select user_id, date_trunc('week', start_date_local)::date, activity_type, count(*),"
        " sum(coalesce(distance::numeric, 0))"
        " from public.activities"
        " where user_id = any(%s) and deleted_at is null and primary_activity_id is null"
        " group by 1, 2, 3 order by 1, 2, 3",
        [users],
    ).fetchall()


def rollup_aggregate(conn: Conn, users: list[uuid.UUID]) -> list[Any]:
    return conn.execute(
        "select user_id, week_start, activity_type, sum(activity_count), sum(distance)"
        " from public.weekly_rollups where user_id = any(%s)"
        " group by 1, 2, 3 order by 1, 2, 3",
        [users],
    ).fetchall()


TOTALS_COLUMNS = (
    "user_id, shareable_only, period, period_start, activity_type, activity_count, distance,"
    " moving_time, elapsed_time, elevation_gain, calories, load"
)


def volume_totals(conn: Conn, users: list[uuid.UUID]) -> list[Any]:
    return conn.execute(
        f"select {TOTALS_COLUMNS} from public.volume_totals where user_id = any(%s)"
        " order by 1, 2, 3, 4, 5",
        [users],
    ).fetchall()


def totals_of_rollups(conn: Conn, users: list[uuid.UUID]) -> list[Any]:
    """volume_totals as aggregates of weekly_rollups: per week, month and year, every row in
    scope all and the shareable rows in scope shareable (migration 20261205250000)."""
    return conn.execute(
        "select r.user_id, s.shareable_only, p.period, p.start, r.activity_type,"
        " sum(r.activity_count), sum(r.distance), sum(r.moving_time), sum(r.elapsed_time),"
        " sum(r.elevation_gain), sum(r.calories), sum(r.load)"
        " from public.weekly_rollups as r"
        " cross join lateral (values ('week', r.week_start), ('month', r.month_start),"
        " ('year', date_trunc('year', r.month_start)::date)) as p (period, start)"
        " cross join lateral (values (false), (true)) as s (shareable_only)"
        " where r.user_id = any(%s) and (r.shareable or not s.shareable_only)"
        " group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5",
        [users],
    ).fetchall()


def totals_of_activities(conn: Conn, users: list[uuid.UUID]) -> list[Any]:
    """Counts and distances of volume_totals straight from the counted activities."""
    return conn.execute(
        "select a.user_id, s.shareable_only, p.period, p.start, a.activity_type, count(*),"
        " sum(coalesce(a.distance::numeric, 0))"
        " from public.activities as a"
        " cross join lateral (values"
        " ('week', date_trunc('week', a.start_date_local)::date),"
        " ('month', date_trunc('month', a.start_date_local)::date),"
        " ('year', date_trunc('year', a.start_date_local)::date)) as p (period, start)"
        " cross join lateral (values (false), (true)) as s (shareable_only)"
        " where a.user_id = any(%s) and a.deleted_at is null and a.primary_activity_id is null"
        " and (not s.shareable_only or (not a.is_private and a.provider is distinct from 'strava'))"
        " group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5",
        [users],
    ).fetchall()


def source_totals(conn: Conn, users: list[uuid.UUID]) -> list[Any]:
    return conn.execute(
        "select user_id, shareable_only, period, period_start, source, activity_count, distance,"
        " moving_time from public.source_totals where user_id = any(%s) order by 1, 2, 3, 4, 5",
        [users],
    ).fetchall()


def source_totals_of_activities(conn: Conn, users: list[uuid.UUID]) -> list[Any]:
    """source_totals straight from the live activities, every copy (migration 20261205250200);
    the shareable scope is what a coach reads row by row (activities_select)."""
    return conn.execute(
        "select a.user_id, s.shareable_only, p.period, p.start,"
        " coalesce(a.provider::text, a.source::text), count(*)::integer,"
        " sum(coalesce(a.distance::numeric, 0)), sum(coalesce(a.moving_time, 0))::bigint"
        " from public.activities as a"
        " cross join lateral (values ('day', a.start_date_local::date),"
        " ('week', date_trunc('week', a.start_date_local)::date)) as p (period, start)"
        " cross join (values (false), (true)) as s (shareable_only)"
        " where a.user_id = any(%s) and a.deleted_at is null and (not s.shareable_only"
        " or (not a.is_private and a.provider is distinct from 'strava' and not a.primary_hidden))"
        " group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5",
        [users],
    ).fetchall()


def assert_incremental_equals_rebuild(conn: Conn, users: list[uuid.UUID]) -> None:
    incremental = snapshot(conn, users)
    assert rollup_aggregate(conn, users) == direct_aggregate(conn, users)
    totals = volume_totals(conn, users)
    assert totals == totals_of_rollups(conn, users), "volume_totals drifted from weekly_rollups"
    assert [t[:7] for t in totals] == totals_of_activities(conn, users)
    sources = source_totals(conn, users)
    assert sources == source_totals_of_activities(conn, users), "source_totals drifted"
    with conn.transaction(force_rollback=True):
        act_as_service(conn)
        conn.execute("select public.rebuild_rollups()")
        reset_role(conn)
        rebuilt = snapshot(conn, users)
        assert totals == volume_totals(conn, users), "volume_totals drifted from a rebuild"
        assert sources == source_totals(conn, users), "source_totals drifted from a rebuild"
    assert incremental[0] == rebuilt[0], "weekly_rollups drifted from a rebuild"
    assert incremental[1] == rebuilt[1], "daily_loads drifted from a rebuild"
    # nothing left behind with no activity in it
    assert all(row[6] > 0 for row in incremental[0])
    assert all(row[4] > 0 for row in incremental[1])
    # Personal records (issue 14: kept incrementally too) equal a rebuild.
    records = (
        "select user_id, shareable_only, activity_type, record, standard_distance, value,"
        " activity_id, achieved_on from public.personal_record_entries where user_id = any(%s)"
        " order by 1, 2, 3, 4, 5"
    )
    kept = conn.execute(records, [users]).fetchall()
    with conn.transaction(force_rollback=True):
        act_as_service(conn)
        conn.execute("select public.rebuild_personal_records()")
        reset_role(conn)
        assert kept == conn.execute(records, [users]).fetchall(), "records drifted"


# --- a small world ---------------------------------------------------------------------------


@dataclass
class Athletes:
    users: list[uuid.UUID]
    connections: dict[tuple[uuid.UUID, str], int] = field(default_factory=dict)


def make_athletes(conn: Conn, count: int = 2) -> Athletes:
    world = Athletes(users=[])
    for n in range(count):
        user = create_auth_user(conn, f"rollup-{n}-{uuid.uuid4().hex[:8]}@example.com")
        conn.execute(
            "update public.users set preferences = %s where id = %s",
            [json.dumps({"ftp": 250, "resting_heart_rate": 50, "max_heart_rate": 185}), user],
        )
        world.users.append(user)
        for provider in ("strava", "garmin"):
            row = conn.execute(
                "insert into public.provider_connections (user_id, provider, provider_user_id)"
                " values (%s, %s, %s) returning id",
                [user, provider, uuid.uuid4().hex[:10]],
            ).fetchone()
            assert row is not None
            world.connections[(user, provider)] = int(row[0])
    return world


def insert_activity(
    conn: Conn,
    world: Athletes,
    user: uuid.UUID,
    source: str,
    start: datetime,
    **metrics: Any,
) -> int:
    values: dict[str, Any] = {
        "user_id": user,
        "activity_type": "ride",
        "start_date": start,
        "utc_offset": 3600,
        "moving_time": 3600,
        "elapsed_time": 3700,
        "distance": 30000.5,
        "elevation_gain": 120.5,
        "calories": 700.0,
        "weighted_average_watts": 200.0,
        **metrics,
    }
    if source == "manual":
        values |= {"source": "manual", "is_manual": True}
    else:
        values |= {
            "source": "provider",
            "is_manual": False,
            "provider": source,
            "connection_id": world.connections[(user, source)],
            "external_id": uuid.uuid4().hex,
        }
    columns = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    row = conn.execute(
        f"insert into public.activities ({columns}) values ({placeholders}) returning id",
        values,
    ).fetchone()
    assert row is not None
    return int(row[0])


# --- randomized: incremental == rebuild --------------------------------------------------------

SOURCES = ("manual", "strava", "garmin")
SPORTS = ("ride", "run", "walk", "swim")

operation = st.one_of(
    st.tuples(
        st.just("insert"),
        st.integers(0, 1),  # athlete
        st.sampled_from(SOURCES),
        st.integers(0, 40 * 24),  # hours after T0 (about six weeks: weeks and months cross)
        st.sampled_from(SPORTS),
        st.booleans(),  # private
        st.integers(0, 3),  # duplicates: copies from other sources at the same start
    ),
    st.tuples(st.just("update_metrics"), st.integers(0, 10_000), st.integers(1, 50_000)),
    st.tuples(st.just("move"), st.integers(0, 10_000), st.integers(-72, 72)),
    st.tuples(st.just("utc_offset"), st.integers(0, 10_000), st.sampled_from((-36000, 0, 50400))),
    st.tuples(st.just("sport"), st.integers(0, 10_000), st.sampled_from(SPORTS)),
    st.tuples(st.just("privacy"), st.integers(0, 10_000)),
    st.tuples(st.just("soft_delete"), st.integers(0, 10_000)),
    st.tuples(st.just("undelete"), st.integers(0, 10_000)),
    st.tuples(st.just("hard_delete"), st.integers(0, 10_000)),
    st.tuples(st.just("make_duplicate"), st.integers(0, 10_000), st.integers(0, 10_000)),
    st.tuples(st.just("split"), st.integers(0, 10_000)),
    st.tuples(st.just("preferences"), st.integers(0, 1), st.integers(150, 350)),
    # an FTP in force from a day of the history on (the loads of later inserts read it by date)
    st.tuples(st.just("ftp"), st.integers(0, 1), st.integers(0, 40), st.integers(150, 350)),
)


def pick(conn: Conn, users: list[uuid.UUID], n: int) -> tuple[int, uuid.UUID] | None:
    rows = conn.execute(
        "select id, user_id from public.activities where user_id = any(%s) order by id", [users]
    ).fetchall()
    if not rows:
        return None
    row = rows[n % len(rows)]
    return int(row[0]), row[1]


def apply(conn: Conn, world: Athletes, op: tuple[Any, ...]) -> None:
    users = world.users
    kind = op[0]
    if kind == "insert":
        _, who, source, hours, sport, private, copies = op
        user = users[who]
        start = T0 + timedelta(hours=hours)
        insert_activity(conn, world, user, source, start, activity_type=sport, is_private=private)
        # copies of the same workout from other sources: the duplicate grouping links them
        for extra, other in enumerate(s for s in SOURCES if s != source):
            if extra < copies:
                insert_activity(
                    conn,
                    world,
                    user,
                    other,
                    start + timedelta(seconds=20 * (extra + 1)),
                    activity_type=sport,
                    distance=30050.0,
                )
        return
    if kind == "preferences":
        conn.execute(
            "update public.users set preferences = preferences || %s where id = %s",
            [json.dumps({"ftp": op[2]}), users[op[1]]],
        )
        return
    if kind == "ftp":
        conn.execute(
            "insert into public.athlete_ftp_history (user_id, effective_from, ftp_w)"
            " values (%s, %s, %s)"
            " on conflict (user_id, effective_from) do update set ftp_w = excluded.ftp_w",
            [users[op[1]], (T0 + timedelta(days=op[2])).date(), op[3]],
        )
        return
    target = pick(conn, users, op[1])
    if target is None:
        return
    activity, owner = target
    if kind == "update_metrics":
        conn.execute(
            "update public.activities set distance = %s, moving_time = %s,"
            " average_heartrate = 140 where id = %s",
            [op[2] + 0.25, op[2] % 7200, activity],
        )
    elif kind == "move":
        conn.execute(
            "update public.activities set start_date = start_date + make_interval(hours => %s)"
            " where id = %s",
            [op[2], activity],
        )
    elif kind == "utc_offset":
        conn.execute(
            "update public.activities set utc_offset = %s where id = %s", [op[2], activity]
        )
    elif kind == "sport":
        conn.execute(
            "update public.activities set activity_type = %s where id = %s", [op[2], activity]
        )
    elif kind == "privacy":
        conn.execute(
            "update public.activities set is_private = not is_private where id = %s", [activity]
        )
    elif kind == "soft_delete":
        conn.execute("update public.activities set deleted_at = now() where id = %s", [activity])
    elif kind == "undelete":
        conn.execute("update public.activities set deleted_at = null where id = %s", [activity])
    elif kind == "hard_delete":
        conn.execute("delete from public.activities where id = %s", [activity])
    elif kind == "make_duplicate":
        candidates = conn.execute(
            "select id from public.activities where user_id = %s and id <> %s"
            " and primary_activity_id is null order by id",
            [owner, activity],
        ).fetchall()
        if candidates:
            primary = int(candidates[op[2] % len(candidates)][0])
            conn.execute(
                "update public.activities set primary_activity_id = %s where id = %s"
                " and not exists (select from public.activities where primary_activity_id = %s)",
                [primary, activity, activity],
            )
    elif kind == "split":
        conn.execute(
            "update public.activities set primary_activity_id = null where id = %s", [activity]
        )


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_incremental_rollups_equal_a_full_rebuild(db: Conn, operations: list[Any]) -> None:
    with db.transaction(force_rollback=True):
        world = make_athletes(db)
        for op in operations:
            apply(db, world, op)
        assert_incremental_equals_rebuild(db, world.users)


def test_incremental_rollups_survive_bulk_statements(db: Conn) -> None:
    """Many rows per statement, several rollup rows per statement, one statement each."""
    world = make_athletes(db, 3)
    for user in world.users:
        for source in SOURCES:
            db.execute(
                "insert into public.activities (user_id, source, is_manual, provider,"
                " connection_id, external_id, activity_type, start_date, utc_offset, distance,"
                " moving_time, average_heartrate, is_private)"
                " select %(user)s, case when %(conn)s::bigint is null then 'manual'"
                " else 'provider' end::public.activity_source, %(conn)s::bigint is null,"
                " %(provider)s::public.provider_type, %(conn)s, md5(random()::text),"
                " (array['run', 'ride', 'swim'])[1 + g %% 3]::public.activity_type,"
                " %(t0)s::timestamptz + g * interval '17 hours', (g %% 5 - 2) * 3600,"
                " g * 101.25, 1800 + g, 120 + g %% 40, g %% 9 = 0"
                " from generate_series(1, 120) as g",
                {
                    "user": user,
                    "conn": world.connections.get((user, source)),
                    "provider": None if source == "manual" else source,
                    "t0": T0,
                },
            )
    assert_incremental_equals_rebuild(db, world.users)
    db.execute(
        "update public.activities set distance = distance * 2, utc_offset = -utc_offset"
        " where user_id = any(%s) and id %% 3 = 0",
        [world.users],
    )
    db.execute(
        "update public.activities set deleted_at = now() where user_id = any(%s) and id %% 4 = 0",
        [world.users],
    )
    db.execute(
        "delete from public.activities where user_id = any(%s) and source = 'manual'"
        " and id %% 5 = 0",
        [world.users],
    )
    assert_incremental_equals_rebuild(db, world.users)


def test_statements_of_more_than_2000_rows_keep_the_rollups_too(db: Conn) -> None:
    """A statement of more than 2,000 activities takes the statements planned for its
    transition tables (migration 20261205340000), smaller ones the static statements: both
    equal a rebuild. Every statement here writes more than 2,000 rows (a rebuild of them
    writes the volume totals' bulk path as well)."""
    world = make_athletes(db, 2)
    for user in world.users:
        db.execute(
            "insert into public.activities (user_id, source, is_manual, provider,"
            " connection_id, external_id, activity_type, start_date, utc_offset, distance,"
            " moving_time, elevation_gain, average_heartrate, weighted_average_watts,"
            " is_private)"
            " select %(user)s, 'provider', false, 'garmin', %(conn)s, md5(random()::text),"
            " (array['run', 'ride', 'swim'])[1 + g %% 3]::public.activity_type,"
            " %(t0)s::timestamptz + g * interval '7 hours', (g %% 5 - 2) * 3600, g * 10.25,"
            " 1800 + g, g %% 50, 120 + g %% 40, case when g %% 4 = 0 then 180 + g %% 70 end,"
            " g %% 9 = 0"
            " from generate_series(1, 2100) as g",
            {"user": user, "conn": world.connections[(user, "garmin")], "t0": T0},
        )
    assert_incremental_equals_rebuild(db, world.users)
    db.execute(
        "update public.activities set distance = distance + id %% 3, is_private = not is_private,"
        " start_date = start_date + case when id %% 5 = 0 then interval '3 days' else '0' end"
        " where user_id = any(%s)",
        [world.users],
    )
    assert_incremental_equals_rebuild(db, world.users)
    db.execute(
        "update public.activities set deleted_at = now() where user_id = any(%s) and id %% 7 = 0",
        [world.users],
    )
    db.execute("delete from public.activities where user_id = %s", [world.users[0]])
    assert_incremental_equals_rebuild(db, world.users)


def test_new_activities_load_with_the_settings_and_ftp_of_their_date(db: Conn) -> None:
    """The triggers compute the load preferences once per athlete and local date (migration
    20261205340000): activities written after FTP changes and settings, on dates around the
    changes, by small and bulk statements, equal a rebuild."""
    world = make_athletes(db, 2)
    alice, eve = world.users
    db.execute(
        "insert into public.athlete_settings (user_id, max_heart_rate, resting_heart_rate,"
        " threshold_heart_rate, sex) values (%s, 190, 48, 172, 'female')",
        [alice],
    )
    for user, days, ftp in ((alice, 3, 280), (alice, 9, 230), (eve, 5, 310)):
        db.execute(
            "insert into public.athlete_ftp_history (user_id, effective_from, ftp_w)"
            " values (%s, %s, %s)",
            [user, (T0 + timedelta(days=days)).date(), ftp],
        )
    for n in range(40):
        insert_activity(
            db,
            world,
            (alice, eve)[n % 2],
            ("garmin", "manual")[n % 2],
            T0 + timedelta(hours=7 * n),
            activity_type=("ride", "run", "ride", "walk")[n % 4],
            average_heartrate=130 + n,
            weighted_average_watts=None if n % 3 == 0 else 150 + n,
        )
    assert_incremental_equals_rebuild(db, world.users)
    # one statement over both athletes and many dates: moved across the FTP changes
    db.execute(
        "update public.activities set start_date = start_date + interval '2 days'"
        " where user_id = any(%s) and id %% 2 = 0",
        [world.users],
    )
    assert_incremental_equals_rebuild(db, world.users)


def test_ingest_keeps_rollups_current(db: Conn) -> None:
    """Through the worker's path: public.ingest_activities (upsert + soft delete)."""
    connection_id, user = make_connection(db, "strava")
    result = ingest(db, connection_id, [strava_activity(n) for n in range(1, 31)])
    assert result.created == 30
    count = db.execute(
        "select sum(activity_count) from public.weekly_rollups where user_id = %s", [user]
    ).fetchone()
    assert count == (30,)
    # an update of a page (newer) and a deletion
    changed = [strava_activity(n, distance=5000.0) for n in range(1, 11)]
    ingest(db, connection_id, changed, deleted=["30"], received_at=T0 + timedelta(days=400))
    assert_incremental_equals_rebuild(db, [user])
    row = db.execute(
        "select sum(activity_count), sum(distance) from public.weekly_rollups where user_id = %s",
        [user],
    ).fetchone()
    assert row == (29, Decimal("5000.0") * 10 + Decimal("10012.4") * 19)
    # Strava-sourced: nothing of it is shareable with a coach
    assert db.execute(
        "select bool_or(shareable) from public.weekly_rollups where user_id = %s", [user]
    ).fetchone() == (False,)


def test_a_statement_touches_only_its_athletes_rollups(db: Conn) -> None:
    """Incremental, not a recompute: other athletes' rollup rows are not even rewritten."""
    world = make_athletes(db, 2)
    alice, eve = world.users
    for hours in range(0, 500, 50):
        insert_activity(db, world, alice, "garmin", T0 + timedelta(hours=hours))
        insert_activity(db, world, eve, "garmin", T0 + timedelta(hours=hours))
    query = (
        "select xmin::text, week_start, month_start, activity_type from public.weekly_rollups"
        " where user_id = %s order by 2, 3, 4"
    )
    eves_before = db.execute(query, [eve]).fetchall()
    alices_before = set(db.execute(query, [alice]).fetchall())
    db.execute("savepoint probe")  # a subtransaction: rows written next get a new xmin
    insert_activity(db, world, alice, "garmin", T0 + timedelta(hours=3))
    assert db.execute(query, [eve]).fetchall() == eves_before
    rewritten = set(db.execute(query, [alice]).fetchall()) - alices_before
    assert len(rewritten) == 1  # the one week (and month) the new ride falls in


def test_reingest_without_rollup_changes_rewrites_no_rollup_row(db: Conn) -> None:
    """A page ingested again (Strava: every row touched with a newer time) or renamed changes
    nothing the rollups read: the update trigger finds no changed version and writes nothing."""
    connection_id, user = make_connection(db, "strava")
    page = [strava_activity(n) for n in range(1, 41)]
    ingest(db, connection_id, page, received_at=T0 + timedelta(days=400))
    query = (
        "select xmin::text, week_start, activity_type from public.weekly_rollups where user_id = %s"
    )
    daily = "select xmin::text, day from public.daily_loads where user_id = %s"
    weekly_before, daily_before = (
        set(db.execute(query, [user]).fetchall()),
        set(db.execute(daily, [user]).fetchall()),
    )
    db.execute("savepoint probe")  # rows written next would get a new xmin
    touched = ingest(db, connection_id, page, received_at=T0 + timedelta(days=401))
    assert (touched.created, touched.updated, touched.skipped) == (0, 0, 40)
    renamed = [strava_activity(n, name=f"Renamed {n}") for n in range(1, 41)]
    assert ingest(db, connection_id, renamed, received_at=T0 + timedelta(days=402)).updated == 40
    assert set(db.execute(query, [user]).fetchall()) == weekly_before
    assert set(db.execute(daily, [user]).fetchall()) == daily_before
    # A change the rollups read is applied (and only there).
    longer = [strava_activity(1, name="Renamed 1", distance=99_000.0)]
    ingest(db, connection_id, longer, received_at=T0 + timedelta(days=403))
    assert len(set(db.execute(query, [user]).fetchall()) - weekly_before) == 1
    assert_incremental_equals_rebuild(db, [user])


def test_rollup_rows_are_updated_in_place_and_dropped_when_empty(db: Conn) -> None:
    """An activity added to a week and day that already have rollup rows updates them without
    writing index entries (HOT updates: no index covers what the deltas change), and a row whose
    last activity leaves it is deleted."""
    world = make_athletes(db, 1)
    (alice,) = world.users
    first = insert_activity(db, world, alice, "garmin", T0)
    stats = (
        "select relname, n_tup_upd, n_tup_hot_upd from pg_stat_xact_user_tables"
        " where schemaname = 'public' and relname in ('weekly_rollups', 'daily_loads')"
        " order by relname"
    )
    before = {r[0]: r[1:] for r in db.execute(stats).fetchall()}
    second = insert_activity(db, world, alice, "garmin", T0 + timedelta(hours=2))
    after = {r[0]: r[1:] for r in db.execute(stats).fetchall()}
    for table in ("daily_loads", "weekly_rollups"):
        updated = after[table][0] - before[table][0]
        hot = after[table][1] - before[table][1]
        assert updated == 1, table  # the existing row, not a new one
        assert hot == updated, f"{table}: {updated - hot} update(s) wrote index entries"
    db.execute("delete from public.activities where id = any(%s)", [[first, second]])
    for table in ("weekly_rollups", "daily_loads"):
        row = db.execute(f"select count(*) from public.{table} where user_id = %s", [alice])
        assert row.fetchone() == (0,), table
    assert_incremental_equals_rebuild(db, [alice])


def test_preferences_change_recomputes_the_athletes_loads(db: Conn) -> None:
    world = make_athletes(db, 1)
    (alice,) = world.users
    insert_activity(db, world, alice, "garmin", T0, weighted_average_watts=250.0)
    load_at_250 = db.execute(
        "select sum(load) from public.daily_loads where user_id = %s", [alice]
    ).fetchone()
    assert load_at_250 is not None
    assert float(load_at_250[0]) == pytest.approx(100, abs=0.01)
    # the athlete edits their own profile (column grant on preferences), under RLS
    with db.transaction():
        act_as_user(db, alice)
        db.execute(
            "update public.users set preferences = preferences || '{\"ftp\": 200}' where id = %s",
            [alice],
        )
        reset_role(db)
    load_at_200 = db.execute(
        "select sum(load) from public.weekly_rollups where user_id = %s", [alice]
    ).fetchone()
    assert load_at_200 is not None
    assert float(load_at_200[0]) == pytest.approx(100 * (250 / 200) ** 2, rel=1e-4)
    assert_incremental_equals_rebuild(db, [alice])


def test_deleting_an_athlete_removes_their_rollups(db: Conn) -> None:
    world = make_athletes(db, 2)
    alice, eve = world.users
    insert_activity(db, world, alice, "garmin", T0)
    insert_activity(db, world, eve, "garmin", T0)
    db.execute("delete from auth.users where id = %s", [alice])
    assert db.execute(
        "select count(*) from public.weekly_rollups where user_id = %s", [alice]
    ).fetchone() == (0,)
    assert_incremental_equals_rebuild(db, [eve])


# --- RLS: what each reader gets ------------------------------------------------------------------


def _coach_with_grant(conn: Conn, athlete: uuid.UUID) -> uuid.UUID:
    coach = create_auth_user(conn, f"coach-{uuid.uuid4().hex[:8]}@example.com")
    conn.execute("update public.users set role = 'coach' where id = %s", [coach])
    conn.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [athlete, coach],
    )
    return coach


def _as(conn: Conn, user: uuid.UUID, query: str, params: list[Any]) -> list[Any]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, user)
        return conn.execute(query.encode(), params).fetchall()


def test_coach_rollups_match_what_the_coach_reads_row_by_row(db: Conn) -> None:
    """No private and no Strava-sourced activity reaches a coach through the rollups."""
    world = make_athletes(db, 1)
    (alice,) = world.users
    day = timedelta(days=1)
    insert_activity(db, world, alice, "garmin", T0, distance=10000.0)
    insert_activity(db, world, alice, "garmin", T0 + day, distance=20000.0, is_private=True)
    insert_activity(db, world, alice, "strava", T0 + 2 * day, distance=40000.0)
    insert_activity(db, world, alice, "manual", T0 + 3 * day, distance=80000.0)
    coach = _coach_with_grant(db, alice)

    totals = (
        "select sum(activity_count)::int, sum(distance)::float8, sum(load)::float8"
        " from public.weekly_rollups where user_id = %s"
    )
    row_by_row = (
        "select count(*)::int, sum(distance)::float8 from public.activities"
        " where user_id = %s and primary_activity_id is null"
    )
    coach_totals = _as(db, coach, totals, [alice])[0]
    coach_rows = _as(db, coach, row_by_row, [alice])[0]
    assert coach_totals[:2] == coach_rows == (2, 90000.0)
    daily = _as(db, coach, "select sum(activity_count)::int from public.daily_loads", [])
    assert daily == [(2,)]
    # the athlete reads everything of hers
    assert _as(db, alice, totals, [alice])[0][:2] == (4, 150000.0)
    assert _as(db, alice, row_by_row, [alice])[0] == (4, 150000.0)


def test_athlete_never_reads_another_athletes_rollups(db: Conn) -> None:
    world = make_athletes(db, 2)
    alice, eve = world.users
    insert_activity(db, world, alice, "garmin", T0)
    insert_activity(db, world, eve, "garmin", T0)
    for table in ("public.weekly_rollups", "public.daily_loads"):
        seen = _as(db, eve, f"select distinct user_id from {table}", [])
        assert seen == [(eve,)], table
        # an explicit filter on alice's id returns nothing, it does not raise
        assert _as(db, eve, f"select 1 from {table} where user_id = %s", [alice]) == []


def test_coach_whose_grant_is_revoked_reads_no_rollups(db: Conn) -> None:
    world = make_athletes(db, 1)
    (alice,) = world.users
    insert_activity(db, world, alice, "garmin", T0)
    coach = _coach_with_grant(db, alice)
    assert _as(db, coach, "select count(*) from public.weekly_rollups", []) == [(1,)]
    db.execute("update public.coach_athletes set status = 'revoked' where coach_id = %s", [coach])
    assert _as(db, coach, "select count(*) from public.weekly_rollups", []) == [(0,)]
    assert _as(db, coach, "select count(*) from public.daily_loads", []) == [(0,)]


def test_athlete_cannot_rebuild_or_write_rollups(db: Conn) -> None:
    world = make_athletes(db, 1)
    (alice,) = world.users
    for statement in (
        "select public.rebuild_rollups()",
        "select private.rollups_recompute(null)",
        "update public.weekly_rollups set distance = 0",
        "delete from public.daily_loads",
    ):
        with db.transaction(force_rollback=True):
            act_as_user(db, alice)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(statement.encode())


def test_rebuild_repairs_tampered_rollups(db: Conn) -> None:
    world = make_athletes(db, 1)
    (alice,) = world.users
    insert_activity(db, world, alice, "garmin", T0)
    good = snapshot(db, [alice])
    db.execute("update public.weekly_rollups set distance = 1 where user_id = %s", [alice])
    db.execute("insert into public.daily_loads values (%s, '2020-01-01', true, 5, 1)", [alice])
    assert snapshot(db, [alice]) != good
    with db.transaction():
        act_as_service(db)
        db.execute("select public.rebuild_rollups(%s)", [alice])
        reset_role(db)
    assert snapshot(db, [alice]) == good


# --- the command ------------------------------------------------------------------------------


def test_stats_rebuild_command(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
        user = create_auth_user(conn, email)
        try:
            conn.execute(
                "insert into public.activities (user_id, activity_type, start_date, distance)"
                " values (%s, 'run', %s, 5000)",
                [user, T0],
            )
            conn.execute("delete from public.weekly_rollups where user_id = %s", [user])
            runner = CliRunner()
            result = runner.invoke(
                app, ["stats", "rebuild", "--user", email, "--database-url", database_url]
            )
            assert result.exit_code == 0, result.output
            assert "1 athlete" in result.output
            assert conn.execute(
                "select sum(activity_count) from public.weekly_rollups where user_id = %s", [user]
            ).fetchone() == (1,)
        finally:
            conn.execute("delete from auth.users where id = %s", [user])


def test_stats_rebuild_rejects_an_unknown_athlete(database_url: str) -> None:
    result = CliRunner().invoke(
        app,
        ["stats", "rebuild", "--user", "nobody@example.invalid", "--database-url", database_url],
    )
    assert result.exit_code == 1
    assert "no user with email nobody@example.invalid" in result.output
    assert "hint" in result.output
    assert "Traceback" not in result.output


def test_a_copy_grouped_under_another_source_keeps_the_other_activities_of_its_week(
    db: Conn,
) -> None:
    """The example Hypothesis found: a manual ride edited down to a few metres, then a Strava
    ride at the same start and a manual copy of it 20 s later. Grouping the copy (a nested
    UPDATE) subtracts it from the manual rollup row before the insert adds it; that row must not
    be deleted as empty meanwhile, or the edited ride disappears from the rollups."""
    with db.transaction(force_rollback=True):
        world = make_athletes(db)
        for op in (
            ("insert", 0, "manual", 0, "ride", False, 0),
            ("update_metrics", 0, 1),
            ("insert", 0, "strava", 0, "ride", False, 1),
        ):
            apply(db, world, op)
        manual = db.execute(
            "select activity_count, distance from public.weekly_rollups"
            " where user_id = %s and provider is null",
            [world.users[0]],
        ).fetchall()
        assert manual == [(1, Decimal("1.25"))]  # the edited ride, not its copy
        assert_incremental_equals_rebuild(db, world.users)
