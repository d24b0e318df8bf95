"""Activity streams (issue 18): storage, validation, the writer, and who may read them."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_anon, act_as_service, act_as_user, create_auth_user
from trainlytics.gateway import GatewayError, PsycopgGateway
from trainlytics.store import StreamStore
from trainlytics.streams import ActivityStreams

Conn = psycopg.Connection[Any]


def make_user(conn: Conn, name: str, role: str = "athlete") -> uuid.UUID:
    uid = create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)
    if role != "athlete":
        conn.execute("update public.users set role = %s where id = %s", [role, uid])
    return uid


def make_connection(conn: Conn, user: uuid.UUID, provider: str) -> int:
    row = (
        conn.execute(
            "select id from public.provider_connections where user_id = %s and provider = %s",
            [user, provider],
        ).fetchone()
        or conn.execute(
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " values (%s, %s, %s) returning id",
            [user, provider, uuid.uuid4().hex],
        ).fetchone()
    )
    assert row is not None
    return int(row[0])


def add_activity(
    conn: Conn,
    user: uuid.UUID,
    *,
    activity_type: str = "run",
    provider: str | None = None,
    private: bool = False,
) -> int:
    if provider is None:
        row = conn.execute(
            "insert into public.activities (user_id, source, is_manual, external_id,"
            " activity_type, start_date, is_private) values (%s, 'file', false, %s, %s,"
            " '2025-06-01T06:00:00Z', %s) returning id",
            [user, uuid.uuid4().hex, activity_type, private],
        ).fetchone()
    else:
        connection = make_connection(conn, user, provider)
        row = conn.execute(
            "insert into public.activities (user_id, connection_id, provider, source, is_manual,"
            " external_id, activity_type, start_date, is_private) values (%s, %s, %s,"
            " 'provider', false, %s, %s, '2025-06-01T06:00:00Z', %s) returning id",
            [user, connection, provider, uuid.uuid4().hex, activity_type, private],
        ).fetchone()
    assert row is not None
    return int(row[0])


def grant(conn: Conn, athlete: uuid.UUID, coach: uuid.UUID, status: str = "active") -> None:
    conn.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status) values (%s, %s, %s)",
        [athlete, coach, status],
    )


SAMPLE = {
    "time": [0, 1, 2, 4],
    "distance": [0, 3.1, 6.25, 12.5],
    "latlng": [[48.8566, 2.3522], None, [48.85662, 2.35224], [48.85664, 2.35228]],
    "altitude": [35.2, 35.4, None, 35.9],
    "heartrate": [120, 121.4, 123, None],
    "watts": [250, 260, 255, 0],
    "cadence": [80, 81, 82, 83],
    "velocity_smooth": [3.1, 3.15, 3.12, 3.13],
    "temp": [21, 21, 21.5, 22],
}


def store(conn: Conn, activity_id: int, streams: object, source: str | None = None) -> int:
    with conn.transaction():
        act_as_service(conn)
        row = conn.execute(
            "select sample_count from public.ingest_activity_streams(%s, %s::jsonb, %s)",
            [activity_id, psycopg.types.json.Jsonb(streams), source],
        ).fetchone()
        conn.execute("reset role")
    assert row is not None
    return int(row[0])


def stored(conn: Conn, activity_id: int) -> dict[str, Any] | None:
    cur = conn.execute(
        "select source, sample_count, time_s, distance_m, lat, lon, altitude_m, heart_rate,"
        " power_w, cadence, speed_mps, temperature_c from public.activity_streams"
        " where activity_id = %s",
        [activity_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    assert cur.description is not None
    return {d.name: v for d, v in zip(cur.description, row, strict=True)}


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def test_streams_are_stored_as_compact_channels(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    assert store(tx, ride, SAMPLE) == 4
    row = stored(tx, ride)
    assert row is not None
    assert row["source"] == "file"
    assert row["sample_count"] == 4
    assert row["time_s"] == [0, 1, 2, 4]
    assert row["distance_m"] == pytest.approx([0, 3.1, 6.25, 12.5])
    assert row["lat"][1] is None
    assert row["lon"][1] is None
    assert row["lat"][0] == pytest.approx(48.8566, abs=1e-5)
    assert row["lon"][3] == pytest.approx(2.35228, abs=1e-5)
    assert row["altitude_m"][2] is None
    assert row["heart_rate"] == [120, 121, 123, None]  # smallint: rounded
    assert row["power_w"] == [250, 260, 255, 0]
    assert row["cadence"] == [80, 81, 82, 83]  # crank rpm: as given
    assert row["speed_mps"] == pytest.approx([3.1, 3.15, 3.12, 3.13])
    assert row["temperature_c"] == [21, 21, 21.5, 22]


def test_running_cadence_is_doubled_like_the_summary(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    store(tx, run, {"time": [0, 1], "cadence": [88, None]})
    row = stored(tx, run)
    assert row is not None
    assert row["cadence"] == [176, None]
    # No cadence stays no cadence (not an empty array).
    store(tx, run, {"time": [0, 1], "heartrate": [150, 151]})
    row = stored(tx, run)
    assert row is not None
    assert row["cadence"] is None
    # Already counted on both feet: kept.
    store(tx, run, {"time": [0, 1], "cadence": [176, 178], "cadence_unit": "steps"})
    row = stored(tx, run)
    assert row is not None
    assert row["cadence"] == [176, 178]


def test_a_new_write_replaces_and_an_empty_object_deletes(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    store(tx, ride, SAMPLE)
    store(tx, ride, {"time": [0, 5], "watts": [100, 200]})
    row = stored(tx, ride)
    assert row is not None
    assert (row["sample_count"], row["power_w"], row["heart_rate"]) == (2, [100, 200], None)
    assert store(tx, ride, {}) == 0
    assert stored(tx, ride) is None


def test_streams_go_with_their_activity(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    store(tx, ride, SAMPLE)
    tx.execute("delete from public.activities where id = %s", [ride])
    assert stored(tx, ride) is None


@pytest.mark.parametrize(
    ("streams", "message"),
    [
        ({"heartrate": [1, 2]}, "time"),
        ({"time": [0, 1], "heartrate": [120]}, "heartrate has 1 samples"),
        ({"time": [0, 1], "pulse": [120, 121]}, "unknown stream pulse"),
        ({"time": [0, 1], "watts": ["250", 260]}, "watts must hold numbers"),
        ({"time": [0, 1], "watts": [[250], 260]}, "watts must hold numbers"),
        ({"time": [0, 1], "heartrate": [120, 400]}, "heartrate holds a value outside"),
        ({"time": [0, 1], "watts": [1, -5]}, "watts holds a value outside"),
        ({"time": [0, 1], "altitude": [1, 1e39]}, "altitude holds a number out of range"),
        ({"time": [1, 0]}, "time must not decrease"),
        ({"time": [0, None]}, "time must not hold nulls"),
        ({"time": [0, 1], "distance": [5, 4]}, "distance must not decrease"),
        ({"time": [0, 1], "latlng": [[1, 2], [3]]}, "latlng must hold"),
        ({"time": [0, 1], "latlng": [[1, 2], [95, 2]]}, "latlng holds a value outside"),
        ({"time": [0, 1], "cadence_unit": "rpm"}, "cadence_unit"),
        ({"time": []}, "1 to 200000 samples"),
        ({"time": list(range(200001))}, "1 to 200000 samples"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_streams_are_refused_and_nothing_changes(
    tx: Conn, streams: object, message: str
) -> None:
    alice = make_user(tx, "alice")
    ride = add_activity(tx, alice, activity_type="ride")
    store(tx, ride, SAMPLE)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        store(tx, ride, streams)
    row = stored(tx, ride)
    assert row is not None
    assert row["sample_count"] == 4


def test_strava_streams_cannot_be_laundered_through_another_source(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    strava = add_activity(tx, alice, provider="strava")
    garmin = add_activity(tx, alice, provider="garmin")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="must come from strava"):
        store(tx, strava, SAMPLE, source="file")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="must come from"):
        store(tx, garmin, SAMPLE, source="strava")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown stream source"):
        store(tx, garmin, SAMPLE, source="myspace")
    store(tx, strava, SAMPLE)
    row = stored(tx, strava)
    assert row is not None
    assert row["source"] == "strava"
    store(tx, garmin, SAMPLE)
    row = stored(tx, garmin)
    assert row is not None
    assert row["source"] == "garmin"


def test_stream_store_writes_through_the_gateway(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    run = add_activity(tx, alice, activity_type="run")
    streams = ActivityStreams(
        time_s=[0.0, 1.0, 2.0],
        distance_m=[0.0, 2.5, float("nan")],
        lat=[45.0, None, 45.0001],
        lon=[6.0, 6.0001, 6.0002],
        heart_rate=[140.0, 141.0, 142.0],
        cadence=[85.0, 86.0, 87.0],
        power_w=[None, None, None],
    )
    payload = streams.to_json()
    assert payload["latlng"] == [[45.0, 6.0], None, [45.0001, 6.0002]]
    assert "watts" not in payload  # no value at all: left out
    assert payload["distance"] == [0.0, 2.5, None]
    gateway = PsycopgGateway(tx, role="service_role")
    assert StreamStore(gateway).store_streams(run, streams) == 3
    row = stored(tx, run)
    assert row is not None
    assert row["cadence"] == [170, 172, 174]
    assert row["lat"][1] is None
    with pytest.raises(GatewayError, match="unknown stream source"):
        StreamStore(gateway).store_streams(run, streams, source="nowhere")
    StreamStore(gateway).delete_streams(run)
    assert stored(tx, run) is None


def test_streams_channels_must_match_in_python_too() -> None:
    with pytest.raises(ValueError, match="heart_rate has 1 samples"):
        ActivityStreams(time_s=[0.0, 1.0], heart_rate=[120.0]).to_json()


# --- who reads them --------------------------------------------------------------------------


def visible_streams(conn: Conn, actor: uuid.UUID, ids: list[int]) -> set[int]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, actor)
        rows = conn.execute(
            "select activity_id from public.activity_streams where activity_id = any(%s)", [ids]
        ).fetchall()
    return {int(r[0]) for r in rows}


@pytest.fixture
def world(tx: Conn) -> dict[str, Any]:
    alice = make_user(tx, "alice")
    eve = make_user(tx, "eve")
    coach = make_user(tx, "coach", "coach")
    stranger = make_user(tx, "stranger", "coach")
    pending = make_user(tx, "pending", "coach")
    admin = make_user(tx, "admin", "admin")
    grant(tx, alice, coach)
    grant(tx, alice, pending, "pending")
    shared = add_activity(tx, alice, provider="garmin")
    private = add_activity(tx, alice, provider="garmin", private=True)
    strava = add_activity(tx, alice, provider="strava")
    eves = add_activity(tx, eve)
    for activity in (shared, private, strava, eves):
        store(tx, activity, SAMPLE)
    return {
        "alice": alice, "eve": eve, "coach": coach, "stranger": stranger, "pending": pending,
        "admin": admin, "shared": shared, "private": private, "strava": strava, "eves": eves,
        "all": [shared, private, strava, eves],
    }  # fmt: skip


def test_athlete_reads_own_streams_including_strava(tx: Conn, world: dict[str, Any]) -> None:
    assert visible_streams(tx, world["alice"], world["all"]) == {
        world["shared"],
        world["private"],
        world["strava"],
    }


def test_other_athlete_cannot_read_streams(tx: Conn, world: dict[str, Any]) -> None:
    assert visible_streams(tx, world["eve"], world["all"]) == {world["eves"]}


def test_coach_reads_only_shareable_streams_of_granting_athlete(
    tx: Conn, world: dict[str, Any]
) -> None:
    assert visible_streams(tx, world["coach"], world["all"]) == {world["shared"]}


def test_coach_cannot_read_strava_or_private_streams(tx: Conn, world: dict[str, Any]) -> None:
    seen = visible_streams(tx, world["coach"], world["all"])
    assert world["strava"] not in seen
    assert world["private"] not in seen


def test_coach_without_grant_cannot_read_streams(tx: Conn, world: dict[str, Any]) -> None:
    assert visible_streams(tx, world["stranger"], world["all"]) == set()
    assert visible_streams(tx, world["pending"], world["all"]) == set()


def test_coach_loses_streams_when_the_activity_turns_private(
    tx: Conn, world: dict[str, Any]
) -> None:
    tx.execute("update public.activities set is_private = true where id = %s", [world["shared"]])
    assert visible_streams(tx, world["coach"], world["all"]) == set()


def test_admin_cannot_read_strava_streams(tx: Conn, world: dict[str, Any]) -> None:
    assert visible_streams(tx, world["admin"], world["all"]) == {
        world["shared"],
        world["private"],
        world["eves"],
    }


def test_anon_cannot_read_streams(tx: Conn, world: dict[str, Any]) -> None:
    with tx.transaction(force_rollback=True):
        act_as_anon(tx)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tx.execute("select 1 from public.activity_streams")


def test_analyst_cannot_read_streams(tx: Conn, world: dict[str, Any]) -> None:
    with tx.transaction(force_rollback=True):
        tx.execute("set local role analyst")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tx.execute("select 1 from public.activity_streams")


def test_athlete_cannot_write_streams_through_the_entry_point(
    tx: Conn, world: dict[str, Any]
) -> None:
    for function in (
        "public.ingest_activity_streams(%s, '{\"time\": [0]}'::jsonb, null)",
        "private.store_activity_streams(%s, '{\"time\": [0]}'::jsonb, null)",
    ):
        with tx.transaction(force_rollback=True):
            act_as_user(tx, world["alice"])
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                tx.execute(f"select {function}".encode(), [world["shared"]])


# --- zone settings -----------------------------------------------------------------------------


def zone_settings(conn: Conn, user: uuid.UUID) -> dict[str, Any]:
    cur = conn.execute("select * from private.athlete_zone_settings(%s, current_date)", [user])
    row = cur.fetchone()
    assert row is not None
    assert cur.description is not None
    return {d.name: v for d, v in zip(cur.description, row, strict=True)}


def test_zone_settings_read_the_documented_preferences(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    tx.execute(
        "update public.users set preferences = %s where id = %s",
        [
            psycopg.types.json.Jsonb(
                {
                    "ftp": 250, "run_ftp": "300", "max_heart_rate": 188,
                    "resting_heart_rate": 48, "threshold_heart_rate": 170,
                    "threshold_pace": 240, "heart_rate_zones": [130, 150, 165, 175],
                    "power_zones": [140, 190, 225], "pace_zones": [330, 290, 250, 235],
                    "units": "imperial", "timezone": "Europe/Paris",
                }
            ),
            alice,
        ],
    )  # fmt: skip
    assert zone_settings(tx, alice) == {
        "ftp": 250, "run_ftp": 300, "max_heart_rate": 188, "resting_heart_rate": 48,
        "threshold_heart_rate": 170, "threshold_pace": 240,
        "heart_rate_zones": [130, 150, 165, 175], "power_zones": [140, 190, 225],
        "pace_zones": [330, 290, 250, 235], "units": "imperial", "timezone": "Europe/Paris",
    }  # fmt: skip


def test_zone_settings_ignore_unusable_values(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    tx.execute(
        "update public.users set preferences = %s where id = %s",
        [
            psycopg.types.json.Jsonb(
                {
                    "ftp": -3, "max_heart_rate": "fast", "heart_rate_zones": [150, 140],
                    "power_zones": "1,2", "pace_zones": [200, 300], "units": "furlongs",
                    "timezone": "'; drop table x; --",
                }
            ),
            alice,
        ],
    )  # fmt: skip
    assert set(zone_settings(tx, alice).values()) == {None}
    assert set(zone_settings(tx, make_user(tx, "nobody")).values()) == {None}


def test_other_athlete_cannot_read_zone_settings(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    eve = make_user(tx, "eve")
    tx.execute("update public.users set preferences = '{\"ftp\": 250}' where id = %s", [alice])
    with tx.transaction(force_rollback=True):
        act_as_user(tx, eve)
        assert zone_settings(tx, alice)["ftp"] is None
    with tx.transaction(force_rollback=True):
        act_as_user(tx, alice)
        assert zone_settings(tx, alice)["ftp"] == 250
