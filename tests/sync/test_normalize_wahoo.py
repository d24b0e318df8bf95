"""private.normalize_wahoo on real Postgres: every column of private.normalized_activity from
Wahoo Cloud API workouts in their real shapes (GET /v1/workouts items and the workout_summary
webhook), with Wahoo's decimal strings, UTC-only starts and "0.0" for missing sensors."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_service, act_as_user, create_auth_user, reset_role
from tests.sync.ingest_support import ingest, make_connection, stored
from tests.sync.normalize_support import approx, normalizer, provider_json

Conn = psycopg.Connection[Any]


def workout(name: str) -> dict[str, Any]:
    data: dict[str, Any] = provider_json("wahoo", f"activities/{name}")
    return data


normalize = normalizer("wahoo")


def test_road_ride_with_power_every_column(db: Conn) -> None:
    n = normalize(db, workout("workout_road_ride_power.json"))
    assert n["error"] is None
    assert n["external_id"] == "204118377"
    assert n["name"] == "Cycling"
    assert n["description"] is None
    assert n["activity_type"] == "ride"  # 15 = BIKING_ROAD
    assert n["provider_activity_type"] == "15"
    assert n["start_date"] == datetime(2026, 11, 22, 8, 14, 5, tzinfo=UTC)
    # Wahoo sends UTC only: no zone, offset 0.
    assert n["timezone"] is None
    assert n["utc_offset"] == 0
    # Decimal strings to SI numbers.
    assert n["elapsed_time"] == 13331
    assert n["moving_time"] == 12043
    assert n["distance"] == approx(96412.83)
    assert n["average_speed"] == approx(8.01)
    assert n["max_speed"] is None
    assert n["average_heartrate"] == approx(142.58)
    assert n["max_heartrate"] is None
    assert n["average_watts"] == approx(191.64)
    assert n["max_watts"] is None
    # Normalised power is the weighted average power.
    assert n["weighted_average_watts"] == approx(218.9)
    assert n["average_cadence"] == approx(84.37)
    assert n["max_cadence"] is None
    assert n["elevation_gain"] == approx(1184.0)
    assert n["elevation_loss"] is None
    assert n["calories"] == approx(2311.46)
    assert n["is_manual"] is False
    assert n["is_private"] is False
    assert n["device_name"] == "ELEMNT BOLT 7C1E"
    assert n["activity_data"] == {
        "workout_summary_id": 196402218,
        "workout_token": "ELEMNT BOLT 7C1E:412",
        "tss": 164.2,
        "work_joules": 2307820.51,
        "duration_paused": 1288.0,
        "fit_url": "https://cdn.wahooligan.com/wahoo-cloud/production/uploads/workout_file/"
        "file/Tq3kHn8wZp2aLd0vXc7bYw/2026-11-22-081405-ELEMNT_BOLT_7C1E-412-0.fit",
    }
    # The later of the workout's and the summary's updated_at (the summary was reprocessed).
    assert n["provider_updated_at"] == datetime(2026, 11, 23, 7, 45, 12, tzinfo=UTC)


def test_run_without_power_meter(db: Conn) -> None:
    n = normalize(db, workout("workout_run_no_power.json"))
    assert n["error"] is None
    assert (n["activity_type"], n["provider_activity_type"]) == ("run", "1")
    assert (n["elapsed_time"], n["moving_time"]) == (2779, 2741)
    assert n["distance"] == approx(9834.6)
    assert n["average_speed"] == approx(3.59)
    assert n["average_heartrate"] == approx(151.0)
    assert n["average_watts"] is None
    assert n["weighted_average_watts"] is None
    # Running cadence as Wahoo reports it (steps per minute).
    assert n["average_cadence"] == approx(171.5)
    assert n["elevation_gain"] == approx(64.2)
    assert n["calories"] == approx(612.0)
    assert n["device_name"] == "ELEMNT RIVAL 19D4"
    assert "tss" not in n["activity_data"]
    assert n["activity_data"]["work_joules"] == 0.0


def test_missing_sensors_read_as_unknown_not_zero(db: Conn) -> None:
    """A ride without heart-rate strap, power meter or cadence sensor: Wahoo writes "0.0"."""
    n = normalize(db, workout("workout_ride_no_sensors.json"))
    assert n["error"] is None
    assert n["activity_type"] == "ride"
    assert n["average_heartrate"] is None
    assert n["average_watts"] is None
    assert n["weighted_average_watts"] is None
    assert n["average_cadence"] is None
    # Zero distance-like totals are real zeros.
    assert n["elevation_gain"] == 0.0
    assert n["calories"] == 0.0
    assert n["distance"] == approx(14820.11)
    assert (n["elapsed_time"], n["moving_time"]) == (2612, 2612)
    assert n["device_name"] == "ELEMNT ROAM 2A90"


def test_indoor_trainer_keeps_newer_summary_fields(db: Conn) -> None:
    n = normalize(db, workout("workout_indoor_trainer.json"))
    assert n["error"] is None
    assert (n["activity_type"], n["provider_activity_type"]) == ("indoor_ride", "61")
    assert n["name"] == "Indoor Trainer"
    assert n["elevation_gain"] is None  # ascent_accum null
    assert n["average_watts"] == approx(219.3)
    assert n["weighted_average_watts"] == approx(231.77)
    # The summary's IANA time_zone is the activity's zone; London in November is UTC+0.
    assert n["timezone"] == "Europe/London"
    assert n["utc_offset"] == 0
    assert n["activity_data"]["time_zone"] == "Europe/London"
    assert n["activity_data"]["plan_id"] == 8841203
    assert n["is_manual"] is False
    # A workout_token that is not "<device>:<counter>" names no device.
    assert n["device_name"] is None


@pytest.mark.parametrize(
    ("starts", "zone", "timezone", "offset"),
    [
        # Toronto: EDT (-4 h) in July, EST (-5 h) in January; the offset is the one in force.
        ("2026-07-04T11:30:00.000Z", "America/Toronto", "America/Toronto", -4 * 3600),
        ("2026-01-10T15:00:00.000Z", "America/Toronto", "America/Toronto", -5 * 3600),
        ("2026-11-16T19:02:11.000Z", "Australia/Adelaide", "Australia/Adelaide", 37800),
        ("2026-11-16T19:02:11.000Z", "Pacific/Kiritimati", "Pacific/Kiritimati", 14 * 3600),
        # Not a zone this server knows, not a zone name at all, not a string: UTC, no zone.
        ("2026-11-16T19:02:11.000Z", "Mars/Olympus_Mons", None, 0),
        ("2026-11-16T19:02:11.000Z", "'; drop table x; --", None, 0),
        ("2026-11-16T19:02:11.000Z", 3600, None, 0),
        ("2026-11-16T19:02:11.000Z", "", None, 0),
    ],
)
def test_the_summary_time_zone_sets_zone_and_offset(
    db: Conn, starts: str, zone: Any, timezone: str | None, offset: int
) -> None:
    payload = workout("workout_indoor_trainer.json")
    payload["starts"] = starts
    payload["workout_summary"]["time_zone"] = zone
    n = normalize(db, payload)
    assert n["error"] is None
    assert (n["timezone"], n["utc_offset"]) == (timezone, offset)


def test_an_evening_ride_in_toronto_is_on_its_local_date(db: Conn) -> None:
    """23:30 in Toronto on 4 July is 03:30 UTC on the 5th: the stored local start says the 4th
    (local-date statistics were wrong for everyone outside UTC with offset 0)."""
    connection_id, _ = make_connection(db, "wahoo")
    payload = workout("workout_indoor_trainer.json")
    payload["id"] = 880077
    payload["starts"] = "2026-07-05T03:30:00.000Z"
    payload["workout_summary"]["time_zone"] = "America/Toronto"
    ingest(db, connection_id, [payload])
    row = db.execute(
        "select start_date_local, timezone, utc_offset from public.activities "
        "where connection_id = %s and external_id = '880077'",
        [connection_id],
    ).fetchone()
    assert row is not None
    assert row[0] == datetime(2026, 7, 4, 23, 30)
    assert (row[1], row[2]) == ("America/Toronto", -4 * 3600)


def test_manual_flag_of_newer_summaries(db: Conn) -> None:
    payload = workout("workout_indoor_trainer.json")
    payload["workout_summary"]["manual"] = True
    assert normalize(db, payload)["is_manual"] is True


def test_workout_without_summary_falls_back_to_minutes(db: Conn) -> None:
    n = normalize(db, workout("workout_without_summary.json"))
    assert n["error"] is None
    assert (n["activity_type"], n["provider_activity_type"]) == ("yoga", "66")
    assert n["elapsed_time"] == 35 * 60
    for column in (
        "moving_time", "distance", "average_speed", "average_heartrate", "average_watts",
        "weighted_average_watts", "average_cadence", "elevation_gain", "calories",
        "device_name",
    ):  # fmt: skip
        assert n[column] is None, column
    assert n["provider_updated_at"] == datetime(2026, 11, 15, 11, 2, 18, tzinfo=UTC)


def test_unknown_type_falls_back_to_other_and_keeps_the_raw_value(db: Conn) -> None:
    n = normalize(db, workout("workout_unknown_type.json"))
    assert n["error"] is None
    assert (n["activity_type"], n["provider_activity_type"]) == ("other", "97")
    assert n["distance"] == 0.0
    assert n["average_speed"] == 0.0


def test_webhook_summary_normalises_like_the_list_item(db: Conn) -> None:
    """The workout_summary webhook nests the workout inside the summary; the list nests the
    summary inside the workout. Both give the same activity."""
    body = provider_json("wahoo", "webhook_workout_summary.json")
    from_webhook = normalize(db, body["workout_summary"])
    summary = {k: v for k, v in body["workout_summary"].items() if k != "workout"}
    as_list_item = {**body["workout_summary"]["workout"], "workout_summary": summary}
    from_list = normalize(db, as_list_item)
    assert from_webhook == from_list
    assert from_webhook["external_id"] == "170441"
    assert from_webhook["activity_type"] == "ride"
    assert from_webhook["weighted_average_watts"] == approx(212.0)
    assert from_webhook["device_name"] == "ELEMNT BOLT A1B2"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"starts": "2026-11-22T08:14:05.000Z"}, "without an id"),
        ({"id": None, "starts": "2026-11-22T08:14:05.000Z"}, "without an id"),
        ({"id": {"x": 1}, "starts": "2026-11-22T08:14:05.000Z"}, "without an id"),
        ({"id": 5}, 'without a valid "starts"'),
        ({"id": 5, "starts": "yesterday"}, 'without a valid "starts"'),
        ({"id": 5, "starts": "2026-02-30T08:00:00Z"}, 'without a valid "starts"'),
    ],
)
def test_malformed_workouts_are_reported_not_raised(
    db: Conn, payload: dict[str, Any], reason: str
) -> None:
    n = normalize(db, payload, via_dispatcher=False)
    assert n["error"] is not None
    assert reason in n["error"]


@pytest.mark.parametrize("payload", [[1, 2], "workout", 42, None])
def test_non_object_payloads_never_raise(db: Conn, payload: Any) -> None:
    n = normalize(db, payload, via_dispatcher=False)
    assert n["error"] == "wahoo workout is not a JSON object"


def test_garbage_values_become_unknown(db: Conn) -> None:
    payload = workout("workout_road_ride_power.json")
    summary = payload["workout_summary"]
    summary.update(
        distance_accum="n/a",
        speed_avg=[],
        heart_rate_avg="NaN",
        power_avg="1e400",
        power_bike_np_last={"v": 1},
        duration_total_accum="-5",
        duration_active_accum="9e99",
        calories_accum="-12",
        cadence_avg=True,
        manual="yes",
    )
    payload["workout_type_id"] = {"odd": True}
    payload["updated_at"] = "not a date"
    n = normalize(db, payload)
    assert n["error"] is None  # the activity itself is fine: its metrics are unknown
    for column in (
        "distance", "average_speed", "average_heartrate", "average_watts",
        "weighted_average_watts", "elapsed_time", "moving_time", "calories", "average_cadence",
    ):  # fmt: skip
        assert n[column] is None, column
    assert (n["activity_type"], n["provider_activity_type"]) == ("other", None)
    assert n["is_manual"] is False
    assert n["provider_updated_at"] == datetime(2026, 11, 23, 7, 45, 12, tzinfo=UTC)


def test_plain_json_numbers_are_accepted_too(db: Conn) -> None:
    payload = workout("workout_run_no_power.json")
    payload["workout_summary"]["distance_accum"] = 9834.6
    payload["workout_type_id"] = "1"
    n = normalize(db, payload)
    assert n["distance"] == approx(9834.6)
    assert n["activity_type"] == "run"


def test_vocabulary_is_complete_and_valid(db: Conn) -> None:
    rows = db.execute(
        "select provider_value, activity_type::text from public.activity_type_mappings"
        " where provider = 'wahoo'"
    ).fetchall()
    mapping = dict(rows)
    assert len(mapping) >= 60
    assert all(value.isdigit() for value in mapping)
    expected = {
        "0": "ride", "1": "run", "4": "trail_run", "5": "treadmill_run", "6": "walk",
        "9": "hike", "11": "gravel_ride", "12": "indoor_ride", "13": "mountain_bike_ride",
        "22": "virtual_row", "25": "swim", "26": "open_water_swim", "61": "indoor_ride",
        "62": "multisport", "64": "e_bike_ride", "66": "yoga", "68": "virtual_ride",
        "70": "handcycle", "71": "virtual_run", "255": "other",
    }  # fmt: skip
    assert {k: mapping[k] for k in expected} == expected


def test_ingested_row_is_stored_in_utc_with_its_raw_payload(db: Conn) -> None:
    connection_id, _ = make_connection(db, "wahoo")
    items = [workout("workout_road_ride_power.json"), workout("workout_without_summary.json")]
    result = ingest(db, connection_id, items)
    assert (result.created, result.errors) == (2, [])
    row = stored(db, connection_id, "204118377")
    assert row is not None
    assert row["provider"] == "wahoo"
    assert row["source"] == "provider"
    assert row["start_date"] == datetime(2026, 11, 22, 8, 14, 5, tzinfo=UTC)
    assert row["start_date_local"] == datetime(2026, 11, 22, 8, 14, 5)
    assert row["utc_offset"] == 0
    assert row["timezone"] is None
    assert row["pace"] == approx(1000.0 / 8.01)
    assert row["weighted_average_watts"] == approx(218.9)
    assert row["is_manual"] is False
    assert row["raw_payload"] == items[0]
    # The same page again changes nothing; a reprocessed summary (later updated_at) updates.
    again = ingest(db, connection_id, items)
    assert (again.created, again.updated, again.skipped) == (0, 0, 2)
    newer = copy.deepcopy(items[0])
    newer["workout_summary"]["power_bike_np_last"] = "221.0"
    newer["workout_summary"]["updated_at"] = "2026-11-24T09:00:00.000Z"
    updated = ingest(db, connection_id, [newer])
    assert updated.updated == 1
    row = stored(db, connection_id, "204118377")
    assert row is not None
    assert row["weighted_average_watts"] == approx(221.0)


def test_only_service_role_may_normalise(db: Conn) -> None:
    payload = workout("workout_run_no_power.json")
    with db.transaction():
        act_as_service(db)
        row = db.execute("select (private.normalize_wahoo(%s)).external_id", [Jsonb(payload)])
        assert row.fetchone() == ("204093114",)
        reset_role(db)
    user = create_auth_user(db, "wahoo-normalise@example.com")
    for function in ("private.normalize_wahoo(%s)", "private.wahoo_number(%s)"):
        with db.transaction(force_rollback=True):
            act_as_user(db, user)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(f"select {function}", [Jsonb(payload)])
