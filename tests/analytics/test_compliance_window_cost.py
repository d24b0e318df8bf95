"""public.weekly_compliance costs its window (issue 16, migration 20261205280000).

Cost: the completed load is one call of private.activity_load_with_settings per completed
workout of the window (pg_stat_xact_user_functions), whatever the history; the settings
overlay is no longer inlined into the plan (it was copied into every preference read, ~2.5 ms
of planning per read); the workouts scan stays an index range on the window.

Equivalence: as the athlete, as her coach (private and soft-deleted completions hidden) and as
another athlete, the view returns exactly what the previous definition (migration
20261205240000) returns, with preferences, athlete settings and an FTP history that changes
within the window.

Threats: another athlete reads none of the athlete's weeks; the helper is not executable by
anon.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_anon, act_as_user, create_auth_user

Conn = psycopg.Connection[Any]
MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
PREVIOUS = MIGRATIONS / "20261205240000_weekly_compliance_window_and_ftp.sql"
T0 = date(2025, 1, 6)  # a Monday
DAYS = 364
WINDOW = date(2025, 10, 6)  # the last 12 weeks of the year planned
QUERY = (
    "select * from public.weekly_compliance where user_id = %s and week_start >= %s"
    " order by week_start"
)
SPORTS = ("run", "ride", "swim", "walk", "virtual_ride")


def _user(conn: Conn, name: str, role: str = "athlete") -> uuid.UUID:
    user = create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)
    if role != "athlete":
        conn.execute("update public.users set role = %s where id = %s", [role, user])
    return user


def _season(conn: Conn, athlete: uuid.UUID) -> None:
    """A year of activities (power, heart rate, neither; some private, some soft-deleted), a
    workout planned every other day, each linked to that day's activity when there is one."""
    conn.execute(
        "insert into public.activities (user_id, source, is_manual, activity_type, start_date,"
        " moving_time, elapsed_time, distance, average_heartrate, weighted_average_watts,"
        " average_watts, is_private, deleted_at)"
        " select %(u)s, 'manual', true, (%(sports)s::public.activity_type[])[1 + n / 2 %% 5],"
        " %(t0)s::timestamptz + make_interval(days => n, hours => 7),"
        " case when n %% 11 <> 3 then 1200 + (n * 97) %% 6000 end, 1300 + (n * 97) %% 6000,"
        " 4000 + (n * 131) %% 30000, case when n %% 3 <> 0 then 110 + n %% 70 end,"
        " case when n %% 4 = 2 then 150 + n %% 150 end, case when n %% 6 = 4 then 140 end,"
        " n %% 7 = 2, case when n %% 13 = 5 then now() end"
        " from generate_series(0, %(days)s - 1) as n where n %% 5 <> 4",
        {"u": athlete, "sports": list(SPORTS), "t0": T0, "days": DAYS},
    )
    conn.execute(
        "insert into public.workouts (user_id, planned_date, activity_type, name,"
        " planned_duration, planned_distance, planned_load, completed_activity_id)"
        " select %(u)s, d, 'run', 'Plan', 3600, 10000, 60,"
        " (select a.id from public.activities as a where a.user_id = %(u)s"
        "  and a.start_date_local::date = d order by a.id limit 1)"
        " from generate_series(%(t0)s::date, %(t0)s::date + %(days)s - 1, interval '2 days')"
        " as g(d)",
        {"u": athlete, "t0": T0, "days": DAYS},
    )


@pytest.fixture
def world(db: Conn) -> dict[str, uuid.UUID]:
    alice, eve, coach = _user(db, "alice"), _user(db, "eve"), _user(db, "coach", "coach")
    _season(db, alice)
    _season(db, eve)
    db.execute(
        "update public.users set preferences = %s where id = %s",
        [
            json.dumps({"ftp": 240, "run_ftp": " 300 ", "max_heart_rate": "191", "ctl_days": 42}),
            alice,
        ],
    )
    db.execute(
        "insert into public.athlete_settings (user_id, max_heart_rate, resting_heart_rate,"
        " threshold_heart_rate, sex) values (%s, 188, 52, 170, 'female')",
        [alice],
    )
    db.execute(
        "insert into public.athlete_ftp_history (user_id, effective_from, ftp_w)"
        " values (%s, '2025-03-01', 250), (%s, '2025-10-20', 265), (%s, '2025-11-15', 280)",
        [alice, alice, alice],
    )
    db.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, coach],
    )
    for table in ("workouts", "activities", "users", "athlete_settings", "athlete_ftp_history"):
        db.execute(f"analyze public.{table}")
    return {"alice": alice, "eve": eve, "coach": coach}


def _read_as(conn: Conn, caller: uuid.UUID, athlete: uuid.UUID, since: date) -> list[Any]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, caller)
        return conn.execute(QUERY, [athlete, since]).fetchall()


