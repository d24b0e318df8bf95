"""`trainlytics import` end to end on a seeded throwaway database."""

from __future__ import annotations

import gzip
from pathlib import Path

import psycopg

from tests.cli.cli_support import error_line, invoke
from tests.importers.conftest import make_ride, make_run
from tests.seeded import ALICE
from trainlytics.demo.files import write_fit, write_gpx, write_tcx


def count_files(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from public.activities as a join public.users as u"
            " on u.id = a.user_id where u.email = %s and a.source = 'file'",
            [ALICE],
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_import_goes_on_past_a_corrupt_file_and_reimport_adds_nothing(
    seeded_url: str, tmp_path: Path
) -> None:
    (tmp_path / "run.fit").write_bytes(write_fit(make_run(seed=11)))
    (tmp_path / "ride.tcx.gz").write_bytes(gzip.compress(write_tcx(make_ride(seed=12))))
    (tmp_path / "walk.gpx").write_bytes(write_gpx(make_run(seed=13, duration=600)))
    (tmp_path / "broken.fit").write_bytes(write_fit(make_run(seed=14))[:100])
    before = count_files(seeded_url)
    args = ["import", "--user", ALICE, "--database-url", seeded_url]
    paths = [str(tmp_path / n) for n in ("run.fit", "broken.fit", "ride.tcx.gz", "walk.gpx")]

    first = invoke([*args, *paths])
    again = invoke([*args, *paths])

    line = error_line(first, "broken.fit", "not a readable FIT file")
    assert "corrupt or truncated" in line
    assert "3 activities read, 3 imported, 0 already there, 1 failed" in first.output
    assert "3 activities read, 0 imported, 3 already there, 1 failed" in again.output
    assert count_files(seeded_url) == before + 3
    clean = invoke([*args, str(tmp_path / "run.fit")])
    assert clean.exit_code == 0, clean.output
    assert "1 activities read, 0 imported, 1 already there, 0 failed" in clean.output


def test_unknown_user_is_one_line(seeded_url: str, tmp_path: Path) -> None:
    (tmp_path / "run.fit").write_bytes(write_fit(make_run(duration=60)))
    result = invoke(
        ["import", str(tmp_path / "run.fit"), "--user", "nobody@example.com",
         "--database-url", seeded_url]
    )  # fmt: skip
    error_line(result, "no user with email nobody@example.com")


def test_missing_path_is_one_line(seeded_url: str, tmp_path: Path) -> None:
    result = invoke(
        ["import", str(tmp_path / "nope.fit"), "--user", ALICE, "--database-url", seeded_url]
    )
    error_line(result, "no such file or folder")


def test_unsupported_file_is_one_line_and_exit_1(seeded_url: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = invoke(
        ["import", str(tmp_path / "notes.txt"), "--user", ALICE, "--database-url", seeded_url]
    )
    error_line(result, "notes.txt", "unsupported file type")
    assert "0 activities read, 0 imported, 0 already there, 1 failed" in result.output


def test_import_help() -> None:
    result = invoke(["import", "--help"])
    assert result.exit_code == 0
    assert "Strava bulk export" in result.output


def test_db_timezones_gives_stored_rows_without_a_zone_theirs(seeded_url: str) -> None:
    # A file row as imports stored it before zones: UTC, no zone, a start position in Lyon.
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        row = conn.execute(
            "insert into public.activities (user_id, source, external_id, activity_type,"
            " start_date, is_manual, activity_data)"
            " select id, 'file', repeat('9', 64), 'run', '2026-07-14 06:00Z', false,"
            " '{\"start_latlng\": [45.764, 4.8357]}' from public.users where email = %s"
            " returning id",
            [ALICE],
        ).fetchone()
    assert row is not None
    try:
        first = invoke(["db", "timezones", "--database-url", seeded_url])
        again = invoke(["db", "timezones", "--database-url", seeded_url])
        with psycopg.connect(seeded_url) as conn:
            stored = conn.execute(
                "select timezone, utc_offset, start_date_local::text from public.activities"
                " where id = %s",
                [row[0]],
            ).fetchone()
    finally:
        with psycopg.connect(seeded_url, autocommit=True) as conn:
            conn.execute("delete from public.activities where id = %s", [row[0]])

    assert first.exit_code == 0, first.output
    assert stored == ("Europe/Paris", 7200, "2026-07-14 08:00:00")
    assert "given the zone" in first.output
    assert again.exit_code == 0, again.output
    assert " 0 given the zone" in again.output
