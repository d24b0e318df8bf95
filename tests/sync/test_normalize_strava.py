"""private.normalize_strava on real Postgres: every column of private.normalized_activity from
Strava API v3 activities in their real shapes (SummaryActivity pages, DetailedActivity), with
Strava's traps: start_date_local's false Z, "(GMT-08:00) America/Los_Angeles" zone strings,
single-leg run cadence, estimated power (device_watts false), legacy-only ``type``, manual and
private/visibility flags."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_service, act_as_user, create_auth_user, reset_role
from tests.sync.ingest_support import ingest, make_connection
from tests.sync.normalize_support import approx, normalizer, provider_json

Conn = psycopg.Connection[Any]

#: Every SportType of the Strava API (stravalib 2.5.0; shared/docs/providers.md §2).
SPORT_TYPES = (
    "AlpineSki", "BackcountrySki", "Badminton", "Basketball", "Canoeing", "Cricket", "Crossfit",
    "Dance", "EBikeRide", "Elliptical", "EMountainBikeRide", "Golf", "GravelRide", "Handcycle",
    "HighIntensityIntervalTraining", "Hike", "IceSkate", "InlineSkate", "Kayaking", "Kitesurf",
    "MountainBikeRide", "NordicSki", "Padel", "PhysicalTherapy", "Pickleball", "Pilates",
    "Racquetball", "Ride", "RockClimbing", "RollerSki", "Rowing", "Run", "Sail", "Skateboard",
    "Snowboard", "Snowshoe", "Soccer", "Squash", "StairStepper", "StandUpPaddling", "Surfing",
    "Swim", "TableTennis", "Tennis", "TrailRun", "Velomobile", "VirtualRide", "VirtualRow",
    "VirtualRun", "Volleyball", "Walk", "WeightTraining", "Wheelchair", "Windsurf", "Workout",
    "Yoga",
)  # fmt: skip
#: The sport types that do not exist as the legacy ``type``.
SPORT_TYPE_ONLY = {
    "Badminton", "Basketball", "Cricket", "Dance", "EMountainBikeRide", "GravelRide",
    "HighIntensityIntervalTraining", "MountainBikeRide", "Padel", "PhysicalTherapy",
    "Pickleball", "Pilates", "Racquetball", "Squash", "TableTennis", "Tennis", "TrailRun",
    "VirtualRow", "Volleyball",
}  # fmt: skip
LEGACY_TYPES = tuple(t for t in SPORT_TYPES if t not in SPORT_TYPE_ONLY)


def fixture(name: str) -> Any:
    return provider_json("strava", f"activities/{name}")


normalize = normalizer("strava")


# --- every column, real shapes -----------------------------------------------------------------


def test_detailed_run_every_column(db: Conn) -> None:
    n = normalize(db, fixture("detail_run.json"))
    assert n["error"] is None
    assert n["external_id"] == "16327730912"
    assert n["name"] == "Morning tempo along the Elster"
    assert n["description"] == "3 x 2 km at threshold, easy back."  # detail only
    assert n["activity_type"] == "run"
    assert n["provider_activity_type"] == "Run"
    # start_date is the UTC instant; start_date_local (09:02:11 with a false Z) is not.
    assert n["start_date"] == datetime(2026, 11, 14, 8, 2, 11, tzinfo=UTC)
    assert n["timezone"] == "Europe/Berlin"
    assert n["utc_offset"] == 3600
    assert n["elapsed_time"] == 3702
    assert n["moving_time"] == 3471
    assert n["distance"] == approx(12408.3)
    assert n["average_speed"] == approx(3.575)
    assert n["max_speed"] == approx(5.112)
    assert n["average_heartrate"] == approx(151.3)
    assert n["max_heartrate"] == approx(176.0)
    assert n["average_watts"] is None
    assert n["max_watts"] is None
    assert n["weighted_average_watts"] is None
    # Strava's run cadence counts one leg: 86.4 strides/min = 172.8 steps/min.
    assert n["average_cadence"] == approx(172.8)
    assert n["max_cadence"] is None
    assert n["elevation_gain"] == approx(41.2)
    assert n["elevation_loss"] is None
    assert n["calories"] == approx(871.0)
    assert n["is_manual"] is False
    assert n["is_private"] is False
    assert n["device_name"] == "Garmin Forerunner 965"
    assert n["provider_updated_at"] is None
    data = n["activity_data"]
    assert data["external_id"] == "garmin_ping_417293842211"  # upload origin, for de-duplication
    assert data["upload_id"] == "17403361877"
    assert data["cadence_doubled"] is True
    assert data["average_cadence_raw"] == approx(86.4)
    assert data["workout_type"] == 3
    assert data["visibility"] == "everyone"
    assert data["resource_state"] == 3
    assert data["timezone_raw"] == "(GMT+01:00) Europe/Berlin"
    assert data["start_latlng"] == [51.3397, 12.3731]
    assert "power_estimated" not in data
    assert "segment_efforts" not in data
    assert "map" not in data


def test_normalize_strava_directly_equals_dispatcher(db: Conn) -> None:
    payload = fixture("detail_run.json")
    assert normalize(db, payload, via_dispatcher=False) == normalize(db, payload)


def test_mountain_bike_ride_in_los_angeles_with_estimated_power(db: Conn) -> None:
    n = normalize(db, fixture("summary_page.json")[0])
    assert n["error"] is None
    assert n["external_id"] == "16201112233"
    assert n["activity_type"] == "mountain_bike_ride"  # sport_type wins over type "Ride"
    assert n["provider_activity_type"] == "MountainBikeRide"
    assert n["start_date"] == datetime(2026, 11, 9, 17, 12, 40, tzinfo=UTC)
    assert n["timezone"] == "America/Los_Angeles"
    assert n["utc_offset"] == -28800
    assert n["description"] is None
    assert n["calories"] is None
    assert n["average_cadence"] == approx(71.8)  # rides: rpm, not doubled
    assert n["average_watts"] == approx(182.4)
    assert n["max_watts"] is None
    assert n["elevation_gain"] == approx(1104.0)
    assert n["is_private"] is False  # followers_only is not private
    assert n["device_name"] is None
    data = n["activity_data"]
    assert data["device_watts"] is False
    assert data["power_estimated"] is True
    assert data["kilojoules"] == approx(1335.5)
    assert data["visibility"] == "followers_only"
    assert data["sport_type"] == "MountainBikeRide"
    assert data["type"] == "Ride"
    assert "cadence_doubled" not in data


def test_virtual_ride_with_measured_power(db: Conn) -> None:
    n = normalize(db, fixture("summary_page.json")[1])
    assert n["error"] is None
    assert n["activity_type"] == "virtual_ride"  # trainer, but already a virtual ride
    assert n["average_watts"] == approx(211.6)
    assert n["max_watts"] == approx(604)
    assert n["weighted_average_watts"] == approx(224)
    assert n["average_heartrate"] is None
    assert n["max_heartrate"] is None
    assert n["average_cadence"] == approx(88.1)
    data = n["activity_data"]
    assert data["device_watts"] is True
    assert "power_estimated" not in data
    assert data["trainer"] is True
    assert "start_latlng" not in data  # [] is no position


def test_private_treadmill_run(db: Conn) -> None:
    n = normalize(db, fixture("summary_page.json")[2])
    assert n["error"] is None
    assert n["activity_type"] == "treadmill_run"  # Run on a trainer
    assert n["provider_activity_type"] == "Run"
    assert n["is_private"] is True
    assert n["average_cadence"] == approx(176.0)
    assert n["activity_data"]["visibility"] == "only_me"


def test_visibility_only_me_alone_makes_private(db: Conn) -> None:
    payload = fixture("summary_page.json")[0]
    payload["private"] = False
    payload["visibility"] = "only_me"
    assert normalize(db, payload)["is_private"] is True
    del payload["visibility"]
    payload["private"] = True
    assert normalize(db, payload)["is_private"] is True


def test_manual_legacy_hike_without_sport_type_or_offset(db: Conn) -> None:
    n = normalize(db, fixture("manual_hike_legacy.json"))
    assert n["error"] is None
    assert n["external_id"] == "1284731901"
    assert n["activity_type"] == "hike"  # from the legacy type
    assert n["provider_activity_type"] == "Hike"
    assert n["is_manual"] is True
    assert n["is_private"] is False  # visibility null
    assert n["start_date"] == datetime(2017, 10, 29, 13, 30, tzinfo=UTC)
    # No utc_offset: derived from the wall clock in start_date_local (14:30, false Z).
    assert n["utc_offset"] == 3600
    assert n["timezone"] == "Europe/Berlin"
    assert n["max_speed"] == 0.0
    assert n["elevation_gain"] == 0.0
    assert n["calories"] == 0.0
    assert n["average_cadence"] is None
    assert n["device_name"] is None
    assert n["description"] is None


def test_stored_row_has_local_start_from_offset(db: Conn) -> None:
    """Through the ingest: start_date_local (generated) is the wall clock Strava showed."""
    connection_id, _ = make_connection(db, "strava")
    result = ingest(db, connection_id, [fixture("summary_page.json")[0]])
    assert result.created == 1
    assert result.errors == []
    row = db.execute(
        "select start_date, utc_offset, timezone, start_date_local, provider_activity_type,"
        " activity_type::text, is_private from public.activities where connection_id = %s",
        [connection_id],
    ).fetchone()
    assert row is not None
    assert row[0] == datetime(2026, 11, 9, 17, 12, 40, tzinfo=UTC)
    assert row[1:3] == (-28800, "America/Los_Angeles")
    assert row[3] == datetime(2026, 11, 9, 9, 12, 40)  # 09:12:40 local, as in start_date_local
    assert row[4:] == ("MountainBikeRide", "mountain_bike_ride", False)


# --- time zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        ("(GMT-08:00) America/Los_Angeles", "America/Los_Angeles"),
        ("(GMT+05:30) Asia/Kolkata", "Asia/Kolkata"),
        ("(GMT-03:00) America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("(GMT+00:00) Etc/UTC", "Etc/UTC"),
        ("(GMT+00:00) UTC", "UTC"),
        ("Europe/Paris", "Europe/Paris"),
        ("(GMT+01:00) ; drop table x", None),
        ("(GMT+01:00)", None),
        ("", None),
        (None, None),
    ],
)
def test_timezone_strings(db: Conn, timezone: str | None, expected: str | None) -> None:
    payload = fixture("detail_run.json")
    payload["timezone"] = timezone
    n = normalize(db, payload)
    assert n["error"] is None
    assert n["timezone"] == expected
    assert n["utc_offset"] == 3600  # from utc_offset, whatever the zone string


def test_offset_derived_from_false_z_when_utc_offset_is_unusable(db: Conn) -> None:
    payload = fixture("summary_page.json")[0]  # 17:12:40Z, local 09:12:40 "Z"
    for bad in (None, "abc", 999999, {"s": 1}):
        payload["utc_offset"] = bad
        assert normalize(db, payload)["utc_offset"] == -28800
    del payload["utc_offset"]
    payload["start_date_local"] = "garbage"
    assert normalize(db, payload)["utc_offset"] == 0  # nothing to go on: UTC


def test_start_date_from_local_and_offset_when_start_date_missing(db: Conn) -> None:
    payload = fixture("summary_page.json")[0]
    del payload["start_date"]
    n = normalize(db, payload)
    assert n["error"] is None
    assert n["start_date"] == datetime(2026, 11, 9, 17, 12, 40, tzinfo=UTC)


def test_fractional_start_and_half_hour_offset(db: Conn) -> None:
    payload = fixture("detail_run.json")
    payload.update(
        start_date="2026-11-14T03:32:11.5Z",
        start_date_local="2026-11-14T09:02:11.5Z",
        timezone="(GMT+05:30) Asia/Kolkata",
        utc_offset=19800,
    )
    n = normalize(db, payload)
    assert n["start_date"] == datetime(2026, 11, 14, 3, 32, 11, 500000, tzinfo=UTC)
    assert (n["utc_offset"], n["timezone"]) == (19800, "Asia/Kolkata")


# --- cadence and types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sport_type", "doubled"),
    [
        ("Run", True),
        ("TrailRun", True),
        ("VirtualRun", True),
        ("Walk", True),
        ("Hike", True),
        ("Ride", False),
        ("GravelRide", False),
        ("Rowing", False),
        ("Swim", False),
    ],
)
def test_foot_sport_cadence_is_doubled(db: Conn, sport_type: str, doubled: bool) -> None:
    payload = fixture("detail_run.json")
    payload.update(sport_type=sport_type, type=sport_type, average_cadence=80.5)
    n = normalize(db, payload)
    assert n["average_cadence"] == approx(161.0 if doubled else 80.5)


@pytest.mark.parametrize("sport_type", SPORT_TYPES)
def test_every_sport_type_is_mapped(db: Conn, sport_type: str) -> None:
    payload = fixture("detail_run.json")
    payload.update(sport_type=sport_type, type="Workout", trainer=False)
    n = normalize(db, payload)
    assert n["provider_activity_type"] == sport_type
    expected = "workout" if sport_type == "Workout" else None
    assert n["activity_type"] != "other"
    if expected:
        assert n["activity_type"] == expected


def test_vocabulary_rows(db: Conn) -> None:
    rows = dict(
        db.execute(
            "select provider_value, activity_type::text from public.activity_type_mappings"
            " where provider = 'strava'"
        ).fetchall()
    )
    assert set(SPORT_TYPES) <= set(rows)
    assert len(SPORT_TYPES) == 56
    assert len(LEGACY_TYPES) == 37
    assert "other" not in {rows[t] for t in SPORT_TYPES}
    assert rows["HighIntensityIntervalTraining"] == "hiit"
    assert rows["VirtualRow"] == "virtual_row"
    assert rows["EMountainBikeRide"] == "e_mountain_bike_ride"


@pytest.mark.parametrize("legacy", LEGACY_TYPES)
def test_every_legacy_type_is_mapped_without_sport_type(db: Conn, legacy: str) -> None:
    payload = fixture("manual_hike_legacy.json")
    payload["type"] = legacy
    n = normalize(db, payload)
    assert n["provider_activity_type"] == legacy
    assert n["activity_type"] != "other"


def test_unknown_sport_type_falls_back_to_legacy_type_then_other(db: Conn) -> None:
    payload = fixture("summary_page.json")[0]
    payload["sport_type"] = "Paragliding"  # not (yet) in the vocabulary
    n = normalize(db, payload)
    assert n["activity_type"] == "ride"  # the legacy type "Ride" still says what it is
    assert n["provider_activity_type"] == "Paragliding"  # the raw value is kept
    payload["type"] = "Paragliding"
    n = normalize(db, payload)
    assert (n["activity_type"], n["provider_activity_type"]) == ("other", "Paragliding")


def test_case_insensitive_type(db: Conn) -> None:
    payload = fixture("summary_page.json")[0]
    payload["sport_type"] = "mountainbikeride"
    assert normalize(db, payload)["activity_type"] == "mountain_bike_ride"


# --- malformed items: reported, never raised -----------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ("a string", "not a JSON object"),
        ({}, "id"),
        ({"id": None, "start_date": "2026-11-14T08:02:11Z"}, "id"),
        ({"id": {"x": 1}, "start_date": "2026-11-14T08:02:11Z"}, "id"),
        ({"id": "12a", "start_date": "2026-11-14T08:02:11Z"}, "id"),
        ({"id": 1}, "start"),
        ({"id": 1, "start_date": "yesterday"}, "start"),
        ({"id": 1, "start_date": "2026-13-45T08:02:11Z"}, "start"),
    ],
)
def test_malformed_items_are_reported(db: Conn, payload: Any, reason: str) -> None:
    n = normalize(db, payload)
    assert n["error"] is not None
    assert reason in n["error"]
    direct = normalize(db, payload, via_dispatcher=False)
    assert direct["error"] is not None


WEIRD_VALUES: list[Any] = [
    None,
    "abc",
    "",
    -5,
    -1e9,
    10**400,
    10**30,
    1e-320,
    {"a": 1},
    [1],
    True,
    "NaN",
]
NUMERIC_FIELDS = (
    "distance", "moving_time", "elapsed_time", "total_elevation_gain", "average_speed",
    "max_speed", "average_cadence", "average_watts", "max_watts", "weighted_average_watts",
    "average_heartrate", "max_heartrate", "calories", "utc_offset",
)  # fmt: skip


@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_weird_numbers_become_unknown_not_errors(db: Conn, field: str) -> None:
    base = fixture("detail_run.json")
    for value in WEIRD_VALUES:
        payload = copy.deepcopy(base)
        payload[field] = value
        n = normalize(db, payload, via_dispatcher=False)
        assert n["error"] is None, (field, value, n["error"])
        assert n["external_id"] == "16327730912"
    payload = copy.deepcopy(base)
    payload[field] = "42.5"  # numeric strings are still numbers
    assert normalize(db, payload)["error"] is None


def test_weird_flags_and_texts(db: Conn) -> None:
    payload = fixture("detail_run.json")
    payload.update(
        manual="yes", private="true", visibility=7, trainer="1", device_watts="false",
        name="x" * 600, description="y" * 25000, sport_type={"x": 1}, type=None,
        start_latlng=["a"], timezone=12,
    )  # fmt: skip
    n = normalize(db, payload)
    assert n["error"] is None
    assert n["is_manual"] is False
    assert n["is_private"] is False
    assert len(n["name"]) == 500
    assert len(n["description"]) == 20000
    assert n["activity_type"] == "other"
    assert n["timezone"] is None


# --- privileges ----------------------------------------------------------------------------------


def test_only_service_role_may_normalise(db: Conn) -> None:
    payload = fixture("detail_run.json")
    with db.transaction():
        act_as_service(db)
        row = db.execute("select (private.normalize_strava(%s)).external_id", [Jsonb(payload)])
        assert row.fetchone() == ("16327730912",)
        reset_role(db)
    user = create_auth_user(db, "strava-normalise@example.com")
    with db.transaction(force_rollback=True):
        act_as_user(db, user)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select private.normalize_strava(%s)", [Jsonb(payload)])
