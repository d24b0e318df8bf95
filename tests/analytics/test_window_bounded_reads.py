"""Athlete screens read their window, not the history (issue 16, migrations 20261205200000-100).

Correctness: public.daily_fitness, kept by the trigger on daily_loads, equals the table rebuilt
from scratch (public.rebuild_daily_fitness) after late, edited, re-privatised, soft-deleted and
deleted activities and a change of time constants; the series read from it equals the series
recomputed from the daily loads (private.training_load_series_recomputed, the implementation
before 20261205200000).

Cost: the series fetches only the window's daily_fitness rows plus the one before it
(pg_stat_xact_user_tables), and the volume and compliance views filtered by their window put the
window column into the index condition, so the scan returns the window's rows only (EXPLAIN
ANALYZE; ``enable_seqscan = off`` stands for the production size, as in
test_rollup_policy_plans.py; bench/scale.py measures the same reads at 10M activities).

Threats: another athlete reads no fitness row; a coach reads only the shareable scope.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_user, create_user_with_role, plan_nodes_as

Conn = psycopg.Connection[Any]
T0 = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)  # a Monday
DAYS = 400


def _history(conn: Conn, user: uuid.UUID, days: int = DAYS) -> None:
    """One activity most days for `days` days: runs with heart rate, rides, some private."""
    conn.execute(
        "insert into public.activities (user_id, source, is_manual, activity_type, start_date,"
        " utc_offset, moving_time, elapsed_time, distance, average_heartrate, is_private)"
        " select %s, 'manual', true, (array['run', 'ride', 'swim'])[1 + n %% 3]::"
        "public.activity_type, %s::timestamptz + make_interval(days => n), 3600,"
        " 1800 + (n * 97) %% 5400, 1900 + (n * 97) %% 5400, 5000 + (n * 131) %% 30000,"
        " case when n %% 2 = 0 then 120 + n %% 50 end, n %% 7 = 0"
        " from generate_series(0, %s - 1) as n where n %% 5 <> 4",
        [user, T0, days],
    )


@pytest.fixture
def world(db: Conn) -> dict[str, uuid.UUID]:
    alice, eve = (
        create_user_with_role(db, "alice", confirmed=True),
        create_user_with_role(db, "eve", confirmed=True),
    )
    coach = create_user_with_role(db, "coach", "coach", confirmed=True)
    _history(db, alice)
    _history(db, eve, 30)
    db.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, coach],
    )
    for table in ("daily_fitness", "daily_loads", "weekly_rollups", "workouts", "activities"):
        db.execute(f"analyze public.{table}")
    return {"alice": alice, "eve": eve, "coach": coach}


def _fitness(conn: Conn, user: uuid.UUID) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select shareable_only, day, load, ctl, atl from public.daily_fitness"
        " where user_id = %s order by 1, 2",
        [user],
    ).fetchall()


def _assert_same(left: list[tuple[Any, ...]], right: list[tuple[Any, ...]]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a[:2] == b[:2]
        for x, y in zip(a[2:], b[2:], strict=True):
            assert x == pytest.approx(y, rel=1e-9, abs=1e-9)


def _assert_matches_rebuild(conn: Conn, user: uuid.UUID) -> None:
    """The incrementally kept rows equal the rows rebuilt from scratch."""
    kept = _fitness(conn, user)
    assert kept, "no fitness rows"
    with conn.transaction(force_rollback=True):
        conn.execute("select public.rebuild_daily_fitness(%s)", [user])
        rebuilt = _fitness(conn, user)
    _assert_same(kept, rebuilt)
    first, last = date(2025, 1, 1), date(2026, 3, 1)
    stored = conn.execute(
        "select * from public.training_load_series(%s, %s, %s)", [user, first, last]
    ).fetchall()
    recomputed = conn.execute(
        "select * from private.training_load_series_recomputed(%s, %s, %s)", [user, first, last]
    ).fetchall()
    _assert_same(stored, recomputed)


def test_incremental_fitness_equals_recomputed_after_every_kind_of_change(
    db: Conn, world: dict[str, uuid.UUID]
) -> None:
    alice = world["alice"]
    _assert_matches_rebuild(db, alice)
    # A late activity, months back (recomputes forward from its day).
    db.execute(
        "insert into public.activities (user_id, source, is_manual, activity_type, start_date,"
        " moving_time, elapsed_time, average_heartrate) values"
        " (%s, 'manual', true, 'run', '2025-04-10T18:00:00Z', 5400, 5600, 150)",
        [alice],
    )
    _assert_matches_rebuild(db, alice)
    # An edited activity (its load changes) and one moved to another day.
    db.execute(
        "update public.activities set moving_time = moving_time * 2"
        " where user_id = %s and start_date::date = '2025-06-02'",
        [alice],
    )
    db.execute(
        "update public.activities set start_date = start_date - interval '40 days'"
        " where user_id = %s and start_date::date = '2025-09-01'",
        [alice],
    )
    _assert_matches_rebuild(db, alice)
    # Privacy changes only the coach's scope; soft and hard deletes take the load away.
    db.execute(
        "update public.activities set is_private = not is_private"
        " where user_id = %s and start_date::date between '2025-07-01' and '2025-07-10'",
        [alice],
    )
    db.execute(
        "update public.activities set deleted_at = now()"
        " where user_id = %s and start_date::date = '2025-08-05'",
        [alice],
    )
    db.execute(
        "delete from public.activities where user_id = %s and start_date::date = '2025-03-03'",
        [alice],
    )
    _assert_matches_rebuild(db, alice)
    # New time constants recompute the athlete; load preferences recompute the loads.
    db.execute(
        "update public.users set preferences = %s where id = %s",
        [json.dumps({"ctl_days": 28, "atl_days": 5, "max_heart_rate": 185}), alice],
    )
    _assert_matches_rebuild(db, alice)
    # The other athlete's rows never moved.
    _assert_matches_rebuild(db, world["eve"])


def test_rebuild_of_everyone_gives_the_kept_rows(db: Conn, world: dict[str, uuid.UUID]) -> None:
    before = {u: _fitness(db, u) for u in (world["alice"], world["eve"])}
    db.execute("select public.rebuild_daily_fitness()")
    for user, rows in before.items():
        _assert_same(_fitness(db, user), rows)


def test_the_service_role_rebuilds_everyone(db: Conn, world: dict[str, uuid.UUID]) -> None:
    # "Service role only": the role it is granted to must be able to run it (it used to fail
    # with permission denied on daily_fitness for the whole-table rebuild).
    before = {u: _fitness(db, u) for u in (world["alice"], world["eve"])}
    db.execute("set local role service_role")
    db.execute("select public.rebuild_daily_fitness()")
    db.execute("reset role")
    for user, rows in before.items():
        _assert_same(_fitness(db, user), rows)


def test_threat_an_athlete_cannot_wipe_everyones_fitness(
    db: Conn, world: dict[str, uuid.UUID]
) -> None:
    for function in ("public.rebuild_daily_fitness()", "private.daily_fitness_rebuild_all()"):
        db.execute("savepoint attempt")
        db.execute("set local role authenticated")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(f"select {function}")
        db.execute("rollback to savepoint attempt")
    assert _fitness(db, world["alice"])


def _fetched(conn: Conn, table: str) -> int:
    row = conn.execute(
        "select coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)"
        " from pg_stat_xact_user_tables where relid = %s::regclass",
        [f"public.{table}"],
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_series_reads_the_window_not_the_history(db: Conn, world: dict[str, uuid.UUID]) -> None:
    """A 30-day series fetches the window's daily_fitness rows and the one before, whatever
    the 400 days of history; it never reads daily_loads."""
    alice = world["alice"]
    first, last = T0.date() + timedelta(days=300), T0.date() + timedelta(days=329)
    with db.transaction(force_rollback=True):
        act_as_user(db, alice)
        before_fitness, before_loads = _fetched(db, "daily_fitness"), _fetched(db, "daily_loads")
        rows = db.execute(
            "select * from public.training_load_series(%s, %s, %s)", [alice, first, last]
        ).fetchall()
        fitness = _fetched(db, "daily_fitness") - before_fitness
        loads = _fetched(db, "daily_loads") - before_loads
    assert len(rows) == 30
    in_window = db.execute(
        "select count(*) from public.daily_fitness where user_id = %s and not shareable_only"
        " and day between %s and %s",
        [alice, first, last],
    ).fetchone()
    assert in_window is not None
    assert 0 < in_window[0] <= 30
    assert fitness == in_window[0] + 1  # the window's rows and the state before it
    assert loads == 0


WINDOW_READS = [
    (
        "select * from public.weekly_volume where user_id = %s and week_start >= %s",
        date(2025, 12, 1),
        "volume_totals",
        "period_start",
        "select count(*) from public.volume_totals where user_id = %s and not shareable_only"
        " and period = 'week' and period_start >= %s",
    ),
    (
        "select * from public.monthly_volume where user_id = %s and month_start >= %s",
        date(2025, 12, 1),
        "volume_totals",
        "period_start",
        "select count(*) from public.volume_totals where user_id = %s and not shareable_only"
        " and period = 'month' and period_start >= %s",
    ),
    (
        "select * from public.yearly_volume where user_id = %s and year_start >= %s",
        date(2026, 1, 1),
        "volume_totals",
        "period_start",
        "select count(*) from public.volume_totals where user_id = %s and not shareable_only"
        " and period = 'year' and period_start >= %s",
    ),
    (
        "select * from public.weekly_compliance where user_id = %s and week_start >= %s",
        date(2025, 12, 1),
        "workouts",
        "planned_week",
        "select count(*) from public.workouts where user_id = %s and planned_date >= %s",
    ),
]


@pytest.mark.parametrize(
    ("query", "since", "table", "column", "count_sql"),
    WINDOW_READS,
    ids=["weekly", "monthly", "yearly", "compliance"],
)
def test_statistics_scan_only_the_windows_rows(
    db: Conn,
    world: dict[str, uuid.UUID],
    query: str,
    since: date,
    table: str,
    column: str,
    count_sql: str,
) -> None:
    alice = world["alice"]
    # A year of planned workouts, for compliance.
    db.execute(
        "insert into public.workouts (user_id, planned_date, activity_type, name)"
        " select %s, d::date, 'run', 'Plan' from generate_series(%s::date, %s::date,"
        " interval '2 days') as d",
        [alice, T0.date(), T0.date() + timedelta(days=DAYS)],
    )
    db.execute("analyze public.workouts")
    nodes = plan_nodes_as(db, alice, query, [alice, since])
    scans = [n for n in nodes if n.get("Relation Name") == table]
    assert scans, f"no scan of {table}"
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan")
        assert column in scan["Index Cond"], scan["Index Cond"]
    window = db.execute(count_sql.encode(), [alice, since]).fetchone()
    history = db.execute(
        f"select count(*) from public.{table} where user_id = %s".encode(), [alice]
    ).fetchone()
    assert window is not None
    assert history is not None
    assert 0 < window[0] < history[0] / 3
    assert sum(int(s["Actual Rows"]) for s in scans) == window[0]


def _read_as(conn: Conn, caller: uuid.UUID, query: str, params: list[Any]) -> list[Any]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, caller)
        return conn.execute(query.encode(), params).fetchall()


def test_other_athlete_cannot_read_daily_fitness(db: Conn, world: dict[str, uuid.UUID]) -> None:
    alice, eve = world["alice"], world["eve"]
    count = "select count(*) from public.daily_fitness where user_id = %s"
    assert _read_as(db, alice, count, [alice])[0][0] > 0
    assert _read_as(db, eve, count, [alice]) == [(0,)]
    assert _read_as(db, eve, "select distinct user_id from public.daily_fitness", []) == [(eve,)]
    series = "select count(*) from public.training_load_series(%s, '2025-01-01', '2025-12-31')"
    assert _read_as(db, eve, series, [alice]) == [(0,)]


def test_coach_reads_only_the_shareable_fitness_scope(
    db: Conn, world: dict[str, uuid.UUID]
) -> None:
    alice, coach = world["alice"], world["coach"]
    scopes = "select distinct shareable_only from public.daily_fitness where user_id = %s"
    assert _read_as(db, alice, scopes, [alice]) == [(False,)]
    assert _read_as(db, coach, scopes, [alice]) == [(True,)]
    # The coach's series leaves the private activities out: lower loads on their days.
    query = "select day, load from public.training_load_series(%s, '2025-01-06', '2025-01-20')"
    own = dict(_read_as(db, alice, query, [alice]))
    coached = dict(_read_as(db, coach, query, [alice]))
    assert own.keys() == coached.keys()
    private_day = date(2025, 1, 6)  # n = 0 is private
    assert own[private_day] > 0
    assert coached[private_day] == 0
    shared_day = date(2025, 1, 7)
    assert coached[shared_day] == pytest.approx(own[shared_day])


def test_nobody_writes_daily_fitness_through_the_api(db: Conn, world: dict[str, uuid.UUID]) -> None:
    alice = world["alice"]
    with db.transaction(force_rollback=True):
        act_as_user(db, alice)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("delete from public.daily_fitness where user_id = %s", [alice])
    with db.transaction(force_rollback=True):
        act_as_user(db, alice)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select public.rebuild_daily_fitness(%s)", [alice])


def test_decades_between_activities_decay_to_zero_without_error(db: Conn) -> None:
    """exp() raises on underflow in PostgreSQL: a 25-year gap (and atl_days 1, where two years
    already pass e^-700) must decay to 0, not fail the ingest."""
    athlete = create_user_with_role(db, "returning", confirmed=True)
    db.execute("update public.users set preferences = '{\"atl_days\": 1}' where id = %s", [athlete])
    for start in ("2000-05-01T08:00:00Z", "2025-05-01T08:00:00Z", "2001-01-01T08:00:00Z"):
        db.execute(
            "insert into public.activities (user_id, source, is_manual, activity_type,"
            " start_date, moving_time) values (%s, 'manual', true, 'run', %s, 3600)",
            [athlete, start],
        )
    _assert_matches_rebuild(db, athlete)
    rows = db.execute(
        "select day, ctl, atl from public.training_load_series(%s, '2024-01-01', '2025-04-30')",
        [athlete],
    ).fetchall()
    assert rows
    assert all(r[1] >= 0 and r[2] < 1e-250 for r in rows)


def _versions(conn: Conn, user: uuid.UUID) -> dict[tuple[bool, date], tuple[str, str]]:
    rows = conn.execute(
        "select shareable_only, day, xmin::text, ctid::text from public.daily_fitness"
        " where user_id = %s",
        [user],
    ).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_a_late_activity_rewrites_only_the_days_it_changes(
    db: Conn, world: dict[str, uuid.UUID]
) -> None:
    """Issue 16, writes: the forward recompute updates the later days in place and writes no
    day whose values stay the same (it used to delete and re-insert every later day, a new index
    entry each, however long the history after the change)."""
    alice = world["alice"]
    before = _versions(db, alice)
    # Recomputing from a day on with nothing changed writes no row at all.
    db.execute(
        "select private.daily_fitness_refresh(array[%s]::uuid[], array['2025-06-01']::date[])",
        [alice],
    )
    assert _versions(db, alice) == before
    # A late activity on a day that had none: that day is new, the later days are new versions
    # (their fitness changed), the earlier days are untouched, and nothing else appears.
    db.execute(
        "insert into public.activities (user_id, source, is_manual, activity_type, start_date,"
        " moving_time, elapsed_time, average_heartrate) values"
        " (%s, 'manual', true, 'run', '2025-06-04T18:00:00Z', 5400, 5600, 150)",
        [alice],
    )
    after = _versions(db, alice)
    late = date(2025, 6, 4)
    assert set(after) - set(before) == {(False, late), (True, late)}
    assert set(before) <= set(after)
    assert all(after[k] == v for k, v in before.items() if k[1] < late)
    assert all(after[k] != v for k, v in before.items() if k[1] > late)
    _assert_matches_rebuild(db, alice)
    # Its deletion takes its day away again and gives the later days their old values.
    db.execute(
        "delete from public.activities where user_id = %s and start_date = '2025-06-04T18:00:00Z'",
        [alice],
    )
    assert set(_versions(db, alice)) == set(before)
    _assert_matches_rebuild(db, alice)
