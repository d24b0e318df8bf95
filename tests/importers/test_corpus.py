"""Real device files (tests/fixtures/files, provenance in its ATTRIBUTION.md) read and compared
with the device's own totals.

Two kinds of checks:

1. What the importer stores for each file (session totals, where the file has them):
   distances within 0.1 % (files store cm), durations within 1 s, heart rate within 1 bpm of
   the records' mean, power exact (the session's whole watts).
2. The GPS rules (spike rejection, moving time, elevation smoothing) against the device: each
   FIT file's records are summarised as a GPX of the same activity would be - positions,
   times and altitude only, no recorded distance or speed, no session - and compared with
   the session totals the device computed itself:
   - distance within 1 % (or 5 m, for the 157 m fēnix 5 run) of the device's;
   - max speed within 10 % of the device's (Edge 810, fēnix 5 run and bike) or of the
     device's own recorded speed where its session has none (fēnix 2) or its session value is
     a sensor spike (Edge 500: 26.1 m/s on a flat ride; records' speed median-filtered);
   - moving time within 3 % of the device's timer time (auto-paused Edge 500, fēnix 2,
     Edge 810 without pauses);
   - elevation gain within 10 % of the device's barometric total.
"""

from __future__ import annotations

import csv
import itertools
import statistics
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fitdecode  # type: ignore[import-untyped]
import psycopg
import pytest

from trainlytics.errors import FileImportError
from trainlytics.importers import FileIngest, read_path
from trainlytics.importers.base import ParsedActivity, TrackPoint, clean_speeds, summarize_track
from trainlytics.importers.files import parse_activity_file
from trainlytics.importers.fit import _read

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def parse(name: str) -> ParsedActivity:
    return parse_activity_file((FILES / name).read_bytes(), name)


def near(actual: float | None, expected: float, tolerance: float) -> bool:
    return actual is not None and abs(actual - expected) <= tolerance


def within(actual: float | None, expected: float, fraction: float) -> bool:
    return actual is not None and abs(actual - expected) <= abs(expected) * fraction


def sessions_and_gps_track(name: str) -> tuple[list[dict[str, Any]], list[TrackPoint]]:
    """The file's sessions, and its records as a GPX would carry them (no device distance or
    speed)."""
    found, damage = _read((FILES / name).read_bytes())
    assert damage is None
    track = [
        TrackPoint(time=p.time, lat=p.lat, lon=p.lon, elevation=p.elevation, heartrate=p.heartrate)
        for p in found.points
    ]
    return found.sessions, track


# --- 1. what is stored -------------------------------------------------------------------------


def test_fenix5_run_matches_its_records_csv() -> None:
    # Expected values: fitdecode's own records CSV of this file (same commit, MIT), in the
    # shared corpus when present; the file's session otherwise.
    parsed = parse("garmin-fenix-5-run.fit")

    assert parsed.start_time == datetime(2017, 6, 11, 14, 34, 9, tzinfo=UTC)
    assert near(parsed.elapsed_time, 56.887, 0.01)
    assert parsed.utc_offset == -7 * 3600  # PDT, from local_timestamp
    assert parsed.timezone == "America/Los_Angeles"  # from the start position
    assert parsed.sport == "running"
    records_csv = SHARED / "fit" / "garmin-fenix-5-run-records.csv"
    if records_csv.is_file():
        with records_csv.open() as f:
            records = list(csv.DictReader(f))
        heart = [int(r["heart_rate"]) for r in records]
        times = [datetime.strptime(r["timestamp"], "%a %b %d %H:%M:%S PDT %Y") for r in records]
        spans = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        weighted = sum(
            (h0 + h1) / 2 * s for h0, h1, s in zip(heart, heart[1:], spans, strict=False)
        ) / sum(spans)
        assert near(parsed.distance, float(records[-1]["distance"]), 0.2)
        assert parsed.max_heartrate == max(heart)
        assert near(parsed.average_heartrate, weighted, 1.0)


def test_edge810_ride_power_and_heart_rate() -> None:
    parsed = parse("Edge810-Vector-2013-08-16-15-35-10.fit")

    assert parsed.start_time == datetime(2013, 8, 16, 18, 5, 10, tzinfo=UTC)
    assert near(parsed.distance, 41_339, 41.3)
    assert near(parsed.moving_time, 4700, 1)
    assert (parsed.average_watts, parsed.max_watts, parsed.normalized_watts) == (276, 619, 301)
    assert (parsed.average_heartrate, parsed.max_heartrate) == (154, 176)
    assert parsed.average_cadence == 87
    assert parsed.elevation_gain == 514
    assert parsed.utc_offset is None  # no local_timestamp in this file...
    assert parsed.timezone == "America/St_Johns"  # ...but its position: UTC-2:30 in August
    assert parsed.samples == 4700


