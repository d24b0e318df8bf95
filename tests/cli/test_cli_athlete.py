"""``trainlytics athlete show|set`` on the seeded database, with an athlete of the test's own
(the seeded Alice stays as the other CLI tests expect her)."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from tests.cli.cli_support import error_line, invoke
from tests.seeded import BOB
from trainlytics.cli.athlete import parse_pace


def _athlete(url: str) -> str:
    email = f"athlete-{uuid.uuid4().hex[:8]}@example.com"
    result = invoke(
        [
            "users",
            "create",
            email,
            "--password",
            "secret-123",
            "--database-url",
            url,
            "--first-name",
            "Ada",
            "--last-name",
            "Settings",
        ]
    )
    assert result.exit_code == 0, result.output
    return email


def test_set_then_show_round_trips_through_the_rpcs(cli_database_url: str) -> None:
    email = _athlete(cli_database_url)
    result = invoke(
        [
            "athlete",
            "set",
            "--user",
            email,
            "--ftp",
            "250",
            "--from",
            "2026-01-01",
            "--max-hr",
            "188",
            "--resting-hr",
            "48",
            "--timezone",
            "America/New_York",
            "--units",
            "imperial",
            "--threshold-pace",
            "7:15/mi",
            "--power-zones",
            "150,200,250",
            "--database-url",
            cli_database_url,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "changed" in result.output
    shown = invoke(["athlete", "show", "--user", email, "--database-url", cli_database_url])
    assert shown.exit_code == 0, shown.output
    for fragment in (
        "188 bpm",
        "48 bpm",
        "America/New_York",
        "imperial",
        "7:15 /mi",
        "power: 150, 200, 250",
        "2026-01-01",
        "250 W",
    ):
        assert fragment in shown.output, shown.output
    with psycopg.connect(cli_database_url) as conn:
        row = conn.execute(
            "select s.threshold_pace, h.ftp_w from public.athlete_settings as s"
            " join public.users as u on u.id = s.user_id"
            " join public.athlete_ftp_history as h on h.user_id = u.id where u.email = %s",
            [email],
        ).fetchone()
    # 7:15 per mile = 435 s / 1.609344 km
    assert row == (pytest.approx(270.3, abs=0.05), 250)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--max-hr", "300"], ["22023", "max_heart_rate must be between 100 and 250 bpm"]),
        (["--timezone", "Moon/Base"], ["22023", "is not an IANA time zone"]),
        (["--ftp", "5"], ["22023", "ftp must be between 30 and 2000 W"]),
        (["--power-zones", "300,200"], ["22023", "strictly increasing"]),
        (["--threshold-pace", "fast"], ["'fast' is not a pace"]),
        (["--remove-ftp", "2020-01-01"], ["22023", "no FTP entry effective from 2020-01-01"]),
        ([], ["nothing to change"]),
    ],
)
def test_refused_values_print_one_line_and_change_nothing(
    cli_database_url: str, args: list[str], fragments: list[str]
) -> None:
    email = _athlete(cli_database_url)
    # a valid change in the same command is not kept either
    result = invoke(
        [
            "athlete",
            "set",
            "--user",
            email,
            "--units",
            "imperial",
            *args,
            "--database-url",
            cli_database_url,
        ]
        if args
        else ["athlete", "set", "--user", email, "--database-url", cli_database_url]
    )
    error_line(result, *fragments, hint=not fragments[0].startswith("22023"))
    with psycopg.connect(cli_database_url) as conn:
        count = conn.execute(
            "select count(*) from public.athlete_settings as s join public.users as u"
            " on u.id = s.user_id where u.email = %s",
            [email],
        ).fetchone()
    assert count == (0,)


def test_coach_without_grant_cannot_show_an_athletes_settings(cli_database_url: str) -> None:
    email = _athlete(cli_database_url)
    assert (
        invoke(
            ["athlete", "set", "--user", email, "--ftp", "250", "--database-url", cli_database_url]
        ).exit_code
        == 0
    )
    result = invoke(
        ["athlete", "show", "--user", email, "--as", BOB, "--database-url", cli_database_url]
    )
    error_line(result, f"{BOB} may not read {email}'s settings")


def test_pace_parsing() -> None:
    assert parse_pace("4:30", "metric") == 270.0
    assert parse_pace("4:30/km", "imperial") == 270.0
    assert parse_pace("8:03/mi", "metric") == pytest.approx(300.1, abs=0.05)


def test_report_for_a_coach_covers_the_granted_athletes(
    cli_database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "coach.html"
    result = invoke(
        ["report", "--coach", BOB, "--output", str(out), "--database-url", cli_database_url]
    )
    assert result.exit_code == 0, result.output
    assert "coach report of" in result.output
    assert "(1 athlete)" in result.output
    page = out.read_text(encoding="utf-8")
    assert "Alice Martin" in page
    assert "alice_runs" not in page  # her Strava account name: never in a coach's report


def test_report_needs_exactly_one_of_user_and_coach(cli_database_url: str) -> None:
    for args in ([], ["--user", "a@example.com", "--coach", BOB]):
        error_line(
            invoke(["report", *args, "--database-url", cli_database_url]),
            "give either --user or --coach",
        )
