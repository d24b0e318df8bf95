"""The activity page's arithmetic against values computed by hand."""

from __future__ import annotations

import math

import pytest

from trainlytics.report.activity import (
    best_efforts,
    best_powers,
    default_zone_bounds,
    pace_of,
    project_route,
    splits,
    time_in_zones,
)
from trainlytics.streams import ActivityStreams


def test_splits_interpolate_each_boundary() -> None:
    # Every 10 s: 4 m/s for the first 1000 m (250 s), then 2 m/s (500 s per km), 2500 m in all.
    time = [float(t) for t in range(0, 1001, 10)]
    distance: list[float | None] = [4.0 * t if t <= 250 else 1000.0 + 2.0 * (t - 250) for t in time]
    # 120 bpm in the first split, 140 for 250 s, then 150
    heart: list[float | None] = [120.0 if t < 250 else 140.0 if t < 500 else 150.0 for t in time]
    altitude: list[float | None] = [
        100.0 + (10.0 if t >= 250 else 0.0) + (10.0 if t >= 750 else 0.0) for t in time
    ]
    result = splits(
        ActivityStreams(time_s=time, distance_m=distance, altitude_m=altitude, heart_rate=heart),
        1000.0,
    )
    assert [(s.number, s.length, s.seconds) for s in result] == [
        (1, 1000.0, 250.0),
        (2, 1000.0, 500.0),
        (3, 500.0, 250.0),  # the rest, shorter
    ]
    assert result[0].heart_rate == pytest.approx(120.0, abs=2.0)  # the sample at 250 s is 140
    assert result[1].heart_rate == pytest.approx(145.0, abs=1.0)
    assert [s.climb for s in result] == [10.0, 10.0, 0.0]


def test_splits_between_samples_and_in_miles() -> None:
    # A steady 5 m/s, sampled every 7 s: the mile boundary falls between samples.
    time = [7.0 * i for i in range(200)]
    distance = [35.0 * i for i in range(200)]
    result = splits(ActivityStreams(time_s=time, distance_m=list(distance)), 1609.344)
    assert result[0].seconds == pytest.approx(1609.344 / 5)
    assert result[1].seconds == pytest.approx(1609.344 / 5)
    assert sum(s.length for s in result) == pytest.approx(35.0 * 199)


def test_time_in_zones_counts_each_interval_in_its_zone() -> None:
    time = [0.0, 10.0, 20.0, 30.0, 100.0, 110.0]  # 30 -> 100 is a pause (over 30 s)
    heart = [100.0, 130.0, 160.0, 170.0, 150.0, 150.0]
    zones = time_in_zones(heart, time, [120.0, 150.0])
    assert [(z.zone, z.low, z.high, z.seconds) for z in zones] == [
        (1, None, 120.0, 10.0),
        (2, 120.0, 150.0, 20.0),  # 130 for 10 s, 150 (a bound belongs below) for 10 s
        (3, 150.0, None, 10.0),  # 160 for 10 s; 170 starts the pause
    ]


def test_pace_zones_run_from_slow_to_fast() -> None:
    time = [0.0, 20.0, 40.0, 60.0]
    pace = [400.0, 300.0, 240.0, 240.0]  # s/km
    zones = time_in_zones(pace, time, [360.0, 270.0], descending=True)
    assert [z.seconds for z in zones] == [20.0, 20.0, 20.0]


def test_default_zones_follow_the_thresholds() -> None:
    assert default_zone_bounds("heart_rate", 170) == [144.5, 153.0, 161.5, 170.0]
    assert default_zone_bounds("power", 200) == [110.0, 150.0, 180.0, 210.0, 240.0, 300.0]
    assert default_zone_bounds("power", None) is None


