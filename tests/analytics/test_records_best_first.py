"""private.personal_records_upsert, best value first (issue 16, migration 20261205330000).

Equivalence, on random dense histories written through the triggers (multi-row inserts from
manual, Strava and Garmin sources, updates of every record input, deletes, rows made copies of
another and split again, private rows, many ties: a few distances, times and start dates):

- the entries the triggers maintain equal a rebuild from scratch by the previous definition
  (created here under another name from the text of migration 20261125130200) and a rebuild by
  ``private.personal_records_recompute(null, null)`` (the current definition);
- from the same stored entries, kept or made stale (dropped, worse, better, tied with a later
  or earlier start, a higher or lower id), the current function and the previous one leave
  the same entries for random sets of activities.

Floats are compared by ``repr`` (bit for bit).
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

from tests.helpers import act_as_user, create_auth_user, reset_role
from tests.hypothesis_profiles import examples

Conn = psycopg.Connection[Any]
MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
PREVIOUS = MIGRATIONS / "20261125130200_records.sql"
T0 = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)
SOURCES = ("manual", "strava", "garmin")
TYPES = ("run", "trail_run", "ride", "virtual_ride", "swim", "walk", "weight_training")
DISTANCES = (None, 0.0, 399.0, 400.0, 1000.0, 1500.0, 4999.0, 5000.0, 10000.0, 20000.0,
             21097.5, 40000.0, 42195.0, 100000.0, 2500.5)  # fmt: skip
TIMES = (None, 0, 300, 1500, 3000, 3001, 6000)
CLIMBS = (None, 0.0, 50.0, 120.5)
KINDS = ("insert", "insert", "distance", "times", "climb", "type", "private", "start",
         "deleted", "delete", "copy", "split", "noop")  # fmt: skip


def _previous_sql() -> str:
    text = PREVIOUS.read_text()
    parts = []
    for name in ("personal_record_candidates", "personal_records_upsert"):
        found = re.search(rf"create function private\.{name}\(.*?\n\$\$;\n", text, re.S)
        assert found is not None
        parts.append(found.group(0))
    return (
        "\n".join(parts)
        .replace(
            "private.personal_record_candidates(", "private.personal_record_candidates_previous("
        )
        .replace("private.personal_records_upsert(", "private.personal_records_upsert_previous(")
    )


@pytest.fixture
def world(db: Conn) -> dict[str, Any]:
    """Two athletes, each with a Strava and a Garmin connection, and the previous definition."""
    db.execute(_previous_sql().encode())
    athletes = []
    for _ in range(2):
        user = create_auth_user(db, f"{uuid.uuid4().hex[:10]}@example.com", confirmed=True)
        connections = {}
        for provider in ("strava", "garmin"):
            row = db.execute(
                "insert into public.provider_connections (user_id, provider, provider_user_id)"
                " values (%s, %s, %s) returning id",
                [user, provider, uuid.uuid4().hex[:12]],
            ).fetchone()
            assert row is not None
            connections[provider] = int(row[0])
        athletes.append((user, connections))
    return {"athletes": athletes, "serial": [0]}


# One activity: (athlete, source, type, distance, moving time, elapsed time, climb, start hour,
# private).
activity = st.tuples(
    st.integers(min_value=0, max_value=1),
    st.sampled_from(SOURCES),
    st.sampled_from(TYPES),
    st.sampled_from(DISTANCES),
    st.sampled_from(TIMES),
    st.sampled_from(TIMES),
    st.sampled_from(CLIMBS),
    st.integers(min_value=0, max_value=5),
    st.booleans(),
)

# A change to some rows: (kind, row picks, value pick).
change = st.tuples(
    st.sampled_from(KINDS),
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4),
    st.integers(min_value=0, max_value=10_000),
    st.lists(activity, min_size=1, max_size=6),
)


def _insert(db: Conn, world: dict[str, Any], rows: list[Any]) -> None:
    """The rows in one statement (the statement trigger sees them all)."""
    values = []
    for who, source, kind, distance, moving, elapsed, climb, hour, private in rows:
        user, connections = world["athletes"][who]
        world["serial"][0] += 1
        connection = connections.get(source)
        values.append(
            [
                user, connection, source if connection else None,
                "provider" if connection else "manual", connection is None,
                f"pr-{world['serial'][0]}", kind, T0 + dt.timedelta(hours=7 * hour),
                distance, moving, elapsed, climb, private,
            ]
        )  # fmt: skip
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    db.execute(
        "insert into public.activities (user_id, connection_id, provider, source, is_manual,"
        " external_id, activity_type, start_date, distance, moving_time, elapsed_time,"
        f" elevation_gain, is_private) values {placeholders}".encode(),
        [v for row in values for v in row],
    )


def _ids(db: Conn) -> list[tuple[int, Any]]:
    return [
        (int(r[0]), r[1])
        for r in db.execute(
            "select id, user_id from public.activities where external_id like 'pr-%%' order by id"
        ).fetchall()
    ]


def _apply(db: Conn, world: dict[str, Any], step: Any) -> None:
    kind, picks, pick, rows = step
    ids = _ids(db)
    if kind == "insert" or not ids:
        _insert(db, world, rows)
        return
    chosen = sorted({ids[p % len(ids)][0] for p in picks})
    if kind == "distance":
        db.execute(
            "update public.activities set distance = %s where id = any(%s)",
            [DISTANCES[pick % len(DISTANCES)], chosen],
        )
    elif kind == "times":
        db.execute(
            "update public.activities set moving_time = %s, elapsed_time = %s where id = any(%s)",
            [TIMES[pick % len(TIMES)], TIMES[(pick // 7) % len(TIMES)], chosen],
        )
    elif kind == "climb":
        db.execute(
            "update public.activities set elevation_gain = %s where id = any(%s)",
            [CLIMBS[pick % len(CLIMBS)], chosen],
        )
    elif kind == "type":
        db.execute(
            "update public.activities set activity_type = %s where id = any(%s)",
            [TYPES[pick % len(TYPES)], chosen],
        )
    elif kind == "private":
        db.execute(
            "update public.activities set is_private = not is_private where id = any(%s)",
            [chosen],
        )
    elif kind == "start":
        db.execute(
            "update public.activities set start_date = %s where id = any(%s)",
            [T0 + dt.timedelta(hours=7 * (pick % 6)), chosen],
        )
    elif kind == "deleted":
        db.execute(
            "update public.activities set deleted_at = case when deleted_at is null"
            " then now() end where id = any(%s)",
            [chosen],
        )
    elif kind == "delete":
        try:
            with db.transaction():
                db.execute("delete from public.activities where id = any(%s)", [chosen])
        except psycopg.errors.TriggeredDataChangeViolation:
            # An overridden primary and its copy in one statement: the promotion of the copy
            # (a BEFORE DELETE trigger) refuses it; one statement each.
            for row_id in chosen:
                db.execute("delete from public.activities where id = %s", [row_id])
    elif kind == "copy":
        # The rows become copies of a primary row of the same athlete (an override, as a
        # user's "these are the same workout").
        target, user = ids[pick % len(ids)]
        copies = [i for i, u in ids if u == user and i in chosen and i != target]
        if copies:
            db.execute(
                "update public.activities set primary_activity_id = case when id = %s then null"
                " else %s end, duplicate_override = true"
                " where id = any(%s) or id = %s or primary_activity_id = any(%s)",
                [target, target, copies, target, copies],
            )
    elif kind == "split":
        db.execute(
            "update public.activities set primary_activity_id = null, duplicate_override = true"
            " where id = any(%s)",
            [chosen],
        )
    else:  # a re-sync that changes no record input
        db.execute(
            "update public.activities set name = coalesce(name, '') || '.' where id = any(%s)",
            [chosen],
        )


def _entries(db: Conn) -> list[tuple[Any, ...]]:
    return [
        (r[0], r[1], r[2], r[3], repr(r[4]), repr(r[5]), r[6], r[7], r[8])
        for r in db.execute(
            "select user_id, shareable_only, activity_type::text, record, standard_distance,"
            " value, activity_id, start_date, achieved_on from public.personal_record_entries"
            " order by user_id, activity_type, record, standard_distance, shareable_only"
        ).fetchall()
    ]


def _rebuilt_by_previous(db: Conn) -> list[tuple[Any, ...]]:
    with db.transaction(force_rollback=True):
        db.execute("delete from public.personal_record_entries")
        db.execute(
            "select private.personal_records_upsert_previous(array_agg(a.id))"
            " from public.activities as a group by a.user_id"
        )
        return _entries(db)


def _rebuilt_by_recompute(db: Conn) -> list[tuple[Any, ...]]:
    with db.transaction(force_rollback=True):
        db.execute("select private.personal_records_recompute(null, null)")
        return _entries(db)


STALE = ("keep", "drop", "worse", "better", "later", "earlier", "higher_id", "lower_id")


def _make_stale(db: Conn, how: list[str]) -> None:
    """Make the stored entries arbitrary, entry by entry (in key order)."""
    keys = db.execute(
        "select ctid from public.personal_record_entries"
        " order by user_id, activity_type, record, standard_distance, shareable_only"
    ).fetchall()
    for (ctid,), kind in zip(keys, how, strict=False):
        change = {
            "keep": None,
            "drop": "delete from public.personal_record_entries where ctid = %s",
            "worse": "update public.personal_record_entries set value = case when record"
            " = 'fastest' then value * 1.5 else value / 1.5 end where ctid = %s",
            "better": "update public.personal_record_entries set value = case when record"
            " = 'fastest' then value / 1.5 else value * 1.5 end where ctid = %s",
            "later": "update public.personal_record_entries"
            " set start_date = start_date + interval '1 hour' where ctid = %s",
            "earlier": "update public.personal_record_entries"
            " set start_date = start_date - interval '1 hour' where ctid = %s",
            "higher_id": "update public.personal_record_entries"
            " set activity_id = activity_id + 1 where ctid = %s",
            "lower_id": "update public.personal_record_entries"
            " set activity_id = activity_id - 1 where ctid = %s",
        }[kind]
        if change is not None:
            db.execute(change.encode(), [ctid])


def _upserted(db: Conn, name: str, ids: list[int]) -> list[tuple[Any, ...]]:
    with db.transaction(force_rollback=True):
        db.execute(f"select private.{name}(%s)".encode(), [ids])
        return _entries(db)


@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(change, min_size=1, max_size=12),
    stale=st.lists(st.sampled_from(STALE), max_size=60),
    picks=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_entries_equal_the_previous_definition(
    db: Conn, world: dict[str, Any], history: list[Any], stale: list[str], picks: list[int]
) -> None:
    with db.transaction(force_rollback=True):
        for step in history:
            _apply(db, world, step)
        maintained = _entries(db)
        assert maintained == _rebuilt_by_previous(db)
        assert maintained == _rebuilt_by_recompute(db)
        # The function alone, from arbitrary stored entries, for some of the activities.
        ids = [i for i, _ in _ids(db)]
        chosen = sorted({ids[p % len(ids)] for p in picks}) if ids else []
        with db.transaction(force_rollback=True):
            _make_stale(db, stale)
            for some in (chosen, ids):
                previous = _upserted(db, "personal_records_upsert_previous", some)
                assert _upserted(db, "personal_records_upsert", some) == previous


def test_a_page_that_sets_no_record_writes_nothing(db: Conn, world: dict[str, Any]) -> None:
    """A page whose activities all lose leaves every entry's row version as it was."""
    with db.transaction(force_rollback=True):
        _insert(db, world, [(0, "strava", "run", 42195.0, 6000, 6000, 120.5, 0, False)])
        before = db.execute(
            "select ctid::text, xmin::text from public.personal_record_entries order by 1"
        ).fetchall()
        assert before
        _insert(db, world, [(0, "strava", "run", 10000.0, 3000, 3001, 50.0, 1, False)] * 20)
        after = db.execute(
            "select ctid::text, xmin::text from public.personal_record_entries order by 1"
        ).fetchall()
        assert after == before


