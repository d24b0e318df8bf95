"""private.normalize_garmin on real Postgres: every column of private.normalized_activity from
Garmin Connect Developer Program activities in their real shapes (pull / ping-callback pages,
activities and manuallyUpdatedActivities pushes, activityDetails with a nested summary), with
Garmin's traps: offsets in seconds and no zone, run vs bike vs swim cadence fields, active
kilocalories, the manual flag, and activity types that are not strictly UPPER_SNAKE
("BACKCOUNTRY SKIING/SNOWBOARDING")."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_service, act_as_user, create_auth_user, reset_role
from tests.sync.ingest_support import ingest, make_connection
from tests.sync.normalize_support import COLUMNS, approx, normalizer, provider_json

Conn = psycopg.Connection[Any]


def pull_page(name: str = "pull_page.json") -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = provider_json("garmin", f"activities/{name}")
    return data


def webhook_item(name: str) -> dict[str, Any]:
    body: dict[str, list[dict[str, Any]]] = provider_json("garmin", name)
    (items,) = body.values()
    return items[0]


normalize = normalizer("garmin")


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# --- every column, real shapes -----------------------------------------------------------------


def test_pushed_run_every_column(db: Conn) -> None:
    n = normalize(db, webhook_item("webhook_activities_push.json"))
    assert n["error"] is None
    assert n["external_id"] == "21873461203"
    assert n["name"] == "Leipzig Running"
    assert n["description"] is None  # Garmin has none
    assert n["activity_type"] == "run"
    assert n["provider_activity_type"] == "RUNNING"
    assert n["start_date"] == at(1795672800)
    assert n["timezone"] is None  # an offset, not a zone
    assert n["utc_offset"] == 3600
    assert n["elapsed_time"] == 3127
    assert n["moving_time"] == 3127  # no moving duration in the summary: the duration
    assert n["distance"] == approx(10214.6)
    assert n["average_speed"] == approx(3.266)
    assert n["max_speed"] == approx(4.12)
    assert n["average_heartrate"] == approx(152)
    assert n["max_heartrate"] == approx(178)
    assert n["average_watts"] is None
    assert n["max_watts"] is None
    assert n["weighted_average_watts"] is None
    # Garmin's run cadence is already steps of both feet: not doubled.
    assert n["average_cadence"] == approx(171.0)
    assert n["max_cadence"] == approx(186.0)
    assert n["elevation_gain"] == approx(48.0)
    assert n["elevation_loss"] == approx(46.0)
    assert n["calories"] == approx(712)
    assert n["is_manual"] is False
    assert n["is_private"] is False
    assert n["device_name"] == "forerunner965"
    assert n["provider_updated_at"] is None
    data = n["activity_data"]
    assert data["cadence_kind"] == "run_steps"
    assert data["calories_basis"] == "active"
    assert data["moving_time_basis"] == "duration"
    assert data["steps"] == 8914
    assert data["summaryId"] == "21873461203"
    assert data["averagePaceInMinutesPerKilometer"] == approx(5.103)
    assert data["startingLatitudeInDegree"] == approx(51.3397)
    assert "userId" not in data


def test_normalize_garmin_directly_equals_dispatcher(db: Conn) -> None:
    payload = webhook_item("webhook_activities_push.json")
    assert normalize(db, payload, via_dispatcher=False) == normalize(db, payload)


def test_backcountry_ski_with_space_and_slash_type(db: Conn) -> None:
    n = normalize(db, pull_page()[0])
    assert n["error"] is None
    assert n["activity_type"] == "backcountry_ski"
    assert n["provider_activity_type"] == "BACKCOUNTRY SKIING/SNOWBOARDING"  # verbatim
    assert n["start_date"] == at(1796112000)
    assert (n["utc_offset"], n["timezone"]) == (3600, None)
    assert (n["elapsed_time"], n["moving_time"]) == (11940, 11940)
    assert n["distance"] == approx(14302.5)
    assert (n["average_speed"], n["max_speed"]) == (approx(1.198), approx(17.8))
    assert (n["elevation_gain"], n["elevation_loss"]) == (approx(1012.0), approx(1009.0))
    assert n["average_cadence"] is None
    assert n["max_cadence"] is None
    assert n["calories"] == approx(1422)
    assert n["device_name"] == "fenix8"


@pytest.mark.parametrize(
    "value",
    [
        "BACKCOUNTRY SKIING/SNOWBOARDING",
        "Backcountry Skiing/Snowboarding",
        "backcountry_skiing_snowboarding_ws",
        "BACKCOUNTRY_SKIING_SNOWBOARDING",
        " backcountry-skiing / snowboarding ",
    ],
)
def test_non_snake_types_are_mapped(db: Conn, value: str) -> None:
    payload = pull_page()[0]
    payload["activityType"] = value
    n = normalize(db, payload)
    assert n["activity_type"] == "backcountry_ski"
    assert n["provider_activity_type"] == value.strip()


def test_road_ride_west_of_utc_with_bike_cadence(db: Conn) -> None:
    n = normalize(db, pull_page()[1])
    assert n["error"] is None
    assert n["activity_type"] == "ride"
    assert n["provider_activity_type"] == "ROAD_BIKING"
    assert n["start_date"] == at(1796146200)
    assert n["utc_offset"] == -25200
    assert n["average_cadence"] == approx(87.0)  # rpm
    assert n["max_cadence"] == approx(121.0)
    assert n["activity_data"]["cadence_kind"] == "bike_rpm"
    assert n["distance"] == approx(72410.9)
    assert n["calories"] == approx(1893)


def test_pool_swim_with_stroke_cadence(db: Conn) -> None:
    n = normalize(db, pull_page()[2])
    assert n["error"] is None
    assert n["activity_type"] == "swim"
    assert n["average_cadence"] == approx(29.0)
    assert n["max_cadence"] is None
    assert n["max_speed"] is None
    assert n["elevation_gain"] is None
    data = n["activity_data"]
    assert data["cadence_kind"] == "swim_strokes"
    assert data["numberOfActiveLengths"] == 90


def test_treadmill_speed_from_pace_and_lower_case_type(db: Conn) -> None:
    (payload,) = pull_page("pull_page_treadmill_pace_only.json")
    n = normalize(db, payload)
    assert n["error"] is None
    assert n["activity_type"] == "treadmill_run"
    assert n["provider_activity_type"] == "treadmill_running"
    assert n["utc_offset"] == 19800  # UTC+5:30
    # 6.0 min/km = 1000 m / 360 s; 4.5 min/km = 1000 m / 270 s
    assert n["average_speed"] == approx(1000 / 360)
    assert n["max_speed"] == approx(1000 / 270)
    assert (n["average_cadence"], n["max_cadence"]) == (approx(166.0), approx(180.0))
    assert n["activity_data"]["steps"] == 4980


def test_manually_updated_strength_session(db: Conn) -> None:
    n = normalize(db, webhook_item("webhook_manually_updated_activities_push.json"))
    assert n["error"] is None
    assert n["external_id"] == "21874002911"
    assert n["activity_type"] == "weight_training"
    assert n["is_manual"] is True
    assert n["is_private"] is False
    assert n["distance"] is None
    assert n["average_speed"] is None
    assert n["elapsed_time"] == 2700
    assert n["calories"] == approx(712)


def test_activity_details_use_the_nested_summary_and_the_activity_id(db: Conn) -> None:
    details = normalize(db, webhook_item("webhook_activity_details_push.json"))
    summary = normalize(db, webhook_item("webhook_activities_push.json"))
    assert details["error"] is None
    # The same activity: the same external id, so details update the summary's row.
    assert details["external_id"] == summary["external_id"] == "21873461203"
    for column in COLUMNS:
        if column not in {"activity_data", "error"}:
            assert details[column] == summary[column], column
    assert details["activity_data"]["has_details"] is True
    assert details["activity_data"]["summaryId"] == "21873461203-detail"


def test_summary_id_when_no_activity_id(db: Conn) -> None:
    payload = webhook_item("webhook_activities_push.json")
    del payload["activityId"]
    payload["summaryId"] = "x-2187"
    assert normalize(db, payload)["external_id"] == "x-2187"


def test_stored_row_local_start(db: Conn) -> None:
    connection_id, _ = make_connection(db, "garmin")
    result = ingest(db, connection_id, pull_page())
    assert (result.created, result.errors) == (3, [])
    rows = db.execute(
        "select external_id, utc_offset, start_date_local, activity_type::text"
        " from public.activities where connection_id = %s order by start_date",
        [connection_id],
    ).fetchall()
    assert rows == [
        ("21902233451", 3600, datetime(2026, 12, 1, 9, 0), "backcountry_ski"),
        ("21903318842", -25200, datetime(2026, 12, 1, 10, 30), "ride"),
        ("21904450017", 3600, datetime(2026, 12, 2, 7, 0), "swim"),
    ]


# --- vocabulary ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("RUNNING", "run"),
        ("TRAIL_RUNNING", "trail_run"),
        ("TRACK_RUNNING", "track_run"),
        ("INDOOR_RUNNING", "treadmill_run"),
        ("VIRTUAL_RUN", "virtual_run"),
        ("MOUNTAIN_BIKING", "mountain_bike_ride"),
        ("GRAVEL_CYCLING", "gravel_ride"),
        ("INDOOR_CYCLING", "indoor_ride"),
        ("VIRTUAL_RIDE", "virtual_ride"),
        ("E_BIKE_FITNESS", "e_bike_ride"),
        ("E_BIKE_MOUNTAIN", "e_mountain_bike_ride"),
        ("OPEN_WATER_SWIMMING", "open_water_swim"),
        ("INDOOR_ROWING", "virtual_row"),
        ("STRENGTH_TRAINING", "weight_training"),
        ("RESORT_SKIING_SNOWBOARDING_WS", "alpine_ski"),
        ("CROSS_COUNTRY_SKIING_WS", "nordic_ski"),
        ("SKATE_SKIING_WS", "nordic_ski"),
        ("SNOW_SHOE_WS", "snowshoe"),
        ("STAND_UP_PADDLEBOARDING_V2", "stand_up_paddling"),
        ("PADDELBALL", "padel"),
        ("MULTI_SPORT", "multisport"),
        ("WHEELCHAIR_PUSH_RUN", "wheelchair"),
        ("multi_sport", "multisport"),
        ("DIVING", "other"),
        ("SOMETHING_GARMIN_ADDS_NEXT_YEAR", "other"),
    ],
)
def test_vocabulary(db: Conn, value: str, expected: str) -> None:
    payload = webhook_item("webhook_activities_push.json")
    payload["activityType"] = value
    n = normalize(db, payload)
    assert (n["activity_type"], n["provider_activity_type"]) == (expected, value)


def test_vocabulary_is_broad(db: Conn) -> None:
    row = db.execute(
        "select count(*), count(*) filter (where activity_type <> 'other')"
        " from public.activity_type_mappings where provider = 'garmin'"
    ).fetchone()
    assert row is not None
    total, mapped = row
    assert total >= 190
    assert mapped >= 120


# --- cadence, power, flags -----------------------------------------------------------------------


def test_wheelchair_push_cadence(db: Conn) -> None:
    payload = webhook_item("webhook_activities_push.json")
    for key in ("averageRunCadenceInStepsPerMinute", "maxRunCadenceInStepsPerMinute"):
        del payload[key]
    payload.update(
        activityType="WHEELCHAIR_PUSH_RUN",
        averagePushCadenceInPushesPerMinute=62.0,
        maxPushCadenceInPushesPerMinute=80.0,
    )
    n = normalize(db, payload)
    assert (n["average_cadence"], n["max_cadence"]) == (approx(62.0), approx(80.0))
    assert n["activity_data"]["cadence_kind"] == "wheelchair_pushes"


def test_power_and_moving_duration_when_present(db: Conn) -> None:
    payload = pull_page()[1]
    payload.update(
        averagePowerInWatts=201.0,
        maxPowerInWatts=812.0,
        normalizedPowerInWatts=219.0,
        movingDurationInSeconds=8700,
    )
    n = normalize(db, payload)
    assert (n["average_watts"], n["max_watts"], n["weighted_average_watts"]) == (
        approx(201.0),
        approx(812.0),
        approx(219.0),
    )
    assert (n["elapsed_time"], n["moving_time"]) == (9015, 8700)
    assert "moving_time_basis" not in n["activity_data"]


def test_manual_flag_only_from_json_true(db: Conn) -> None:
    payload = webhook_item("webhook_activities_push.json")
    for value, expected in ((True, True), (False, False), ("true", False), (None, False)):
        payload["manual"] = value
        assert normalize(db, payload)["is_manual"] is expected
    del payload["manual"]
    assert normalize(db, payload)["is_manual"] is False


# --- malformed items: reported, never raised -----------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "not a JSON object"),
        (None, "not a JSON object"),
        ({"startTimeInSeconds": 1795672800}, "activityId"),
        ({"activityId": {"a": 1}, "startTimeInSeconds": 1795672800}, "activityId"),
        ({"activityId": 1}, "startTimeInSeconds"),
        ({"activityId": 1, "startTimeInSeconds": "soon"}, "startTimeInSeconds"),
        ({"activityId": 1, "startTimeInSeconds": 10**40}, "startTimeInSeconds"),
        ({"summary": {"activityName": "no ids"}}, "activityId"),
    ],
)
def test_malformed_items_are_reported(db: Conn, payload: Any, reason: str) -> None:
    n = normalize(db, payload)
    assert n["error"] is not None
    assert reason in n["error"]


WEIRD_VALUES: list[Any] = [None, "abc", "", -5, 10**400, {"a": 1}, [1], True, "NaN", 1e-320]
NUMERIC_FIELDS = (
    "startTimeOffsetInSeconds", "durationInSeconds", "distanceInMeters",
    "averageSpeedInMetersPerSecond", "maxSpeedInMetersPerSecond",
    "averagePaceInMinutesPerKilometer", "averageHeartRateInBeatsPerMinute",
    "maxHeartRateInBeatsPerMinute", "averageRunCadenceInStepsPerMinute",
    "maxRunCadenceInStepsPerMinute", "activeKilocalories", "totalElevationGainInMeters",
    "totalElevationLossInMeters",
)  # fmt: skip


@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_weird_numbers_become_unknown_not_errors(db: Conn, field: str) -> None:
    base = webhook_item("webhook_activities_push.json")
    for value in WEIRD_VALUES:
        payload = copy.deepcopy(base)
        payload[field] = value
        n = normalize(db, payload, via_dispatcher=False)
        assert n["error"] is None, (field, value, n["error"])
        assert n["external_id"] == "21873461203"


def test_weird_texts(db: Conn) -> None:
    payload = webhook_item("webhook_activities_push.json")
    payload.update(activityName="n" * 700, activityType={"x": 1}, deviceName=42)
    n = normalize(db, payload)
    assert n["error"] is None
    assert len(n["name"]) == 500
    assert n["activity_type"] == "other"
    assert n["device_name"] == "42"


# --- privileges ----------------------------------------------------------------------------------


def test_only_service_role_may_normalise(db: Conn) -> None:
    payload = webhook_item("webhook_activities_push.json")
    with db.transaction():
        act_as_service(db)
        row = db.execute("select (private.normalize_garmin(%s)).external_id", [Jsonb(payload)])
        assert row.fetchone() == ("21873461203",)
        reset_role(db)
    user = create_auth_user(db, "garmin-normalise@example.com")
    with db.transaction(force_rollback=True):
        act_as_user(db, user)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select private.normalize_garmin(%s)", [Jsonb(payload)])
