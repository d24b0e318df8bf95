"""Strava bulk exports and Garmin Connect data exports, built by the project's sample-set
generator (and edited here to break them)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

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
