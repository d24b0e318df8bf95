"""Real device files from ../shared/fixtures (beside the repository), read and compared with
the files' own records. Runs only when that folder exists; every other importer test uses
files the project writes itself.

Tolerances: distances within 0.1 % (files store cm), durations within 1 s, heart rate within
1 bpm of the records' mean (devices average with their own rounding), power exact (the
session's whole watts)."""

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

from trainlytics.importers import FileIngest, read_path
from trainlytics.importers.base import FileImportError, ParsedActivity
from trainlytics.importers.files import parse_activity_file
from trainlytics.migrations import REPO_ROOT

FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"

pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"{FIXTURES} is absent (optional corpus)"
)


def parse(relative: str) -> ParsedActivity:
    path = FIXTURES / relative
    return parse_activity_file(path.read_bytes(), path.name)


def near(actual: float | None, expected: float, tolerance: float) -> bool:
    return actual is not None and abs(actual - expected) <= tolerance


def test_fenix5_run_matches_its_records_csv() -> None:
    with (FIXTURES / "fit" / "garmin-fenix-5-run-records.csv").open() as f:
        records = list(csv.DictReader(f))
    parsed = parse("fit/garmin-fenix-5-run.fit")
    heart = [int(r["heart_rate"]) for r in records]
    times = [datetime.strptime(r["timestamp"], "%a %b %d %H:%M:%S PDT %Y") for r in records]
    # Smart recording: samples are irregular, so the device's average weighs them by time.
    spans = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    weighted = sum(
        (h0 + h1) / 2 * s for h0, h1, s in zip(heart, heart[1:], spans, strict=False)
    ) / sum(spans)

    assert parsed.start_time == datetime(2017, 6, 11, 14, 34, 9, tzinfo=UTC)
    assert near(parsed.distance, float(records[-1]["distance"]), 0.2)
    assert parsed.max_heartrate == max(heart)
    assert near(parsed.average_heartrate, weighted, 1.0)
    assert near(parsed.elapsed_time, 56.887, 0.01)
    assert parsed.utc_offset == -7 * 3600  # PDT
    assert parsed.sport == "running"


def test_edge810_ride_power_and_heart_rate() -> None:
    parsed = parse("fit/Edge810-Vector-2013-08-16-15-35-10.fit")

    assert parsed.start_time == datetime(2013, 8, 16, 18, 5, 10, tzinfo=UTC)
    assert near(parsed.distance, 41_339, 41.3)
    assert near(parsed.moving_time, 4700, 1)
    assert (parsed.average_watts, parsed.max_watts, parsed.normalized_watts) == (276, 619, 301)
    assert (parsed.average_heartrate, parsed.max_heartrate) == (154, 176)
    assert parsed.average_cadence == 87
    assert parsed.elevation_gain == 514
    assert parsed.utc_offset is None  # no local_timestamp in this file
    assert parsed.samples == 4700


def test_fenix2_heart_rate_comes_from_the_records() -> None:
    heart: list[int] = []
    with fitdecode.FitReader(str(FIXTURES / "fit" / "activity-small-fenix2-run.fit")) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                value = frame.get_value("heart_rate", fallback=None)
                if value:
                    heart.append(int(value))
    parsed = parse("fit/activity-small-fenix2-run.fit")

    assert heart, "the records hold heart rate"
    assert near(parsed.average_heartrate, statistics.mean(heart), 1.0)
    assert parsed.max_heartrate == max(heart)
    assert near(parsed.distance, 9008, 9)
    assert parsed.average_cadence == 162  # 81 strides/min, both feet
    assert parsed.utc_offset == 2 * 3600


def test_truncated_fit_is_rejected() -> None:
    with pytest.raises(FileImportError, match="not a readable FIT file"):
        parse("fit/invalid/activity-unexpected-eof.fit")


def test_sup_tcx_sums_its_laps() -> None:
    parsed = parse("tcx/sup_activity_1.tcx")

    assert near(parsed.moving_time, 966.796 + 145.539, 0.01)
    assert near(parsed.distance, 1157.51, 0.01)
    assert parsed.calories == 92
    assert near(parsed.average_heartrate, (88 * 966.796 + 87 * 145.539) / 1112.335, 0.01)
    assert parsed.sport == "generic"


def test_gpx_tracks_are_merged_and_untimed_points_tolerated() -> None:
    korita = parse("gpx/korita-zbevnica.gpx")
    cerknica = parse("gpx/cerknicko-without-times.gpx")

    assert korita.start_time == datetime(2010, 10, 3, 9, 36, 30, tzinfo=UTC)
    assert korita.elapsed_time == (13 * 3600 + 19 * 60 + 31) - (9 * 3600 + 36 * 60 + 30)
    assert korita.distance is not None
    assert korita.distance > 10_000
    assert korita.average_speed is not None
    assert korita.average_speed < 3
    assert cerknica.samples == 296
    with pytest.raises(FileImportError, match="no track points"):
        parse("gpx/gpx_with_garmin_extension.gpx")


def test_the_whole_corpus_ingests_once(db: psycopg.Connection[Any], ingest: FileIngest) -> None:
    from tests.helpers import create_auth_user

    user = create_auth_user(db, f"corpus-{uuid.uuid4().hex[:8]}@example.com")
    outcomes = [o for folder in ("fit", "gpx", "tcx") for o in read_path(FIXTURES / folder)]
    parsed = [o.activity for o in outcomes if o.activity is not None]
    failed = sorted(Path(o.label.split(": ")[-1]).name for o in outcomes if o.error)

    first = ingest.ingest(user, parsed)
    again = ingest.ingest(user, parsed)

    assert failed == ["activity-unexpected-eof.fit", "gpx_with_garmin_extension.gpx"]
    assert (first.created, first.errors) == (len(parsed), [])
    assert len(parsed) == 6
    assert (again.created, again.skipped) == (0, 6)
