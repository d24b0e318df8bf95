"""``trainlytics stats`` and ``trainlytics report`` on the seeded database (Alice: Strava runs,
Garmin rides, one manual session)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from tests.cli.cli_support import error_line, invoke
from tests.seeded import ALICE
from trainlytics.report.formatting import fmt_distance


def _run_totals(url: str, weeks: int) -> tuple[int, float]:
    """Alice's runs in the last ``weeks`` calendar weeks (to this Sunday), straight from SQL."""
    today = dt.date.today()
    start = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=weeks - 1)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*), sum(a.distance) from public.activities as a"
            " join public.users as u on u.id = a.user_id"
            " where u.email = %s and a.activity_type = 'run' and a.deleted_at is null"
            " and a.start_date_local >= %s",
            [ALICE, start],
        ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1] or 0)


def test_stats_prints_every_table_with_the_databases_figures(cli_database_url: str) -> None:
    result = invoke(
        ["stats", "--user", ALICE.upper(), "--weeks", "8", "--database-url", cli_database_url]
    )

    assert result.exit_code == 0, result.output
    for title in ("Weekly volume", "By sport", "By source", "Connections", "Sync health"):
        assert title in result.output
    count, distance = _run_totals(cli_database_url, 8)
    assert count > 0
    by_sport = result.output.split("By sport", 1)[1].split("By source", 1)[0]
    run_rows = [line for line in by_sport.splitlines() if line.startswith("│ Run ")]
    assert len(run_rows) == 1, result.output
    assert f"│ {count:>8} │" in run_rows[0]
    assert fmt_distance(distance) in run_rows[0]
    assert "alice_runs" in result.output  # her Strava connection
    assert "Alice Martin" in result.output
    # 8 weekly rows, most recent week included
    monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
    assert f"Mon {monday.day} {monday:%b %Y}" in result.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["--user", "nobody@example.com"],
            ["no user with email nobody@example.com", "users create"],
        ),
        ([], ["--user is required"]),
        (["--user", ALICE, "--weeks", "0"], ["--weeks must be between 1 and 520"]),
        (["--user", ALICE, "--until", "30/11/2026"], ["'30/11/2026' is not a date", "YYYY-MM-DD"]),
    ],
)
def test_stats_bad_input(cli_database_url: str, args: list[str], fragments: list[str]) -> None:
    error_line(invoke(["stats", *args, "--database-url", cli_database_url]), *fragments)


def test_report_writes_a_self_contained_page(cli_database_url: str, tmp_path: Path) -> None:
    output = tmp_path / "nested" / "alice.html"
    result = invoke(
        [
            "report",
            "--user",
            ALICE,
            "--output",
            str(output),
            "--weeks",
            "6",
            "--database-url",
            cli_database_url,
        ]
    )

    assert result.exit_code == 0, result.output
    assert str(output.resolve()) in result.output.replace("\n", "")
    page = output.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "<h1>Alice Martin</h1>" in page
    assert page.count("<svg") >= 2
    assert "6 weeks" in page


def test_report_until_a_past_day(cli_database_url: str, tmp_path: Path) -> None:
    output = tmp_path / "old.html"
    result = invoke(
        [
            "report",
            "--user",
            ALICE,
            "-o",
            str(output),
            "--weeks",
            "2",
            "--until",
            "2020-01-15",
            "--database-url",
            cli_database_url,
        ]
    )

    assert result.exit_code == 0, result.output
    page = output.read_text(encoding="utf-8")
    assert "Mon 6 Jan 2020" in page  # the period is the two weeks ending that week
    assert "No activities in this period." in page


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--user", "nobody@example.com"], ["no user with email nobody@example.com"]),
        (["--user", ALICE, "--weeks", "9999"], ["--weeks must be between 1 and 520"]),
        (["--user", ALICE, "--until", "yesterday"], ["'yesterday' is not a date"]),
    ],
)
def test_report_bad_input(
    cli_database_url: str, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    output = tmp_path / "r.html"
    result = invoke(["report", *args, "-o", str(output), "--database-url", cli_database_url])
    error_line(result, *fragments)
    assert not output.exists()


def test_report_to_an_unwritable_place(cli_database_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = invoke(
        [
            "report",
            "--user",
            ALICE,
            "-o",
            str(blocker / "report.html"),
            "--database-url",
            cli_database_url,
        ]
    )
    error_line(result, f"cannot write {blocker / 'report.html'}", "--output")


def test_report_to_a_directory(cli_database_url: str, tmp_path: Path) -> None:
    result = invoke(
        ["report", "--user", ALICE, "-o", str(tmp_path), "--database-url", cli_database_url]
    )
    error_line(result, f"{tmp_path} is a directory", "--output report.html")
