"""What the report says, and what it must never say: another athlete's data, live markup from
an activity name, or anything that reaches for the network."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import psycopg
import pytest

from tests.helpers import create_auth_user
from trainlytics.errors import TrainlyticsError
from trainlytics.report import load_report_data, render_report
from trainlytics.report.charts import Series, nice_ticks, stacked_bar_chart

Conn = psycopg.Connection[Any]
TODAY = dt.date.today()


def _athlete(db: Conn, first_name: str) -> tuple[uuid.UUID, str]:
    email = f"{first_name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    user_id = create_auth_user(db, email, confirmed=True)
    db.execute("update public.users set first_name = %s where id = %s", [first_name, user_id])
    return user_id, email


def _activity(
    db: Conn,
    user_id: uuid.UUID,
    name: str,
    days_ago: int,
    *,
    sport: str = "run",
    distance: float = 10_000.0,
    moving: int = 3000,
    heartrate: float | None = 150.0,
) -> None:
    start = dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(7), dt.UTC)
    db.execute(
        "insert into public.activities (user_id, source, name, activity_type, start_date,"
        " elapsed_time, moving_time, distance, average_heartrate, external_id)"
        " values (%s, 'manual', %s, %s, %s, %s, %s, %s, %s, %s)",
        [user_id, name, sport, start, moving + 60, moving, distance, heartrate, uuid.uuid4().hex],
    )


def _failed_sync(db: Conn, user_id: uuid.UUID, provider: str, error: str) -> None:
    row = db.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id,"
        " provider_username) values (%s, %s, %s, %s) returning id",
        [user_id, provider, uuid.uuid4().hex, f"{error}-account"],
    ).fetchone()
    assert row is not None
    db.execute(
        "insert into public.sync_history (connection_id, user_id, sync_trigger, sync_status,"
        " sync_completed_at, error_message) values (%s, %s, 'scheduled', 'failed', now(), %s)",
        [row[0], user_id, error],
    )


def test_alices_report_never_shows_eves_activities_or_sync_errors(db: Conn) -> None:
    alice, alice_email = _athlete(db, "Alice")
    eve, eve_email = _athlete(db, "Eve")
    _activity(db, alice, "ALICE-TEMPO", 3)
    _activity(db, eve, "EVE-SECRET-RIDE", 2, sport="ride", distance=80_000, moving=9000)
    _failed_sync(db, eve, "polar", "EVE-SECRET-ERROR")
    _failed_sync(db, alice, "garmin", "ALICE-ERROR")

    alice_page = render_report(load_report_data(db, alice_email, weeks=4))
    eve_page = render_report(load_report_data(db, eve_email, weeks=4))

    assert "ALICE-TEMPO" in alice_page
    assert "ALICE-ERROR" in alice_page
    # sync_statistics has no user column: only RLS (the report reads as the athlete) keeps
    # Eve's runs out of Alice's sync health.
    for secret in ("EVE-SECRET-RIDE", "EVE-SECRET-ERROR", "Polar", "80 km", "Cycling"):
        assert secret not in alice_page, secret
    assert "EVE-SECRET-RIDE" in eve_page
    assert "EVE-SECRET-ERROR" in eve_page
    assert "ALICE-TEMPO" not in eve_page
    assert "ALICE-ERROR" not in eve_page
    # The session is back to the superuser afterwards.
    assert db.execute("select current_user = session_user").fetchone() == (True,)


def test_activity_names_cannot_inject_markup(db: Conn) -> None:
    user_id, email = _athlete(db, "<b>Mallory</b>")
    _activity(db, user_id, '<script>alert("x")</script><img src=x onerror=alert(1)>', 1)

    page = render_report(load_report_data(db, email, weeks=2))

    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x" in page
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>Mallory" not in page


def test_the_page_is_self_contained(db: Conn) -> None:
    user_id, email = _athlete(db, "Ada")
    for days_ago in range(0, 40, 3):
        _activity(db, user_id, f"Run {days_ago}", days_ago)

    page = render_report(load_report_data(db, email, weeks=6))

    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page)
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "@import" not in page
    assert re.findall(r"url\((?!#)", page) == []  # only same-document clip paths
    # The only URL is the SVG namespace, which is an identifier, never fetched.
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in page
    assert page.count("<svg") == 3


def test_figures_match_the_database(db: Conn) -> None:
    user_id, email = _athlete(db, "Bea")
    _activity(db, user_id, "Long run", 1, distance=21_097.5, moving=6300)
    _activity(db, user_id, "Easy run", 3, distance=8_000, moving=2880)
    _activity(db, user_id, "Ride", 4, sport="ride", distance=60_000, moving=7200, heartrate=None)

    data = load_report_data(db, email, weeks=1 if TODAY.weekday() >= 4 else 2)
    page = render_report(data)

    sports = {s.activity_type: s for s in data.sports}
    assert sports["run"].activity_count == 2
    assert sports["run"].distance == pytest.approx(29_097.5)
    assert sports["run"].moving_time == 9180
    assert sports["ride"].distance == pytest.approx(60_000)
    assert "89.1 km" in page  # the distance tile
    assert "Fastest half marathon" in page  # a record from the long run
    assert data.load is not None
    assert data.load[-1].day == data.period.as_of == TODAY


def test_an_athlete_without_activities_gets_a_calm_page(db: Conn) -> None:
    _, email = _athlete(db, "Newcomer")

    data = load_report_data(db, email)
    page = render_report(data)

    assert "No activities in this period." in page
    assert "No provider connected" in page
    assert 'class="mark"' not in page
    assert len(data.period.weeks) == 12
    assert data.period.start.weekday() == 0
    assert data.period.end.weekday() == 6


def test_unknown_athlete_and_bad_period(db: Conn) -> None:
    with pytest.raises(TrainlyticsError, match=r"no user with email ghost@example\.com"):
        load_report_data(db, "ghost@example.com")
    _, email = _athlete(db, "Cy")
    with pytest.raises(TrainlyticsError, match=r"--weeks must be between 1 and 520"):
        load_report_data(db, email, weeks=0)


def test_nice_ticks() -> None:
    assert nice_ticks(4.3) == [0, 2, 4, 6]
    assert nice_ticks(3.9) == [0, 1, 2, 3, 4]
    assert nice_ticks(97) == [0, 25, 50, 75, 100]
    assert nice_ticks(0) == [0, 1]
    ticks = nice_ticks(1234.5)
    assert ticks[0] == 0
    assert ticks[-1] >= 1234.5
    assert len(ticks) <= 7


def test_stacked_bars_are_proportional() -> None:
    svg = stacked_bar_chart(
        ["a", "b"],
        [Series("run", "#000", [1.0, 2.0]), Series("ride", "#111", [0.0, 2.0])],
        title="t",
        desc="d",
        y_label="y",
        x_label="x",
        value_format=str,
    )
    heights = [
        float(y0) - float(y1) for y0, y1 in re.findall(r'd="M[\d.]+ ([\d.]+)V([\d.]+)H', svg)
    ]
    assert len(heights) == 3  # the zero value draws nothing
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.2)
    assert heights[2] == pytest.approx(heights[1], abs=0.2)


def _activity_at(db: Conn, user_id: uuid.UUID, start: dt.datetime, utc_offset_h: int) -> None:
    db.execute(
        "insert into public.activities (user_id, source, name, activity_type, start_date,"
        " utc_offset, elapsed_time, moving_time, distance, external_id)"
        " values (%s, 'manual', 'Run', 'run', %s, %s, 3060, 3000, 10000, %s)",
        [user_id, start, utc_offset_h * 3600, uuid.uuid4().hex],
    )


def test_an_archive_report_ends_on_the_latest_local_day(db: Conn) -> None:
    # The latest start is not the latest local day: the bounded read (issue 16) must still
    # find Monday 11 March (started 20:00 UTC on the 10th at UTC+12).
    user_id, email = _athlete(db, "Archie")
    _activity_at(db, user_id, dt.datetime(2024, 1, 2, 7, tzinfo=dt.UTC), 0)
    _activity_at(db, user_id, dt.datetime(2024, 3, 10, 20, tzinfo=dt.UTC), 12)
    _activity_at(db, user_id, dt.datetime(2024, 3, 10, 22, tzinfo=dt.UTC), -10)

    data = load_report_data(db, email, weeks=4)

    assert data.period.as_of == dt.date(2024, 3, 11)
    assert data.period.end == dt.date(2024, 3, 17)


def test_source_totals_follow_local_days_at_the_window_edges(db: Conn) -> None:
    # Sunday 10 March 23:00 at UTC-12 starts on Monday in UTC, yet belongs to the period;
    # Monday 11 March 01:00 at UTC+14 starts on Sunday in UTC, yet does not.
    user_id, email = _athlete(db, "Edge")
    _activity_at(db, user_id, dt.datetime(2024, 3, 11, 11, tzinfo=dt.UTC), -12)
    _activity_at(db, user_id, dt.datetime(2024, 3, 10, 11, tzinfo=dt.UTC), 14)
    _activity_at(db, user_id, dt.datetime(2024, 3, 3, 6, 30, tzinfo=dt.UTC), 18)  # Mon 00:30 local

    data = load_report_data(db, email, weeks=1, until=dt.date(2024, 3, 10))

    assert (data.period.start, data.period.end) == (dt.date(2024, 3, 4), dt.date(2024, 3, 10))
    assert [(s.source, s.activity_count) for s in data.sources] == [("manual", 2)]
