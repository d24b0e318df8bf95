"""Cross-provider duplicates on realistic multi-provider histories (real Postgres).

One workout, several sources: a Garmin watch uploads to Garmin Connect, which forwards it to
Strava; a Wahoo or COROS unit does the same; the athlete also types it in by hand. Every row is
kept; one is the primary (primary_activity_id is null) and statistics count only it. Near misses
must stay apart, time-zone mistakes of whole hours must be caught, and the athlete's override
must survive any later regrouping. Rows are written as the sync worker and the app write them
(public.ingest_activities as service_role, plain inserts), so the statement-level trigger is
what groups them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_anon, act_as_service, act_as_user, create_auth_user, reset_role

Conn = psycopg.Connection[Any]

UTC = dt.UTC
T0 = dt.datetime(2026, 10, 6, 5, 30, tzinfo=UTC)  # a Tuesday, 07:30 in Paris (CEST, +2 h)
PARIS = 7200


# --- building histories -----------------------------------------------------------------------


def _one(db: Conn, query: str, params: list[object]) -> Any:
    row = db.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


def athlete(db: Conn) -> uuid.UUID:
    db.execute("select 1")  # open the test transaction (see test_rls_matrix.world)
    return create_auth_user(db, f"{uuid.uuid4().hex[:10]}@example.com", confirmed=True)


def connect(db: Conn, user: uuid.UUID, provider: str) -> int:
    return int(
        _one(
            db,
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " values (%s, %s, %s) returning id",
            [user, provider, uuid.uuid4().hex[:12]],
        )
    )


def add(
    db: Conn,
    user: uuid.UUID,
    connection: int | None,
    start: dt.datetime,
    duration: int | None,
    distance: float | None,
    activity_type: str = "run",
    *,
    source: str | None = None,
    utc_offset: int = PARIS,
    device: str | None = None,
    upload_origin: str | None = None,
    heartrate: float | None = None,
    external_id: str | None = None,
) -> int:
    """One activity row as the ingest (provider), app (manual) or importer (file) writes it."""
    provider = (
        None
        if connection is None
        else _one(
            db, "select provider from public.provider_connections where id = %s", [connection]
        )
    )
    source = source or ("provider" if connection else "manual")
    data = {"external_id": upload_origin} if upload_origin else {}
    return int(
        _one(
            db,
            "insert into public.activities (user_id, connection_id, provider, source, is_manual,"
            " external_id, name, activity_type, start_date, utc_offset, elapsed_time, moving_time,"
            " distance, device_name, activity_data, average_heartrate)"
            " values (%s, %s, %s, %s, %s, coalesce(%s, gen_random_uuid()::text), %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s) returning id",
            [
                user, connection, provider, source, source == "manual", external_id,
                f"{activity_type} at {start:%H:%M}", activity_type, start, utc_offset, duration,
                duration, distance, device, Jsonb(data), heartrate,
            ],
        )
    )  # fmt: skip


def primary_of(db: Conn, activity_id: int) -> int | None:
    value = _one(
        db, "select primary_activity_id from public.activities where id = %s", [activity_id]
    )
    return None if value is None else int(value)


def groups(db: Conn, user: uuid.UUID) -> set[frozenset[int]]:
    """The user's workouts as sets of row ids (a standalone row is a set of one)."""
    rows = db.execute(
        "select coalesce(primary_activity_id, id), array_agg(id) from public.activities"
        " where user_id = %s and deleted_at is null group by 1",
        [user],
    ).fetchall()
    return {frozenset(ids) for _, ids in rows}


def counted(db: Conn, user: uuid.UUID) -> set[int]:
    """The rows statistics count: primary copies that are not deleted."""
    rows = db.execute(
        "select id from public.activities"
        " where user_id = %s and primary_activity_id is null and deleted_at is null",
        [user],
    ).fetchall()
    return {int(r[0]) for r in rows}


