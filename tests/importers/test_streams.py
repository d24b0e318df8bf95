"""Streams from files (issue 18): FIT records, GPX track points with Garmin extensions, TCX
track points; stored with their activity by the file import, best efforts checked against the
devices' own lap and session values."""

from __future__ import annotations

import bisect
import itertools
import math
import uuid
from array import array
from pathlib import Path
from typing import Any

import fitdecode  # type: ignore[import-untyped]
import psycopg
import pytest

from tests.helpers import create_auth_user
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.importers import FileIngest
from trainlytics.importers.files import parse_activity_file
from trainlytics.importers.gpx import parse_gpx

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
Conn = psycopg.Connection[Any]


def parse(name: str) -> Any:
    return parse_activity_file((FILES / name).read_bytes(), name)


def fit_messages(name: str, kind: str) -> list[dict[str, Any]]:
    """The file's own messages, read with fitdecode directly (the device's values)."""
    found = []
    with fitdecode.FitReader(str(FILES / name)) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == kind:
                found.append({f.name: f.value for f in frame.fields})
    return found


def test_fit_records_become_streams_consistent_with_the_summary() -> None:
    parsed = parse("Edge810-Vector-2013-08-16-15-35-10.fit")
    streams = parsed.streams
    assert streams is not None
    records = fit_messages("Edge810-Vector-2013-08-16-15-35-10.fit", "record")
    assert len(streams) == len(records) == 4700
    assert streams.time_s[0] == 0
    assert all(b >= a for a, b in zip(streams.time_s, streams.time_s[1:], strict=False))
    assert streams.distance_m is not None
    assert streams.distance_m[-1] == pytest.approx(parsed.distance, abs=5)
    assert streams.power_w is not None
    # the device's own maximum power is a sample of the stream
    assert max(p for p in streams.power_w if p is not None) == 619
    assert set(streams.channels()) >= {"heart_rate", "cadence", "lat", "lon", "temperature_c"}


def test_multisport_fit_distance_continues_across_sessions_and_has_no_cadence() -> None:
    parsed = parse("activity-large-fenxi2-multisport.fit")
    assert parsed.streams is not None
    assert parsed.streams.distance_m is not None
    assert parsed.streams.distance_m[-1] == pytest.approx(parsed.distance, rel=0.001)
    assert "cadence" not in parsed.streams.channels()


def test_gpx_garmin_extensions_become_streams() -> None:
    gpx = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"
 xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">
