"""Best efforts from streams (issue 18): hand-computed windows, maintenance, who reads them."""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.db.test_activity_streams import add_activity, grant, make_user, store
from tests.helpers import act_as_user
from tests.importers.test_streams import reference_distance_efforts

Conn = psycopg.Connection[Any]


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def efforts(conn: Conn, activity: int, effort: str) -> dict[float, tuple[float, float]]:
    return {
        float(r[0]): (float(r[1]), float(r[2]))
        for r in conn.execute(
            "select span, value, start_s from public.activity_efforts"
            " where activity_id = %s and effort = %s",
            [activity, effort],
        ).fetchall()
    }


def test_distance_windows_interpolate_their_start(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    store(tx, run, {"time": [0, 10, 20, 30, 40], "distance": [0, 100, 250, 300, 400]})
    # 100 m, window ending at each sample j, start interpolated at d[j] - 100:
    #   j=100 m: start at 0 m -> t 0, 10 s;  j=250 m: 150 m lies 50/150 into 10..20 s ->
    #   13.333 s, 6.667 s;  j=300 m: 200 m -> 16.667 s, 13.333 s;  j=400 m: 300 m -> 30 s, 10 s
    # 200 m: j=250: 50 m -> 5 s, 15 s; j=300: 100 m -> 10 s, 20 s; j=400: 200 m -> 16.667, 23.3
    # 400 m: j=400: 0 m -> 0 s, 40 s.  800 m and more: not covered.
    assert efforts(tx, run, "distance") == {
        100.0: (pytest.approx(20 / 3, abs=1e-4), pytest.approx(40 / 3, abs=1e-4)),
        200.0: (pytest.approx(15.0), pytest.approx(5.0)),
        400.0: (pytest.approx(40.0), pytest.approx(0.0)),
    }


def test_distance_samples_without_distance_are_skipped(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    store(tx, run, {"time": [0, 5, 10, 20], "distance": [0, None, 100, 200]})
    assert efforts(tx, run, "distance") == {
        100.0: (pytest.approx(10.0), pytest.approx(0.0)),
        200.0: (pytest.approx(20.0), pytest.approx(0.0)),
    }


def test_power_is_resampled_to_1_hz_with_gaps_as_zero(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    # 300 W for s 0..29, recording stops (held 5 s: s 30..34 at 300 W, s 35..59 at 0 W), then
    # 200 W for s 60..89: 90 one-second values.
    time = list(range(30)) + list(range(60, 90))
    watts = [300] * 30 + [200] * 30
    store(tx, ride, {"time": time, "watts": watts})
    got = efforts(tx, ride, "power")
    # 1, 5, 15, 30 s: 300 W from the start (ties: the earliest window)
    for span in (1.0, 5.0, 15.0, 30.0):
        assert got[span] == (pytest.approx(300.0), 0.0)
    # 60 s: s 0..59 = 35 x 300 = 10500 J -> 175 W (s 5..64 gives 30 x 300 + 5 x 200 = 10000)
    assert got[60.0] == (pytest.approx(175.0), 0.0)
    assert set(got) == {1.0, 5.0, 15.0, 30.0, 60.0}  # 90 s: no 2 min window


def test_power_holds_short_dropouts_and_counts_missing_values_as_zero(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    # smart recording every 2 s: each value holds for the next second too
    store(tx, ride, {"time": [0, 2, 4, 6, 8, 10], "watts": [100, 400, None, 400, 100, 100]})
    got = efforts(tx, ride, "power")
    # 1 Hz: 100 100 400 400 0 0 400 400 100 100 100
    assert got[1.0] == (pytest.approx(400.0), 2.0)
    assert got[5.0] == (pytest.approx((400 + 400 + 0 + 0 + 400) / 5), 2.0)


def test_efforts_follow_their_streams(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    store(tx, run, {"time": [0, 100], "distance": [0, 400]})
    assert set(efforts(tx, run, "distance")) == {100.0, 200.0, 400.0}
    store(tx, run, {"time": [0, 100], "distance": [0, 150]})
    assert set(efforts(tx, run, "distance")) == {100.0}
    store(tx, run, {})
    assert efforts(tx, run, "distance") == {}
    store(tx, run, {"time": [0, 100], "distance": [0, 400]})
    tx.execute("delete from public.activities where id = %s", [run])
    assert efforts(tx, run, "distance") == {}


def test_a_changed_sport_recomputes_the_efforts(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    activity = add_activity(tx, alice, activity_type="run")
    store(tx, activity, {"time": [0, 100], "distance": [0, 400], "watts": [200, 200]})
    assert set(efforts(tx, activity, "distance")) == {100.0, 200.0, 400.0}
    tx.execute("update public.activities set activity_type = 'ride' where id = %s", [activity])
    assert efforts(tx, activity, "distance") == {}  # cycling compares power
    assert set(efforts(tx, activity, "power")) == {1.0, 5.0, 15.0, 30.0, 60.0}


def test_season_and_all_time_bests_take_the_best_activity(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    first = add_activity(tx, alice, activity_type="run")
    second = add_activity(tx, alice, activity_type="run")
    tx.execute(
        "update public.activities set start_date = '2024-05-01T06:00:00Z' where id = %s", [first]
    )
    store(tx, first, {"time": [0, 90], "distance": [0, 400]})  # 400 m in 90 s (2024)
    store(tx, second, {"time": [0, 100], "distance": [0, 400]})  # 400 m in 100 s (2025)
    with tx.transaction(force_rollback=True):
        act_as_user(tx, alice)
        seasons = tx.execute(
            "select season, value, activity_id, label, is_standard, pace"
            " from public.season_best_efforts where effort = 'distance' and span = 400"
            " order by season"
        ).fetchall()
        best = tx.execute(
            "select value, activity_id, label from public.all_time_best_efforts"
            " where effort = 'distance' and span = 400"
        ).fetchall()
    assert seasons == [
        (2024, 90.0, first, "400 m", True, pytest.approx(225.0)),
        (2025, 100.0, second, "400 m", True, pytest.approx(250.0)),
    ]
    assert best == [(90.0, first, "400 m")]


def test_effort_labels(tx: Conn) -> None:
    rows = tx.execute(
        "select private.effort_label(e, s::real) from (values ('distance', 1609.344),"
        " ('distance', 21097.5), ('distance', 42195), ('distance', 5000), ('distance', 400),"
        " ('power', 5), ('power', 1200), ('power', 7200), ('power', 5400)) as v (e, s)"
    ).fetchall()
    assert [r[0] for r in rows] == [
        "1 mile", "half marathon", "marathon", "5 km", "400 m", "5 s", "20 min", "2 h", "90 min",
    ]  # fmt: skip


# --- who reads them ----------------------------------------------------------------------------


def visible(conn: Conn, actor: uuid.UUID, relation: str, ids: list[int]) -> set[int]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, actor)
        rows = conn.execute(
            f"select distinct activity_id from {relation} where activity_id = any(%s)".encode(),
            [ids],
        ).fetchall()
    return {int(r[0]) for r in rows}


RUN = {"time": [0, 100], "distance": [0, 400], "watts": [200, 200]}


@pytest.fixture
def world(tx: Conn) -> dict[str, Any]:
    alice = make_user(tx, "alice")
    eve = make_user(tx, "eve")
    coach = make_user(tx, "coach", "coach")
    stranger = make_user(tx, "stranger", "coach")
    grant(tx, alice, coach)
    shared = add_activity(tx, alice, provider="garmin")
    private = add_activity(tx, alice, provider="garmin", private=True)
    strava = add_activity(tx, alice, provider="strava")
    for activity in (shared, private, strava):
        store(tx, activity, RUN)
    return {
        "alice": alice, "eve": eve, "coach": coach, "stranger": stranger,
        "shared": shared, "private": private, "strava": strava,
        "all": [shared, private, strava],
    }  # fmt: skip


RELATIONS = (
    "public.activity_efforts",
    "public.activity_best_efforts",
    "public.season_best_efforts",
    "public.all_time_best_efforts",
)


@pytest.mark.parametrize("relation", RELATIONS)
def test_other_athlete_cannot_read_best_efforts(
    tx: Conn, world: dict[str, Any], relation: str
) -> None:
    assert visible(tx, world["eve"], relation, world["all"]) == set()
    assert visible(tx, world["alice"], relation, world["all"]) != set()


@pytest.mark.parametrize("relation", RELATIONS)
def test_coach_without_grant_cannot_read_best_efforts(
    tx: Conn, world: dict[str, Any], relation: str
) -> None:
    assert visible(tx, world["stranger"], relation, world["all"]) == set()


@pytest.mark.parametrize("relation", RELATIONS[:2])
def test_coach_reads_best_efforts_of_shareable_activities_only(
    tx: Conn, world: dict[str, Any], relation: str
) -> None:
    assert visible(tx, world["coach"], relation, world["all"]) == {world["shared"]}
    assert visible(tx, world["alice"], relation, world["all"]) == set(world["all"])


def test_coach_season_bests_never_come_from_strava_or_private_activities(
    tx: Conn, world: dict[str, Any]
) -> None:
    # the Strava activity is the athlete's fastest: the coach's best is the shared one
    tx.execute(
        "select private.store_activity_streams(%s, %s)",
        [world["strava"], Jsonb({"time": [0, 60], "distance": [0, 400]})],
    )
    for relation in ("public.season_best_efforts", "public.all_time_best_efforts"):
        distance = f"(select * from {relation} where effort = 'distance') as b"
        assert visible(tx, world["coach"], distance, world["all"]) == {world["shared"]}
        assert visible(tx, world["alice"], distance, world["all"]) == {world["strava"]}


@pytest.mark.parametrize("relation", RELATIONS)
def test_anon_and_analyst_cannot_read_best_efforts(tx: Conn, relation: str) -> None:
    for role in ("anon", "analyst"):
        with tx.transaction(force_rollback=True):
            tx.execute(f"set local role {role}".encode())
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                tx.execute(f"select 1 from {relation}".encode())


def test_branch_and_bound_finds_every_fastest_window(tx: Conn) -> None:
    """Long, smooth and noisy runs (many near-equal windows: the bound prunes little) give the
    same efforts as evaluating every window (tests/importers' independent implementation)."""
    rng = random.Random(18)  # noqa: S311 - reproducible samples, not secrets
    alice = make_user(tx, "alice")
    for shape in ("smooth", "noisy"):
        time, distance, t, d = [], [], 0.0, 0.0
        for k in range(5400):
            t += 1 if k % 700 else 40  # a pause now and then
            speed = 3.2 + math.sin(k / 300) * (0.3 if shape == "smooth" else 1.5)
            d += max(
                0.0, speed + (rng.uniform(-0.1, 0.1) if shape == "smooth" else rng.gauss(0, 1))
            )
            time.append(t)
            distance.append(round(d, 2) if k % 97 else None)
        run = add_activity(tx, alice, activity_type="run")
        store(tx, run, {"time": time, "distance": distance})
        expected = reference_distance_efforts(time, distance)
        got = efforts(tx, run, "distance")
        assert set(got) == set(expected), shape
        for span, value in expected.items():
            assert got[span][0] == pytest.approx(value, abs=0.01), (shape, span)