def ingest(db: Conn, connection: int, items: list[dict[str, Any]]) -> None:
    """public.ingest_activities exactly as the sync worker calls it (service_role)."""
    with db.transaction():
        act_as_service(db)
        row = db.execute(
            "select created, errors from public.ingest_activities(%s, %s)",
            [connection, Jsonb(items)],
        ).fetchone()
        reset_role(db)
    assert row is not None
    assert row[1] == [], row


def external(db: Conn, connection: int, external_id: str) -> int:
    return int(
        _one(
            db,
            "select id from public.activities where connection_id = %s and external_id = %s",
            [connection, external_id],
        )
    )


def garmin_summary(
    activity_id: int, start: dt.datetime, duration: int, distance: float
) -> dict[str, Any]:
    """A Garmin Health API activity summary (push), in its real shape."""
    return {
        "userId": "5f1c2a9e-7b3d-4c8e-a1f0-93d6b2e4c7a1",
        "summaryId": str(activity_id),
        "activityId": activity_id,
        "activityName": "Paris Running",
        "activityType": "RUNNING",
        "startTimeInSeconds": int(start.timestamp()),
        "startTimeOffsetInSeconds": PARIS,
        "durationInSeconds": duration,
        "distanceInMeters": distance,
        "averageHeartRateInBeatsPerMinute": 151,
        "deviceName": "forerunner965",
        "manual": False,
    }


def strava_summary(
    activity_id: int, start: dt.datetime, duration: int, distance: float, **extra: Any
) -> dict[str, Any]:
    """A Strava SummaryActivity, in its real shape (start_date_local carries a fake Z)."""
    local = start + dt.timedelta(seconds=PARIS)
    return {
        "resource_state": 2,
        "athlete": {"id": 134815, "resource_state": 1},
        "id": activity_id,
        "name": "Morning Run",
        "type": "Run",
        "sport_type": "Run",
        "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_date_local": local.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone": "(GMT+01:00) Europe/Paris",
        "utc_offset": float(PARIS),
        "elapsed_time": duration,
        "moving_time": duration - 40,
        "distance": distance,
        "manual": False,
        "private": False,
        "visibility": "everyone",
        "has_heartrate": True,
        "average_heartrate": 150.8,
        **extra,
    }


# --- realistic copies group, with the device cloud as the primary ------------------------------