<trk><type>running</type><trkseg>
<trkpt lat="46.0000" lon="14.0000"><ele>300.0</ele><time>2024-05-01T06:00:00Z</time>
<extensions><power>250</power><gpxtpx:TrackPointExtension><gpxtpx:atemp>18.5</gpxtpx:atemp>
<gpxtpx:hr>140</gpxtpx:hr><gpxtpx:cad>86</gpxtpx:cad></gpxtpx:TrackPointExtension></extensions>
</trkpt>
<trkpt lat="46.0010" lon="14.0000"><ele>301.0</ele><time>2024-05-01T06:00:30Z</time>
<extensions><power>260</power><gpxtpx:TrackPointExtension><gpxtpx:atemp>18.0</gpxtpx:atemp>
<gpxtpx:hr>150</gpxtpx:hr><gpxtpx:cad>88</gpxtpx:cad></gpxtpx:TrackPointExtension></extensions>
</trkpt>
</trkseg><trkseg>
<trkpt lat="46.0100" lon="14.0000"><time>2024-05-01T06:05:00Z</time></trkpt>
<trkpt lat="46.0110" lon="14.0000"><time>2024-05-01T06:05:30Z</time></trkpt>
</trkseg></trk></gpx>"""
    streams = parse_gpx(gpx, "ext.gpx").streams
    assert streams is not None
    assert streams.time_s == [0, 30, 300, 330]
    assert streams.heart_rate == [140, 150, None, None]
    assert streams.cadence == [86, 88, None, None]  # one leg, as recorded (SQL doubles)
    assert streams.power_w == [250, 260, None, None]
    assert streams.temperature_c == [18.5, 18.0, None, None]
    assert streams.altitude_m == [300.0, 301.0, None, None]
    # 0.001 degree of latitude is 111.2 m; no step across the segment break
    assert streams.distance_m == pytest.approx([0, 111.2, 111.2, 222.4], abs=0.2)


def test_gpx_without_times_has_no_streams() -> None:
    assert parse("cerknicko-without-times.gpx").streams is None


def test_tcx_trackpoints_become_streams() -> None:
    parsed = parse("sup_activity_1.tcx")
    streams = parsed.streams
    assert streams is not None
    assert len(streams) == 111
    assert streams.heart_rate is not None
    assert any(v is not None for v in streams.heart_rate)
    assert streams.distance_m is not None
    assert streams.distance_m[-1] == pytest.approx(parsed.distance, abs=0.01)


# --- through the import, into the database -----------------------------------------------------


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def import_files(conn: Conn, *names: str) -> uuid.UUID:
    athlete = create_auth_user(conn, f"files-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)
    summary = FileIngest(PsycopgGateway(conn, role="service_role")).ingest(
        athlete, [parse(name) for name in names]
    )
    assert summary.stream_errors == []
    assert summary.streams == len(names)
    return athlete


def efforts(conn: Conn, athlete: uuid.UUID, effort: str) -> dict[float, tuple[float, float]]:
    return {
        float(r[0]): (float(r[1]), float(r[2]))
        for r in conn.execute(
            "select e.span, e.value, e.start_s from public.activity_efforts as e"
            " where e.user_id = %s and e.effort = %s",
            [athlete, effort],
        ).fetchall()
    }


def test_import_stores_streams_and_power_curve_matches_the_device(tx: Conn) -> None:
    athlete = import_files(tx, "Edge810-Vector-2013-08-16-15-35-10.fit")
    row = tx.execute(
        "select s.source, s.sample_count, a.activity_type::text from public.activity_streams as s"
        " join public.activities as a on a.id = s.activity_id where s.user_id = %s",
        [athlete],
    ).fetchone()
    assert row == ("file", 4700, "ride")
    power = efforts(tx, athlete, "power")
    # 1 s: the session's max_power as the device computed it
    session = fit_messages("Edge810-Vector-2013-08-16-15-35-10.fit", "session")[0]
    assert power[1.0][0] == session["max_power"] == 619
    # 20 min: the device's laps include 20-minute intervals at 311 and 305 W average; the best
    # 1200 s window is at least about as strong (it may drop 2.4 s of the 1202.4 s lap)
    laps = fit_messages("Edge810-Vector-2013-08-16-15-35-10.fit", "lap")
    interval = max(
        (lap for lap in laps if 1190 <= lap["total_elapsed_time"] <= 1210),
        key=lambda lap: lap["avg_power"],
    )
    assert interval["avg_power"] == 311
    assert power[1200.0][0] >= 311 - 3
    assert power[1200.0][0] <= 330
    # the curve never rises with duration
    values = [power[s][0] for s in sorted(power)]
    assert values == sorted(values, reverse=True)
    # rides compare power: no distance efforts
    assert efforts(tx, athlete, "distance") == {}


def test_import_running_distance_efforts_respect_the_devices_laps(tx: Conn) -> None:
    athlete = import_files(tx, "activity-small-fenix2-run.fit")
    distance = efforts(tx, athlete, "distance")
    assert set(distance) == {100, 200, 400, 800, 1000, 1609.344, 2000, 3000, 5000}
    laps = fit_messages("activity-small-fenix2-run.fit", "lap")
    # a lap at least as long as a standard distance bounds its fastest time from above
    for span, (seconds, _) in distance.items():
        covering = [lap["total_elapsed_time"] for lap in laps if lap["total_distance"] >= span]
        if covering:
            assert seconds <= min(covering)
    # the times grow with the distance, and the pace of longer efforts is never faster
    spans = sorted(distance)
    times = [distance[s][0] for s in spans]
    assert times == sorted(times)
    paces = [distance[s][0] / s for s in spans]
    assert paces[-1] >= paces[0]
    # cadence: the records' strides of one leg doubled to steps, as the summary's cadence
    row = tx.execute(
        "select max(c) from public.activity_streams as s, unnest(s.cadence) as c"
        " where s.user_id = %s",
        [athlete],
    ).fetchone()
    records = fit_messages("activity-small-fenix2-run.fit", "record")
    assert row is not None
    assert row[0] == 2 * max(r["cadence"] for r in records if r.get("cadence") is not None)


def test_reimport_fills_streams_and_adds_no_activity(tx: Conn) -> None:
    athlete = import_files(tx, "sup_activity_1.tcx")
    tx.execute("delete from public.activity_streams where user_id = %s", [athlete])
    summary = FileIngest(PsycopgGateway(tx, role="service_role")).ingest(
        athlete, [parse("sup_activity_1.tcx")]
    )
    assert (summary.created, summary.streams) == (0, 1)
    counts = tx.execute(
        "select (select count(*) from public.activities where user_id = %s),"
        " (select count(*) from public.activity_streams where user_id = %s)",
        [athlete, athlete],
    ).fetchone()
    assert counts == (1, 1)


# --- an independent implementation of the documented methods, on the real files' samples -------

DISTANCES = (100, 200, 400, 800, 1000, 1609.344, 2000, 3000, 5000, 10000, 15000, 20000, 21097.5,
             30000, 42195, 50000, 100000)  # fmt: skip
DURATIONS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 5400, 7200)


def _real(values: list[float]) -> list[float]:
    """As the database keeps them (real: float32)."""
    return list(array("f", values))


def reference_distance_efforts(time: list[float], dist: list[float | None]) -> dict[float, float]:
    pairs = [(t, d) for t, d in zip(time, dist, strict=True) if d is not None]
    ts, ds = _real([t for t, _ in pairs]), _real([d for _, d in pairs])
    best: dict[float, float] = {}
    for span in DISTANCES:
        if ds[-1] - ds[0] < span:
            continue
        for j in range(1, len(ds)):
            target = ds[j] - span
            i = bisect.bisect_right(ds, target) - 1  # the last sample at or before the target
            if i < 0 or i >= len(ds) - 1:
                continue
            start = ts[i] + (ts[i + 1] - ts[i]) * (target - ds[i]) / (ds[i + 1] - ds[i])
            best[span] = min(best.get(span, math.inf), ts[j] - start)
    return best


def reference_power_efforts(time: list[float], power: list[float | None]) -> dict[float, float]:
    ts = _real(time)
    seconds = math.floor(ts[-1] - ts[0]) + 1
    series = []
    for second in range(seconds):
        i = bisect.bisect_right(ts, ts[0] + second) - 1
        held = ts[0] + second - ts[i] <= 5
        series.append(round(power[i] or 0) if held else 0)
    sums = [0.0, *itertools.accumulate(series)]
    return {
        w: max(sums[k + w] - sums[k] for k in range(seconds - w + 1)) / w
        for w in DURATIONS
        if w <= seconds
    }


@pytest.mark.parametrize(
    ("name", "effort"),
    [
        ("activity-small-fenix2-run.fit", "distance"),
        ("sup_activity_1.tcx", "distance"),
        ("Edge810-Vector-2013-08-16-15-35-10.fit", "power"),
    ],
)
def test_efforts_match_an_independent_implementation(tx: Conn, name: str, effort: str) -> None:
    streams = parse(name).streams
    assert streams is not None
    if effort == "distance":
        assert streams.distance_m is not None
        expected = reference_distance_efforts(streams.time_s, streams.distance_m)
    else:
        assert streams.power_w is not None
        expected = reference_power_efforts(streams.time_s, streams.power_w)
    athlete = import_files(tx, name)
    got = {span: value for span, (value, _) in efforts(tx, athlete, effort).items()}
    assert set(got) == set(expected)
    for span, value in expected.items():
        assert got[span] == pytest.approx(value, abs=0.01), span
