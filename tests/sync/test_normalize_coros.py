"""private.normalize_coros on real Postgres: every column of private.normalized_activity for
workouts in COROS's real shapes (sport/list data items, a pushed triathlon with its legs), the
time zone in 15-minute units, calories in cal -> kcal, speed from distance / duration (avgSpeed,
a pace in s/km, as fallback), cadence, zero-as-unmeasured sensors, the mode*10+subMode mapping,
and malformed items that come back with an error instead of raising. Fixtures:
tests/fixtures/providers/coros/activities (written for this project in COROS's shapes)."""

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
    return provider_json("coros", f"activities/{name}")


def workouts() -> list[dict[str, Any]]:
    return list(fixture("sport_list.json")["data"])


normalize = normalizer("coros", via_dispatcher=False)


NO_POWER = {
    "max_speed": None,
    "average_watts": None,
    "max_watts": None,
    "weighted_average_watts": None,
    "max_cadence": None,
    "elevation_loss": None,
    "max_heartrate": None,
}


def test_outdoor_run_every_column(db: Conn) -> None:
    got = normalize(db, workouts()[0])
    assert got == {
        "external_id": "479215730485462016",
        "name": "Run",
        "description": None,
        "activity_type": "run",
        "provider_activity_type": "81",  # mode 8, subMode 1
        "start_date": utc("2026-11-20T06:30:00"),  # startTime 1795156200
        "timezone": None,
        "utc_offset": 3600,  # startTimezone 4 x 15 min
        "elapsed_time": 3390,  # endTime - startTime
        "moving_time": 3312,  # duration
        "distance": pytest.approx(10234.6),
        "average_speed": pytest.approx(10234.6 / 3312),
        **NO_POWER,
        "average_heartrate": 148.0,
        "average_cadence": 172.0,  # avgFrequency, steps per minute
        "elevation_gain": 87.0,
        "calories": 702.0,  # calorie 702000 cal
        "is_manual": False,
        "is_private": False,
        "device_name": "COROS PACE 3",
        "activity_data": {
            "sport_code": "81",
            "mode": 8,
            "sub_mode": 1,
            "start_timezone": 4,
            "end_timezone": 4,
            "avgSpeed": 324,
            "steps": 9480,
            "fit_url": "https://oss.coros.com/fit/479215722100977664/479215730485462016.fit",
        },
        "provider_updated_at": None,
        "error": None,
    }


def test_indoor_ride_west_of_greenwich_without_heart_rate(db: Conn) -> None:
    got = normalize(db, workouts()[1])
    assert got == {
        "external_id": "479344216573018112",
        "name": "Indoor Ride",
        "description": None,
        "activity_type": "indoor_ride",
        "provider_activity_type": "92",
        "start_date": utc("2026-11-21T02:15:00"),
        "timezone": None,
        "utc_offset": -28800,  # startTimezone -32 x 15 min = UTC-8
        "elapsed_time": 3600,
        "moving_time": 3600,
        "distance": 21500.0,
        "average_speed": pytest.approx(21500 / 3600),
        **NO_POWER,
        "average_heartrate": None,  # 0 = no sensor
        "average_cadence": 88.0,  # rpm
        "elevation_gain": 0.0,
        "calories": 540.0,
        "is_manual": False,
        "is_private": False,
        "device_name": "COROS VERTIX 2S",
        "activity_data": {
            "sport_code": "92",
            "mode": 9,
            "sub_mode": 2,
            "start_timezone": -32,
            "end_timezone": -32,
            "avgSpeed": 167,
            "steps": 0,
            "fit_url": "https://oss.coros.com/fit/479215722100977664/479344216573018112.fit",
        },
        "provider_updated_at": None,
        "error": None,
    }


def test_pool_swim_and_strength(db: Conn) -> None:
    swim = normalize(db, workouts()[2])
    assert swim["activity_type"] == "swim"
    assert swim["provider_activity_type"] == "102"
    assert swim["utc_offset"] == 28800  # startTimezone 32 = UTC+8
    assert swim["average_speed"] == pytest.approx(1500 / 2100)
    assert swim["average_cadence"] is None  # avgFrequency 0
    assert swim["calories"] == 390.0
    assert (swim["elapsed_time"], swim["moving_time"]) == (2220, 2100)

    strength = normalize(db, workouts()[3])
    assert strength["activity_type"] == "weight_training"
    assert strength["name"] == "Weight Training"
    assert strength["provider_activity_type"] == "232"
    assert strength["distance"] == 0.0
    assert strength["average_speed"] == 0.0
    assert strength["calories"] == 260.0
    assert "fit_url" not in strength["activity_data"]


