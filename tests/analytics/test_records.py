"""Personal records per sport from activity summaries (public.personal_records)."""

from __future__ import annotations

import uuid
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


Record = tuple[str, str, float | None]


def records(conn: Conn, user: uuid.UUID) -> dict[Record, tuple[float, int]]:
    return {
        (r[0], r[1], r[2]): (float(r[3]), int(r[4]))
        for r in conn.execute(
            "select activity_type::text, record, standard_distance, value, activity_id"
            " from public.personal_records where user_id = %s",
            [user],
        ).fetchall()
    }


@pytest.fixture
def tx(db: Conn) -> Conn:
    db.execute("select 1")
    return db


def test_records_per_sport_from_summaries(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    five = add_activity(
        tx, alice, "2025-06-01T06:00:00Z", activity_type="run", distance=5000,
        moving_time=1500, elapsed_time=1600, elevation_gain=50,
    )  # fmt: skip
    ten = add_activity(
        tx, alice, "2025-06-02T06:00:00Z", activity_type="run", distance=10500,
        moving_time=3150, elapsed_time=3300, elevation_gain=120,
    )  # fmt: skip
    # Very fast but 1 m short of 5 km: it counts for 1 km only.
    short = add_activity(
        tx, alice, "2025-06-03T06:00:00Z", activity_type="run", distance=4999, moving_time=1000
    )
    ride = add_activity(
        tx, alice, "2025-06-04T06:00:00Z", activity_type="ride", distance=40000, moving_time=4000,
        elapsed_time=4200, elevation_gain=300,
    )  # fmt: skip
    swim = add_activity(
        tx, alice, "2025-06-05T06:00:00Z", activity_type="swim", distance=1500, moving_time=1800
    )
    trail = add_activity(
        tx, alice, "2025-06-06T06:00:00Z", activity_type="trail_run", distance=8000,
        moving_time=3600,
    )  # fmt: skip
    assert records(tx, alice) == {
        # 1 km: five 1500 x 1000 / 5000 = 300, ten 3150 x 1000 / 10500 = 300 (tie: the
        # earlier wins), short 1000 x 1000 / 4999 = 200.040008
        ("run", "fastest", 1000.0): (pytest.approx(200.040008), short),
        # 5 km: five 1500, ten 3150 x 5000 / 10500 = 1500: tie, the earlier (five) keeps it
        ("run", "fastest", 5000.0): (1500.0, five),
        # 10 km: only ten is long enough: 3150 x 10000 / 10500 = 3000
        ("run", "fastest", 10000.0): (3000.0, ten),
        ("run", "longest_distance", None): (10500.0, ten),
        ("run", "longest_duration", None): (3300.0, ten),  # elapsed time
        ("run", "biggest_climb", None): (120.0, ten),
        # 20 km: 4000 x 20000 / 40000 = 2000; 40 km: 4000
        ("ride", "fastest", 20000.0): (2000.0, ride),
        ("ride", "fastest", 40000.0): (4000.0, ride),
        ("ride", "longest_distance", None): (40000.0, ride),
        ("ride", "longest_duration", None): (4200.0, ride),
        ("ride", "biggest_climb", None): (300.0, ride),
        # 400 m: 1800 x 400 / 1500 = 480; 1500 m: 1800
        ("swim", "fastest", 400.0): (480.0, swim),
        ("swim", "fastest", 1500.0): (1800.0, swim),
        ("swim", "longest_distance", None): (1500.0, swim),
        ("swim", "longest_duration", None): (1800.0, swim),  # moving time when no elapsed
        # each canonical sport has its own records: 3600 x 1000 / 8000 = 450; 3600 x 5000 / 8000
        ("trail_run", "fastest", 1000.0): (450.0, trail),
        ("trail_run", "fastest", 5000.0): (2250.0, trail),
        ("trail_run", "longest_distance", None): (8000.0, trail),
        ("trail_run", "longest_duration", None): (3600.0, trail),
    }


def test_records_count_primary_live_activities_only(tx: Conn) -> None:
    alice = make_user(tx, "alice")
    primary = add_activity(
        tx, alice, "2025-06-01T06:00:00Z", activity_type="run", distance=5000, moving_time=1500
    )
    # A copy of the same workout from another source that reads a little longer and faster:
    # not the primary, so it holds no record.
    copy = add_activity(
        tx, alice, "2025-06-01T06:00:00Z", activity_type="run", distance=5100, moving_time=1400,
        external_id="copy",
    )  # fmt: skip
    tx.execute(
        "update public.activities set primary_activity_id = case when id = %s then %s end,"
        " duplicate_override = true where id in (%s, %s)",
        [copy, primary, primary, copy],
    )
    add_activity(
        tx, alice, "2025-06-02T06:00:00Z", activity_type="run", distance=20000, moving_time=4000,
        deleted_at="2025-06-03T00:00:00Z",
    )  # fmt: skip
    got = records(tx, alice)
    assert got[("run", "longest_distance", None)] == (5000.0, primary)
    assert got[("run", "fastest", 5000.0)] == (1500.0, primary)
    assert ("run", "fastest", 10000.0) not in got


def test_coach_sees_records_of_shareable_activities_only(tx: Conn) -> None:
    alice, eve, bob = make_user(tx, "alice"), make_user(tx, "eve"), make_user(tx, "bob")
    tx.execute("update public.users set role = 'coach' where id = %s", [bob])
    tx.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, bob],
    )
    strava = tx.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', 's-1') returning id",
        [alice],
    ).fetchone()
    assert strava is not None
    shared = add_activity(
        tx, alice, "2025-06-01T06:00:00Z", activity_type="run", distance=5000, moving_time=1500
    )
    private = add_activity(
        tx, alice, "2025-06-02T06:00:00Z", activity_type="run", distance=10000, moving_time=2200,
        is_private=True,
    )  # fmt: skip
    from_strava = add_activity(
        tx, alice, "2025-06-03T06:00:00Z", activity_type="run", distance=21100, moving_time=5000,
        source="provider", is_manual=False, connection_id=strava[0], provider="strava",
        external_id="s-9",
    )  # fmt: skip
    add_activity(
        tx, eve, "2025-06-01T06:00:00Z", activity_type="run", distance=42195, moving_time=9000
    )

    def holders(actor: uuid.UUID) -> set[int]:
        with tx.transaction(force_rollback=True):
            act_as_user(tx, actor)
            found = {
                int(r[0])
                for r in tx.execute("select activity_id from public.personal_records").fetchall()
            }
            reset_role(tx)
        return found

    assert holders(alice) == {private, from_strava}  # faster (private), longer (Strava)
    assert holders(bob) == {shared}
    assert holders(eve).isdisjoint({shared, private, from_strava})
