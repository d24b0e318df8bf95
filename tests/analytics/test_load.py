"""Training load per activity, and the fitness / fatigue / form series, against hand arithmetic.

Formulas (migration 20261125130100_training_load.sql, peers.md section 5):
power TSS = t_s x (NP / FTP)^2 / 36; hrTSS = 100 x TRIMP / TRIMP_thr with Banister
TRIMP = minutes x HRR x e^(k x HRR); CTL/ATL_d = X_{d-1} + (load_d - X_{d-1}) x (1 - e^(-1/tau)).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_user, create_auth_user, reset_role

Conn = psycopg.Connection[Any]


def load_of(conn: Conn, preferences: Mapping[str, object], **activity: object) -> tuple[Any, str]:
    """(load, method); the load compares with pytest.approx (hence Any)."""
    row = conn.execute(
        "select (l).load, (l).method from (select private.activity_training_load("
        " %(type)s, %(moving)s, %(elapsed)s, %(hr)s, %(np)s, %(avg_power)s, %(prefs)s) as l) as t",
        {
            "type": activity.get("type", "ride"),
            "moving": activity.get("moving"),
            "elapsed": activity.get("elapsed"),
            "hr": activity.get("hr"),
            "np": activity.get("np"),
            "avg_power": activity.get("avg_power"),
            "prefs": json.dumps(preferences),
        },
    ).fetchone()
    assert row is not None
    return float(row[0]), str(row[1])


def make_user(conn: Conn, name: str, preferences: dict[str, object] | None = None) -> uuid.UUID:
    user = create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)
    if preferences is not None:
        conn.execute(
            "update public.users set preferences = %s where id = %s",
            [json.dumps(preferences), user],
        )
    return user


def add_activity(conn: Conn, user: uuid.UUID, start: str, **columns: object) -> int:
    values: dict[str, object] = {
        "user_id": user,
        "source": "manual",
        "is_manual": True,
        "activity_type": "ride",
        "start_date": start,
        "moving_time": 3600,
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    row = conn.execute(
        f"insert into public.activities ({names}) values ({placeholders}) returning id".encode(),
        values,
    ).fetchone()
    assert row is not None
    return int(row[0])


def series(
    conn: Conn, user: uuid.UUID, first: str, last: str
) -> list[tuple[date, float, float, float, float]]:
    return [
        (r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]))
        for r in conn.execute(
            "select day, load, ctl, atl, tsb from public.training_load_series(%s, %s, %s)",
            [user, first, last],
        ).fetchall()
    ]


def assert_rows(
    got: list[tuple[date, float, float, float, float]],
    expected: list[tuple[str, float, float, float, float]],
) -> None:
    assert [r[0].isoformat() for r in got] == [e[0] for e in expected]
    for row, want in zip(got, expected, strict=True):
        assert row[1:] == pytest.approx(want[1:], abs=1e-6), row[0]


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


# --- per-activity load --------------------------------------------------------------------


def test_power_tss_from_weighted_power_and_ftp(tx: Conn) -> None:
    # 1 h at NP 200 W, FTP 250 W: IF = 0.8, TSS = 3600 x 0.64 / 36 = 64
    assert load_of(tx, {"ftp": 250}, moving=3600, np=200, avg_power=180, hr=150) == (
        pytest.approx(64.0),
        "power",
    )
    # No weighted power: the average power stands in. IF = 180 / 250 = 0.72,
    # 3600 x 0.5184 / 36 = 51.84; an FTP given as a numeric string counts.
    assert load_of(tx, {"ftp": "250"}, moving=3600, avg_power=180) == (
        pytest.approx(51.84),
        "power",
    )
    # 30 min at FTP: 1800 x 1 / 36 = 50; moving time preferred to elapsed time.
    assert load_of(tx, {"ftp": 250}, moving=1800, elapsed=4000, np=250) == (
        pytest.approx(50.0),
        "power",
    )


def test_power_needs_the_ftp_of_that_sport(tx: Conn) -> None:
    # A run with power but only a cycling FTP: power is on another scale, so the duration
    # fallback (no heart rate): 1 h x 50 = 50.
    assert load_of(tx, {"ftp": 250}, type="run", moving=3600, np=300) == (
        pytest.approx(50.0),
        "duration",
    )
    # With a running FTP of 300 W: 1 h at IF 1.0 = 100.
    assert load_of(tx, {"ftp": 250, "run_ftp": 300}, type="run", moving=3600, np=300) == (
        pytest.approx(100.0),
        "power",
    )
    # e-bikes never use power (motor assistance); a ride without FTP falls back as well.
    assert load_of(tx, {"ftp": 250}, type="e_bike_ride", moving=3600, np=250)[1] == "duration"
    assert load_of(tx, {}, type="ride", moving=3600, np=250, hr=150)[1] == "heart_rate"


def test_heart_rate_trimp_normalised_to_hrtss(tx: Conn) -> None:
    prefs = {"resting_heart_rate": 50, "max_heart_rate": 180, "threshold_heart_rate": 167}
    # HRR = (141 - 50) / 130 = 0.7; TRIMP = 60 min x 0.7 x e^(1.92 x 0.7) = 42 x 3.834350
    #     = 161.042711
    # HRR_thr = (167 - 50) / 130 = 0.9; TRIMP_thr = 60 x 0.9 x e^(1.92 x 0.9) = 54 x 5.629384
    #     = 303.986729
    # hrTSS = 100 x 161.042711 / 303.986729 = 52.976889
    assert load_of(tx, prefs, type="run", moving=3600, hr=141) == (
        pytest.approx(52.976889, abs=1e-4),
        "heart_rate",
    )
    # Female: k = 1.67. 100 x (42 x e^1.169) / (54 x e^1.503) = 100 x 135.6624 / 243.5892
    #     = 55.693072
    assert load_of(tx, {**prefs, "sex": "female"}, type="run", moving=3600, hr=141) == (
        pytest.approx(55.693072, abs=1e-4),
        "heart_rate",
    )


def test_heart_rate_defaults_when_preferences_are_missing(tx: Conn) -> None:
    # Defaults: resting 60, max 190, HRR_thr 0.85, k 1.92. 30 min at 125 bpm:
    # HRR = (125 - 60) / 130 = 0.5; TRIMP = 30 x 0.5 x e^0.96 = 15 x 2.611696 = 39.175447
    # TRIMP_thr = 60 x 0.85 x e^(1.92 x 0.85) = 51 x 5.113995 = 260.818727
    # hrTSS = 100 x 39.175447 / 260.818727 = 15.020182
    expected = (pytest.approx(15.020182, abs=1e-4), "heart_rate")
    assert load_of(tx, {}, type="run", moving=1800, hr=125) == expected
    # Unusable preferences are ignored, not an error: text, negative, max <= resting, a
    # threshold below resting.
    junk = {
        "resting_heart_rate": "sixty",
        "max_heart_rate": -3,
        "threshold_heart_rate": 40,
        "ftp": {"w": 250},
    }
    assert load_of(tx, junk, type="run", moving=1800, hr=125) == expected
    # The same with constants the planner folds: an unusable value never reaches a cast.
    literal = tx.execute(
        "select (private.activity_training_load('run', 1800, null, 125, null, null,"
        """ '{"resting_heart_rate": "sixty", "max_heart_rate": 1e400}')).load"""
    ).fetchone()
    assert literal is not None
    assert literal[0] == pytest.approx(15.020182, abs=1e-4)
    inverted = {"resting_heart_rate": 200, "max_heart_rate": 150}
    assert load_of(tx, inverted, type="run", moving=1800, hr=125) == expected
    # Heart rate below resting is no effort (HRR clamped to 0), above max counts as max.
    assert load_of(tx, {}, type="run", moving=1800, hr=55) == (0.0, "heart_rate")
    over = load_of(tx, {}, type="run", moving=3600, hr=250)[0]
    at_max = load_of(tx, {}, type="run", moving=3600, hr=190)[0]
    assert over == pytest.approx(at_max)


def test_duration_fallback_and_its_defaults(tx: Conn) -> None:
    # 1.5 h run without power or heart rate: 1.5 x 50 = 75; a 1 h walk: 1 x 25 = 25.
    assert load_of(tx, {}, type="run", moving=5400) == (pytest.approx(75.0), "duration")
    assert load_of(tx, {}, type="walk", moving=3600) == (pytest.approx(25.0), "duration")
    # Elapsed time when there is no moving time; the athlete's own rate when set.
    assert load_of(tx, {}, type="yoga", elapsed=1800) == (pytest.approx(12.5), "duration")
    rate = {"duration_load_per_hour": 40}
    assert load_of(tx, rate, type="run", moving=5400) == (pytest.approx(60.0), "duration")
    # No time at all: no load.
    assert load_of(tx, {}, type="run", hr=150) == (0.0, "duration")


def test_activity_loads_view_uses_the_athletes_preferences(tx: Conn) -> None:
    alice = make_user(tx, "alice", {"ftp": 200})
    ride = add_activity(tx, alice, "2025-03-01T07:00:00Z", weighted_average_watts=200)
    walk = add_activity(tx, alice, "2025-03-01T17:00:00Z", activity_type="walk")
    got = tx.execute(
        "select activity_id, local_date, is_primary, load, method from public.activity_loads"
        " where user_id = %s order by activity_id",
        [alice],
    ).fetchall()
    assert got == [
        (ride, date(2025, 3, 1), True, pytest.approx(100.0), "power"),
        (walk, date(2025, 3, 1), True, pytest.approx(25.0), "duration"),
    ]


# --- fitness, fatigue, form ---------------------------------------------------------------


def test_ctl_atl_tsb_against_hand_computation(tx: Conn) -> None:
    # FTP 250: 1 h at 250 W = 100; 30 min at 250 W = 50 (on day 3). Defaults 42 / 7 days.
    alice = make_user(tx, "alice", {"ftp": 250})
    add_activity(tx, alice, "2025-01-01T08:00:00Z", weighted_average_watts=250)
    add_activity(tx, alice, "2025-01-03T08:00:00Z", moving_time=1800, weighted_average_watts=250)
    # a_42 = 1 - e^(-1/42) = 0.0235283133; a_7 = 1 - e^(-1/7) = 0.1331221002
    # d1: CTL = 0 + (100 - 0) x 0.0235283133 = 2.3528313348
    #     ATL = 0 + (100 - 0) x 0.1331221002 = 13.3122100250   TSB = -10.9593786902
    # d2: CTL = 2.3528313348 x (1 - 0.0235283133) = 2.2974731819
    #     ATL = 13.3122100250 x (1 - 0.1331221002) = 11.5400606675  TSB = -9.2425874856
    # d3: CTL = 2.2974731819 + (50 - 2.2974731819) x 0.0235283133 = 3.4198331803
    #     ATL = 11.5400606675 + (50 - 11.5400606675) x 0.1331221002 = 16.6599285669
    #     TSB = -13.2400953866
    # d4: CTL = 3.4198331803 x 0.9764716867 = 3.3393702737
    #     ATL = 16.6599285669 x 0.8668778998 = 14.4421238861   TSB = -11.1027536124
    expected = [
        ("2025-01-01", 100.0, 2.3528313348, 13.3122100250, -10.9593786902),
        ("2025-01-02", 0.0, 2.2974731819, 11.5400606675, -9.2425874856),
        ("2025-01-03", 50.0, 3.4198331803, 16.6599285669, -13.2400953866),
        ("2025-01-04", 0.0, 3.3393702737, 14.4421238861, -11.1027536124),
    ]
    assert_rows(series(tx, alice, "2025-01-01", "2025-01-04"), expected)
    # History before p_from counts: a window starting on day 3 continues from day 2's state.
    assert_rows(series(tx, alice, "2025-01-03", "2025-01-04"), expected[2:])
    # Days before the first load are zeros.
    assert_rows(
        series(tx, alice, "2024-12-30", "2024-12-31"),
        [("2024-12-30", 0, 0, 0, 0), ("2024-12-31", 0, 0, 0, 0)],
    )


def test_time_constants_come_from_the_athletes_preferences(tx: Conn) -> None:
    # ctl_days 2, atl_days 1: a_2 = 1 - e^-0.5 = 0.3934693403, a_1 = 1 - e^-1 = 0.6321205588.
    # Loads (duration fallback, 1 h ride = 50 per hour): d1 60 (72 min), d2 0, d3 30 (36 min).
    alice = make_user(tx, "alice", {"ctl_days": 2, "atl_days": "1"})
    add_activity(tx, alice, "2025-05-05T06:00:00Z", moving_time=4320)
    add_activity(tx, alice, "2025-05-07T06:00:00Z", moving_time=2160)
    # d1: CTL = 60 x 0.3934693403 = 23.6081604172; ATL = 60 x 0.6321205588 = 37.9272335297
    # d2: CTL = 23.6081604172 x 0.6065306597 = 14.3190731125
    #     ATL = 37.9272335297 x 0.3678794412 = 13.9526494761
    # d3: CTL = 14.3190731125 + (30 - 14.3190731125) x 0.3934693403 = 20.4890370700
    #     ATL = 13.9526494761 + (30 - 13.9526494761) x 0.6321205588 = 24.0965096570
    assert_rows(
        series(tx, alice, "2025-05-05", "2025-05-07"),
        [
            ("2025-05-05", 60.0, 23.6081604172, 37.9272335297, -14.3190731125),
            ("2025-05-06", 0.0, 14.3190731125, 13.9526494761, 0.3664236364),
            ("2025-05-07", 30.0, 20.4890370700, 24.0965096570, -3.6074725870),
        ],
    )


def test_series_counts_the_local_day_and_each_workout_once(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    # 23:30 in Los Angeles on 1 March is 07:30 UTC on 2 March: it loads 1 March.
    add_activity(tx, alice, "2025-03-02T07:30:00Z", utc_offset=-28800, activity_type="run")
    # Two copies of one workout: only the primary counts.
    primary = add_activity(tx, alice, "2025-03-03T07:00:00Z", activity_type="run")
    copy = add_activity(
        tx, alice, "2025-03-03T07:00:00Z", activity_type="run", external_id="copy-2"
    )
    tx.execute(
        "update public.activities set primary_activity_id = case when id = %s then %s end,"
        " duplicate_override = true where id in (%s, %s)",
        [copy, primary, primary, copy],
    )
    # A soft-deleted activity counts for nothing.
    add_activity(tx, alice, "2025-03-04T07:00:00Z", deleted_at="2025-03-05T00:00:00Z")
    loads = [(r[0].isoformat(), r[1]) for r in series(tx, alice, "2025-03-01", "2025-03-04")]
    assert loads == [("2025-03-01", 50.0), ("2025-03-02", 0.0), ("2025-03-03", 50.0),
                     ("2025-03-04", 0.0)]  # fmt: skip
    assert tx.execute(
        "select is_primary from public.activity_loads where activity_id = %s", [copy]
    ).fetchone() == (False,)


def test_series_rejects_bad_ranges(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    for first, last in (("2025-02-01", "2025-01-01"), ("2000-01-01", "2025-01-01")):
        with pytest.raises(psycopg.errors.InvalidParameterValue), tx.transaction():
            series(tx, alice, first, last)


# --- who sees which load --------------------------------------------------------------------


@pytest.fixture
def people(tx: Conn) -> dict[str, Any]:
    alice = make_user(tx, "alice")
    eve = make_user(tx, "eve")
    bob = make_user(tx, "bob")
    frank = make_user(tx, "frank")
    for coach in (bob, frank):
        tx.execute("update public.users set role = 'coach' where id = %s", [coach])
    tx.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, bob],
    )
    strava = tx.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', 's-1') returning id",
        [alice],
    ).fetchone()
    assert strava is not None
    ids = {
        # 1 h ride without power or HR: 50 each
        "shared": add_activity(tx, alice, "2025-04-01T08:00:00Z"),
        "private": add_activity(tx, alice, "2025-04-02T08:00:00Z", is_private=True),
        "strava": add_activity(
            tx,
            alice,
            "2025-04-03T08:00:00Z",
            source="provider",
            is_manual=False,
            connection_id=strava[0],
            provider="strava",
            external_id="s-42",
        ),
        "eve": add_activity(tx, eve, "2025-04-01T09:00:00Z", moving_time=7200),
    }
    return {"alice": alice, "eve": eve, "bob": bob, "frank": frank, "ids": ids}


def loads_as(conn: Conn, actor: uuid.UUID, athlete: uuid.UUID) -> list[tuple[str, float]]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, actor)
        rows = series(conn, athlete, "2025-04-01", "2025-04-03")
        reset_role(conn)
    return [(r[0].isoformat(), r[1]) for r in rows]


def test_athletes_series_never_includes_another_athletes_load(
    tx: Conn, people: dict[str, Any]
) -> None:
    alice, eve = people["alice"], people["eve"]
    assert loads_as(tx, alice, alice) == [
        ("2025-04-01", 50.0),
        ("2025-04-02", 50.0),
        ("2025-04-03", 50.0),
    ]
    # eve's 2 h on 1 April stays out of alice's series, and alice's out of eve's.
    assert loads_as(tx, eve, eve) == [("2025-04-01", 100.0), ("2025-04-02", 0.0),
                                      ("2025-04-03", 0.0)]  # fmt: skip
    # eve asking for alice's series gets nothing at all, not even zeros.
    assert loads_as(tx, eve, alice) == []


def test_coach_series_excludes_private_and_strava_activities(
    tx: Conn, people: dict[str, Any]
) -> None:
    alice, bob, frank = people["alice"], people["bob"], people["frank"]
    assert loads_as(tx, bob, alice) == [
        ("2025-04-01", 50.0),
        ("2025-04-02", 0.0),
        ("2025-04-03", 0.0),
    ]
    # A coach without a grant reads nothing.
    assert loads_as(tx, frank, alice) == []


def test_coach_reads_only_shareable_activity_loads(tx: Conn, people: dict[str, Any]) -> None:
    ids = people["ids"]
    query = "select activity_id from public.activity_loads order by activity_id"
    visible: dict[str, set[int]] = {}
    for name in ("alice", "bob", "eve", "frank"):
        with tx.transaction(force_rollback=True):
            act_as_user(tx, people[name])
            visible[name] = {r[0] for r in tx.execute(query).fetchall()}
            reset_role(tx)
    assert visible["alice"] == {ids["shared"], ids["private"], ids["strava"]}
    assert visible["bob"] == {ids["shared"]}
    assert visible["eve"] == {ids["eve"]}
    assert visible["frank"] == set()