def test_best_power_is_the_best_window_average() -> None:
    # 1 Hz: 100 W for 60 s, then 300 W for 10 s, then 200 W for 50 s.
    watts: list[float | None] = [*[100.0] * 60, *[300.0] * 10, *[200.0] * 50]
    time = [float(i) for i in range(len(watts))]
    bests = {b.size: b.value for b in best_powers(ActivityStreams(time_s=time, power_w=watts))}
    assert bests[5] == 300.0
    assert bests[15] == pytest.approx((300 * 10 + 200 * 5) / 15)
    assert bests[60] == pytest.approx((300 * 10 + 200 * 50) / 60)
    assert 300 not in bests  # the activity lasted 120 s


def test_best_efforts_find_the_fastest_stretch() -> None:
    # 1 km at 5 m/s (200 s), then 1 km at 2.5 m/s (400 s); sampled every 10 s
    time: list[float] = []
    distance: list[float | None] = []
    for t in range(0, 601, 10):
        time.append(float(t))
        distance.append(5.0 * t if t <= 200 else 1000.0 + 2.5 * (t - 200))
    bests = best_efforts(ActivityStreams(time_s=time, distance_m=distance), (400.0, 1000.0, 1500.0))
    assert [(b.size, b.value) for b in bests] == [
        (400.0, pytest.approx(80.0)),
        (1000.0, pytest.approx(200.0)),
        (1500.0, pytest.approx(400.0)),  # 1000 m at 5 m/s + 500 m at 2.5 m/s
    ]


def test_route_keeps_its_shape_north_up() -> None:
    # A square of 0.01 degrees at latitude 60: east-west spans half as far (cos 60 = 0.5).
    lat = [60.0, 60.0, 60.01, 60.01, 60.0]
    lon = [10.0, 10.01, 10.01, 10.0, 10.0]
    points = project_route(lat, lon, 400, 400, margin=0)
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    assert width / height == pytest.approx(math.cos(math.radians(60.005)), rel=1e-3)
    assert height == pytest.approx(400)
    # north is up: the northern corners have the smaller y
    assert points[2][1] < points[1][1]


def test_pace_from_speed() -> None:
    assert pace_of(ActivityStreams(time_s=[0.0, 1.0], speed_mps=[4.0, 0.0])) == [250.0, None]


def test_a_database_without_the_zone_functions_still_gets_zones_and_bests() -> None:
    """The page computes zones and best efforts itself when the database has no
    activity_time_in_zones or best-effort views (details built without them)."""
    import datetime as dt
    import uuid

    from trainlytics.report.activity_page import activity_sections
    from trainlytics.report.data import (
        ActivityDetail,
        Athlete,
        Period,
        RecentActivity,
        ReportData,
    )

    seconds = 1200
    streams = ActivityStreams(
        time_s=[float(t) for t in range(seconds)],
        distance_m=[3.0 * t for t in range(seconds)],
        heart_rate=[120.0 + 40 * t / seconds for t in range(seconds)],
        speed_mps=[3.0 + 0.3 * math.sin(t / 60) for t in range(seconds)],
    )
    start = dt.datetime(2026, 11, 30, 7, 0)
    run = RecentActivity(start, "Easy run", "run", "file", 3600.0, seconds, None, 140.0, None, 1)
    athlete = Athlete(uuid.uuid4(), "a@example.com", "A", None, {})
    data = ReportData(
        athlete,
        Period(dt.date(2026, 11, 30), dt.date(2026, 12, 6), dt.date(2026, 12, 6)),
        dt.datetime.now(dt.UTC),
        settings={
            "threshold_heart_rate": {"value": 150, "source": "settings"},
            "threshold_pace": {"value": 330, "source": "settings"},
        },
        details=[ActivityDetail(run, streams)],
    )
    page = activity_sections(data)
    assert "Time in heart-rate zones" in page
    assert "Time in pace zones" in page
    assert "Best efforts" in page  # 400 m and 1 km, from the distance stream
    assert "Z1 below 128" in page  # 85 % of a threshold heart rate of 150 bpm, rounded