def test_fenix2_heart_rate_comes_from_the_records() -> None:
    heart: list[int] = []
    with fitdecode.FitReader(str(FILES / "activity-small-fenix2-run.fit")) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                value = frame.get_value("heart_rate", fallback=None)
                if value:
                    heart.append(int(value))
    parsed = parse("activity-small-fenix2-run.fit")

    assert heart, "the records hold heart rate"
    assert near(parsed.average_heartrate, statistics.mean(heart), 1.0)
    assert parsed.max_heartrate == max(heart)
    assert near(parsed.distance, 9008, 9)
    assert parsed.average_cadence == 81  # one leg, as recorded: the SQL doubles it
    assert parsed.utc_offset == 2 * 3600
    # No session speed: distance over the records' moving time (2,810 s), not timer time.
    assert near(parsed.average_speed, 9008.22 / 2810, 0.02)


def test_truncated_fit_is_recovered_from_what_was_written() -> None:
    parsed = parse("activity-unexpected-eof.fit")

    assert parsed.extras["recovered"]["summary_from"] == "session"
    assert "FitEOFError" in parsed.extras["recovered"]["reason"]
    assert parsed.sport == "running"
    assert near(parsed.distance, 5.73, 0.01)


def test_sup_tcx_sums_its_laps() -> None:
    parsed = parse("sup_activity_1.tcx")

    assert near(parsed.moving_time, 966.796 + 145.539, 0.01)
    assert near(parsed.distance, 1157.51, 0.01)
    assert parsed.calories == 92
    assert near(parsed.average_heartrate, (88 * 966.796 + 87 * 145.539) / 1112.335, 0.01)
    assert parsed.sport == "generic"
    assert parsed.timezone == "Europe/Ljubljana"


def test_gpx_tracks_are_merged_and_mostly_untimed_tracks_give_no_speed() -> None:
    korita = parse("korita-zbevnica.gpx")
    cerknica = parse("cerknicko-without-times.gpx")

    assert korita.start_time == datetime(2010, 10, 3, 9, 36, 30, tzinfo=UTC)
    assert korita.elapsed_time == (13 * 3600 + 19 * 60 + 31) - (9 * 3600 + 36 * 60 + 30)
    assert korita.distance is not None
    assert korita.distance > 10_000
    assert korita.average_speed is not None
    assert korita.average_speed < 3
    # 5 timed points of 296: not "4.6 km in 57 s" but a distance without timing.
    assert cerknica.samples == 296
    assert cerknica.distance is not None
    assert cerknica.distance > 4000
    assert (cerknica.elapsed_time, cerknica.moving_time, cerknica.average_speed) == (
        None,
        None,
        None,
    )
    assert cerknica.extras["times_incomplete"] is True


# --- 2. GPS rules against the device's own totals -----------------------------------------------

DEVICE_TOTALS = [
    # file, device ascent (m), device max speed (m/s) or None, device timer (s) or None
    ("Edge810-Vector-2013-08-16-15-35-10.fit", 514, 16.098, 4700.05),
    ("garmin-edge-500-activity.fit", 541, None, 10641.06),
    ("activity-small-fenix2-run.fit", 64, None, 2832.0),
    ("activity-large-fenxi2-multisport.fit", 1579, None, None),
    ("garmin-fenix-5-run.fit", None, 3.658, None),
    ("garmin-fenix-5-bike.fit", None, 8.65, None),
]


@pytest.mark.parametrize(("name", "ascent", "max_speed", "timer"), DEVICE_TOTALS)
def test_gps_track_rules_match_the_devices_own_totals(
    name: str, ascent: float | None, max_speed: float | None, timer: float | None
) -> None:
    sessions, track = sessions_and_gps_track(name)
    summary = summarize_track(track)

    device_distance = sum(s.get("total_distance") or 0 for s in sessions)
    assert within(summary.distance, device_distance, 0.01) or near(
        summary.distance, device_distance, 5.0
    )
    if ascent is not None:
        assert within(summary.elevation_gain, ascent, 0.10), summary.elevation_gain
    if max_speed is not None:
        assert within(summary.max_speed, max_speed, 0.10), summary.max_speed
    if timer is not None:
        assert within(summary.moving_time, timer, 0.03), summary.moving_time


