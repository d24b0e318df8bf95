"""The provider → canonical streams converters, on documented payloads and real device files.

Fixtures: ``fixtures/providers/strava/streams_key_by_type.json`` (a StreamSet keyed by type,
values transcribed from a recorded run), ``strava/streams_swagger_example.json`` (Strava's own
swagger example: the array form), ``garmin/webhook_activity_details_push.json`` (documented
activityDetails samples), ``fitbit/heart_rate_data_points*.json`` (Google Health heart-rate
data points), and FIT files from fitdecode's test corpus (``fixtures/files``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trainlytics.errors import FileImportError
from trainlytics.providers.stream_convert import (
    STREAM_TYPES,
    from_fit,
    from_garmin_samples,
    from_google_heart_rate,
    from_strava,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PROVIDERS = FIXTURES / "providers"


def _json(path: str) -> object:
    return json.loads((PROVIDERS / path).read_text())


def test_strava_key_by_type_keeps_the_canonical_streams_and_drops_derived_ones() -> None:
    streams = from_strava(_json("strava/streams_key_by_type.json"))
    assert streams is not None
    assert set(streams) == set(STREAM_TYPES) - {"watts"}  # a run without a power meter
    assert streams["time"] == [0, 3, 4, 5, 6, 7]
    assert streams["latlng"][0] == [55.000416, -1.612849]
    assert streams["heartrate"] == [85, 88, 91, 93, 96, 96]
    assert streams["cadence"][2] == 85  # single-leg, as Strava records runs
    assert "moving" not in streams
    assert "grade_smooth" not in streams
    assert {len(v) for v in streams.values()} == {6}


def test_strava_array_form_without_a_time_stream_is_no_streams() -> None:
    # Strava's swagger example answers a distance stream alone: no time axis to store.
    assert from_strava(_json("strava/streams_swagger_example.json")) is None


def test_strava_array_form_with_time_is_converted() -> None:
    body = [
        {"type": "time", "data": [0, 1, 2]},
        {"type": "heartrate", "data": [90, None, 92]},
        {"type": "watts", "data": [1.0, 2.0]},  # wrong length: dropped, not misaligned
    ]
    assert from_strava(body) == {"time": [0, 1, 2], "heartrate": [90, None, 92]}


def test_garmin_activity_details_samples() -> None:
    item = _json("garmin/webhook_activity_details_push.json")["activityDetails"][0]  # type: ignore[index]
    streams = from_garmin_samples(item["samples"], item["summary"]["startTimeInSeconds"])
    assert streams is not None
    assert streams["time"] == [0.0, 5.0]
    assert streams["latlng"] == [[51.3397, 12.3731], [51.33981, 12.37328]]
    assert streams["distance"] == [0.0, 15.2]
    assert streams["heartrate"] == [118, 121]
    # stepsPerMinute counts both feet: halved to one leg's strides, as FIT and Strava count.
    assert streams["cadence"] == [82.0, 84.0]
    assert streams["temp"] == [9.0, 9.0]
    assert "watts" not in streams


def test_garmin_samples_out_of_order_are_sorted() -> None:
    samples = [
        {"startTimeInSeconds": 110, "heartRate": 130, "powerInWatts": 210, "bikeCadenceInRPM": 88},
        {"startTimeInSeconds": 100, "heartRate": 120, "powerInWatts": 200, "bikeCadenceInRPM": 85},
    ]
    streams = from_garmin_samples(samples, 100)
    assert streams == {
        "time": [0.0, 10.0],
        "heartrate": [120, 130],
        "watts": [200, 210],
        "cadence": [85, 88],
    }


def test_fit_records_of_a_real_ride() -> None:
    data = (FIXTURES / "files" / "Edge810-Vector-2013-08-16-15-35-10.fit").read_bytes()
    streams = from_fit(data)
    assert streams is not None
    count = len(streams["time"])
    assert count > 1000
    assert streams["time"][0] == 0.0
    assert all(b >= a for a, b in zip(streams["time"], streams["time"][1:], strict=False))
    assert {"latlng", "altitude", "heartrate", "watts", "distance"} <= set(streams)
    assert max(w for w in streams["watts"] if w is not None) > 300  # Vector power pedals
    laps = streams.pop("laps")  # the device's 8 lap messages, as lap objects
    assert len(laps) == 8
    assert laps[0]["avg_power_w"] == 252
    assert {len(v) for v in streams.values()} == {count}


def test_fit_file_that_is_not_fit_is_an_error() -> None:
    with pytest.raises(FileImportError):
        from_fit(b"<html>expired link</html>" * 20)


def test_google_heart_rate_keeps_the_exercise_window_in_time_order() -> None:
    start = datetime(2026, 11, 24, 16, 0, 5, tzinfo=UTC)
    page1 = _json("fitbit/heart_rate_data_points.json")["dataPoints"]  # type: ignore[index]
    page2 = _json("fitbit/heart_rate_data_points_page2.json")["dataPoints"]  # type: ignore[index]
    streams = from_google_heart_rate(
        list(reversed(page2 + page1)), start, start + timedelta(seconds=10)
    )
    # 16:00:00 is before the start and 16:00:15 at the (exclusive) end: both left out.
    assert streams == {"time": [0.0, 5.0], "heartrate": [104.0, 117.0]}
