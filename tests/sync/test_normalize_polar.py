"""private.normalize_polar on real Postgres: every column of private.normalized_activity for
exercises in AccessLink's real shapes (current snake_case list items, the deprecated kebab-case
transactional exercise), the time-zone arithmetic (local start_time minus an offset in minutes),
ISO 8601 durations, derived speed, the sport mapping with its fallbacks, and malformed items
that come back with an error instead of raising. Fixtures: tests/fixtures/providers/polar/
activities (written for this project in Polar's shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hypothesis_profiles import examples
from tests.sync.ingest_support import ingest, make_connection
from tests.sync.normalize_support import normalizer, provider_json, utc

Conn = psycopg.Connection[Any]


def fixture(name: str) -> Any:
    return provider_json("polar", f"activities/{name}")


normalize = normalizer("polar", via_dispatcher=False)


NO_METRICS = {
    "max_speed": None,
    "average_watts": None,
    "max_watts": None,
    "weighted_average_watts": None,
    "average_cadence": None,
    "max_cadence": None,
    "elevation_gain": None,
    "elevation_loss": None,
}


def test_road_run_every_column(db: Conn) -> None:
    item = fixture("exercises.json")[0]
    got = normalize(db, item)
    assert got == {
        "external_id": "Yb2Kq8NL",
        "name": "Road running",
        "description": None,
        "activity_type": "run",
        "provider_activity_type": "ROAD_RUNNING",
        # 07:14:03 local at UTC+120 min is 05:14:03 UTC.
        "start_date": utc("2026-11-20T05:14:03"),
        "timezone": None,
        "utc_offset": 7200,
        "elapsed_time": 3151,  # PT52M31.4S
        "moving_time": None,
        "distance": 10234.5,
        "average_speed": pytest.approx(10234.5 / 3151.4),
        **NO_METRICS,
        "average_heartrate": 151.0,
        "max_heartrate": 176.0,
        "calories": 612.0,
        "is_manual": False,
        "is_private": False,
        "device_name": "Polar Vantage V3",
        "activity_data": {
            "api_flavour": "snake_case",
            "sport": "RUNNING",
            "detailed_sport_info": "ROAD_RUNNING",
            "duration": "PT52M31.4S",
            "start_time_local": "2026-11-20T07:14:03",
            "device_id": "B2F41C07",
            "upload_time": "2026-11-20T06:12:44.000Z",
            "has_route": True,
            "training_load": 121.6,
            "training_load_pro": item["training_load_pro"],
            "running_index": 54,
            "fat_percentage": 34,
            "carbohydrate_percentage": 63,
            "protein_percentage": 3,
        },
        "provider_updated_at": utc("2026-11-20T06:12:44"),
        "error": None,
    }


def test_negative_offset_crosses_midnight_and_other_sport_keeps_raw_value(db: Conn) -> None:
    got = normalize(db, fixture("exercises.json")[1])
    assert got == {
        "external_id": "Qm7vR3xa",
        "name": "Watersports waterski",
        "description": None,
        # Water skiing has no canonical type: the documented fallback, raw value kept.
        "activity_type": "other",
        "provider_activity_type": "WATERSPORTS_WATERSKI",
        # 23:40 local on the 22nd at UTC-300 min is 04:40 UTC on the 23rd.
        "start_date": utc("2026-11-23T04:40:00"),
        "timezone": None,
        "utc_offset": -18000,
        "elapsed_time": 3900,  # PT1H5M
        "moving_time": None,
        "distance": None,
        "average_speed": None,
        **NO_METRICS,
        "average_heartrate": None,
        "max_heartrate": None,
        "calories": 388.0,
        "is_manual": False,
        "is_private": False,
        "device_name": "Polar Grit X2 Pro",
        "activity_data": {
            "api_flavour": "snake_case",
            "sport": "OTHER",
            "detailed_sport_info": "WATERSPORTS_WATERSKI",
            "duration": "PT1H5M",
            "start_time_local": "2026-11-22T23:40:00",
            "device_id": "C9A0D512",
            "upload_time": "2026-11-23T05:31:09.000Z",
            "has_route": False,
        },
        "provider_updated_at": utc("2026-11-23T05:31:09"),
        "error": None,
    }


def test_indoor_ride_with_club_fractional_seconds_and_no_distance(db: Conn) -> None:
    got = normalize(db, fixture("exercises.json")[2])
    assert got["activity_type"] == "indoor_ride"
    assert got["provider_activity_type"] == "INDOOR_CYCLING"
    assert got["name"] == "Indoor cycling"
    assert got["start_date"] == utc("2026-11-24T17:02:10")  # "18:02:10.000" at UTC+60 min
    assert got["utc_offset"] == 3600
    assert got["elapsed_time"] == 2701  # PT45M0.6S rounds up
    assert got["distance"] is None
    assert got["average_speed"] is None
    assert (got["average_heartrate"], got["max_heartrate"]) == (139.0, 168.0)
    assert got["calories"] == 471.0
    assert got["device_name"] == "Polar Verity Sense"
    assert got["activity_data"]["club_id"] == 1184
    assert got["activity_data"]["club_name"] == "Pyöräklubi Kallio"
    assert got["error"] is None


def test_deprecated_kebab_case_exercise_every_column(db: Conn) -> None:
    got = normalize(db, fixture("exercise_transactional.json"))
    assert got == {
        "external_id": "1937529874",  # an integer in the transactional API
        "name": "Nordic walking",
        "description": None,
        "activity_type": "walk",
        "provider_activity_type": "NORDIC_WALKING",
        # 16:05:12 local at UTC+330 min (India) is 10:35:12 UTC.
        "start_date": utc("2026-11-18T10:35:12"),
        "timezone": None,
        "utc_offset": 19800,
        "elapsed_time": 2685,  # PT44M45S
        "moving_time": None,
        "distance": pytest.approx(6120.7),
        "average_speed": pytest.approx(6120.7 / 2685),
        **NO_METRICS,
        "average_heartrate": 128.0,
        "max_heartrate": 149.0,
        "calories": 402.0,
        "is_manual": False,
        "is_private": False,
        "device_name": "Polar M430",
        "activity_data": {
            "api_flavour": "kebab-case",
            "sport": "OTHER",
            "detailed_sport_info": "NORDIC_WALKING",
            "duration": "PT44M45S",
            "start_time_local": "2026-11-18T16:05:12",
            "device_id": "1111AAAA",
            "upload_time": "2026-11-18T17:02:41.000Z",
            "has_route": True,
            "training_load": 58.3,
            "transaction_id": 179879,
        },
        "provider_updated_at": utc("2026-11-18T17:02:41"),
        "error": None,
    }


def test_the_dispatcher_gives_the_same_row(db: Conn) -> None:
    item = fixture("exercise_detail.json")
    direct = normalize(db, item)
    assert normalize(db, item, via_dispatcher=True) == direct
    assert direct["activity_type"] == "trail_run"


@pytest.mark.parametrize(
    ("sport", "detailed", "expected_type", "expected_raw"),
    [
        ("RUNNING", None, "run", "RUNNING"),  # coarse sport only
        ("CYCLING", "SOME_FUTURE_SPORT", "ride", "SOME_FUTURE_SPORT"),  # unknown detail
        ("OTHER", "TRAIL_RUNNING", "trail_run", "TRAIL_RUNNING"),  # detail wins
        ("OTHER", "road_biking", "ride", "road_biking"),  # case-insensitive
        ("KITEBOARDING_ON_MARS", None, "other", "KITEBOARDING_ON_MARS"),  # fallback
        (None, "GRAVEL", "gravel_ride", "GRAVEL"),
        (None, "CROSS-COUNTRY_SKIING", "nordic_ski", "CROSS-COUNTRY_SKIING"),
    ],
)
def test_sport_mapping_prefers_the_detailed_sport_then_the_coarse_one(
    db: Conn, sport: str | None, detailed: str | None, expected_type: str, expected_raw: str
) -> None:
    item = {"id": "S1", "start_time": "2026-11-01T10:00:00", "start_time_utc_offset": 0}
    if sport is not None:
        item["sport"] = sport
    if detailed is not None:
        item["detailed_sport_info"] = detailed
    got = normalize(db, item)
    assert (got["activity_type"], got["provider_activity_type"]) == (expected_type, expected_raw)


def test_without_a_sport_the_name_is_generic(db: Conn) -> None:
    got = normalize(db, {"id": "N1", "start_time": "2026-11-01T10:00:00"})
    assert (got["name"], got["activity_type"], got["provider_activity_type"]) == (
        "Polar exercise",
        "other",
        None,
    )


def test_a_missing_offset_reads_the_start_as_utc_and_says_so(db: Conn) -> None:
    got = normalize(db, {"id": "T1", "start_time": "2026-11-01T10:00:00", "sport": "RUNNING"})
    assert got["start_date"] == utc("2026-11-01T10:00:00")
    assert got["utc_offset"] == 0
    assert got["activity_data"]["start_time_utc_offset_missing"] is True


def test_a_start_with_an_explicit_zone_is_taken_as_an_instant(db: Conn) -> None:
    got = normalize(
        db, {"id": "T2", "start_time": "2026-11-01T10:00:00Z", "start_time_utc_offset": 120}
    )
    assert got["start_date"] == utc("2026-11-01T10:00:00")
    assert got["utc_offset"] == 7200


def test_garbage_metrics_become_unknown_without_losing_the_exercise(db: Conn) -> None:
    got = normalize(
        db,
        {
            "id": "G1",
            "start_time": "2026-11-01T10:00:00",
            "start_time_utc_offset": "60",
            "duration": "two hours",
            "distance": -5,
            "calories": "lots",
            "heart_rate": {"average": 900, "maximum": "high"},
            "device": "   ",
        },
    )
    assert got["error"] is None
    assert got["utc_offset"] == 3600
    assert got["start_date"] == utc("2026-11-01T09:00:00")
    for column in (
        "elapsed_time",
        "distance",
        "average_speed",
        "calories",
        "average_heartrate",
        "max_heartrate",
        "device_name",
    ):
        assert got[column] is None, column


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (["not", "an", "object"], "not a JSON object"),
        ("a string", "not a JSON object"),
        ({"start_time": "2026-11-01T10:00:00"}, "without an id"),
        ({"id": "  ", "start_time": "2026-11-01T10:00:00"}, "without an id"),
        ({"id": {"nested": 1}, "start_time": "2026-11-01T10:00:00"}, "without an id"),
        ({"id": "X1"}, "without a valid start_time"),
        ({"id": "X1", "start_time": "yesterday"}, "without a valid start_time"),
        ({"id": "X1", "start_time": "2026-02-30T10:00:00"}, "without a valid start_time"),
        (
            {"id": "X1", "start_time": "2026-11-01T10:00:00", "start_time_utc_offset": 5000},
            "out-of-range start_time_utc_offset",
        ),
    ],
)
def test_malformed_exercises_come_back_with_a_reason(db: Conn, payload: Any, reason: str) -> None:
    got = normalize(db, payload)
    assert got["error"] is not None
    assert reason in got["error"]


def test_every_polar_mapping_value_is_spelled_as_polar_sends_it(db: Conn) -> None:
    rows = db.execute(
        "select provider_value, activity_type::text from public.activity_type_mappings"
        " where provider = 'polar'"
    ).fetchall()
    values = {value for value, _ in rows}
    assert len(rows) >= 150
    assert all(value == value.upper() and value.strip() == value for value in values)
    # A sample of the vocabulary and its meaning.
    mapping = dict(rows)
    assert mapping["ROAD_RUNNING"] == "run"
    assert mapping["TREADMILL_RUNNING"] == "treadmill_run"
    assert mapping["MOUNTAIN_BIKING"] == "mountain_bike_ride"
    assert mapping["OPEN_WATER_SWIMMING"] == "open_water_swim"
    assert mapping["INDOOR_ROWING"] == "virtual_row"
    assert mapping["XC_SKIING_CLASSIC"] == "nordic_ski"
    assert mapping["LES_MILLS_BODYPUMP"] == "weight_training"


def test_ingesting_a_polar_page_stores_utc_start_and_local_wall_clock(db: Conn) -> None:
    connection_id, _ = make_connection(db, "polar")
    items = [*fixture("exercises.json"), fixture("exercise_transactional.json")]
    first = ingest(db, connection_id, items)
    assert (first.created, first.updated, first.errors) == (4, 0, [])
    rows = db.execute(
        "select external_id, provider, activity_type::text, start_date, utc_offset,"
        " start_date_local, elapsed_time, distance, calories, is_manual"
        " from public.activities where connection_id = %s order by external_id",
        [connection_id],
    ).fetchall()
    by_id = {row[0]: row for row in rows}
    run = by_id["Yb2Kq8NL"]
    assert run[1:] == (
        "polar",
        "run",
        utc("2026-11-20T05:14:03"),
        7200,
        datetime(2026, 11, 20, 7, 14, 3),  # the athlete's wall clock, as Polar said
        3151,
        10234.5,
        612.0,
        False,
    )
    assert by_id["Qm7vR3xa"][5] == datetime(2026, 11, 22, 23, 40)
    assert by_id["1937529874"][5] == datetime(2026, 11, 18, 16, 5, 12)
    # Polar exercises do not change: a second delivery of the same page changes nothing.
    again = ingest(db, connection_id, items)
    assert (again.created, again.updated, again.skipped) == (0, 0, 4)


# jsonb cannot hold U+0000 (Postgres refuses it before any function runs).
TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
    | st.sampled_from(["PT1H", "PT1.5S", "P1DT2H", "2026-11-01T10:00:00", "RUNNING", "-300"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
POLAR_KEYS = [
    "id", "upload_time", "upload-time", "device", "start_time", "start-time",
    "start_time_utc_offset", "start-time-utc-offset", "duration", "calories", "distance",
    "heart_rate", "heart-rate", "sport", "detailed_sport_info", "detailed-sport-info",
    "club_id", "training_load",
]  # fmt: skip


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.dictionaries(st.sampled_from(POLAR_KEYS), JSON_VALUES, max_size=len(POLAR_KEYS)))
def test_normalize_polar_itself_never_raises(db: Conn, payload: dict[str, Any]) -> None:
    # Called directly, without the dispatcher's safety net: any exception fails the test.
    with db.transaction():
        got = normalize(db, payload)
    complete = got["external_id"] is not None and got["start_date"] is not None
    assert (got["error"] is None) == complete