@pytest.mark.parametrize(
    ("name", "raw_gps_max"),
    [("activity-small-fenix2-run.fit", 30.0), ("garmin-edge-500-activity.fit", 20.0)],
)
def test_gps_spikes_do_not_set_the_max_speed(name: str, raw_gps_max: float) -> None:
    # Reference: the device's own recorded speed, median-filtered over 5 samples (fēnix 2:
    # 5.9 m/s; Edge 500: 17.1 m/s). The raw GPS step speeds peak far above it.
    found, _ = _read((FILES / name).read_bytes())
    device = max(clean_speeds([p.speed for p in found.points if p.speed is not None]))
    _, track = sessions_and_gps_track(name)
    summary = summarize_track(track)

    raw = summarize_track(track[:0])  # empty: sanity of the helper
    assert raw.max_speed is None
    assert within(summary.max_speed, device, 0.10), (summary.max_speed, device)
    assert summary.max_speed is not None
    assert summary.max_speed < raw_gps_max


def test_the_whole_corpus_ingests_once(db: psycopg.Connection[Any], ingest: FileIngest) -> None:
    from tests.helpers import create_auth_user

    user = create_auth_user(db, f"corpus-{uuid.uuid4().hex[:8]}@example.com")
    outcomes = list(read_path(FILES))
    parsed = [o.activity for o in outcomes if o.activity is not None]
    failed = [o for o in outcomes if o.error is not None]

    first = ingest.ingest(user, parsed)
    again = ingest.ingest(user, parsed)

    assert failed == []
    assert len(parsed) == 11
    assert (first.created, first.errors) == (11, [])
    assert (again.created, again.skipped) == (0, 11)
    recovered = db.execute(
        "select count(*) from public.activities where user_id = %s and activity_data ? 'recovered'",
        [user],
    ).fetchone()
    assert recovered == (1,)


def test_a_file_with_nothing_usable_is_one_clear_error() -> None:
    data = (FILES / "activity-unexpected-eof.fit").read_bytes()[:60]
    with pytest.raises(FileImportError, match="nothing usable could be recovered"):
        parse_activity_file(data, "stub.fit")


def _with_a_misaligned_field(name: str) -> bytes:
    """The real file with one field of its record definition made misaligned, as in the COROS
    file of the issue: ``distance`` (uint32, 4 bytes) declared as uint64, so its 4-byte size is
    no multiple of its type's 8 ("invalid field size"); the data bytes are unchanged and the
    file CRC is recomputed (FIT SDK CRC-16, fitdecode.utils.compute_crc), so only the field is
    wrong."""
    data = bytearray((FILES / name).read_bytes())
    with fitdecode.FitReader(bytes(data), keep_raw_chunks=True) as reader:
        definition = next(
            f
            for f in reader
            if isinstance(f, fitdecode.FitDefinitionMessage) and f.name == "record"
        )
    index = [d.def_num for d in definition.field_defs].index(5)  # distance
    base_type_at = definition.chunk.offset + 6 + 3 * index + 2
    assert data[base_type_at] == 0x86  # uint32
    data[base_type_at] = 0x8F  # uint64
    crc = fitdecode.utils.compute_crc(data, end=len(data) - 2)
    data[-2:] = crc.to_bytes(2, "little")
    return bytes(data)


def test_fit_with_a_misaligned_field_is_read_leniently_and_marked() -> None:
    data = _with_a_misaligned_field("garmin-fenix-5-run.fit")

    def strict_read() -> None:
        with fitdecode.FitReader(data, error_handling=fitdecode.ErrorHandling.RAISE) as reader:
            for _ in reader:
                pass

    with pytest.raises(fitdecode.FitParseError, match="invalid field size"):
        strict_read()

    parsed = parse_activity_file(data, "misaligned.fit")
    clean = parse("garmin-fenix-5-run.fit")

    assert "invalid field size" in parsed.extras["recovered"]["reason"]
    assert parsed.extras["recovered"]["summary_from"] == "session"
    # Everything the device wrote is there: the session totals and all 21 records.
    assert (parsed.distance, parsed.elapsed_time, parsed.samples) == (
        clean.distance,
        clean.elapsed_time,
        21,
    )
    assert parsed.start_time == clean.start_time