def test_ties_go_to_the_earlier_start_then_the_lower_id(db: Conn, world: dict[str, Any]) -> None:
    with db.transaction(force_rollback=True):
        # Same values: the one at hour 0 holds every record, whatever the insert order.
        _insert(db, world, [(1, "manual", "run", 5000.0, 1500, 1500, 50.0, 3, False)])
        _insert(db, world, [(1, "manual", "run", 5000.0, 1500, 1500, 50.0, 0, False)] * 2)
        _insert(db, world, [(1, "manual", "run", 10000.0, 3000, 1500, 50.0, 0, False)])
        ids = [i for i, _ in _ids(db)]
        got = {
            (r[0], r[1], r[2]): int(r[3])
            for r in db.execute(
                "select record, standard_distance, shareable_only, activity_id"
                " from public.personal_record_entries where user_id = %s",
                [world["athletes"][1][0]],
            ).fetchall()
        }
        # 1 km and 5 km: 300 s and 1500 s for all four; the two at hour 0 tie, the lower id.
        assert got[("fastest", 1000.0, False)] == ids[1]
        assert got[("fastest", 5000.0, True)] == ids[1]
        assert got[("longest_duration", None, False)] == ids[1]
        assert got[("longest_distance", None, False)] == ids[3]
        assert _entries(db) == _rebuilt_by_previous(db)


def test_athlete_cannot_call_the_upsert(db: Conn, world: dict[str, Any]) -> None:
    """Threat: an athlete writing records through the security definer."""
    user = world["athletes"][0][0]
    act_as_user(db, user)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select private.personal_records_upsert(array[1::bigint])")
    db.rollback()
    reset_role(db)
