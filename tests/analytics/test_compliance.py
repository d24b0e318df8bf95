"""Planned vs completed: public.match_workouts and public.weekly_compliance."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_user, create_auth_user, reset_role

Conn = psycopg.Connection[Any]


def make_user(conn: Conn, name: str) -> uuid.UUID:
    return create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)


def add_activity(conn: Conn, user: uuid.UUID, start: str, **columns: object) -> int:
    values: dict[str, object] = {
        "user_id": user,
        "source": "manual",
        "is_manual": True,
        "activity_type": "run",
        "start_date": start,
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    row = conn.execute(
        f"insert into public.activities ({names}) values ({placeholders}) returning id".encode(),
        values,
    ).fetchone()
    assert row is not None
    return int(row[0])


def plan(conn: Conn, user: uuid.UUID, day: str, sport: str, **columns: object) -> int:
    values: dict[str, object] = {
        "user_id": user,
        "planned_date": day,
        "activity_type": sport,
        "name": f"{sport} {day}",
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    row = conn.execute(
        f"insert into public.workouts ({names}) values ({placeholders}) returning id".encode(),
        values,
    ).fetchone()
    assert row is not None
    return int(row[0])


def links(conn: Conn, user: uuid.UUID) -> dict[int, int | None]:
    return dict(
        conn.execute(
            "select id, completed_activity_id from public.workouts where user_id = %s", [user]
        ).fetchall()
    )


def match_as(conn: Conn, actor: uuid.UUID, athlete: uuid.UUID) -> int:
    with conn.transaction():
        act_as_user(conn, actor)
        row = conn.execute("select public.match_workouts(%s)", [athlete]).fetchone()
        reset_role(conn)
    assert row is not None
    return int(row[0])


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def test_workouts_match_same_local_day_compatible_sport_nearest_duration(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    # Monday 2025-06-02: an easy 30 min run and a 90 min long run planned; she ran 85 min in
    # the morning and 35 min in the evening, and also rode 30 min.
    easy = plan(tx, alice, "2025-06-02", "run", planned_duration=1800)
    long_run = plan(tx, alice, "2025-06-02", "run", planned_duration=5400)
    morning = add_activity(tx, alice, "2025-06-02T06:00:00Z", moving_time=5100)
    evening = add_activity(tx, alice, "2025-06-02T17:00:00Z", moving_time=2100)
    add_activity(tx, alice, "2025-06-02T12:00:00Z", activity_type="ride", moving_time=1800)
    # Wednesday: a ride planned, done as a Zwift ride (same family); a run the same day does
    # not fulfil it.
    ride = plan(tx, alice, "2025-06-04", "ride", planned_duration=3600)
    zwift = add_activity(
        tx, alice, "2025-06-04T18:00:00Z", activity_type="virtual_ride", moving_time=3500
    )
    add_activity(tx, alice, "2025-06-04T06:00:00Z", moving_time=3600)
    # Thursday: a run planned by distance only, done at 23:30 in New York (03:30 UTC Friday):
    # the local date is Thursday.
    by_distance = plan(tx, alice, "2025-06-05", "run", planned_distance=10000)
    late = add_activity(
        tx, alice, "2025-06-06T03:30:00Z", utc_offset=-14400, moving_time=3000, distance=9800
    )
    # Friday: a swim planned, nothing done.
    swim = plan(tx, alice, "2025-06-06", "swim", planned_duration=2400)
    # Saturday: a workout the athlete linked by hand to her Saturday run, though another run
    # the same day is nearer in duration: an explicit link is kept.
    hand_picked = add_activity(tx, alice, "2025-06-07T06:00:00Z", moving_time=7200)
    nearer = add_activity(tx, alice, "2025-06-07T16:00:00Z", moving_time=3600)
    explicit = plan(
        tx, alice, "2025-06-07", "run", planned_duration=3600, completed_activity_id=hand_picked
    )

    assert match_as(tx, alice, alice) == 4
    assert links(tx, alice) == {
        easy: evening,
        long_run: morning,
        ride: zwift,
        by_distance: late,
        swim: None,
        explicit: hand_picked,
    }
    # Re-matching is idempotent; a new activity fills the open workout only.
    assert match_as(tx, alice, alice) == 0
    pool = add_activity(tx, alice, "2025-06-06T06:00:00Z", activity_type="swim", moving_time=2000)
    assert match_as(tx, alice, alice) == 1
    assert links(tx, alice)[swim] == pool
    assert links(tx, alice)[explicit] == hand_picked
    assert nearer not in links(tx, alice).values()


def test_duplicates_and_deleted_activities_are_not_matched(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    workout = plan(tx, alice, "2025-06-02", "run", planned_duration=3600)
    primary = add_activity(tx, alice, "2025-06-02T06:00:00Z", moving_time=3000)
    copy = add_activity(tx, alice, "2025-06-02T06:00:00Z", moving_time=3600, external_id="c")
    add_activity(
        tx, alice, "2025-06-02T09:00:00Z", moving_time=3600, deleted_at="2025-06-03T00:00:00Z"
    )
    # Set last, with the athlete's override, so no later regrouping changes the choice.
    tx.execute(
        "update public.activities set primary_activity_id = case when id = %s then %s end,"
        " duplicate_override = true where id in (%s, %s)",
        [copy, primary, primary, copy],
    )
    assert match_as(tx, alice, alice) == 1
    assert links(tx, alice) == {workout: primary}


def test_weekly_compliance_figures(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    tx.execute(
        "update public.users set preferences = %s where id = %s",
        [json.dumps({"ftp": 250}), alice],
    )
    # Week of Monday 2025-06-02: three workouts, two done.
    plan(tx, alice, "2025-06-02", "ride", planned_duration=3600, planned_distance=30000,
         planned_load=70)  # fmt: skip
    plan(tx, alice, "2025-06-04", "run", planned_duration=2400, planned_distance=8000,
         planned_load=40)  # fmt: skip
    plan(tx, alice, "2025-06-08", "swim", planned_duration=1800, planned_load=20)
    # 1 h at FTP: load 100; a 45 min run without power or heart rate: 0.75 x 50 = 37.5
    add_activity(tx, alice, "2025-06-02T06:00:00Z", activity_type="ride", moving_time=3600,
                 distance=32000, weighted_average_watts=250)  # fmt: skip
    add_activity(tx, alice, "2025-06-04T06:00:00Z", moving_time=2700, distance=8500)
    # Next week: one workout, not done.
    plan(tx, alice, "2025-06-09", "run", planned_duration=3600)
    assert match_as(tx, alice, alice) == 2
    rows = tx.execute(
        "select week_start, planned_count, completed_count, planned_duration, completed_duration,"
        " planned_distance, completed_distance, planned_load, completed_load,"
        " completion_rate::float8"
        " from public.weekly_compliance where user_id = %s order by week_start",
        [alice],
    ).fetchall()
    assert rows == [
        # durations 3600 + 2400 + 1800 = 7800 planned, 3600 + 2700 = 6300 done; distances
        # 30000 + 8000 planned, 32000 + 8500 done; loads 70 + 40 + 20, 100 + 37.5; 2 / 3
        (date(2025, 6, 2), 3, 2, 7800, 6300, 38000.0, 40500.0, 130.0, 137.5,
         pytest.approx(0.6667)),
        (date(2025, 6, 9), 1, 0, 3600, 0, 0.0, 0.0, 0.0, 0.0, 0),
    ]  # fmt: skip


@pytest.fixture
def coached(tx: Conn) -> dict[str, Any]:
    alice, eve, bob = make_user(tx, "alice"), make_user(tx, "eve"), make_user(tx, "bob")
    tx.execute("update public.users set role = 'coach' where id = %s", [bob])
    tx.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, bob],
    )
    monday = plan(tx, alice, "2025-06-02", "run", planned_duration=3600)
    tuesday = plan(tx, alice, "2025-06-03", "run", planned_duration=3600)
    # Monday's nearest run is private; a shareable one is further off.
    private = add_activity(tx, alice, "2025-06-02T06:00:00Z", moving_time=3600, is_private=True)
    shared = add_activity(tx, alice, "2025-06-02T17:00:00Z", moving_time=1200)
    # Tuesday only a private run.
    private_tuesday = add_activity(
        tx, alice, "2025-06-03T06:00:00Z", moving_time=3500, is_private=True
    )
    return {
        "alice": alice,
        "eve": eve,
        "bob": bob,
        "monday": monday,
        "tuesday": tuesday,
        "private": private,
        "shared": shared,
        "private_tuesday": private_tuesday,
    }


def test_coach_matches_only_activities_the_coach_may_read(
    tx: Conn, coached: dict[str, Any]
) -> None:
    c = coached
    assert match_as(tx, c["bob"], c["alice"]) == 1
    assert links(tx, c["alice"]) == {c["monday"]: c["shared"], c["tuesday"]: None}


def test_eve_cannot_match_alices_workouts(tx: Conn, coached: dict[str, Any]) -> None:
    c = coached
    assert match_as(tx, c["eve"], c["alice"]) == 0
    assert links(tx, c["alice"]) == {c["monday"]: None, c["tuesday"]: None}


def test_coach_compliance_does_not_reveal_private_completions(
    tx: Conn, coached: dict[str, Any]
) -> None:
    c = coached
    assert match_as(tx, c["alice"], c["alice"]) == 2  # the athlete links her private runs
    query = (
        "select user_id, planned_count, completed_count, completed_duration"
        " from public.weekly_compliance"
    )

    def seen(actor: uuid.UUID) -> list[tuple[Any, ...]]:
        with tx.transaction(force_rollback=True):
            act_as_user(tx, actor)
            found = tx.execute(query).fetchall()
            reset_role(tx)
        return found

    assert seen(c["alice"]) == [(c["alice"], 2, 2, 7100)]
    # Issue 14: a workout fulfilled by a hidden activity is hidden from the coach with it (its
    # completed_activity_id would name the hidden activity).
    assert seen(c["bob"]) == []
    assert seen(c["eve"]) == []
