"""Issue 18's report pages on a seeded database of their own: a page per recent activity
(route map, splits, charts over time, zones, best efforts), planned vs completed, imperial
units, and the coach report read under the coach's row-level security — never a Strava-sourced
or private activity, never the athlete's account (threat-named tests below). The pages are also
opened in headless Chromium: every chart drew marks, no console error, nothing fetched.

Alice (seed) gets three activities of the last hours with streams and laps: a ride from a file
(her coach may read it), a Strava run (hers only: Strava's terms) and a private ride; and three
planned workouts, two completed by those activities, one not.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser

from tests.helpers import create_auth_user
from tests.report.test_report_browser import CHARTS_JS, SCREENSHOTS, Visit
from tests.report.test_report_browser import browser as browser  # the fixture
from tests.seeded import ALICE, BOB, seeded_database
from trainlytics.db import store
from trainlytics.report import load_report_data, render_report, write_coach_report, write_report
from trainlytics.report.data import find_athlete

Conn = psycopg.Connection[Any]

FILE_RIDE = "Lunch ride from a file"
STRAVA_RUN = "Strava tempo run"
SECRET_RIDE = "Secret ride"  # noqa: S105 - an activity name


def _streams(samples: int, speed: float, *, power: bool) -> dict[str, Any]:
    """1 Hz samples around a loop near Lyon: position, altitude, heart rate and a surging
    speed; rides cover a steady 8 m/s on the distance stream (whole-km splits of 2:05) with a
    hard minute of power every five, runs' distance is the integral of their speed."""
    velocity = [round(speed * (1 + 0.15 * math.sin(t / 90)), 3) for t in range(samples)]
    distance = [0.0]
    for t, v in enumerate(velocity[:-1]):
        distance.append(round(speed * (t + 1), 3) if power else round(distance[-1] + v, 3))
    stream: dict[str, Any] = {
        "time": list(range(samples)),
        "distance": distance,
        "latlng": [
            [
                round(45.75 + 0.01 * math.sin(2 * math.pi * t / samples), 6),
                round(4.85 + 0.014 * math.cos(2 * math.pi * t / samples), 6),
            ]
            for t in range(samples)
        ],
        "altitude": [
            round(200 + 30 * math.sin(4 * math.pi * t / samples), 1) for t in range(samples)
        ],
        "heartrate": [int(115 + 50 * t / samples) for t in range(samples)],
        "velocity_smooth": velocity,
    }
    if power:
        stream["watts"] = [320 if t % 300 < 60 else 170 for t in range(samples)]
    else:
        stream["cadence"] = [88] * samples  # strides per minute, as a watch records them
    # The device's laps: three of 600 s (a ride covers 4.8 km in each).
    stream["laps"] = [
        {
            "start_s": 600 * i,
            "elapsed_s": 600,
            "moving_s": 600,
            "distance_m": round(distance[min(600 * (i + 1), samples - 1)] - distance[600 * i], 2),
            "avg_hr": 130 + 10 * i,
            "max_hr": 171 + i,
            "avg_power_w": 210 + i if power else None,
            "avg_cadence": None if power else 88,
            "elevation_gain_m": 12,
        }
        for i in range(samples // 600)
    ]
    return stream


def _activity(conn: Conn, alice: uuid.UUID, name: str, hours_ago: int, **extra: Any) -> int:
    columns: dict[str, Any] = {
        "user_id": alice,
        "source": "file",
        "is_manual": False,
        "name": name,
        "activity_type": "ride",
        "external_id": f"pages-{uuid.uuid4().hex}",
        "elapsed_time": 1800,
        "moving_time": 1800,
        "distance": 14_400.0,
        "average_heartrate": 140,
        "average_watts": 200,
        **extra,
    }
    names = ", ".join(columns)
    values = ", ".join(f"%({k})s" for k in columns)
    row = conn.execute(
        f"insert into public.activities ({names}, start_date)"
        f" values ({values}, now() - make_interval(hours => %(hours)s)) returning id".encode(),
        {**columns, "hours": hours_ago},
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def pages_url(server_url: str) -> Iterator[str]:
    with (
        seeded_database(server_url) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        alice = find_athlete(conn, ALICE).id
        strava = conn.execute(
            "select id from public.provider_connections where user_id = %s and provider = 'strava'",
            [alice],
        ).fetchone()
        assert strava is not None
        ride = _activity(conn, alice, FILE_RIDE, 2)
        run = _activity(
            conn,
            alice,
            STRAVA_RUN,
            3,
            source="provider",
            provider="strava",
            connection_id=strava[0],
            activity_type="run",
            distance=5400.0,
            average_watts=None,
        )
        secret = _activity(conn, alice, SECRET_RIDE, 4, is_private=True)
        for activity, streams in (
            (ride, _streams(1800, 8.0, power=True)),
            (run, _streams(1800, 3.0, power=False)),
            (secret, _streams(1800, 8.0, power=True)),
        ):
            conn.execute(
                "select private.store_activity_recording(%s, %s, null)",
                [activity, psycopg.types.json.Jsonb(streams)],
            )
        planned: tuple[tuple[str, int | None, str, int], ...] = (
            ("Endurance ride", ride, "ride", 2400),
            ("Tempo run", run, "run", 1800),
            ("Missed intervals", None, "ride", 3600),
        )
        for name, completed, sport, duration in planned:
            conn.execute(
                "insert into public.workouts (user_id, planned_date, activity_type, name,"
                " planned_duration, planned_load, completed_activity_id)"
                " values (%(user)s, (select start_date_local::date from public.activities"
                "   where id = %(anchor)s), %(sport)s, %(name)s, %(duration)s, 50, %(activity)s)",
                {
                    "user": alice,
                    "anchor": ride,
                    "sport": sport,
                    "name": name,
                    "duration": duration,
                    "activity": completed,
                },
            )
        yield url


def _html(url: str, tmp_path: Path, *, coach: bool = False) -> str:
    path = tmp_path / ("coach.html" if coach else "alice.html")
    with psycopg.connect(url, autocommit=True) as conn:
        if coach:
            write_coach_report(conn, BOB, path, weeks=4)
        else:
            write_report(conn, ALICE, path, weeks=4)
    return path.read_text(encoding="utf-8")


def test_athlete_report_has_a_page_per_recent_activity(pages_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pages_url, autocommit=True) as conn:
        data = load_report_data(conn, ALICE, weeks=4)
    names = [d.activity.name for d in data.details]
    assert names[:3] == [FILE_RIDE, STRAVA_RUN, SECRET_RIDE]
    assert all(d.streams is not None for d in data.details[:3])
    page = render_report(data)
    assert page.count('class="chart-svg route-map"') == 3
    for fragment in (
        'id="activity-1"',
        "Splits per km",
        "Heart rate over time",
        "Power over time",
        "Elevation over time",
        "Pace over time",
        "Time in heart-rate zones",
        "Time in power zones",
        "Best power",
        "Best efforts",
        "Pace curve",
        "2 of 3 planned workouts completed",
        "Best efforts and power curve",
        "<h3>Run</h3>",  # her season and all-time bests include her Strava run's
    ):
        assert fragment in page, fragment
    # the file ride: 14.4 km at 8 m/s gives 14 whole km splits of 2:05 and a 400 m rest
    ride = page.split('id="activity-1"', 1)[1].split('id="activity-2"', 1)[0]
    assert ride.count("<td>2:05</td>") == 0  # times are right-aligned numeric cells
    assert ride.count("<td class=num>2:05</td>") == 14
    # its laps, as stored (public.activity_laps): 600 s, 4.8 km at 28.8 km/h, 210-212 W
    laps = ride.split("<h3>Laps</h3>", 1)[1].split("</table>", 1)[0]
    assert laps.count("<td class=num>10:00</td>") == 4  # three lap times, the second's start
    assert "<td class=num>20:00</td>" in laps  # the third's start
    assert laps.count("<td class=num>4.8 km</td>") == 3
    assert laps.count("<td class=num>28.8 km/h</td>") == 3
    assert [f"<td class=num>{w}</td>" in laps for w in (210, 211, 212)] == [True] * 3
    assert "Cadence" not in laps  # a column nothing recorded is left out
    # the run's laps: pace per km, cadence doubled to steps like the summary
    run = page.split('id="activity-2"', 1)[1].split('id="activity-3"', 1)[0]
    run_laps = run.split("<h3>Laps</h3>", 1)[1].split("</table>", 1)[0]
    assert '<th scope="col" class=num>Pace</th>' in run_laps
    assert run_laps.count("<td class=num>176</td>") == 3


def test_coach_report_never_shows_strava_or_private_activities(
    pages_url: str, tmp_path: Path
) -> None:
    page = _html(pages_url, tmp_path, coach=True)
    assert "Alice" in page
    assert FILE_RIDE in page
    assert STRAVA_RUN not in page
    assert SECRET_RIDE not in page
    assert re.search(r"\bRun \d+\b", page) is None  # the seed's Strava runs
    # one route: the file ride's; the Strava run's and the private ride's streams never appear
    assert page.count('class="chart-svg route-map"') == 1
    # laps: the file ride's only (Strava-sourced and private laps stay hidden, as the streams)
    assert page.count("<h3>Laps</h3>") == 1
    assert "<td class=num>176</td>" not in page  # the Strava run's lap cadence
    # best efforts: the file ride's only, no run (her only run with streams is from Strava)
    assert "Best efforts and power curve" in page
    assert "<h3>Run</h3>" not in page


def test_coach_report_leaves_out_the_athletes_account(pages_url: str, tmp_path: Path) -> None:
    page = _html(pages_url, tmp_path, coach=True)
    assert "alice_runs" not in page  # her Strava username
    assert "Connections and sync health" not in page
    assert "Garmin API answered 503" not in page  # her sync errors
    # A workout fulfilled by an activity the coach may not read is hidden from the coach
    # altogether (the workouts policy), so the Strava-completed run is not even listed.
    assert "1 of 2 planned workouts completed" in page
    assert "Tempo run" not in page


def test_coach_data_is_read_under_the_coachs_rls(pages_url: str) -> None:
    with psycopg.connect(pages_url, autocommit=True) as conn:
        bob = find_athlete(conn, BOB)
        data = load_report_data(conn, ALICE, weeks=4, reader=bob)
    assert {a.source for a in data.recent_activities} <= {"garmin", "file", "manual"}
    assert data.details[0].activity.name == FILE_RIDE


def test_coach_without_active_grant_gets_no_athlete(pages_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pages_url, autocommit=True) as conn:
        email = f"carol-{uuid.uuid4().hex[:8]}@example.com"
        with conn.transaction():
            carol = create_auth_user(conn, email, confirmed=True)
            conn.execute("update public.users set role = 'coach' where id = %s", [carol])
            alice = find_athlete(conn, ALICE).id
            conn.execute(
                "insert into public.coach_athletes (athlete_id, coach_id, status)"
                " values (%s, %s, 'pending')",
                [alice, carol],
            )
        path = tmp_path / "carol.html"
        reports = write_coach_report(conn, email, path)
    page = path.read_text(encoding="utf-8")
    assert reports == []
    assert "No athlete has granted you access yet" in page
    assert "Alice" not in page
    assert FILE_RIDE not in page


def test_imperial_units_show_miles(pages_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pages_url, autocommit=True) as conn:
        alice = find_athlete(conn, ALICE).id
        store.set_athlete_settings(conn, alice, {"units": "imperial"})
        try:
            page = render_report(load_report_data(conn, ALICE, weeks=4))
        finally:
            store.set_athlete_settings(conn, alice, {"units": "metric"})
    assert "Splits per mile" in page
    assert "Splits per km" not in page
    laps = page.split("<h3>Laps</h3>", 1)[1].split("</table>", 1)[0]
    assert "<td class=num>3.0 mi</td>" in laps  # 4.8 km
    assert "<td class=num>17.9 mph</td>" in laps  # 8 m/s
    assert "<td class=num>+39 ft</td>" in laps  # 12 m climbed
    assert " mi<" in page
    assert " /mi" in page
    assert "Elevation (ft)" in page


@pytest.mark.parametrize("coach", [False, True], ids=["athlete", "coach"])
def test_new_pages_draw_every_chart_in_chromium(
    browser: Browser, pages_url: str, tmp_path: Path, coach: bool
) -> None:
    _html(pages_url, tmp_path, coach=coach)
    path = tmp_path / ("coach.html" if coach else "alice.html")
    visit = Visit(browser, path, 1200)
    try:
        charts = visit.page.evaluate(CHARTS_JS)
        # the laps table is laid out in the page (a row per lap of each readable activity)
        lap_rows = visit.page.evaluate(
            "() => [...document.querySelectorAll('h3')].filter(h => h.textContent === 'Laps')"
            ".map(h => h.nextElementSibling.querySelectorAll('tbody tr').length)"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(
            path=str(SCREENSHOTS / f"report-pages-{'coach' if coach else 'athlete'}.png"),
            full_page=True,
        )
    finally:
        visit.page.close()
    assert visit.problems() == []
    assert visit.requests == [path.as_uri()]
    assert lap_rows == ([3] if coach else [3, 3, 3])
    sections = {chart["section"] for chart in charts}
    prefix = "a1-" if coach else ""
    assert f"{prefix}activity-1" in sections
    assert f"{prefix}planned" in sections
    if not coach:
        assert {"activity-2", "activity-3"} <= sections
    for chart in charts:
        assert chart["width"] > 600, chart
        assert chart["marks"], f"no data drawn in {chart['section']}"
        assert any(w > 0 and h > 0 for w, h in chart["marks"]), chart
        assert min(chart["tickHeights"] or [10]) >= 10, chart
