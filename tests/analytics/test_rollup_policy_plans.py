"""The rollup policies' plans (20261125130400_rollups.sql, owner first) and the rows they pass.

weekly_rollups_select and daily_loads_select read `user_id = (select auth.uid()) or
(array[user_id] && array_remove(array(select private.readable_user_ids()), (select auth.uid()))
and (shareable or admin))`. What
that buys is a plan property: when the athlete's query filters by their own user_id (the
frontend contract), the unique key serves that filter, every row scanned passes the first arm,
and PostgreSQL never evaluates the helper's initPlan. These tests read EXPLAIN ANALYZE (JSON,
VERBOSE) to hold that, for the statement as sent and for the generic plan that a prepared
statement (PostgREST's default) ends up with; and they hold the rows: the owner arm lets nobody
read more than before.

The test tables hold a handful of rows, on which the planner would rather scan the whole table;
`enable_seqscan = off` stands for the production size, where the index is the only sane path
(bench/analytics.py checks the same plans at 1,000,000 activities).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.databases import migrated_database
from tests.helpers import act_as_user, create_auth_user

Conn = psycopg.Connection[Any]
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday

# The rollups as the statistics read them (provider_volume; weekly_volume and its kin read
# public.volume_totals since migration 20261205250000, whose plans
# tests/analytics/test_volume_totals.py holds).
WEEKLY = (
    "select week_start, activity_type, sum(distance) from public.weekly_rollups"
    " where user_id = %s and week_start >= '2026-01-01' group by 1, 2 order by 1, 2"
)
DAILY = "select day, load from public.daily_loads where user_id = %s and day >= '2026-01-01'"


def _user(conn: Conn, role: str = "athlete") -> uuid.UUID:
    user = create_auth_user(conn, f"plans-{role}-{uuid.uuid4().hex[:8]}@example.com")
    if role != "athlete":
        conn.execute("update public.users set role = %s where id = %s", [role, user])
    return user


def _activities(conn: Conn, user: uuid.UUID) -> None:
    """Four weeks of shareable (manual) and unshareable (private) activities."""
    for n in range(28):
        conn.execute(
            "insert into public.activities (user_id, source, is_manual, activity_type,"
            " start_date, utc_offset, moving_time, elapsed_time, distance, is_private)"
            " values (%s, 'manual', true, 'run', %s, 3600, 3000, 3100, 10000, %s)",
            [user, T0 + timedelta(days=n), n % 3 == 0],
        )


@pytest.fixture(scope="module")
def plans_database_url(server_url: str) -> Iterator[str]:
    """A migrated database of this module's own: the plans depend on the tables' statistics,
    which rows committed by other modules into the session's shared database would change (the
    test then depended on which modules ran before it on the same worker)."""
    with migrated_database(server_url) as url:
        yield url


@pytest.fixture
def db(plans_database_url: str) -> Iterator[Conn]:
    """A superuser connection inside a transaction rolled back after the test."""
    with psycopg.connect(plans_database_url) as conn:
        conn.execute("select 1")
        try:
            yield conn
        finally:
            conn.rollback()


@pytest.fixture
def world(db: Conn) -> dict[str, uuid.UUID]:
    alice, eve = _user(db), _user(db)
    coach, admin = _user(db, "coach"), _user(db, "admin")
    for athlete in (alice, eve):
        _activities(db, athlete)
    db.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, coach],
    )
    db.execute("analyze public.weekly_rollups")
    db.execute("analyze public.daily_loads")
    return {"alice": alice, "eve": eve, "coach": coach, "admin": admin}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(
    conn: Conn, caller: uuid.UUID, query: str, subject: uuid.UUID, *, generic: bool = False
) -> list[dict[str, Any]]:
    """Every node of the EXPLAIN ANALYZE plan of `query` run by `caller` behind PostgREST."""
    with conn.transaction(force_rollback=True):
        act_as_user(conn, caller)
        conn.execute("set local enable_seqscan = off")
        options = "explain (analyze, verbose, costs off, timing off, format json)"
        if generic:
            # What a prepared statement executed many times runs: the generic plan.
            conn.execute("set local plan_cache_mode = force_generic_plan")
            conn.execute(f"prepare rollup_plan_probe as {query.replace('%s', '$1')}".encode())
            execute = sql.SQL("execute rollup_plan_probe ({})").format(sql.Literal(subject))
            row = conn.execute(sql.SQL(options + " ") + execute).fetchone()
            conn.execute("deallocate rollup_plan_probe")
        else:
            row = conn.execute(f"{options} {query}".encode(), [subject]).fetchone()
    assert row is not None
    document = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return list(_nodes(document[0]["Plan"]))


def _helper_runs(nodes: list[dict[str, Any]]) -> list[int]:
    """Actual loops of each initPlan that calls private.readable_user_ids()."""
    return [
        int(node["Actual Loops"])
        for node in nodes
        if node.get("Parent Relationship") == "InitPlan"
        and "readable_user_ids" in json.dumps(node.get("Output", []))
    ]


def _rollup_scans(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in nodes if n.get("Relation Name") in ("weekly_rollups", "daily_loads")]


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
@pytest.mark.parametrize("query", [WEEKLY, DAILY], ids=["weekly-volume", "daily-loads"])
def test_athletes_own_filtered_query_never_runs_the_helper(
    db: Conn, world: dict[str, uuid.UUID], query: str, generic: bool
) -> None:
    alice = world["alice"]
    nodes = _explain(db, alice, query, alice, generic=generic)
    assert _helper_runs(nodes) == [0], "the helper's initPlan ran for the athlete's own rows"
    assert not [n for n in nodes if n["Node Type"] == "BitmapOr"]
    scans = _rollup_scans(nodes)
    assert scans, "no scan of the rollup table"
    for scan in scans:
        assert scan["Node Type"] != "Seq Scan"
        assert scan.get("Actual Rows", 0) > 0
    # The query's own user_id filter is the index condition (on a user_id-leading index, not
    # the GIN index; on these few rows the planner may take any of them: the key, or the
    # month and year indexes of migration 20261205200100).
    index_conditions = [
        n["Index Cond"]
        for n in nodes
        if n.get("Index Name")
        in (
            "weekly_rollups_key",
            "daily_loads_pkey",
            "weekly_rollups_user_month_idx",
            "weekly_rollups_user_year_idx",
        )
    ]
    assert index_conditions
    assert all("user_id =" in c for c in index_conditions)


@pytest.mark.parametrize("query", [WEEKLY, DAILY], ids=["weekly-volume", "daily-loads"])
def test_coach_reading_an_athlete_runs_the_helper_once(
    db: Conn, world: dict[str, uuid.UUID], query: str
) -> None:
    nodes = _explain(db, world["coach"], query, world["alice"])
    assert _helper_runs(nodes) == [1]
    assert all(scan["Node Type"] != "Seq Scan" for scan in _rollup_scans(nodes))


@pytest.mark.parametrize("table", ["weekly_rollups", "daily_loads"])
def test_unfiltered_rollup_reads_keep_an_index_path(
    db: Conn, world: dict[str, uuid.UUID], table: str
) -> None:
    """A coach's overview (no user_id filter) must not scan every athlete's rollups."""
    for caller in ("coach", "alice"):
        nodes = _explain(
            db,
            world[caller],
            f"select * from public.{table} where %s::uuid is not null",
            world[caller],
        )
        scans = _rollup_scans(nodes)
        assert scans, caller
        assert all(scan["Node Type"] != "Seq Scan" for scan in scans), caller
        if caller == "alice":
            # The GIN side looks for the other readable athletes only: none for an athlete.
            gin = [n for n in nodes if n.get("Index Name", "").endswith("_user_id_array")]
            assert [n["Actual Rows"] for n in gin] == [0]


def _read(conn: Conn, caller: uuid.UUID, query: str, params: list[Any]) -> list[Any]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, caller)
        return conn.execute(query.encode(), params).fetchall()


@pytest.mark.parametrize("table", ["weekly_rollups", "daily_loads"])
def test_eve_cannot_read_alices_rollups_through_the_owner_arm(
    db: Conn, world: dict[str, uuid.UUID], table: str
) -> None:
    alice, eve = world["alice"], world["eve"]
    count = f"select count(*) from public.{table} where user_id = %s"
    assert _read(db, alice, count, [alice])[0][0] > 0
    assert _read(db, eve, count, [alice]) == [(0,)]
    assert _read(db, eve, f"select distinct user_id from public.{table}", []) == [(eve,)]


@pytest.mark.parametrize("table", ["weekly_rollups", "daily_loads"])
def test_coach_reads_only_shareable_rollups_of_a_granted_athlete(
    db: Conn, world: dict[str, uuid.UUID], table: str
) -> None:
    alice, eve, coach = world["alice"], world["eve"], world["coach"]
    rows = f"select shareable, count(*) from public.{table} where user_id = %s group by 1"
    assert dict(_read(db, alice, rows, [alice])).keys() == {True, False}
    assert dict(_read(db, coach, rows, [alice])).keys() == {True}
    assert _read(db, coach, rows, [eve]) == []  # no grant
    assert _read(db, coach, f"select distinct user_id from public.{table}", []) == [(alice,)]


@pytest.mark.parametrize("table", ["weekly_rollups", "daily_loads"])
def test_admin_reads_every_rollup_and_a_caller_without_id_none(
    db: Conn, world: dict[str, uuid.UUID], table: str
) -> None:
    users = {world["alice"], world["eve"]}
    seen = {
        r[0] for r in _read(db, world["admin"], f"select distinct user_id from public.{table}", [])
    }
    assert users <= seen
    with db.transaction(force_rollback=True):
        db.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', '{\"role\": \"authenticated\"}', true)"
        )
        assert db.execute(f"select count(*) from public.{table}").fetchone() == (0,)