def test_pushed_triathlon_keeps_its_legs(db: Conn) -> None:
    item = fixture("push_triathlon.json")["sportDataList"][0]
    got = normalize(db, item)
    assert got["error"] is None
    assert got["external_id"] == "478011553090420736"
    assert (got["activity_type"], got["provider_activity_type"]) == ("triathlon", "131")
    assert got["start_date"] == utc("2026-11-15T06:58:00")
    assert (got["elapsed_time"], got["moving_time"]) == (5400, 5254)
    assert got["calories"] == pytest.approx(757.296)
    assert got["average_speed"] == pytest.approx(25801.8 / 5254)
    legs = got["activity_data"]["legs"]
    assert [leg["activity_type"] for leg in legs] == ["open_water_swim", "ride", "run"]
    assert [leg["sport_code"] for leg in legs] == ["101", "91", "81"]
    assert legs[0] == {
        "sport_code": "101",
        "activity_type": "open_water_swim",
        "mode": 10,
        "sub_mode": 1,
        "distance": 748.07,
        "duration": 901,
        "calories": pytest.approx(117.738),
        "fit_url": "https://oss.coros.com/fit/479215722100977664/478011553090420736_0.fit",
    }
    assert sum(leg["calories"] for leg in legs) == pytest.approx(got["calories"], rel=1e-6)
    # The push's openId routes the event; it is not an activity field.
    assert "openId" not in got["activity_data"]


def test_an_unknown_code_with_swim_bike_run_legs_is_a_triathlon(db: Conn) -> None:
    item = fixture("push_triathlon.json")["sportDataList"][0] | {"mode": 13000}
    got = normalize(db, item)
    assert (got["activity_type"], got["provider_activity_type"]) == ("triathlon", "130001")
    other_legs = item | {
        "triathlonItemList": [{"mode": 9, "subMode": 1}, {"mode": 8, "subMode": 1}]
    }
    assert normalize(db, other_legs)["activity_type"] == "multisport"


def test_the_dispatcher_gives_the_same_row(db: Conn) -> None:
    item = workouts()[0]
    direct = normalize(db, item)
    assert normalize(db, item, via_dispatcher=True) == direct


def test_avg_speed_is_read_as_a_pace_only_when_distance_cannot_give_the_speed(db: Conn) -> None:
    item = workouts()[0]
    del item["distance"]
    got = normalize(db, item)
    assert got["average_speed"] == pytest.approx(1000 / 324)  # 5:24 min/km
    assert got["distance"] is None


@pytest.mark.parametrize(
    ("zone", "offset", "unknown"),
    [(0, 0, None), (-20, -18000, None), (23, 20700, None), (999, 0, True), ("x", 0, True)],
)
def test_time_zone_in_quarter_hours(db: Conn, zone: Any, offset: int, unknown: bool | None) -> None:
    got = normalize(db, workouts()[0] | {"startTimezone": zone})
    assert got["utc_offset"] == offset
    assert got["start_date"] == utc("2026-11-20T06:30:00")  # the instant never moves
    assert got["activity_data"].get("utc_offset_unknown") is unknown


def test_a_numeric_label_id_and_numeric_strings_are_accepted(db: Conn) -> None:
    got = normalize(
        db,
        workouts()[0] | {"labelId": 479215730485462016, "calorie": "702000", "startTimezone": "4"},
    )
    assert got["external_id"] == "479215730485462016"
    assert got["calories"] == 702.0
    assert got["utc_offset"] == 3600


def test_an_unknown_sport_falls_back_and_keeps_the_code(db: Conn) -> None:
    got = normalize(db, workouts()[0] | {"mode": 77, "subMode": 3})
    assert (got["activity_type"], got["provider_activity_type"], got["name"]) == (
        "other",
        "773",
        "Other",
    )


