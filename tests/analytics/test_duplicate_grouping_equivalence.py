"""private.group_activity_duplicates read narrow first (issue 16, migration 20261205300000), its
pairs found in sorted arrays (migration 20261205370000).

Equivalence: on random dense histories (copies of a workout from several connections, manual
entries and files, starts a few seconds to minutes apart, whole-hour time-zone shifts with and
without a time-zone signature, near misses around every tolerance, sub-second starts, deleted
rows, overrides, upload-origin links and device hints, and stored groupings that are right,
stale or arbitrary), the current definition makes exactly the changes of the previous one
(created here under another name from the text of migration 20261125130000): the same rows get
the same primary, and it returns the same count, for random anchors of one or two athletes.
Triggers are off while the histories are written and compared (session_replication_role), so
each definition's own update is all that changes.

Threat: an athlete cannot execute the function (its grants are unchanged: service_role only).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from tests.helpers import act_as_user, create_auth_user, reset_role
from tests.hypothesis_profiles import examples

Conn = psycopg.Connection[Any]
MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
PREVIOUS = MIGRATIONS / "20261125130000_activity_duplicates.sql"
T0 = dt.datetime(2026, 10, 6, 5, 30, tzinfo=dt.UTC)
PROVIDERS = ("garmin", "strava", "wahoo")
TYPES = ("run", "trail_run", "ride", "virtual_ride", "workout", "walk")
OFFSETS = (0, 3600, 7200, -18000, 19800)
DEVICES = (None, "Forerunner 265", " forerunner 265", "Edge 540")


def _previous_function_sql() -> str:
    text = PREVIOUS.read_text()
    found = re.search(
        r"create function private\.group_activity_duplicates\(.*?\n\$\$;\n", text, re.S
    )
    assert found is not None
    return found.group(0).replace(
        "private.group_activity_duplicates(", "private.group_activity_duplicates_previous(", 1
    )


@pytest.fixture
def world(db: Conn) -> dict[str, Any]:
    """Two athletes with three connections each, and the previous definition."""
    db.execute(_previous_function_sql().encode())
    athletes = []
    for _ in range(2):
        user = create_auth_user(db, f"{uuid.uuid4().hex[:10]}@example.com", confirmed=True)
        connections = {}
        for provider in PROVIDERS:
            row = db.execute(
                "insert into public.provider_connections (user_id, provider, provider_user_id)"
                " values (%s, %s, %s) returning id",
                [user, provider, uuid.uuid4().hex[:12]],
            ).fetchone()
            assert row is not None
            connections[provider] = int(row[0])
        athletes.append((user, connections))
    return {"athletes": athletes}


# One copy of a workout: (source, start shift in seconds, offset index, duration factor,
# duration delta, distance factor, activity type index, device index, linked, deleted,
# overridden).
copy = st.tuples(
    st.sampled_from(("garmin", "strava", "wahoo", "manual", "file")),
    st.one_of(
        st.integers(min_value=-420, max_value=420),
        st.builds(
            lambda h, s: h * 3600 + s,
            st.integers(min_value=-15, max_value=15),
            st.integers(min_value=-90, max_value=90),
        ),
        st.sampled_from((0, 60, 61, 120, 121, 300, 301, 3600, 3660, 3661, -7200, 50400)),
        st.floats(min_value=-400, max_value=400, allow_nan=False).map(lambda s: round(s, 3)),
    ),
    st.integers(min_value=0, max_value=len(OFFSETS) - 1),
    st.sampled_from((1.0, 1.0, 1.01, 0.98, 1.02, 1.05, 0.9, 1.1, 1.25)),
    st.sampled_from((0, 0, 30, -59, 60, 61, 119, 121, 299, 301)),
    st.sampled_from((1.0, 1.0, 1.005, 0.99, 1.04, 0.95, 1.1, 0.0, -1.0)),
    st.integers(min_value=0, max_value=len(TYPES) - 1),
    st.integers(min_value=0, max_value=len(DEVICES) - 1),
    st.booleans(),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=0, max_value=14),
)

workout = st.tuples(
    st.integers(min_value=0, max_value=40 * 3600),  # start, seconds after T0
    st.integers(min_value=300, max_value=4 * 3600),  # duration
    st.integers(min_value=0, max_value=600_000).map(lambda d: d / 10),  # distance, m
    st.integers(min_value=0, max_value=1),  # athlete
    st.lists(copy, min_size=1, max_size=4),
)


def _write(
    db: Conn, world: dict[str, Any], workouts: list[Any]
) -> list[tuple[int, Any, dt.datetime]]:
    """The rows, as stored by a writer that bypassed the grouping (triggers off)."""
    rows: list[tuple[int, Any, dt.datetime]] = []
    serial = 0
    for start, duration, distance, who, copies in workouts:
        user, connections = world["athletes"][who]
        first_external: str | None = None
        for (
            source, shift, offset, d_factor, d_delta, km_factor, kind, device, linked, deleted,
            overridden,
        ) in copies:  # fmt: skip
            serial += 1
            connection = connections.get(source)
            external_id = f"{700000 + serial}"
            first_external = first_external or external_id
            origin = f"garmin_push_{first_external}" if linked else None
            when = T0 + dt.timedelta(seconds=start + shift)
            length = max(0, round(duration * d_factor) + d_delta)
            km = None if km_factor < 0 else distance * km_factor
            row = db.execute(
                "insert into public.activities (user_id, connection_id, provider, source,"
                " is_manual, external_id, name, activity_type, start_date, utc_offset,"
                " elapsed_time, moving_time, distance, device_name, activity_data,"
                " average_heartrate, deleted_at, duplicate_override)"
                " values (%s, %s, %s, %s, %s, %s, 'x', %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s) returning id",
                [
                    user, connection, source if connection else None,
                    "provider" if connection else source, source == "manual", external_id,
                    TYPES[kind], when, OFFSETS[offset], length if serial % 7 else None, length,
                    km, DEVICES[device], Jsonb({"external_id": origin} if origin else {}),
                    140.0 if serial % 3 == 0 else None,
                    when + dt.timedelta(days=1) if deleted == 0 else None, overridden == 0,
                ],
            ).fetchone()  # fmt: skip
            assert row is not None
            rows.append((int(row[0]), user, when))
    return rows


def _state(db: Conn) -> list[tuple[int, int | None]]:
    return [
        (int(r[0]), None if r[1] is None else int(r[1]))
        for r in db.execute(
            "select id, primary_activity_id from public.activities"
            " where external_id like '7%%' order by id"
        ).fetchall()
    ]


def _run(db: Conn, name: str, users: list[Any], starts: list[Any]) -> tuple[int, Any]:
    with db.transaction(force_rollback=True):
        row = db.execute(f"select private.{name}(%s, %s)", [users, starts]).fetchone()
        assert row is not None
        return int(row[0]), _state(db)


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    workouts=st.lists(workout, min_size=1, max_size=14),
    stored=st.sampled_from(("none", "regrouped", "arbitrary")),
    picks=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=6),
    extra=st.lists(st.integers(min_value=-3600, max_value=44 * 3600), max_size=2),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_changes_equal_the_previous_definition(
    db: Conn,
    world: dict[str, Any],
    workouts: list[Any],
    stored: str,
    picks: list[int],
    extra: list[int],
    seed: int,
) -> None:
    with db.transaction(force_rollback=True):
        db.execute("set local session_replication_role = replica")
        rows = _write(db, world, workouts)
        if stored == "regrouped":  # what the triggers would have left
            db.execute(
                "select private.group_activity_duplicates_previous(%s, %s)",
                [[r[1] for r in rows], [r[2] for r in rows]],
            )
        elif stored == "arbitrary":  # a stale or wrong grouping: regrouping must mend it
            for i, (row_id, user, _) in enumerate(rows):
                others = [r[0] for r in rows if r[1] == user and r[0] != row_id]
                if others and (seed + i) % 3 == 0:
                    db.execute(
                        "update public.activities set primary_activity_id = %s where id = %s",
                        [others[(seed + i) % len(others)], row_id],
                    )
        anchors = [rows[p % len(rows)] for p in picks]
        users = [a[1] for a in anchors] + [rows[0][1] for _ in extra]
        starts = [a[2] for a in anchors] + [T0 + dt.timedelta(seconds=s) for s in extra]
        previous = _run(db, "group_activity_duplicates_previous", users, starts)
        current = _run(db, "group_activity_duplicates", users, starts)
        assert current == previous


def test_a_crowd_and_its_copies_equal_the_previous_definition(
    db: Conn, world: dict[str, Any]
) -> None:
    """A crowd of same-time files with copies from every connection, anchored at one row."""
    copies = [("file", 0, 1, 1.0, 0, 1.0, 0, 0, False, 5, 5)] * 12 + [
        (provider, 20, 1, 1.003, 0, 1.0, 0, 1, True, 5, 5) for provider in PROVIDERS
    ]
    with db.transaction(force_rollback=True):
        db.execute("set local session_replication_role = replica")
        rows = _write(db, world, [(3600, 3000, 10_000.0, 0, copies)])
        previous = _run(db, "group_activity_duplicates_previous", [rows[0][1]], [rows[0][2]])
        current = _run(db, "group_activity_duplicates", [rows[0][1]], [rows[0][2]])
    assert current == previous
    assert current[0] > 0  # the crowd did group


@pytest.mark.parametrize(
    ("files", "path"),
    [
        (2, "three starts before the copy within 300 s: found among its predecessors"),
        (3, "four starts before the copy within 300 s: a crowd, paired by hashing too"),
    ],
)
def test_copies_with_files_between_them_equal_the_previous_definition(
    db: Conn, world: dict[str, Any], files: int, path: str
) -> None:
    """A Garmin and a Strava copy of a run 100 s apart with imported rides between them (migration
    20261205370000): on each side of the crowd limit the same changes as before, and the two
    copies grouped."""
    # rides between two runs: no pair with them, only places in the order of starts
    between = [
        ("file", 100 * (n + 1) // (files + 1), 0, 1.0, 0, 1.0, 2, 0, False, 5, 5)
        for n in range(files)
    ]
    copies = [
        ("garmin", 0, 0, 1.0, 0, 1.0, 0, 1, False, 5, 5),
        *between,
        ("strava", 100, 0, 1.0, 0, 1.0, 0, 1, False, 5, 5),
    ]
    with db.transaction(force_rollback=True):
        db.execute("set local session_replication_role = replica")
        rows = _write(db, world, [(7200, 3000, 10_000.0, 0, copies)])
        previous = _run(db, "group_activity_duplicates_previous", [rows[0][1]], [rows[0][2]])
        current = _run(db, "group_activity_duplicates", [rows[0][1]], [rows[0][2]])
    assert current == previous, path
    runs = {rows[0][0], rows[-1][0]}  # the Garmin and the Strava copy
    assert any(row in runs and primary in runs for row, primary in current[1]), path


def test_athlete_cannot_call_the_grouping_function(db: Conn, world: dict[str, Any]) -> None:
    """Threat: an athlete regrouping (and so rewriting) rows through the security definer."""
    user = world["athletes"][0][0]
    act_as_user(db, user)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select private.group_activity_duplicates(%s, %s)", [[user], [T0]])
    db.rollback()
    reset_role(db)
