"""The report's sources read public.source_totals (issue 16, migration 20261205250200).

What the report returns is unchanged: for the athlete, an admin and a coach, and for windows that
start and end on any weekday (whole weeks from week rows, the other days from day rows), the
query of trainlytics.db.report_queries.source_totals equals the query it replaced, which
grouped the window's activities as the same caller reads them (RLS of activities). The property
test of tests/analytics/test_rollups.py checks that the table equals aggregates of the
activities, and a rebuild, after any sequence of writes (duplicates included).

Threats: an athlete reads no other athlete's source totals; a coach reads only the shareable
scope (no private, no Strava-sourced activity, no copy of a hidden primary), and asking for the
other scope returns nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.analytics.test_rollups import T0, insert_activity, make_athletes
from tests.helpers import act_as_user, create_user_with_role, plan_nodes_as, reset_role
from trainlytics.db.report_queries import SOURCE_TOTALS_SQL, source_windows

Conn = psycopg.Connection[Any]

# The query before migration 20261205250200 (the window's activities, as the caller reads them).
BEFORE = (
    "select coalesce(a.provider::text, a.source::text) as src, count(*) as n,"
    " sum(a.distance) as distance, sum(a.moving_time) as moving_time"
    " from public.activities as a"
    " where a.user_id = %(user_id)s and a.deleted_at is null"
    " and a.start_date_local >= %(start)s and a.start_date_local < %(end)s::date + 1"
    " group by 1 order by count(*) desc, 1"
)


@pytest.fixture
def world(db: Conn) -> dict[str, Any]:
    athletes = make_athletes(db, 2)
    alice, eve = athletes.users
    for n in range(60):
        start = T0 + timedelta(days=n, hours=n % 7)
        source = ("garmin", "strava", "manual", "garmin")[n % 4]
        insert_activity(
            db, athletes, alice, source, start, is_private=n % 5 == 0, distance=997.5 * n
        )
        if n % 6 == 0:  # a copy of the same workout from another source: a duplicate
            insert_activity(
                db,
                athletes,
                alice,
                "strava" if source != "strava" else "garmin",
                start,
                distance=997.5 * n,
            )
    insert_activity(db, athletes, eve, "garmin", T0, distance=5000.0)
    coach = create_user_with_role(db, "coach", "coach")
    admin = create_user_with_role(db, "admin", "admin")
    db.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, coach],
    )
    db.execute("analyze public.source_totals")
    return {"alice": alice, "eve": eve, "coach": coach, "admin": admin}


def _as(conn: Conn, caller: uuid.UUID, query: Any, params: dict[str, Any]) -> list[Any]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, caller)
        rows = conn.execute(query, params).fetchall()
        reset_role(conn)
        return rows


def _rounded(rows: list[Any]) -> list[Any]:
    """Distances summed as float8 (before) or exactly (after): equal to the centimetre."""
    return [(src, n, round(float(d or 0), 2), m) for src, n, d, m in rows]


# A window from every weekday to every weekday, a short one inside a week, a long one.
WINDOWS = [
    (T0.date() + timedelta(days=s), T0.date() + timedelta(days=s + length))
    for s in range(7)
    for length in (0, 3, 20, 40)
]


@pytest.mark.parametrize("reader", ["alice", "coach", "admin", "eve"])
def test_report_sources_equal_the_activities_they_replace(
    db: Conn, world: dict[str, Any], reader: str
) -> None:
    alice = world["alice"]
    seen = 0
    for start, end in WINDOWS:
        before = _as(db, world[reader], BEFORE, {"user_id": alice, "start": start, "end": end})
        after = _as(
            db,
            world[reader],
            SOURCE_TOTALS_SQL,
            {"user_id": alice, **source_windows(start, end)},
        )
        assert _rounded(after) == _rounded(before), (reader, start, end)
        seen += len(after)
    assert (seen > 0) == (reader != "eve")


def test_source_windows_cover_each_day_once() -> None:
    for start in (dt.date(2026, 3, 2) + timedelta(days=n) for n in range(7)):
        for length in range(30):
            end = start + timedelta(days=length)
            w = source_windows(start, end)
            days = [
                w["start"] + timedelta(days=n) for n in range((w["first_week"] - w["start"]).days)
            ]
            days += [
                w["first_week"] + timedelta(days=n)
                for n in range((w["last_week"] - w["first_week"]).days)
            ]
            days += [
                w["last_week"] + timedelta(days=n)
                for n in range((w["after"] - w["last_week"]).days)
            ]
            assert days == [start + timedelta(days=n) for n in range(length + 1)]
            assert w["first_week"].isoweekday() == 1 or w["first_week"] == w["last_week"]
            assert (w["last_week"] - w["first_week"]).days % 7 == 0


def test_coach_reads_only_shareable_source_totals(db: Conn, world: dict[str, Any]) -> None:
    alice, coach = world["alice"], world["coach"]
    scopes = "select distinct shareable_only from public.source_totals where user_id = %(u)s"
    assert _as(db, coach, scopes, {"u": alice}) == [(True,)]
    assert sorted(_as(db, alice, scopes, {"u": alice})) == [(False,), (True,)]
    # no Strava-sourced total reaches the coach
    sources = "select distinct source from public.source_totals where user_id = %(u)s"
    assert ("strava",) not in _as(db, coach, sources, {"u": alice})
    assert ("strava",) in _as(db, alice, sources, {"u": alice})
    revoke = "update public.coach_athletes set status = 'revoked' where coach_id = %s"
    db.execute(revoke, [coach])
    assert _as(db, coach, "select count(*) from public.source_totals", {}) == [(0,)]


def test_athlete_cannot_read_another_athletes_source_totals(
    db: Conn, world: dict[str, Any]
) -> None:
    alice, eve = world["alice"], world["eve"]
    everyone = "select distinct user_id from public.source_totals"
    assert _as(db, eve, everyone, {}) == [(eve,)]
    start, end = T0.date(), T0.date() + timedelta(days=60)
    assert _as(db, eve, SOURCE_TOTALS_SQL, {"user_id": alice, **source_windows(start, end)}) == []


def test_report_sources_read_the_windows_totals_only(db: Conn, world: dict[str, Any]) -> None:
    alice = world["alice"]
    start, end = T0.date() + timedelta(days=3), T0.date() + timedelta(days=40)
    params = {"user_id": alice, **source_windows(start, end)}
    scans = [
        n
        for n in plan_nodes_as(db, alice, SOURCE_TOTALS_SQL, params)
        if n.get("Relation Name") == "source_totals"
    ]
    assert len(scans) == 3
    for scan in scans:
        assert scan["Node Type"] == "Index Scan"
        assert "period_start" in scan["Index Cond"]
        assert "shareable_only" in scan["Index Cond"]
        assert scan.get("Rows Removed by Filter", 0) == 0
    window = db.execute(
        "select count(*) from public.source_totals where user_id = %(user_id)s"
        " and not shareable_only and ((period = 'week' and period_start >= %(first_week)s"
        " and period_start < %(last_week)s) or (period = 'day' and ((period_start >= %(start)s"
        " and period_start < %(first_week)s) or (period_start >= %(last_week)s"
        " and period_start < %(after)s))))",
        params,
    ).fetchone()
    assert window is not None
    assert sum(int(s["Actual Rows"]) for s in scans) == window[0] > 0