def _load_calls(conn: Conn) -> int:
    """Calls of the load helper so far in this transaction (track_functions = all)."""
    row = conn.execute(
        "select coalesce(sum(calls), 0) from pg_stat_xact_user_functions"
        " where schemaname = 'private' and funcname = 'activity_load_with_settings'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def _previous_view_sql() -> str:
    text = PREVIOUS.read_text()
    found = re.search(r"create or replace view public\.weekly_compliance.*?;\n", text, re.S)
    assert found is not None
    return found.group(0)


def test_compliance_equals_the_previous_definition(db: Conn, world: dict[str, uuid.UUID]) -> None:
    alice, eve, coach = world["alice"], world["eve"], world["coach"]
    readers = [(alice, alice), (coach, alice), (eve, alice), (eve, eve), (coach, eve)]
    current = {(r, a, s): _read_as(db, r, a, s) for r, a in readers for s in (T0, WINDOW)}
    with db.transaction(force_rollback=True):
        db.execute(_previous_view_sql().encode())
        previous = {key: _read_as(db, *key) for key in current}
    assert current == previous
    # The data exercise what the load reads: power with each FTP of the history, heart rate
    # with the settings, the coach's narrower view, and weeks of another athlete hidden.
    own = current[(alice, alice, T0)]
    assert len(own) == 52
    assert len({r[9] for r in own}) > 40  # completed_load differs from week to week
    coached = current[(coach, alice, T0)]
    assert 0 < sum(r[3] for r in coached) < sum(r[3] for r in own)
    assert current[(eve, alice, T0)] == []
    assert current[(coach, eve, T0)] == []


def test_compliance_loads_only_the_windows_completed_workouts(
    db: Conn, world: dict[str, uuid.UUID]
) -> None:
    """One load call per completed workout of the 12 weeks, whatever the year before; the
    settings overlay is not inlined into the plan; the workouts scan is the window's range."""
    alice = world["alice"]
    completed = db.execute(
        "select count(*) from public.workouts as w join public.activities as a"
        " on a.id = w.completed_activity_id and a.deleted_at is null"
        " where w.user_id = %s and w.planned_week >= %s",
        [alice, WINDOW],
    ).fetchone()
    in_history = db.execute(
        "select count(*) from public.workouts where user_id = %s and completed_activity_id"
        " is not null",
        [alice],
    ).fetchone()
    assert completed is not None
    assert in_history is not None
    assert 0 < completed[0] < in_history[0] / 3
    with db.transaction(force_rollback=True):
        db.execute("set local track_functions = 'all'")
        act_as_user(db, alice)
        before = _load_calls(db)
        db.execute("set local enable_seqscan = off")
        db.execute("set local enable_bitmapscan = off")
        plan = db.execute(
            f"explain (analyze, verbose, costs off, timing off, format json) {QUERY}".encode(),
            [alice, WINDOW],
        ).fetchone()
        calls = _load_calls(db) - before
    assert plan is not None
    assert calls == completed[0]
    text = json.dumps(plan[0])
    assert "activity_load_with_settings" in text
    assert "jsonb_build_object" not in text  # the overlay is built inside the call, once
    assert "~" not in text  # no inlined preference reads (their regular expression)

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    scans = [n for n in nodes(plan[0][0]["Plan"]) if n.get("Relation Name") == "workouts"]
    assert scans
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan")
        assert "planned_week" in scan["Index Cond"]


def test_compliance_of_a_long_history_costs_what_a_short_one_costs(
    db: Conn, world: dict[str, uuid.UUID]
) -> None:
    """Ten more years of completed workouts before the window change no load call."""
    alice = world["alice"]

    def calls_for_window() -> int:
        with db.transaction(force_rollback=True):
            db.execute("set local track_functions = 'all'")
            act_as_user(db, alice)
            before = _load_calls(db)
            db.execute(QUERY, [alice, WINDOW]).fetchall()
            return _load_calls(db) - before

    before = calls_for_window()
    start = datetime.combine(T0, datetime.min.time(), UTC) - timedelta(days=3650)
    db.execute(
        "with a as (insert into public.activities (user_id, source, is_manual, activity_type,"
        " start_date, moving_time, average_heartrate)"
        " select %s, 'manual', true, 'run', %s::timestamptz + make_interval(days => n), 3600,"
        " 150 from generate_series(0, 3600, 2) as n returning id, start_date_local)"
        " insert into public.workouts (user_id, planned_date, activity_type, name,"
        " completed_activity_id) select %s, a.start_date_local::date, 'run', 'Old', a.id"
        " from a",
        [alice, start, alice],
    )
    assert calls_for_window() == before > 0


def test_eve_reads_no_compliance_of_alice(db: Conn, world: dict[str, uuid.UUID]) -> None:
    alice, eve = world["alice"], world["eve"]
    assert _read_as(db, alice, alice, WINDOW)
    assert _read_as(db, eve, alice, WINDOW) == []
    with db.transaction(force_rollback=True):
        act_as_user(db, eve)
        seen = db.execute("select distinct user_id from public.weekly_compliance").fetchall()
    assert seen == [(eve,)]


def test_anon_cannot_execute_the_load_helper(db: Conn) -> None:
    with db.transaction(force_rollback=True):
        act_as_anon(db)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(
                "select private.activity_load_with_settings('run', 3600, 3600, 150, null,"
                " null, '{}', null, null, null, null, null)"
            )