def test_garmin_watch_via_garmin_connect_and_strava_is_one_workout(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    # Strava's copy arrives first (its webhook is faster), 3 s later, distance cropped by a
    # privacy zone: the upload origin garmin_push_<activityId> links it with certainty.
    ingest(db, strava, [strava_summary(
        16_000_000_001, T0 + dt.timedelta(seconds=3), 3127, 9_214.6,
        external_id="garmin_push_21873461203", device_name="Garmin Forerunner 965",
    )])  # fmt: skip
    ingest(db, garmin, [garmin_summary(21873461203, T0, 3127, 10_214.6)])
    g, s = external(db, garmin, "21873461203"), external(db, strava, "16000000001")
    assert primary_of(db, g) is None
    assert primary_of(db, s) == g
    assert counted(db, alice) == {g}


def test_wahoo_ride_and_its_strava_copy_group_under_wahoo(db: Conn) -> None:
    alice = athlete(db)
    wahoo, strava = connect(db, alice, "wahoo"), connect(db, alice, "strava")
    s = add(db, alice, strava, T0, 7_260, 61_480.0, "ride", upload_origin="wahoo_fitness_1a2b.fit")
    w = add(db, alice, wahoo, T0 + dt.timedelta(seconds=1), 7_262, 61_502.3, "ride",
            device="ELEMNT BOLT")  # fmt: skip
    assert groups(db, alice) == {frozenset({s, w})}
    assert counted(db, alice) == {w}


def test_coros_run_and_its_strava_copy_group_under_coros(db: Conn) -> None:
    alice = athlete(db)
    coros, strava = connect(db, alice, "coros"), connect(db, alice, "strava")
    c = add(db, alice, coros, T0, 5_400, 15_020.0, "trail_run", device="COROS PACE 3")
    s = add(db, alice, strava, T0 + dt.timedelta(seconds=2), 5_398, 14_960.0, "run",
            device="COROS PACE 3")  # fmt: skip
    assert primary_of(db, s) == c
    assert counted(db, alice) == {c}


def test_indoor_ride_and_zwift_virtual_ride_are_one_family(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 31_000.0, "indoor_ride")
    s = add(db, alice, strava, T0 + dt.timedelta(seconds=20), 3_590, 30_850.0, "virtual_ride")
    assert primary_of(db, s) == g


def test_manual_entry_near_a_recorded_run_joins_it(db: Conn) -> None:
    alice = athlete(db)
    garmin = connect(db, alice, "garmin")
    g = add(db, alice, garmin, T0 + dt.timedelta(seconds=97), 2_730, 10_050.0, heartrate=149)
    # typed in by hand: "07:30, 45 min, 10 km"
    m = add(db, alice, None, T0, 2_700, 10_000.0)
    assert primary_of(db, m) == g
    assert counted(db, alice) == {g}


def test_four_sources_of_one_workout_count_once(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_127, 10_214.6, device="forerunner965", external_id="2187")
    s = add(db, alice, strava, T0 + dt.timedelta(seconds=2), 3_127, 10_190.0,
            upload_origin="garmin_push_2187")  # fmt: skip
    f = add(db, alice, None, T0, 3_126, 10_214.0, source="file", device="forerunner965")
    m = add(db, alice, None, T0 + dt.timedelta(seconds=60), 3_000, 10_000.0)
    assert groups(db, alice) == {frozenset({g, s, f, m})}
    assert counted(db, alice) == {g}


def test_one_statement_writing_a_whole_history_groups_it(db: Conn) -> None:
    """A backfill page of 60 days from each of two providers, written in one statement each."""
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    days = range(60)
    ingest(db, garmin, [
        garmin_summary(30_000 + d, T0 + dt.timedelta(days=d), 2_400 + d, 8_000.0 + d * 10)
        for d in days
    ])  # fmt: skip
    ingest(db, strava, [
        strava_summary(
            40_000 + d, T0 + dt.timedelta(days=d, seconds=4), 2_400 + d, 7_950.0 + d * 10
        )
        for d in days
    ])  # fmt: skip
    for d in days:
        g, s = external(db, garmin, str(30_000 + d)), external(db, strava, str(40_000 + d))
        assert primary_of(db, s) == g, d
    assert len(counted(db, alice)) == 60


# --- near misses stay apart ---------------------------------------------------------------------


def test_back_to_back_sessions_and_their_copies_pair_correctly(db: Conn) -> None:
    """Warm-up, then intervals two minutes later; both on Garmin and on Strava."""
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g1 = add(db, alice, garmin, T0, 900, 3_000.0)
    g2 = add(db, alice, garmin, T0 + dt.timedelta(seconds=1_020), 960, 3_100.0)
    s2 = add(db, alice, strava, T0 + dt.timedelta(seconds=1_021), 960, 3_090.0)
    s1 = add(db, alice, strava, T0 + dt.timedelta(seconds=1), 900, 2_990.0)
    assert groups(db, alice) == {frozenset({g1, s1}), frozenset({g2, s2})}


def test_two_identical_runs_an_hour_apart_are_not_a_time_zone_mistake(db: Conn) -> None:
    """Paris (+1 h in winter): the 07:00 run's local start equals the 08:00 run's UTC start."""
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    t = dt.datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    g1 = add(db, alice, garmin, t, 1_500, 5_000.0, utc_offset=3600)
    g2 = add(db, alice, garmin, t + dt.timedelta(hours=1), 1_500, 5_000.0, utc_offset=3600)
    s1 = add(db, alice, strava, t, 1_500, 5_000.0, utc_offset=3600)
    s2 = add(db, alice, strava, t + dt.timedelta(hours=1), 1_500, 5_000.0, utc_offset=3600)
    assert groups(db, alice) == {frozenset({g1, s1}), frozenset({g2, s2})}


def test_a_run_and_a_ride_at_the_same_time_stay_apart(db: Conn) -> None:
    alice = athlete(db)
    garmin, wahoo = connect(db, alice, "garmin"), connect(db, alice, "wahoo")
    run = add(db, alice, garmin, T0, 3_600, 10_000.0, "run")
    ride = add(db, alice, wahoo, T0, 3_600, 10_000.0, "ride")
    assert groups(db, alice) == {frozenset({run}), frozenset({ride})}


def test_same_start_but_very_different_distance_stays_apart(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0, 3_600, 14_000.0)
    assert groups(db, alice) == {frozenset({g}), frozenset({s})}


def test_same_start_but_very_different_duration_stays_apart(db: Conn) -> None:
    alice = athlete(db)
    garmin = connect(db, alice, "garmin")
    g = add(db, alice, garmin, T0, 3_600, None, "weight_training")
    m = add(db, alice, None, T0 + dt.timedelta(seconds=30), 1_200, None, "weight_training")
    assert groups(db, alice) == {frozenset({g}), frozenset({m})}


def test_start_three_minutes_apart_stays_apart(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0 + dt.timedelta(seconds=180), 3_600, 10_000.0)
    assert groups(db, alice) == {frozenset({g}), frozenset({s})}


def test_two_athletes_identical_workouts_are_never_grouped(db: Conn) -> None:
    """A club run: same start, distance and duration, but two athletes."""
    alice, eve = athlete(db), athlete(db)
    a = add(db, alice, connect(db, alice, "garmin"), T0, 3_600, 10_000.0)
    e = add(db, eve, connect(db, eve, "strava"), T0, 3_600, 10_000.0)
    assert primary_of(db, a) is None
    assert primary_of(db, e) is None


# --- time-zone mistakes of whole hours -----------------------------------------------------------


def test_file_that_stored_local_time_as_utc_joins_the_device_copy(db: Conn) -> None:
    """A GPX export without zone: 07:30 Paris stored as 07:30 UTC (offset 0), two hours late."""
    alice = athlete(db)
    garmin = connect(db, alice, "garmin")
    g = add(db, alice, garmin, T0, 3_127, 10_214.6)
    f = add(db, alice, None, T0 + dt.timedelta(hours=2, seconds=1), 3_127, 10_210.0,
            source="file", utc_offset=0)  # fmt: skip
    assert primary_of(db, f) == g


def test_wrong_daylight_saving_offset_joins_the_device_copy(db: Conn) -> None:
    """Polar applied winter time (+1 h) in summer: same local start, UTC one hour off."""
    alice = athlete(db)
    garmin, polar = connect(db, alice, "garmin"), connect(db, alice, "polar")
    g = add(db, alice, garmin, T0, 2_700, 9_000.0)
    p = add(db, alice, polar, T0 + dt.timedelta(hours=1), 2_705, 9_020.0, utc_offset=3600)
    assert primary_of(db, p) == g


def test_whole_hour_shift_needs_the_strict_match(db: Conn) -> None:
    """Two hours off with the local-as-UTC signature, but 3 % longer: not the same workout."""
    alice = athlete(db)
    garmin = connect(db, alice, "garmin")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    f = add(db, alice, None, T0 + dt.timedelta(hours=2), 3_600, 10_300.0, source="file",
            utc_offset=0)  # fmt: skip
    assert groups(db, alice) == {frozenset({g}), frozenset({f})}


def test_whole_hour_shift_without_a_time_zone_signature_stays_apart(db: Conn) -> None:
    """The same 5 km test, on the watch at 07:30 and on the Polar strap at 10:30, both zones
    right: three whole hours apart, but neither local start equals the other's."""
    alice = athlete(db)
    garmin, polar = connect(db, alice, "garmin"), connect(db, alice, "polar")
    g = add(db, alice, garmin, T0, 1_200, 5_000.0)
    p = add(db, alice, polar, T0 + dt.timedelta(hours=3), 1_200, 5_000.0)
    assert groups(db, alice) == {frozenset({g}), frozenset({p})}


def test_shift_that_is_not_whole_hours_stays_apart(db: Conn) -> None:
    alice = athlete(db)
    garmin = connect(db, alice, "garmin")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    f = add(db, alice, None, T0 + dt.timedelta(hours=2, minutes=5), 3_600, 10_000.0,
            source="file", utc_offset=0)  # fmt: skip
    assert groups(db, alice) == {frozenset({g}), frozenset({f})}


# --- changes, deletions ------------------------------------------------------------------------


def test_a_corrected_start_regroups(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0 + dt.timedelta(minutes=30), 3_600, 10_000.0)
    assert primary_of(db, s) is None
    db.execute("update public.activities set start_date = %s where id = %s", [T0, s])
    assert primary_of(db, s) == g
    db.execute("update public.activities set distance = 20000 where id = %s", [s])
    assert primary_of(db, s) is None


def test_deleting_the_primary_promotes_a_copy(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    add(db, alice, garmin, T0, 3_600, 10_000.0, external_id="555")
    s = add(db, alice, strava, T0, 3_600, 10_000.0)
    ingest_delete = "select * from public.ingest_activities(%s, '[]', array['555'])"
    with db.transaction():
        act_as_service(db)
        db.execute(ingest_delete, [garmin])
        reset_role(db)
    assert primary_of(db, s) is None
    assert counted(db, alice) == {s}


def test_hard_deleting_an_overridden_manual_primary_keeps_one_count(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0, 3_600, 10_000.0)
    m = add(db, alice, None, T0, 3_600, 10_000.0)
    as_athlete(db, alice, "select public.set_primary_activity(%s)", [m])
    as_athlete(db, alice, "delete from public.activities where id = %s", [m])
    assert counted(db, alice) == {g}
    assert primary_of(db, s) == g


# --- deleting an overridden primary together with a copy ----------------------------------------


@pytest.mark.parametrize("chosen", ["garmin", "manual"])
def test_deleting_an_overridden_primary_and_a_copy_in_one_statement(db: Conn, chosen: str) -> None:
    """Two rows of one overridden group hard-deleted by one statement (a purge of the athlete's
    data, a listing reconciliation): the remaining row counts once, and the statement does not
    fail because the primary's promotion touched a row the same statement deletes."""
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0, 3_600, 10_000.0)
    m = add(db, alice, None, T0, 3_600, 10_000.0)
    primary = g if chosen == "garmin" else m
    as_athlete(db, alice, "select public.set_primary_activity(%s)", [primary])
    other = m if chosen == "garmin" else g
    db.execute("delete from public.activities where id = any(%s)", [[primary, s]])
    assert counted(db, alice) == {other}
    assert groups(db, alice) == {frozenset({other})}


def test_forged_promotion_state_cannot_regroup_another_athletes_rows(db: Conn) -> None:
    """Threat: the promotion's state lives in a transaction setting; a session that forges it
    and then deletes one of its own rows must not re-point another athlete's activities."""
    alice, eve = athlete(db), athlete(db)
    a1 = add(db, alice, None, T0, 1_800, 5_000.0)
    a2 = add(db, alice, None, T0 + dt.timedelta(days=2), 1_800, 5_000.0)
    e1 = add(db, eve, None, T0 + dt.timedelta(days=5), 1_800, 5_000.0)
    forged = f'[{{"primary": {e1}, "user_id": "{eve}", "members": [{a1}, {a2}]}}]'
    with db.transaction(force_rollback=True):
        db.execute("select set_config('trainlytics.promote_groups', %s, true)", [forged])
        act_as_user(db, eve)
        db.execute("delete from public.activities where id = %s", [e1])
        reset_role(db)
        assert primary_of(db, a1) is None
        assert primary_of(db, a2) is None


# --- the athlete's override --------------------------------------------------------------------


def as_athlete(
    db: Conn, user: uuid.UUID, query: str, params: list[object]
) -> list[tuple[Any, ...]]:
    with db.transaction():
        act_as_user(db, user)
        cur = db.execute(query.encode(), params)
        rows = cur.fetchall() if cur.description else []
        reset_role(db)
    return rows


def test_set_primary_is_honoured_and_never_undone_by_regrouping(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0, 3_600, 10_000.0)
    assert as_athlete(db, alice, "select public.set_primary_activity(%s)", [s]) == [(2,)]
    assert counted(db, alice) == {s}
    assert primary_of(db, g) == s
    # Garmin re-sends an edited summary; Strava's copy is updated; everything is regrouped.
    db.execute("update public.activities set distance = 10010, start_date = %s where id = %s",
               [T0 + dt.timedelta(seconds=5), g])  # fmt: skip
    db.execute("update public.activities set elapsed_time = 3590 where id = %s", [s])
    with db.transaction():
        act_as_service(db)
        db.execute("select public.regroup_activity_duplicates(%s)", [alice])
        reset_role(db)
    assert counted(db, alice) == {s}
    assert primary_of(db, g) == s
    # A new copy arriving later does not change the athlete's group either.
    add(db, alice, None, T0, 3_600, 10_000.0, source="file")
    assert primary_of(db, g) == s
    assert primary_of(db, s) is None


def test_split_is_honoured_and_never_undone_by_regrouping(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0, 3_600, 10_000.0)
    assert primary_of(db, s) == g
    as_athlete(db, alice, "select public.split_duplicate(%s)", [s])
    assert groups(db, alice) == {frozenset({g}), frozenset({s})}
    db.execute("update public.activities set start_date = %s where id = %s",
               [T0 + dt.timedelta(seconds=1), s])  # fmt: skip
    db.execute("update public.activities set distance = 10001 where id = %s", [g])
    with db.transaction():
        act_as_service(db)
        db.execute("select public.regroup_activity_duplicates()")
        reset_role(db)
    assert groups(db, alice) == {frozenset({g}), frozenset({s})}


def test_splitting_the_primary_leaves_the_other_copies_grouped(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0, 3_600, 10_000.0)
    m = add(db, alice, None, T0, 3_600, 10_000.0)
    as_athlete(db, alice, "select public.split_duplicate(%s)", [g])
    assert groups(db, alice) == {frozenset({g}), frozenset({s, m})}
    assert counted(db, alice) == {g, s}


# --- statistics count each workout once ---------------------------------------------------


def test_volume_views_count_each_workout_once(db: Conn) -> None:
    alice = athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    add(db, alice, garmin, T0, 3_600, 10_000.0)
    add(db, alice, strava, T0, 3_600, 9_900.0)
    add(db, alice, None, T0, 3_600, 10_000.0, source="file")
    add(db, alice, garmin, T0 + dt.timedelta(days=1), 1_800, 5_000.0)  # Wednesday, one source
    week = as_athlete(
        db, alice,
        "select activity_count, total_distance, total_moving_time from public.weekly_volume",
        [],
    )  # fmt: skip
    assert week == [(2, 15_000.0, 5_400)]
    month = as_athlete(
        db, alice, "select activity_count, total_distance from public.monthly_volume", []
    )
    assert month == [(2, 15_000.0)]
    listed = as_athlete(db, alice, "select provider from public.activities_with_provider", [])
    assert sorted(listed) == [("garmin",), ("garmin",)]


# --- threats -----------------------------------------------------------------------------------


def _attempt(db: Conn, user: uuid.UUID | None, query: str, params: list[object]) -> str:
    with db.transaction(force_rollback=True):
        if user is None:
            act_as_anon(db)
        else:
            act_as_user(db, user)
        try:
            with db.transaction():
                db.execute(query.encode(), params)
        except psycopg.errors.InsufficientPrivilege as exc:
            return exc.diag.message_primary or "42501"
    return "ok"


@pytest.fixture
def two_athletes(db: Conn) -> tuple[uuid.UUID, uuid.UUID, int, int]:
    alice, eve = athlete(db), athlete(db)
    garmin, strava = connect(db, alice, "garmin"), connect(db, alice, "strava")
    g = add(db, alice, garmin, T0, 3_600, 10_000.0)
    s = add(db, alice, strava, T0, 3_600, 10_000.0)
    assert primary_of(db, s) == g
    return alice, eve, g, s


@pytest.mark.parametrize("function", ["set_primary_activity", "split_duplicate"])
def test_eve_cannot_regroup_alices_activities(
    db: Conn, two_athletes: tuple[uuid.UUID, uuid.UUID, int, int], function: str
) -> None:
    _alice, eve, g, s = two_athletes
    outcome = _attempt(db, eve, f"select public.{function}(%s)", [s])
    assert outcome == f"activity {s} is not one of your activities"
    assert primary_of(db, s) == g
    assert primary_of(db, g) is None


@pytest.mark.parametrize("function", ["set_primary_activity", "split_duplicate"])
def test_coach_cannot_override_an_athletes_duplicates(
    db: Conn, two_athletes: tuple[uuid.UUID, uuid.UUID, int, int], function: str
) -> None:
    alice, _, g, s = two_athletes
    bob = athlete(db)
    db.execute("update public.users set role = 'coach' where id = %s", [bob])
    db.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, bob],
    )
    # bob may read alice's Garmin row, and still cannot choose for her
    assert as_athlete(db, bob, "select id from public.activities where id = %s", [g]) == [(g,)]
    outcome = _attempt(db, bob, f"select public.{function}(%s)", [g])
    assert outcome == f"activity {g} is not one of your activities"
    assert primary_of(db, s) == g


