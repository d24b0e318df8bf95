"""Strava bulk exports and Garmin Connect data exports, built by the project's sample-set
generator (and edited here to break them)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from trainlytics.demo.sample_set import SampleSet, build_sample_set
from trainlytics.importers import ImportOutcome, read_path

END = date(2026, 11, 22)  # a Sunday: two whole weeks


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return build_sample_set(tmp_path_factory.mktemp("sample"), weeks=2, end=END, step=10)


def activities(outcomes: list[ImportOutcome]) -> list[ImportOutcome]:
    assert [o.error for o in outcomes if o.error is not None] == []
    return outcomes


def test_garmin_export_pairs_summaries_with_their_fit_files(sample: SampleSet) -> None:
    outcomes = activities(list(read_path(sample.garmin_export)))

    assert len(outcomes) == sample.garmin_activities == 10
    parsed = [o.activity for o in outcomes if o.activity is not None]
    assert all(p.format == "garmin_export" and p.sport_vocabulary == "garmin" for p in parsed)
    assert {p.sport for p in parsed} == {
        "running", "lap_swimming", "road_biking", "strength_training",
    }  # fmt: skip
    # Every summary found its FIT file: the hash is the file's, the samples are there.
    assert all(p.samples and p.file_name and p.file_name.endswith(".fit") for p in parsed)
    assert all(p.utc_offset == 3600 for p in parsed)


def test_strava_export_reads_files_gzipped_or_not_and_the_manual_row(sample: SampleSet) -> None:
    outcomes = activities(list(read_path(sample.strava_export)))
    parsed = [o.activity for o in outcomes if o.activity is not None]

    assert len(parsed) == sample.strava_activities
    names = {p.file_name.rsplit(".", 1)[-1] if p.file_name else None for p in parsed}
    assert names == {"gpx", "gz", None}
    manual = [p for p in parsed if p.is_manual]
    assert [(m.sport, m.elapsed_time, m.calories) for m in manual] == [("Yoga", 3600.0, 180.0)]
    assert all(p.sport_vocabulary == "strava" for p in parsed)


def test_unpacked_export_folder_reads_like_the_archive(sample: SampleSet, tmp_path: Path) -> None:
    with zipfile.ZipFile(sample.strava_export) as archive:
        archive.extractall(tmp_path)
    from_folder = sorted(o.activity.sha256 for o in read_path(tmp_path) if o.activity)
    from_zip = sorted(o.activity.sha256 for o in read_path(sample.strava_export) if o.activity)
    assert from_folder == from_zip


def _rewrite(source: Path, target: Path, edit: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = edit.get(info.filename, old.read(info))
            if data is not None:
                new.writestr(info, data)
    return target


def test_a_missing_or_corrupt_file_fails_alone(sample: SampleSet, tmp_path: Path) -> None:
    with zipfile.ZipFile(sample.strava_export) as archive:
        files = sorted(n for n in archive.namelist() if n.startswith("activities/"))
    broken = _rewrite(
        sample.strava_export,
        tmp_path / "broken.zip",
        {files[0]: None, files[1]: b"garbage"},
    )
    outcomes = list(read_path(broken))
    errors = [o.error.message for o in outcomes if o.error is not None]

    assert len(outcomes) == sample.strava_activities
    assert len(errors) == 2
    assert any("missing from the export" in e for e in errors)
    assert any("not" in e and files[1].rsplit("/", 1)[-1] in e for e in errors)


def test_garmin_export_with_a_truncated_fit_recovers_it_and_keeps_its_summary(
    sample: SampleSet, tmp_path: Path
) -> None:
    inner_name = "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip"
    with zipfile.ZipFile(sample.garmin_export) as archive:
        inner = zipfile.ZipFile(io.BytesIO(archive.read(inner_name)))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as new_inner:
            for index, info in enumerate(inner.infolist()):
                data = inner.read(info)
                cut = data[: len(data) // 2] if index == 0 else data[:20] if index == 1 else data
                new_inner.writestr(info, cut)
    broken = _rewrite(
        sample.garmin_export, tmp_path / "garmin.zip", {inner_name: buffer.getvalue()}
    )

    outcomes = list(read_path(broken))
    errors = [o for o in outcomes if o.error is not None]
    parsed = [o.activity for o in outcomes if o.activity is not None]

    # The half file is read leniently from its records; the 20-byte stub has nothing usable
    # (one line) and its summary is imported from the summary alone (no samples).
    assert len(errors) == 1
    assert errors[0].error is not None
    assert "nothing usable could be recovered" in errors[0].error.message
    assert len(parsed) == sample.garmin_activities
    recovered = [p for p in parsed if "recovered" in p.extras]
    assert len(recovered) == 1
    assert recovered[0].extras["recovered"]["summary_from"] == "records"
    assert recovered[0].samples
    assert recovered[0].elapsed_time
    assert sum(1 for p in parsed if p.samples is None) == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("export.zip", b"PK\x03\x04 truncated", "not a readable zip archive"),
        ("empty.zip", None, "no activity file"),
    ],
)
def test_unreadable_archives_fail_with_a_message(
    tmp_path: Path, name: str, data: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if data is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "nothing here")
    else:
        path.write_bytes(data)
    [outcome] = list(read_path(path))
    assert outcome.error is not None
    assert message in outcome.error.message


# --- A Garmin Connect data export in the layout Garmin ships ---------------------------------
# Layout of "Export Your Data" (Garmin account > Data Management), as the README documents it:
#   DI_CONNECT/DI-Connect-Fitness/<email>_0_summarizedActivities.json   activity summaries
#   DI_CONNECT/DI-Connect-Fitness/<email>_gear.json, _personalRecord.json (ignored)
#   DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip      the devices' files
#   DI_CONNECT/DI-Connect-User/user_profile.json, DI-Connect-Wellness/... (ignored)
# The uploaded files are two real device files (tests/fixtures/files); each summary carries
# that file's own values in the export's units (ms, cm, speeds / 10, epoch-ms local clock).

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "files"


def _garmin_connect_export(tmp_path: Path) -> Path:
    edge = (FILES / "garmin-edge-500-activity.fit").read_bytes()
    walk = (FILES / "garmin-fenix-5-walk.fit").read_bytes()
    uploads = io.BytesIO()
    with zipfile.ZipFile(uploads, "w", zipfile.ZIP_DEFLATED) as inner:
        inner.writestr("athlete@example.com_81234567.fit", edge)
        inner.writestr("athlete@example.com_1834567890.fit", walk)
    edge_start = 1316955621000  # 2011-09-25T13:00:21Z
    walk_start = 1497191571000  # 2017-06-11T14:32:51Z
    summaries = [
        {
            "activityId": 81234567, "uuidMsb": 1, "uuidLsb": 2, "name": "Toronto Cycling",
            "activityType": "road_biking", "userProfileId": 42, "timeZoneId": 149,
            "beginTimestamp": edge_start, "eventTypeId": 9, "rule": "private",
            "sportType": "CYCLING", "startTimeGmt": edge_start,
            "startTimeLocal": edge_start - 4 * 3600 * 1000, "duration": 12691280.0,
            "elapsedDuration": 12691280.0, "movingDuration": 10641060.0, "distance": 9262234.0,
            "elevationGain": 54100.0, "elevationLoss": 54100.0, "avgSpeed": 0.8704,
            "maxSpeed": 2.6112, "avgHr": 145.0, "maxHr": 178.0, "avgBikeCadence": 88.0,
            "startLongitude": -79.36606627888978, "startLatitude": 43.71339303441346,
            "manufacturer": "GARMIN", "lapCount": 10, "manualActivity": False,
        },
        {
            "activityId": 1834567890, "name": "Petaluma Walking", "activityType": "walking",
            "beginTimestamp": walk_start, "sportType": "GENERIC", "startTimeGmt": walk_start,
            "startTimeLocal": walk_start - 7 * 3600 * 1000, "duration": 45379.0,
            "distance": 6785.0, "avgRunCadence": 61.0, "startLatitude": 38.2305196,
            "startLongitude": -122.6333219, "manualActivity": False,
        },
        {
            "activityId": 1900000001, "name": "Gym", "activityType": "strength_training",
            "beginTimestamp": walk_start + 86400000, "startTimeGmt": walk_start + 86400000,
            "startTimeLocal": walk_start + 86400000 - 7 * 3600 * 1000, "duration": 2700000.0,
            "calories": 250.0, "manualActivity": True,
        },
    ]  # fmt: skip
    path = tmp_path / "garmin-connect-export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        fitness = "DI_CONNECT/DI-Connect-Fitness/"
        archive.writestr(
            fitness + "athlete@example.com_0_summarizedActivities.json",
            json.dumps([{"summarizedActivitiesExport": summaries}]),
        )
        archive.writestr(fitness + "athlete@example.com_gear.json", '{"gearDTOs": []}')
        archive.writestr(fitness + "athlete@example.com_personalRecord.json", "[]")
        archive.writestr(
            "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip", uploads.getvalue()
        )
        archive.writestr("DI_CONNECT/DI-Connect-User/user_profile.json", '{"userName": "a"}')
        archive.writestr("DI_CONNECT/DI-Connect-Wellness/42_sleepData.json", "[]")
    return path


def test_garmin_connect_export_layout_pairs_summaries_with_uploaded_files(
    tmp_path: Path,
) -> None:
    outcomes = activities(list(read_path(_garmin_connect_export(tmp_path))))
    parsed = {o.activity.name: o.activity for o in outcomes if o.activity is not None}

    assert set(parsed) == {"Toronto Cycling", "Petaluma Walking", "Gym"}
    ride, walk, gym = parsed["Toronto Cycling"], parsed["Petaluma Walking"], parsed["Gym"]
    # The uploaded file gives the metrics and the hash (same activity as the file alone).
    edge_bytes = (FILES / "garmin-edge-500-activity.fit").read_bytes()
    assert ride.sha256 == hashlib.sha256(edge_bytes).hexdigest()
    assert (ride.sport, ride.sport_vocabulary) == ("road_biking", "garmin")
    assert (ride.timezone, ride.utc_offset) == ("America/Toronto", -4 * 3600)
    assert ride.samples == 10686
    assert walk.sport == "walking"
    assert walk.average_cadence == pytest.approx(61.23, abs=0.01)  # one leg: SQL doubles
    assert (gym.is_manual, gym.samples, gym.utc_offset) == (True, None, -7 * 3600)


def test_garmin_connect_export_layout_stores_canonical_sports(
    tmp_path: Path, db: Any, athlete: Any, ingest: Any
) -> None:
    parsed = [o.activity for o in read_path(_garmin_connect_export(tmp_path)) if o.activity]
    summary = ingest.ingest(athlete, parsed)
    stored = dict(
        db.execute(
            "select name, activity_type::text || ' ' || coalesce(round(average_cadence)::text,"
            " '-') from public.activities where user_id = %s",
            [athlete],
        ).fetchall()
    )

    assert summary.created == 3
    assert stored == {
        "Toronto Cycling": "ride 88",
        "Petaluma Walking": "walk 122",
        "Gym": "weight_training -",
    }


def test_a_folder_import_goes_on_past_any_per_file_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.importers.conftest import make_ride, make_run
    from trainlytics.demo.files import write_fit, write_gpx, write_tcx
    from trainlytics.importers import files as files_module

    (tmp_path / "a.fit").write_bytes(write_fit(make_run(seed=21)))
    (tmp_path / "b.gpx").write_bytes(
        write_gpx(make_run(seed=22, duration=300)).replace(b"Z</time>", b"</time>")
    )
    (tmp_path / "c.tcx").write_bytes(write_tcx(make_ride(seed=23)))
    (tmp_path / "d.fit").write_bytes(b"\x0e\x10garbage")
    (tmp_path / "e.gpx").write_bytes(b"<gpx/>")

    def exploding(data: bytes, name: str | None = None) -> object:
        raise KeyError("a parser bug nobody foresaw")

    monkeypatch.setitem(files_module.PARSERS, ".tcx", exploding)
    outcomes = list(read_path(tmp_path))
    errors = {Path(o.label.split(": ")[-1]).name: o.error for o in outcomes if o.error}
    read = sorted(Path(o.label.split(": ")[-1]).name for o in outcomes if o.activity)

    assert read == ["a.fit", "b.gpx"]  # the naive-time GPX too (UTC)
    assert set(errors) == {"c.tcx", "d.fit", "e.gpx"}
    assert "could not be read (KeyError" in errors["c.tcx"].message
    assert all("\n" not in e.message for e in errors.values() if e is not None)
