"""Laps from files (issue 18): FIT lap messages and TCX <Lap> elements, compared with the
device's own lap values (read independently: fitdecode directly, ElementTree on the XML), and
stored with the activity by the file import."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import defusedxml.ElementTree as ET  # type: ignore[import-untyped]
import psycopg
import pytest

from tests.importers.test_streams import FILES, fit_messages, import_files, parse
from trainlytics.importers.base import TrackPoint
from trainlytics.importers.track_streams import MAX_LAPS, TrackLap, streams_from_points
from trainlytics.streams import ActivityStreams, Lap

Conn = psycopg.Connection[Any]
TCX_NS = {"t": "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"}


def test_fit_laps_are_the_devices_lap_messages() -> None:
    name = "Edge810-Vector-2013-08-16-15-35-10.fit"
    parsed = parse(name)
    assert parsed.streams is not None
    assert parsed.streams.laps is not None
    device = fit_messages(name, "lap")
    assert len(parsed.streams.laps) == len(device) == 8
    start = device[0]["start_time"]
    for lap, own in zip(parsed.streams.laps, device, strict=True):
        assert lap.start_s == pytest.approx((own["start_time"] - start).total_seconds())
        assert lap.elapsed_s == own["total_elapsed_time"]
        assert lap.moving_s == own["total_timer_time"]
        assert lap.distance_m == own["total_distance"]
        assert lap.avg_hr == own["avg_heart_rate"]
        assert lap.max_hr == own["max_heart_rate"]
        assert lap.avg_power_w == own["avg_power"]
        assert lap.avg_cadence == own["avg_cadence"]
        assert lap.elevation_gain_m == own["total_ascent"]
    # the laps cover the ride: their distances add up to the session's
    session = fit_messages(name, "session")[0]
    total = sum(lap.distance_m or 0 for lap in parsed.streams.laps)
    assert total == pytest.approx(session["total_distance"], abs=1)


def test_fit_running_lap_cadence_is_strides_with_the_fraction() -> None:
    name = "garmin-fenix-5-run.fit"
    parsed = parse(name)
    assert parsed.streams is not None
    assert parsed.streams.laps is not None
    (own,) = fit_messages(name, "lap")
    (lap,) = parsed.streams.laps
    assert lap.avg_cadence == own["avg_running_cadence"] + own["avg_fractional_cadence"]


def test_multisport_fit_laps_carry_no_cadence() -> None:
    parsed = parse("activity-large-fenxi2-multisport.fit")
    assert parsed.streams is not None
    assert parsed.streams.laps
    assert all(lap.avg_cadence is None for lap in parsed.streams.laps)
    starts = [lap.start_s for lap in parsed.streams.laps]
    assert starts == sorted(starts)


def test_tcx_laps_are_the_files_lap_elements() -> None:
    name = "sup_activity_1.tcx"
    parsed = parse(name)
    assert parsed.streams is not None
    assert parsed.streams.laps is not None
    own = ET.parse(FILES / name).getroot().findall(".//t:Lap", TCX_NS)
    assert len(parsed.streams.laps) == len(own) == 2
    first = datetime.fromisoformat(own[0].attrib["StartTime"].replace("Z", "+00:00"))
    for lap, element in zip(parsed.streams.laps, own, strict=True):
        start = datetime.fromisoformat(element.attrib["StartTime"].replace("Z", "+00:00"))
        assert lap.start_s == (start - first).total_seconds()
        assert lap.moving_s == float(element.findtext("t:TotalTimeSeconds", namespaces=TCX_NS))
        assert lap.distance_m == float(element.findtext("t:DistanceMeters", namespaces=TCX_NS))
        assert lap.avg_hr == float(
            element.findtext("t:AverageHeartRateBpm/t:Value", namespaces=TCX_NS)
        )
        assert lap.max_hr == float(
            element.findtext("t:MaximumHeartRateBpm/t:Value", namespaces=TCX_NS)
        )
        assert lap.elevation_gain_m is None  # TCX has no lap ascent
        assert lap.elapsed_s is not None
        assert 0 < lap.elapsed_s <= lap.moving_s + 2


def test_odd_lap_values_are_left_out_so_the_streams_are_kept() -> None:
    start = datetime(2025, 6, 1, 6, tzinfo=UTC)
    points = [TrackPoint(time=start + timedelta(seconds=t), heartrate=120.0) for t in range(3)]
    laps = [TrackLap(start=start, avg_hr=400.0, distance_m=-1.0, elapsed_s=10.0)] * 1005
    streams = streams_from_points(points, start, laps=laps)
    assert streams is not None
    assert streams.laps is not None
    assert len(streams.laps) == MAX_LAPS == 1000
    assert (streams.laps[0].avg_hr, streams.laps[0].distance_m) == (None, None)
    assert streams.laps[0].elapsed_s == 10.0


def test_laps_go_into_the_streams_json() -> None:
    streams = ActivityStreams(
        time_s=[0, 1],
        cadence=[80, 81],
        laps=[Lap(start_s=0, avg_hr=140.4, avg_cadence=85.26, distance_m=float("nan"))],
    )
    assert streams.to_json()["laps"] == [
        {"start_s": 0, "elapsed_s": None, "moving_s": None, "distance_m": None, "avg_hr": 140,
         "max_hr": None, "avg_power_w": None, "avg_cadence": 85.3, "elevation_gain_m": None}
    ]  # fmt: skip
    assert "laps" not in ActivityStreams(time_s=[0, 1]).to_json()
    assert "laps" not in ActivityStreams(time_s=[0, 1], laps=[]).channels()


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def test_import_stores_the_devices_laps(tx: Conn) -> None:
    athlete: uuid.UUID = import_files(tx, "activity-small-fenix2-run.fit")
    rows = tx.execute(
        "select lap_index, distance_m, avg_cadence from public.activity_laps"
        " where user_id = %s order by lap_index",
        [athlete],
    ).fetchall()
    device = fit_messages("activity-small-fenix2-run.fit", "lap")
    assert [r[0] for r in rows] == list(range(len(device)))
    assert [r[1] for r in rows] == pytest.approx([lap["total_distance"] for lap in device])
    # strides of one leg doubled to steps, as the streams and the summary
    cadence = [lap.get("avg_running_cadence") or lap.get("avg_cadence") for lap in device]
    assert [r[2] for r in rows] == [2 * c if c is not None else None for c in cadence]