def test_anon_cannot_call_the_override(
    db: Conn, two_athletes: tuple[uuid.UUID, uuid.UUID, int, int]
) -> None:
    _, _, _, s = two_athletes
    outcome = _attempt(db, None, "select public.set_primary_activity(%s)", [s])
    assert outcome.startswith("permission denied")


@pytest.mark.parametrize("assignment", ["primary_activity_id = null", "duplicate_override = true"])
def test_athlete_cannot_write_the_grouping_columns_directly(
    db: Conn, two_athletes: tuple[uuid.UUID, uuid.UUID, int, int], assignment: str
) -> None:
    alice, _, _, s = two_athletes
    outcome = _attempt(db, alice, f"update public.activities set {assignment} where id = %s", [s])
    assert outcome.startswith("permission denied")


def test_athlete_cannot_call_the_grouping_internals(
    db: Conn, two_athletes: tuple[uuid.UUID, uuid.UUID, int, int]
) -> None:
    alice, _, _, _ = two_athletes
    assert _attempt(db, alice, "select public.regroup_activity_duplicates(%s)", [alice]) == (
        "permission denied for function regroup_activity_duplicates"
    )
    assert _attempt(
        db, alice, "select private.group_activity_duplicates(array[%s]::uuid[], array[now()])",
        [alice],
    ) == "permission denied for function group_activity_duplicates"  # fmt: skip


def test_athlete_cannot_change_the_reference_tables(
    db: Conn, two_athletes: tuple[uuid.UUID, uuid.UUID, int, int]
) -> None:
    alice, *_ = two_athletes
    for query in (
        "update public.provider_priorities set priority = 0 where origin = 'strava'",
        "insert into public.sport_families values ('other', 'running')",
    ):
        assert _attempt(db, alice, query, []).startswith("permission denied")


def test_an_athletes_manual_entry_groups_with_rows_she_cannot_update(
    db: Conn, two_athletes: tuple[uuid.UUID, uuid.UUID, int, int]
) -> None:
    """The trigger runs for the athlete's own insert (definer), and touches only her rows."""
    alice, eve, g, _ = two_athletes
    e = add(db, eve, connect(db, eve, "garmin"), T0, 3_600, 10_000.0)
    with db.transaction():
        act_as_user(db, alice)
        m = _one(
            db,
            "insert into public.activities (user_id, name, start_date, utc_offset,"
            " elapsed_time, distance, activity_type) values (%s, 'typed', %s, 7200, 3600,"
            " 10000, 'run') returning id",
            [alice, T0],
        )
        reset_role(db)
    assert primary_of(db, m) == g
    assert primary_of(db, e) is None
