"""The demo's main job: the generated sample set imported from two overlapping sources, the
overlap counted once, the example queries still answered, and the report written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cli.cli_support import error_line, invoke
from tests.seeded import seeded_database
from trainlytics.demo import run_demo
from trainlytics.demo.sample_set import build_sample_set


def test_sample_set_is_deterministic(tmp_path: Path) -> None:
    first = build_sample_set(tmp_path / "a", weeks=1, end=date(2026, 11, 22), step=30)
    second = build_sample_set(tmp_path / "b", weeks=1, end=date(2026, 11, 22), step=30)
    assert first.strava_export.read_bytes() == second.strava_export.read_bytes()
    assert first.garmin_export.read_bytes() == second.garmin_export.read_bytes()
    assert first.shared == 3


def _counted_once(conn: psycopg.Connection[Any], athlete_id: str) -> tuple[int, int]:
    row = conn.execute(
        "select count(*), count(*) filter (where primary_activity_id is null)"
        " from public.activities where user_id = %s and source = 'file'",
        [athlete_id],
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.fixture
def fresh_seeded_url(server_url: str) -> Iterator[str]:
    """The seed alone: the counts below are of everything the athlete has, which the other
    importer tests (sharing this directory's seeded database) add to."""
    with seeded_database(server_url) as url:
        yield url


def test_demo_imports_two_sources_and_counts_shared_workouts_once(
    fresh_seeded_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(fresh_seeded_url, autocommit=True) as conn:
        result = run_demo(conn, sample_dir=tmp_path / "sample", weeks=2)
        again = run_demo(conn, sample_dir=tmp_path / "sample", weeks=2)
        rows, primaries = _counted_once(conn, result.athlete_id)
        zones = conn.execute(
            "select coalesce(timezone, 'none'), count(*) from public.activities"
            " where user_id = %s and source = 'file' group by 1",
            [result.athlete_id],
        ).fetchall()
        yoga = conn.execute(
            "select timezone, start_date_local = (start_date at time zone 'Europe/Paris'),"
            " start_date_local - (start_date at time zone 'UTC') from public.activities"
            " where user_id = %s and source = 'file' and name = 'Yoga class'",
            [result.athlete_id],
        ).fetchone()

    imported = result.imported
    assert imported is not None
    assert imported.failed == 0
    assert imported.created == imported.read == rows
    assert imported.sample_set.shared > 0
    # Every session both the watch and the phone recorded is one workout.
    assert imported.groups == imported.sample_set.shared
    assert rows - primaries == imported.sample_set.shared
    assert again.imported is not None
    assert (again.imported.created, again.imported.skipped) == (0, imported.read)
    # Every imported activity has its local time: Lyon's zone from the tracks' positions, and
    # from Alice's preferences for the class entered by hand (not UTC any more).
    assert zones == [("Europe/Paris", rows)]
    assert yoga is not None
    assert yoga[:2] == ("Europe/Paris", True)
    assert yoga[2].total_seconds() in (3600, 7200)
    # The original design's example queries still answer.
    assert [len(q.rows) > 0 for q in result.queries] == [True] * len(result.queries)


def test_demo_command_writes_the_report_and_prints_its_path(
    seeded_url: str, tmp_path: Path
) -> None:
    report = tmp_path / "out" / "report.html"
    result = invoke(
        ["demo", "--database-url", seeded_url, "--weeks", "1", "--output", str(report),
         "--sample-dir", str(tmp_path / "sample")]
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert f"Report: {report.resolve()}" in result.output.replace("\n", "")
    assert "<svg" in report.read_text(encoding="utf-8")
    assert "counted once" in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--weeks", "0"], "--weeks 0 is out of range"), (["--sample-dir", __file__], "not a")],
)
def test_demo_bad_input_is_one_line(args: list[str], fragment: str) -> None:
    error_line(invoke(["demo", *args]), fragment)