def test_garbage_metrics_become_unknown(db: Conn) -> None:
    got = normalize(
        db,
        workouts()[0]
        | {
            "distance": -3,
            "duration": "long",
            "endTime": None,
            "avgHeartRate": 512,
            "avgFrequency": -1,
            "calorie": -100,
            "elevGain": "up",
            "deviceName": 42,
            "mode": "run",
        },
    )
    assert got["error"] is None
    for column in (
        "distance",
        "moving_time",
        "elapsed_time",
        "average_heartrate",
        "average_cadence",
        "calories",
        "elevation_gain",
    ):
        assert got[column] is None, column
    assert got["average_speed"] == pytest.approx(1000 / 324)
    assert got["device_name"] == "42"
    assert (got["activity_type"], got["provider_activity_type"]) == ("other", None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2, 3], "not a JSON object"),
        (None, "not a JSON object"),
        ({"startTime": 1795156200}, "without a labelId"),
        ({"labelId": "", "startTime": 1795156200}, "without a labelId"),
        ({"labelId": ["1"], "startTime": 1795156200}, "without a labelId"),
        ({"labelId": "1"}, "without a valid startTime"),
        ({"labelId": "1", "startTime": "soon"}, "without a valid startTime"),
        ({"labelId": "1", "startTime": -5}, "without a valid startTime"),
        ({"labelId": "1", "startTime": 1e15}, "without a valid startTime"),
    ],
)
def test_malformed_workouts_come_back_with_a_reason(db: Conn, payload: Any, reason: str) -> None:
    got = normalize(db, payload)
    assert got["error"] is not None
    assert reason in got["error"]


def test_the_coros_vocabulary(db: Conn) -> None:
    mapping = dict(
        db.execute(
            "select provider_value, activity_type::text from public.activity_type_mappings"
            " where provider = 'coros'"
        ).fetchall()
    )
    assert len(mapping) >= 30
    assert all(value.isdigit() for value in mapping)
    assert {code: mapping[code] for code in ("81", "82", "91", "92", "101", "102")} == {
        "81": "run",
        "82": "treadmill_run",
        "91": "ride",
        "92": "indoor_ride",
        "101": "open_water_swim",
        "102": "swim",
    }
    assert mapping["131"] == "triathlon"
    assert mapping["151"] == "trail_run"
    assert mapping["201"] == "track_run"
    assert mapping["311"] == "walk"


def test_ingesting_a_coros_page_and_its_push(db: Conn) -> None:
    connection_id, _ = make_connection(db, "coros")
    first = ingest(db, connection_id, workouts())
    assert (first.created, first.errors) == (4, [])
    rows = {
        row[0]: row[1:]
        for row in db.execute(
            "select external_id, start_date_local, utc_offset, calories, activity_type::text"
            " from public.activities where connection_id = %s",
            [connection_id],
        ).fetchall()
    }
    # 06:30 UTC in Paris (UTC+1) is 07:30 on the athlete's clock; 02:15 UTC in Los Angeles
    # (UTC-8) is 18:15 the evening before.
    assert rows["479215730485462016"] == (datetime(2026, 11, 20, 7, 30), 3600, 702.0, "run")
    assert rows["479344216573018112"][0] == datetime(2026, 11, 20, 18, 15)
    push = fixture("push_triathlon.json")["sportDataList"]
    second = ingest(db, connection_id, [*workouts(), *push])
    assert (second.created, second.updated, second.skipped) == (1, 0, 4)


# jsonb cannot hold U+0000 (Postgres refuses it before any function runs).
TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
    | st.sampled_from([1795156200, 4, -32, 8, 1, "1795156200", "479215730485462016"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
COROS_KEYS = [
    "labelId", "mode", "subMode", "startTime", "endTime", "startTimezone", "distance",
    "duration", "avgHeartRate", "avgSpeed", "avgFrequency", "calorie", "elevGain", "step",
    "deviceName", "fitUrl", "triathlonItemList",
]  # fmt: skip
LEG = st.dictionaries(
    st.sampled_from(["mode", "subMode", "distance", "duration", "calorie", "fitUrl"]), JSON_VALUES
)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.dictionaries(st.sampled_from(COROS_KEYS), JSON_VALUES, max_size=len(COROS_KEYS)),
    st.lists(LEG | JSON_VALUES, max_size=4),
)
def test_normalize_coros_itself_never_raises(
    db: Conn, payload: dict[str, Any], legs: list[Any]
) -> None:
    payload.setdefault("triathlonItemList", legs)
    # Called directly, without the dispatcher's safety net: any exception fails the test.
    with db.transaction():
        got = normalize(db, payload)
    complete = got["external_id"] is not None and got["start_date"] is not None
    assert (got["error"] is None) == complete
