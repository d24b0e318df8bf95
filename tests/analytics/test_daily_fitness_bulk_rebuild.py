"""The set-based daily-fitness rebuild of everyone (migration 20261205270000).

Equivalence: ``public.rebuild_daily_fitness()`` (one statement, the recurrence as a running
window aggregate) gives the rows of the athlete-by-athlete refresh (``private.
daily_fitness_refresh``, which the incremental trigger and ``rebuild_daily_fitness(user)`` run)
bit for bit: several athletes, their own time constants (one whose fatigue underflows over a
gap of decades), several activities a day, private and Strava rows (the shareable scope).

Threats: an athlete can neither run the bulk rebuild nor its step or aggregate; the service
role can (it holds no write privilege on daily_fitness: the rebuild is a definer function).
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_service, act_as_user, create_auth_user, reset_role

Conn = psycopg.Connection[Any]


def _athlete(conn: Conn, name: str, preferences: dict[str, Any]) -> uuid.UUID:
    user = create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)
    conn.execute(
        "update public.users set preferences = %s where id = %s", [json.dumps(preferences), user]
    )
    strava = conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', %s) returning id",
        [user, name],
    ).fetchone()
    assert strava is not None
    # Runs most days (two on some), rides with power, private rows, Strava rows, and one
    # activity decades before the rest.
    conn.execute(
        "insert into public.activities (user_id, source, is_manual, activity_type, start_date,"
        " moving_time, elapsed_time, distance, average_heartrate, average_watts, is_private)"
        " select %s, 'manual', true, (array['run', 'ride', 'swim'])[1 + n %% 3]::"
        "public.activity_type, timestamptz '2025-01-06 07:00Z' + make_interval(days => n / 2,"
        " hours => n %% 2 * 9), 1800 + (n * 97) %% 5400, 1900 + (n * 97) %% 5400,"
        " 5000 + (n * 131) %% 30000, case when n %% 3 <> 1 then 110 + n %% 60 end,"
        " case when n %% 3 = 1 then 150 + n %% 90 end, n %% 7 = 0"
        " from generate_series(0, 500) as n where n %% 11 <> 4",
        [user],
    )
    conn.execute(
        "insert into public.activities (user_id, connection_id, provider, source, is_manual,"
        " external_id, activity_type, start_date, moving_time, elapsed_time, distance,"
        " average_heartrate)"
        " select %s, %s, 'strava', 'provider', false, 's' || n, 'run',"
        " timestamptz '2025-01-06 18:00Z' + make_interval(days => n * 3), 3000, 3100, 9000, 140"
        " from generate_series(0, 60) as n",
        [user, strava[0]],
    )
    conn.execute(
        "insert into public.activities (user_id, source, is_manual, activity_type, start_date,"
        " moving_time, average_heartrate) values"
        " (%s, 'manual', true, 'run', '1999-03-01T08:00:00Z', 3600, 150)",
        [user],
    )
    return user


def _fitness(conn: Conn, users: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select user_id, shareable_only, day, load, ctl, atl from public.daily_fitness"
        " where user_id = any(%s) order by 1, 2, 3",
        [users],
    ).fetchall()


@pytest.fixture
def athletes(db: Conn) -> list[uuid.UUID]:
    return [
        _athlete(db, "defaults", {}),
        _athlete(db, "tuned", {"ctl_days": 30, "atl_days": 5, "ftp": 260}),
        _athlete(db, "underflow", {"atl_days": 1, "ctl_days": 90}),
    ]


def test_rebuild_of_everyone_equals_the_athlete_by_athlete_refresh_bit_for_bit(
    db: Conn, athletes: list[uuid.UUID]
) -> None:
    kept = _fitness(db, athletes)
    assert len(kept) > 3 * 300, "too little history to compare"
    assert {r[1] for r in kept} == {False, True}, "both scopes expected"
    db.execute("select public.rebuild_daily_fitness()")
    everyone = _fitness(db, athletes)
    for user in athletes:
        db.execute("select public.rebuild_daily_fitness(%s)", [user])
    one_by_one = _fitness(db, athletes)
    # Exact equality: the same expressions in the same order, not an approximation.
    assert everyone == one_by_one
    assert [r[:3] for r in everyone] == [r[:3] for r in kept]
    # And the state really decays and accumulates (not a constant or a copy of the load).
    assert len({r[4] for r in everyone}) > 100
    # atl_days 1: 26 years decay past e^-700 (0, no underflow error): the first day after the
    # gap starts from zero fatigue.
    after_gap = next(r for r in everyone if r[0] == athletes[2] and r[2].year == 2025)
    assert after_gap[5] == pytest.approx((1 - math.exp(-1)) * after_gap[3], rel=1e-12)


def test_rebuild_of_everyone_drops_rows_without_loads(db: Conn, athletes: list[uuid.UUID]) -> None:
    db.execute("alter table public.daily_loads disable trigger user")
    db.execute("delete from public.daily_loads where user_id = %s", [athletes[0]])
    db.execute("alter table public.daily_loads enable trigger user")
    assert _fitness(db, [athletes[0]])
    db.execute("select public.rebuild_daily_fitness()")
    assert _fitness(db, [athletes[0]]) == []
    assert _fitness(db, athletes[1:])


def test_an_athlete_cannot_run_the_bulk_rebuild_or_its_step(
    db: Conn, athletes: list[uuid.UUID]
) -> None:
    for statement in (
        "select private.daily_fitness_rebuild_all()",
        "select private.daily_fitness_step(null, current_date, 1, 42, 7)",
        "select private.daily_fitness_running(current_date, 1, 42, 7)",
        "select public.rebuild_daily_fitness()",
    ):
        with db.transaction(force_rollback=True):
            act_as_user(db, athletes[0])
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(statement)


def test_the_service_role_rebuilds_everyone(db: Conn, athletes: list[uuid.UUID]) -> None:
    kept = _fitness(db, athletes)
    with db.transaction(force_rollback=True):
        db.execute("delete from public.daily_fitness")
        act_as_service(db)
        db.execute("select public.rebuild_daily_fitness()")
        reset_role(db)
        rebuilt = _fitness(db, athletes)
    assert [r[:3] for r in rebuilt] == [r[:3] for r in kept]
    assert rebuilt
