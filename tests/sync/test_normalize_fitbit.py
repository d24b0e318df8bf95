"""private.normalize_fitbit on real Postgres: every column of private.normalized_activity from
Google Health API exercise data points (the current API of Fitbit accounts) and from legacy
Fitbit Web API activity logs (ms durations, distanceUnit, feet, offsets inside startTime,
logType manual), in their real shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_service, act_as_user, create_auth_user, reset_role
from tests.sync.ingest_support import ingest, make_connection, stored
from tests.sync.normalize_support import approx, normalizer, provider_json

Conn = psycopg.Connection[Any]

NEVER_FROM_FITBIT = (
    "description", "timezone", "max_speed", "max_heartrate", "average_watts", "max_watts",
    "weighted_average_watts", "max_cadence", "elevation_loss",
)  # fmt: skip


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = provider_json("fitbit", f"activities/{name}")
    return data


normalize = normalizer("fitbit")


# --- Google Health API exercise data points ----------------------------------------------------


def test_google_run_every_column(db: Conn) -> None:
    n = normalize(db, payload("exercise_run.json"))
    assert n["error"] is None
    # The data point id, whatever the user segment of the resource name.
    assert n["external_id"] == "6918273645501928374"
    assert n["name"] == "Morning run"
    assert (n["activity_type"], n["provider_activity_type"]) == ("run", "RUNNING")
    assert n["start_date"] == datetime(2026, 11, 23, 6, 2, 14, 512000, tzinfo=UTC)
    # startUtcOffset is a protobuf Duration: "3600s" = UTC+1; no IANA zone is given.
    assert n["utc_offset"] == 3600
    # Elapsed from the interval (06:02:14.512 → 06:49:37.090 = 2842.578 s), moving from
    # activeDuration ("2741.389s").
    assert n["elapsed_time"] == 2843
    assert n["moving_time"] == 2741
    assert n["distance"] == approx(8412.35)  # distanceMillimeters
    assert n["average_speed"] == approx(3.0687)  # averageSpeedMillimetersPerSecond
    assert n["average_heartrate"] == approx(149)  # an int64 in JSON: the string "149"
    assert n["average_cadence"] == approx(168.6)  # steps of both feet per minute
    assert n["elevation_gain"] == approx(58.0)  # elevationGainMillimeters
    assert n["calories"] == approx(598)
    assert n["is_manual"] is False
    assert n["is_private"] is False
    assert n["device_name"] == "Pixel Watch 3"
    assert n["activity_data"] == {
        "data_point": "users/3141592653589793238/dataTypes/exercise/dataPoints/6918273645501928374",
        "steps": 7702,
        "active_zone_minutes": 41,
        "end_utc_offset": 3600,
        "recording_method": "ACTIVELY_MEASURED",
        "has_gps": True,
    }
    assert n["provider_updated_at"] is None  # not exposed: the ingest uses the receipt time
    for column in NEVER_FROM_FITBIT:
        assert n[column] is None, column


def test_google_walk_west_of_utc_derives_speed(db: Conn) -> None:
    n = normalize(db, payload("exercise_walk_pacific.json"))
    assert n["error"] is None
    assert (n["activity_type"], n["name"]) == ("walk", "Walk")
    assert n["utc_offset"] == -28800
    assert n["start_date"] == datetime(2026, 11, 21, 4, 12, 40, tzinfo=UTC)
    assert (n["elapsed_time"], n["moving_time"]) == (1752, 1752)
    assert n["distance"] == approx(2304.1)
    # No speed in the summary: distance / moving time.
    assert n["average_speed"] == approx(2304.1 / 1752)
    assert n["average_heartrate"] == approx(97)
    assert n["average_cadence"] is None
    assert n["elevation_gain"] is None
    assert n["device_name"] == "Charge 6"


def test_google_manual_entry_without_display_name(db: Conn) -> None:
    n = normalize(db, payload("exercise_weights_manual.json"))
    assert n["error"] is None
    assert n["is_manual"] is True  # dataSource.recordingMethod MANUAL
    assert (n["activity_type"], n["provider_activity_type"]) == (
        "weight_training",
        "WEIGHTLIFTING",
    )
    assert n["name"] == "Weightlifting"  # built from the type when displayName is absent
    assert (n["elapsed_time"], n["moving_time"]) == (3300, 3300)
    assert n["distance"] is None
    assert n["average_speed"] is None
    assert n["average_heartrate"] is None
    assert n["calories"] == approx(287)
    assert n["device_name"] is None


def test_google_unknown_type_keeps_raw_value(db: Conn) -> None:
    n = normalize(db, payload("exercise_unknown_type.json"))
    assert n["error"] is None
    assert (n["activity_type"], n["provider_activity_type"]) == ("other", "HULA_HOOPING")
    assert n["name"] == "Hula Hooping"
    assert n["utc_offset"] == 19800  # UTC+05:30
    assert n["calories"] == approx(142.5)


def test_google_pace_gives_speed_when_speed_is_absent(db: Conn) -> None:
    item = payload("exercise_walk_pacific.json")
    item["exercise"]["metricsSummary"]["averagePaceSecondsPerMeter"] = 0.8
    assert normalize(db, item)["average_speed"] == approx(1.25)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.pop("name"), "without a data point name"),
        (lambda p: p.update(name="users/me/dataTypes/exercise"), "without a data point name"),
        (lambda p: p["exercise"]["interval"].pop("startTime"), "without interval.startTime"),
        (
            lambda p: p["exercise"]["interval"].update(startTime="2026-13-01T00:00:00Z"),
            "without interval.startTime",
        ),
        (lambda p: p["exercise"].pop("interval"), "without interval.startTime"),
    ],
)
def test_google_malformed_points_are_reported(db: Conn, mutate: Any, reason: str) -> None:
    item = payload("exercise_run.json")
    mutate(item)
    n = normalize(db, item, via_dispatcher=False)
    assert n["error"] is not None
    assert reason in n["error"]


def test_google_garbage_metrics_become_unknown(db: Conn) -> None:
    item = payload("exercise_run.json")
    item["exercise"]["activeDuration"] = "forty minutes"
    item["exercise"]["interval"]["startUtcOffset"] = "99999999s"
    item["exercise"]["interval"]["endTime"] = "before"
    item["exercise"]["metricsSummary"] = {
        "distanceMillimeters": "far",
        "averageHeartRateBeatsPerMinute": "999",
        "caloriesKcal": -4,
        "averageSpeedMillimetersPerSecond": None,
        "mobilityMetrics": "none",
    }
    item["dataSource"] = []
    n = normalize(db, item)
    assert n["error"] is None
    for column in (
        "moving_time", "elapsed_time", "distance", "average_speed", "average_heartrate",
        "calories", "average_cadence", "device_name",
    ):  # fmt: skip
        assert n[column] is None, column
    assert n["utc_offset"] == 0
    assert n["is_manual"] is False


# --- legacy Fitbit Web API activity logs ---------------------------------------------------------


def test_legacy_run_in_kilometres_every_column(db: Conn) -> None:
    n = normalize(db, payload("legacy_run_kilometer.json"))
    assert n["error"] is None
    assert n["external_id"] == "58812036611"
    assert n["name"] == "Run"
    assert (n["activity_type"], n["provider_activity_type"]) == ("run", "Run")
    # The offset lives inside startTime: 07:41:05-07:00 is 14:41:05 UTC.
    assert n["start_date"] == datetime(2026, 10, 3, 14, 41, 5, tzinfo=UTC)
    assert n["utc_offset"] == -7 * 3600
    assert (n["elapsed_time"], n["moving_time"]) == (2893, 2893)  # ms → s
    assert n["distance"] == approx(8837.214)  # km → m
    assert n["average_speed"] == approx(10.997 / 3.6)  # km/h → m/s
    assert n["average_heartrate"] == approx(152)
    assert n["elevation_gain"] == approx(47.244)  # metric locale: metres
    assert n["calories"] == approx(641)
    assert n["average_cadence"] is None
    assert n["is_manual"] is False  # logType tracker
    assert n["is_private"] is False
    assert n["device_name"] == "Versa 4"
    assert n["activity_data"] == {
        "log_type": "tracker",
        "activity_type_id": 90009,
        "steps": 7981,
        "distance_unit": "Kilometer",
        "source_type": "tracker",
        "tcx_link": "https://api.fitbit.com/1/user/-/activities/58812036611.tcx",
    }
    assert n["provider_updated_at"] == datetime(2026, 10, 3, 15, 12, 44, tzinfo=UTC)
    for column in NEVER_FROM_FITBIT:
        assert n[column] is None, column


def test_legacy_imperial_units(db: Conn) -> None:
    """An en_US request: distance in miles, speed in mph, elevation in feet."""
    n = normalize(db, payload("legacy_bike_mile.json"))
    assert n["error"] is None
    assert (n["activity_type"], n["provider_activity_type"]) == ("ride", "Outdoor Bike")
    assert n["utc_offset"] == -5 * 3600
    assert n["start_date"] == datetime(2026, 9, 27, 18, 2, 47, tzinfo=UTC)
    assert (n["elapsed_time"], n["moving_time"]) == (4380, 4218)
    assert n["distance"] == approx(21.4 * 1609.344)
    assert n["average_speed"] == approx(18.264 * 1609.344 / 3600)
    assert n["elevation_gain"] == approx(984.25 * 0.3048)
    assert n["device_name"] == "Fitbit for Android"
    assert n["is_manual"] is False  # logType mobile_run


def test_legacy_manual_log_with_positive_half_hour_offset(db: Conn) -> None:
    n = normalize(db, payload("legacy_walk_manual.json"))
    assert n["error"] is None
    assert n["is_manual"] is True
    assert n["utc_offset"] == 19800
    assert n["start_date"] == datetime(
        2026, 9, 14, 18, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    assert n["distance"] == approx(2500.0)
    # No speed field: derived from distance and active duration.
    assert n["average_speed"] == approx(2500.0 / 1800)
    assert n["average_heartrate"] is None
    assert n["device_name"] is None


def test_legacy_utc_start_and_name_first_mapping(db: Conn) -> None:
    n = normalize(db, payload("legacy_swim_misleading_type_id.json"))
    assert n["error"] is None
    assert n["utc_offset"] == 0
    assert (n["activity_type"], n["provider_activity_type"]) == ("swim", "Swim")
    assert (n["elapsed_time"], n["moving_time"]) == (1652, 1535)
    assert n["distance"] == approx(1250.0)


def test_legacy_name_wins_over_type_id(db: Conn) -> None:
    """activityName decides; the type id is only a fallback (ids are mis-mapped in public
    libraries, docs/providers.md §7)."""
    item = payload("legacy_bike_mile.json")
    item["activityName"] = "Hike"  # the id 1071 says Outdoor Bike
    assert normalize(db, item)["activity_type"] == "hike"
    item["activityName"] = "Lunchtime thing"  # unknown name: the id decides
    n = normalize(db, item)
    assert (n["activity_type"], n["provider_activity_type"]) == ("ride", "Lunchtime thing")
    item["activityTypeId"] = 123456789  # unknown both ways
    assert normalize(db, item)["activity_type"] == "other"


def test_legacy_names_are_case_insensitive(db: Conn) -> None:
    item = payload("legacy_run_kilometer.json")
    item["activityName"] = "YOGA"
    item["activityTypeId"] = None
    assert normalize(db, item)["activity_type"] == "yoga"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.pop("logId"), "neither"),
        (lambda p: p.update(logId=None), "without a logId"),
        (lambda p: p.pop("startTime"), None),  # originalStartTime is the fallback
        (
            lambda p: p.update(startTime="2026-10-03T07:41:05.000", originalStartTime=None),
            "without a startTime with an offset",
        ),
        (lambda p: p.update(startTime="soon", originalStartTime="soon"), "without a startTime"),
    ],
)
def test_legacy_malformed_logs_are_reported(db: Conn, mutate: Any, reason: str | None) -> None:
    item = payload("legacy_run_kilometer.json")
    mutate(item)
    n = normalize(db, item, via_dispatcher=False)
    if reason is None:
        assert n["error"] is None
        assert n["start_date"] == datetime(2026, 10, 3, 14, 41, 5, tzinfo=UTC)
    else:
        assert n["error"] is not None
        assert reason in n["error"]


def test_legacy_unknown_distance_unit_gives_unknown_distance(db: Conn) -> None:
    item = payload("legacy_run_kilometer.json")
    item["distanceUnit"] = "Furlong"
    n = normalize(db, item)
    assert n["distance"] is None
    assert n["average_speed"] is None
    item.pop("distanceUnit")  # absent: the metric default of non-US requests
    assert normalize(db, item)["distance"] == approx(8837.214)


@pytest.mark.parametrize("item", [[], "x", 3, None, {"exercise": "run"}])
def test_unrecognised_payloads_never_raise(db: Conn, item: Any) -> None:
    n = normalize(db, item, via_dispatcher=False)
    assert n["error"] is not None


# --- vocabulary and ingest ----------------------------------------------------------------------


def test_vocabulary(db: Conn) -> None:
    rows = db.execute(
        "select provider_value, activity_type::text from public.activity_type_mappings"
        " where provider = 'fitbit'"
    ).fetchall()
    mapping = dict(rows)
    assert len(mapping) >= 190
    # No two rows differ only by case (the lookup is case-insensitive).
    assert len({value.lower() for value in mapping}) == len(mapping)
    expected = {
        "RUNNING": "run", "TREADMILL": "treadmill_run", "SWIMMING_POOL": "swim",
        "SWIMMING_OPEN_WATER": "open_water_swim", "ELECTRIC_BIKE": "e_bike_ride",
        "STATIONARY_BIKE": "indoor_ride", "MOUNTAIN_BIKE": "mountain_bike_ride",
        "ROWING_MACHINE": "virtual_row", "WEIGHTLIFTING": "weight_training", "HIIT": "hiit",
        "AEROBIC_WORKOUT": "cardio", "EXERCISE_TYPE_UNSPECIFIED": "other",
        "Outdoor Bike": "ride", "Aerobic Workout": "cardio", "Interval Workout": "hiit",
        "90024": "swim", "1071": "ride", "90009": "run",
    }  # fmt: skip
    assert {k: mapping[k] for k in expected} == expected


def test_ingested_rows_keep_local_time_from_the_offset(db: Conn) -> None:
    connection_id, _ = make_connection(db, "fitbit")
    items = [payload("exercise_walk_pacific.json"), payload("legacy_run_kilometer.json")]
    result = ingest(db, connection_id, items)
    assert (result.created, result.errors) == (2, [])
    walk = stored(db, connection_id, "6918273645501920011")
    assert walk is not None
    # 04:12:40Z at UTC-8 is 20:12:40 the evening before.
    assert walk["start_date_local"] == datetime(2026, 11, 20, 20, 12, 40)
    assert walk["utc_offset"] == -28800
    assert walk["timezone"] is None
    assert walk["provider"] == "fitbit"
    assert walk["activity_type"] == "walk"
    run = stored(db, connection_id, "58812036611")
    assert run is not None
    assert run["start_date_local"] == datetime(2026, 10, 3, 7, 41, 5)
    assert run["distance"] == approx(8837.214)
    assert run["raw_payload"] == items[1]


def test_only_service_role_may_normalise(db: Conn) -> None:
    item = payload("exercise_run.json")
    with db.transaction():
        act_as_service(db)
        row = db.execute("select (private.normalize_fitbit(%s)).external_id", [Jsonb(item)])
        assert row.fetchone() == ("6918273645501928374",)
        reset_role(db)
    user = create_auth_user(db, "fitbit-normalise@example.com")
    for function, argument in (
        ("private.normalize_fitbit(%s)", Jsonb(item)),
        ("private.normalize_fitbit_exercise(%s)", Jsonb(item)),
        ("private.normalize_fitbit_legacy(%s)", Jsonb(item)),
        ("private.fitbit_number(%s)", Jsonb(1)),
        ("private.fitbit_duration_seconds(%s)", "1s"),
        ("private.fitbit_offset_seconds(%s)", "2026-01-01T00:00:00Z"),
    ):
        with db.transaction(force_rollback=True):
            act_as_user(db, user)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(f"select {function}", [argument])
