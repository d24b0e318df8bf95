"""Zones and time in zone (issue 18): defaults, overrides, per activity and per week, and who
may read them."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.db.test_activity_streams import add_activity, grant, make_user, store
from tests.helpers import act_as_anon, act_as_user

Conn = psycopg.Connection[Any]


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def set_prefs(conn: Conn, user: uuid.UUID, prefs: dict[str, Any]) -> None:
    conn.execute("update public.users set preferences = %s where id = %s", [Jsonb(prefs), user])


def zones(conn: Conn, activity: int, kind: str) -> list[tuple[int, float | None, float]]:
    return [
        (int(r[0]), None if r[1] is None else round(float(r[1]), 3), float(r[2]))
        for r in conn.execute(
            "select zone, min_value, seconds from public.activity_time_in_zones(%s)"
            " where kind = %s order by zone",
            [activity, kind],
        ).fetchall()
    ]


HR = {"time": [0, 10, 20, 30, 100, 110], "heartrate": [100, 120, 140, 160, 180, 180]}


def test_heart_rate_zones_default_to_percent_of_max_heart_rate(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    store(tx, run, HR)
    # max 190 (default): bounds 114, 133, 152, 171. Each sample counts until the next one:
    # 100 bpm 10 s (Z1), 120 10 s (Z2), 140 10 s (Z3), 160 then a 70 s gap: a pause, nowhere;
    # 180 10 s (Z5); the last sample has no next one.
    assert zones(tx, run, "heart_rate") == [
        (1, None, 10.0), (2, 114.0, 10.0), (3, 133.0, 10.0), (4, 152.0, 0.0), (5, 171.0, 10.0)
    ]  # fmt: skip
    # no FTP, no threshold pace: no power or pace zones
    assert zones(tx, run, "power") == []
    assert zones(tx, run, "pace") == []


def test_heart_rate_zones_from_lthr_then_from_overrides(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    store(tx, run, HR)
    set_prefs(tx, alice, {"threshold_heart_rate": 160, "max_heart_rate": 200})
    # Friel: 85, 90, 95, 100 % of 160 = 136, 144, 152, 160: 100 and 120 bpm in Z1, 140 in Z2,
    # 160 before a pause nowhere, 180 in Z5
    assert zones(tx, run, "heart_rate") == [
        (1, None, 20.0), (2, 136.0, 10.0), (3, 144.0, 0.0), (4, 152.0, 0.0), (5, 160.0, 10.0)
    ]  # fmt: skip
    set_prefs(tx, alice, {"threshold_heart_rate": 160, "heart_rate_zones": [130, 150]})
    assert zones(tx, run, "heart_rate") == [(1, None, 20.0), (2, 130.0, 10.0), (3, 150.0, 10.0)]


def test_power_zones_are_coggans_levels_of_the_sports_ftp(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    run = add_activity(tx, alice, activity_type="run")
    watts = {"time": [0, 1, 2, 3, 4, 5, 6, 7], "watts": [50, 120, 160, 190, 220, 250, 400, 400]}
    store(tx, ride, watts)
    store(tx, run, watts)
    set_prefs(tx, alice, {"ftp": 200, "run_ftp": 400})
    # 55, 75, 90, 105, 120, 150 % of 200 = 110, 150, 180, 210, 240, 300: one second each
    assert zones(tx, ride, "power") == [
        (1, None, 1.0), (2, 110.0, 1.0), (3, 150.0, 1.0), (4, 180.0, 1.0), (5, 210.0, 1.0),
        (6, 240.0, 1.0), (7, 300.0, 1.0),
    ]  # fmt: skip
    # running uses run_ftp (400): 220, 300, 360, 420, 480, 600: 50-190 W in Z1 (4 s), 220 and
    # 250 in Z2, the first 400 in Z4 (the last sample has no next one)
    assert [z[2] for z in zones(tx, run, "power")] == [4.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    # e-bikes: motor power, no zones (the training load's rule)
    ebike = add_activity(tx, alice, activity_type="e_bike_ride")
    store(tx, ebike, watts)
    assert zones(tx, ebike, "power") == []


def test_pace_zones_from_threshold_pace_for_foot_sports(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    set_prefs(tx, alice, {"threshold_pace": 300})
    run = add_activity(tx, alice, activity_type="run")
    # 129, 114, 106, 100 % of 300 s/km = 387, 342, 318, 300 s/km: speeds 2.584, 2.924,
    # 3.145, 3.333 m/s. 2.0 m/s (Z1) 10 s, 3.0 (Z3) 10 s, 3.5 (Z5) 10 s, 0.2: standing
    store(tx, run, {"time": [0, 10, 20, 30, 40], "velocity_smooth": [2.0, 3.0, 3.5, 0.2, 3.0]})
    assert zones(tx, run, "pace") == [
        (1, None, 10.0), (2, 2.584, 0.0), (3, 2.924, 10.0), (4, 3.145, 0.0), (5, 3.333, 10.0)
    ]  # fmt: skip
    # without a speed stream, the distance steps: 25 m in 10 s = 2.5 m/s (Z1), 35 m = 3.5 (Z5)
    store(tx, run, {"time": [0, 10, 20], "distance": [0, 25, 60]})
    assert [z[2] for z in zones(tx, run, "pace")] == [10.0, 0.0, 0.0, 0.0, 10.0]
    # overrides in s/km from slow to fast: 360, 300 -> 3 zones
    set_prefs(tx, alice, {"threshold_pace": 300, "pace_zones": [360, 300]})
    assert [z[2] for z in zones(tx, run, "pace")] == [10.0, 0.0, 10.0]
    ride = add_activity(tx, alice, activity_type="ride")
    store(tx, ride, {"time": [0, 10], "velocity_smooth": [9.0, 9.0]})
    assert zones(tx, ride, "pace") == []


def test_weekly_time_in_zones_sums_the_weeks_activities(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    monday = add_activity(tx, alice, activity_type="run")
    sunday = add_activity(tx, alice, activity_type="run")
    next_week = add_activity(tx, alice, activity_type="run")
    for activity, start in (
        (monday, "2025-06-02T08:00:00Z"),
        (sunday, "2025-06-08T08:00:00Z"),
        (next_week, "2025-06-09T08:00:00Z"),
    ):
        tx.execute("update public.activities set start_date = %s where id = %s", [start, activity])
        store(tx, activity, HR)
    rows = tx.execute(
        "select week_start::text, zone, activities, seconds"
        " from public.weekly_time_in_zones(%s, '2025-06-01', '2025-06-30')"
        " where kind = 'heart_rate' and zone in (1, 4)",
        [alice],
    ).fetchall()
    assert rows == [
        ("2025-06-02", 1, 2, 20.0), ("2025-06-02", 4, 2, 0.0),
        ("2025-06-09", 1, 1, 10.0), ("2025-06-09", 4, 1, 0.0),
    ]  # fmt: skip
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="366 days"):
        tx.execute("select * from public.weekly_time_in_zones(%s, '2024-01-01', '2025-06-30')",
                   [alice])  # fmt: skip


# --- who reads them ----------------------------------------------------------------------------


def zone_rows(conn: Conn, actor: uuid.UUID, activity: int) -> int:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, actor)
        row = conn.execute(
            "select count(*) from public.activity_time_in_zones(%s)", [activity]
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def world(tx: Conn) -> dict[str, Any]:
    alice = make_user(tx, "alice")
    coach = make_user(tx, "coach", "coach")
    grant(tx, alice, coach)
    shared = add_activity(tx, alice, provider="garmin")
    private = add_activity(tx, alice, provider="garmin", private=True)
    strava = add_activity(tx, alice, provider="strava")
    for activity in (shared, private, strava):
        store(tx, activity, HR)
    return {
        "alice": alice, "coach": coach, "eve": make_user(tx, "eve"),
        "stranger": make_user(tx, "stranger", "coach"),
        "shared": shared, "private": private, "strava": strava,
    }  # fmt: skip


def test_athlete_reads_own_time_in_zones(tx: Conn, world: dict[str, Any]) -> None:
    for activity in ("shared", "private", "strava"):
        assert zone_rows(tx, world["alice"], world[activity]) == 5


def test_other_athlete_cannot_read_time_in_zones(tx: Conn, world: dict[str, Any]) -> None:
    for activity in ("shared", "private", "strava"):
        assert zone_rows(tx, world["eve"], world[activity]) == 0
    with tx.transaction(force_rollback=True):
        act_as_user(tx, world["eve"])
        row = tx.execute(
            "select count(*) from public.weekly_time_in_zones(%s, '2025-01-01', '2025-12-31')",
            [world["alice"]],
        ).fetchone()
    assert row == (0,)


def test_coach_without_grant_cannot_read_time_in_zones(tx: Conn, world: dict[str, Any]) -> None:
    assert zone_rows(tx, world["stranger"], world["shared"]) == 0


def test_coach_reads_zones_of_shareable_activities_only(tx: Conn, world: dict[str, Any]) -> None:
    assert zone_rows(tx, world["coach"], world["shared"]) == 5
    assert zone_rows(tx, world["coach"], world["private"]) == 0
    assert zone_rows(tx, world["coach"], world["strava"]) == 0


def test_anon_cannot_call_zone_functions(tx: Conn, world: dict[str, Any]) -> None:
    for call in (
        "public.activity_time_in_zones(1)",
        "public.weekly_time_in_zones(gen_random_uuid(), current_date, current_date)",
    ):
        with tx.transaction(force_rollback=True):
            act_as_anon(tx)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                tx.execute(f"select * from {call}".encode())
