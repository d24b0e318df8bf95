"""Property: whatever a provider sends, a page is never aborted and no stored row is lost.

For every provider, hypothesis builds pages of arbitrary JSON items: any JSON value, and
objects that use the provider's own field names with arbitrary values, and minimal valid
items of the provider with some fields overridden by arbitrary values or dropped, their ids
drawn partly from the ids already stored so that updates are attempted too. Each page goes
through public.ingest_activities (with each provider's real normaliser) into a connection
that already holds rows, some of them frozen (provider_updated_at = infinity, so no version
can be newer). After every page:

- the call returned (no page is aborted) and every item is counted exactly once in created,
  updated, skipped or errors;
- the connection holds exactly the stored rows plus the created ones: none lost, none
  soft-deleted, user_id and provider unchanged, every raw payload still there;
- frozen rows are byte for byte what they were.

Generated text never contains U+0000 or lone UTF-16 surrogates: PostgreSQL's jsonb cannot hold
them, so such a page is refused when the driver sends it, before any SQL function runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hypothesis_profiles import examples
from tests.sync.ingest_support import Conn, ingest, make_connection

PROVIDERS = ("strava", "garmin", "polar", "coros", "wahoo", "fitbit")

# Field names each provider really uses (shared/docs/providers.md §8), so that generated
# objects get past the id and start checks and reach the metric conversions.
PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "strava": (
        "id",
        "name",
        "sport_type",
        "type",
        "start_date",
        "start_date_local",
        "timezone",
        "utc_offset",
        "elapsed_time",
        "moving_time",
        "distance",
        "average_speed",
        "max_speed",
        "average_heartrate",
        "max_heartrate",
        "average_watts",
        "weighted_average_watts",
        "average_cadence",
        "total_elevation_gain",
        "calories",
        "manual",
        "private",
        "visibility",
        "trainer",
        "device_watts",
        "start_latlng",
    ),
    "garmin": (
        "summaryId",
        "activityId",
        "activityName",
        "activityType",
        "startTimeInSeconds",
        "startTimeOffsetInSeconds",
        "durationInSeconds",
        "distanceInMeters",
        "averageSpeedInMetersPerSecond",
        "averageHeartRateInBeatsPerMinute",
        "maxHeartRateInBeatsPerMinute",
        "averageRunCadenceInStepsPerMinute",
        "totalElevationGainInMeters",
        "activeKilocalories",
        "manual",
        "deviceName",
    ),
    "polar": (
        "id",
        "upload_time",
        "polar_user",
        "device",
        "start_time",
        "start_time_utc_offset",
        "duration",
        "calories",
        "distance",
        "heart_rate",
        "sport",
        "detailed_sport_info",
        "has_route",
        "training_load",
    ),
    "coros": (
        "labelId",
        "mode",
        "subMode",
        "startTime",
        "endTime",
        "startTimezone",
        "endTimezone",
        "duration",
        "distance",
        "avgSpeed",
        "avgHeartRate",
        "avgFrequency",
        "elevGain",
        "calorie",
        "deviceName",
        "fitUrl",
    ),
    "wahoo": (
        "id",
        "starts",
        "minutes",
        "name",
        "workout_type_id",
        "created_at",
        "updated_at",
        "workout_summary",
    ),
    "fitbit": (
        "logId",
        "activityName",
        "activityTypeId",
        "startTime",
        "originalStartTime",
        "duration",
        "activeDuration",
        "distance",
        "distanceUnit",
        "speed",
        "pace",
        "averageHeartRate",
        "calories",
        "elevationGain",
        "logType",
        "lastModified",
        "name",
        "interval",
        "exerciseMetadata",
        "metricsSummary",
        "exerciseType",
    ),
}

STORED_IDS = ("1001", "1002", "1003", "1004")
FROZEN_IDS = ("1003", "1004")

text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
    | st.sampled_from(
        [
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00.000+02:00",
            "2026-02-30T10:00:00Z",
            "PT1H2M3.5S",
            "P",
            "12.5",
            "-1",
            "1e309",
            "NaN",
            "Infinity",
            "",
            " ",
            "(GMT+01:00) Europe/Paris",
            "RUNNING",
            "Run",
            "1762000000",
        ]
    )
)
any_json = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


# A minimal valid item of each provider (its id key first), the base that generated items
# override field by field, so pages reach the create and update paths, not only the errors.
TEMPLATES: dict[str, tuple[dict[str, Any], ...]] = {
    "strava": ({"id": 0, "start_date": "2026-11-01T10:00:00Z", "sport_type": "Run"},),
    "garmin": (
        {
            "activityId": 0,
            "summaryId": "0",
            "startTimeInSeconds": 1762000000,
            "activityType": "RUNNING",
        },
    ),
    "polar": (
        {
            "id": "0",
            "start_time": "2026-11-01T10:00:00",
            "start_time_utc_offset": 60,
            "sport": "RUNNING",
            "duration": "PT1H",
        },
    ),
    "coros": ({"labelId": "0", "startTime": 1762000000, "startTimezone": 4, "mode": 8},),
    "wahoo": ({"id": 0, "starts": "2026-11-01T10:00:00.000Z", "workout_type_id": 0},),
    "fitbit": (
        {
            "name": "users/me/dataTypes/exercise/dataPoints/0",
            "exercise": {
                "interval": {
                    "startTime": "2026-11-01T10:00:00Z",
                    "endTime": "2026-11-01T11:00:00Z",
                },
                "exerciseType": "RUNNING",
            },
        },
        {
            "logId": 0,
            "startTime": "2026-11-01T10:00:00.000+01:00",
            "activityName": "Run",
            "duration": 3600000,
        },
    ),
}


def _with_id(template: dict[str, Any], external_id: str) -> dict[str, Any]:
    item = dict(template)
    key = next(iter(item))
    if key == "name":  # Google Health: the id ends the data point's resource name
        item[key] = f"users/me/dataTypes/exercise/dataPoints/{external_id}"
    elif isinstance(item[key], int):
        item[key] = int(external_id)
    else:
        item[key] = external_id
    return item


def provider_item(provider: str) -> st.SearchStrategy[Any]:
    fields = PROVIDER_FIELDS[provider]
    ids = st.sampled_from(STORED_IDS) | st.integers(2000, 2100).map(str)
    base = st.builds(_with_id, st.sampled_from(TEMPLATES[provider]), ids)
    overrides = st.dictionaries(st.sampled_from(fields), any_json, max_size=4)
    dropped = st.sets(st.sampled_from(fields), max_size=2)
    return st.builds(
        lambda b, o, d: {k: v for k, v in {**b, **o}.items() if k not in d},
        base,
        overrides,
        dropped,
    ) | st.dictionaries(st.sampled_from(fields), any_json, max_size=len(fields))


def page(provider: str) -> st.SearchStrategy[list[Any]]:
    return st.lists(provider_item(provider) | any_json, max_size=12)


def _seed(db: Conn, provider: str) -> tuple[int, list[tuple[Any, ...]]]:
    connection_id, user_id = make_connection(db, provider)
    for external_id in STORED_IDS:
        frozen = external_id in FROZEN_IDS
        db.execute(
            "with a as (insert into public.activities (user_id, connection_id, provider,"
            " source, external_id, name, start_date, distance, is_manual,"
            " provider_updated_at) values (%s, %s, %s, 'provider', %s, 'stored',"
            " '2026-10-01T08:00:00Z', 5000, false, %s) returning id, user_id)"
            " insert into public.activity_raw_payloads (activity_id, user_id, payload)"
            " select id, user_id, '{\"stored\": true}' from a",
            [
                user_id,
                connection_id,
                provider,
                external_id,
                "infinity" if frozen else "2026-10-01T09:00:00Z",
            ],
        )
    return connection_id, _snapshot(db, connection_id)


def _snapshot(db: Conn, connection_id: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "select a.external_id, a.user_id, a.provider, a.deleted_at, a.provider_updated_at::text,"
        " to_jsonb(a) - 'updated_at', r.payload"
        " from public.activities as a"
        " left join public.activity_raw_payloads as r on r.activity_id = a.id"
        " where a.connection_id = %s order by a.external_id",
        [connection_id],
    ).fetchall()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_arbitrary_pages_never_abort_and_never_lose_stored_rows(db: Conn, provider: str) -> None:
    @settings(
        max_examples=examples(100),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(items=page(provider))
    def check(items: list[Any]) -> None:
        with db.transaction(force_rollback=True):
            connection_id, before = _seed(db, provider)
            result = ingest(db, connection_id, items)
            counted = result.created + result.updated + result.skipped + len(result.errors)
            assert counted == len(items)
            assert result.deleted == 0
            reached.add((result.created > 0, result.updated > 0))
            assert sorted(e["index"] for e in result.errors) == sorted(
                {e["index"] for e in result.errors}
            )
            for error in result.errors:
                assert 0 <= error["index"] < len(items)
                assert isinstance(error["reason"], str)
                assert error["reason"]
            after = _snapshot(db, connection_id)
            assert len(after) == len(before) + result.created
            kept = {row[0]: row for row in after}
            for row in before:
                now = kept.get(row[0])
                assert now is not None, f"stored row {row[0]} lost"
                assert now[1:3] == row[1:3]  # same user and provider
                assert now[3] is None  # not deleted
                assert now[6] is not None  # raw payload kept
                if row[0] in FROZEN_IDS:
                    assert now == row, f"frozen row {row[0]} changed"

    reached: set[tuple[bool, bool]] = set()
    check()
    # The pages did reach the write paths, not only the error path.
    assert any(created for created, _ in reached), reached
    assert any(updated for _, updated in reached), reached
