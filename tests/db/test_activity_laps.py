"""Activity laps (issue 18): storage through the streams entry points, validation, and who
may read them (as the activity's streams)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.db.test_activity_streams import SAMPLE, add_activity, grant, make_user, store
from tests.helpers import act_as_anon, act_as_user

Conn = psycopg.Connection[Any]

LAPS = [
    {
        "start_s": 0, "elapsed_s": 300.5, "moving_s": 298, "distance_m": 1000,
        "avg_hr": 140.4, "max_hr": 151, "avg_power_w": 250, "avg_cadence": 85,
        "elevation_gain_m": 4.2,
    },
    {"start_s": 300.5, "elapsed_s": 290, "distance_m": 1000, "avg_hr": None},
]  # fmt: skip


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def laps(conn: Conn, activity_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select lap_index, source, start_offset_s, elapsed_s, moving_s, distance_m,"
        " avg_heart_rate, max_heart_rate, avg_power_w, avg_cadence, elevation_gain_m"
        " from public.activity_laps where activity_id = %s order by lap_index",
        [activity_id],
    ).fetchall()


def test_laps_are_stored_beside_the_streams(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    assert store(tx, ride, {**SAMPLE, "laps": LAPS}) == 4
    assert laps(tx, ride) == [
        (0, "file", 0.0, 300.5, 298.0, 1000.0, 140, 151, 250, 85.0, pytest.approx(4.2)),
        (1, "file", 300.5, 290.0, None, 1000.0, None, None, None, None, None),
    ]
    assert tx.execute(
        "select sample_count from public.activity_streams where activity_id = %s", [ride]
    ).fetchone() == (4,)


def test_running_lap_cadence_is_doubled_like_the_streams(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    store(tx, run, {**SAMPLE, "laps": [{"start_s": 0, "avg_cadence": 88}]})
    assert laps(tx, run)[0][9] == 176.0
    store(
        tx, run, {**SAMPLE, "cadence_unit": "steps", "laps": [{"start_s": 0, "avg_cadence": 170}]}
    )
    assert laps(tx, run)[0][9] == 170.0


def test_a_new_write_replaces_laps_and_laps_alone_keep_no_streams(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    store(tx, ride, {**SAMPLE, "laps": LAPS})
    store(tx, ride, SAMPLE)
    assert laps(tx, ride) == []
    assert store(tx, ride, {"laps": LAPS[:1]}) == 0
    assert len(laps(tx, ride)) == 1
    assert (
        tx.execute(
            "select 1 from public.activity_streams where activity_id = %s", [ride]
        ).fetchone()
        is None
    )
    store(tx, ride, {})
    assert laps(tx, ride) == []


def test_laps_go_with_their_activity(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    store(tx, ride, {**SAMPLE, "laps": LAPS})
    tx.execute("delete from public.activities where id = %s", [ride])
    assert laps(tx, ride) == []


@pytest.mark.parametrize(
    ("bad_laps", "message"),
    [
        ({"start_s": 0}, "must be a JSON array"),
        ([1], "must hold objects"),
        ([{"start_s": 0, "calories": 5}], "unknown lap key calories"),
        ([{"start_s": "0"}], "numbers or nulls"),
        ([{"elapsed_s": 5}], "start_s is required"),
        ([{"start_s": -1}], "out of range"),
        ([{"start_s": 0, "avg_hr": 400}], "out of range"),
        ([{"start_s": 0, "distance_m": 1e39}], "out of range"),
        ([{"start_s": 0}] * 1001, "at most 1000 laps"),
    ],
)
def test_bad_laps_are_refused_and_nothing_changes(tx: Conn, bad_laps: object, message: str) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    store(tx, ride, {**SAMPLE, "laps": LAPS})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        store(tx, ride, {**SAMPLE, "laps": bad_laps})
    assert len(laps(tx, ride)) == 2


def test_laps_cannot_store_nan_or_infinity_directly(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    for value in ("NaN", "Infinity"):
        with tx.transaction(force_rollback=True), pytest.raises(psycopg.errors.CheckViolation):
            tx.execute(
                "insert into public.activity_laps (activity_id, lap_index, user_id, source,"
                " start_offset_s, distance_m) values (%s, 0, %s, 'file', 0, %s::real)",
                [ride, alice, value],
            )


def test_strava_laps_cannot_be_laundered_through_another_source(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    strava = add_activity(tx, alice, provider="strava")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="must come from strava"):
        store(tx, strava, {**SAMPLE, "laps": LAPS}, "garmin")


# --- who reads them --------------------------------------------------------------------------


def visible_laps(conn: Conn, actor: uuid.UUID, ids: list[int]) -> set[int]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, actor)
        rows = conn.execute(
            "select distinct activity_id from public.activity_laps where activity_id = any(%s)",
            [ids],
        ).fetchall()
    return {int(r[0]) for r in rows}


@pytest.fixture
def world(tx: Conn) -> dict[str, Any]:
    alice = make_user(tx, "alice")
    eve = make_user(tx, "eve")
    coach = make_user(tx, "coach", "coach")
    stranger = make_user(tx, "stranger", "coach")
    admin = make_user(tx, "admin", "admin")
    grant(tx, alice, coach)
    shared = add_activity(tx, alice, provider="garmin")
    private = add_activity(tx, alice, provider="garmin", private=True)
    strava = add_activity(tx, alice, provider="strava")
    eves = add_activity(tx, eve)
    for activity in (shared, private, strava, eves):
        store(tx, activity, {**SAMPLE, "laps": LAPS})
    return {
        "alice": alice, "eve": eve, "coach": coach, "stranger": stranger, "admin": admin,
        "shared": shared, "private": private, "strava": strava, "eves": eves,
        "all": [shared, private, strava, eves],
    }  # fmt: skip


def test_athlete_reads_own_laps_including_strava(tx: Conn, world: dict[str, Any]) -> None:
    assert visible_laps(tx, world["alice"], world["all"]) == {
        world["shared"], world["private"], world["strava"]
    }  # fmt: skip


def test_other_athlete_cannot_read_laps(tx: Conn, world: dict[str, Any]) -> None:
    assert visible_laps(tx, world["eve"], world["all"]) == {world["eves"]}


def test_coach_reads_only_shareable_laps_of_granting_athlete(
    tx: Conn, world: dict[str, Any]
) -> None:
    assert visible_laps(tx, world["coach"], world["all"]) == {world["shared"]}
    assert visible_laps(tx, world["stranger"], world["all"]) == set()


def test_admin_cannot_read_strava_laps(tx: Conn, world: dict[str, Any]) -> None:
    assert visible_laps(tx, world["admin"], world["all"]) == {
        world["shared"], world["private"], world["eves"]
    }  # fmt: skip


def test_anon_and_analyst_cannot_read_laps(tx: Conn, world: dict[str, Any]) -> None:
    for become in (act_as_anon, lambda c: c.execute("set local role analyst")):
        with tx.transaction(force_rollback=True):
            become(tx)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                tx.execute("select 1 from public.activity_laps")


def test_athlete_cannot_write_laps(tx: Conn, world: dict[str, Any]) -> None:
    for statement in (
        "select private.store_activity_laps(%s, '[{\"start_s\": 0}]'::jsonb, null, null)",
        "insert into public.activity_laps (activity_id, lap_index, user_id, source,"
        " start_offset_s) values (%s, 9, auth.uid(), 'file', 0)",
    ):
        with tx.transaction(force_rollback=True):
            act_as_user(tx, world["alice"])
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                tx.execute(statement.encode(), [world["shared"]])
