"""The analyst role: aggregate views in schema analytics, no personal data, no Strava-sourced
or private activity, groups of at least 5 athletes, and nothing else readable."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.analytics.test_rollups import T0, insert_activity, make_athletes

Conn = psycopg.Connection[Any]

ANALYTICS_VIEWS = {
    "analytics.weekly_volume_by_sport",
    "analytics.monthly_volume_by_sport",
    "analytics.monthly_volume_by_provider",
    "analytics.weekly_training_load",
    "analytics.monthly_sync_outcomes",
}


def _as_analyst(conn: Conn, query: str, params: list[Any] | None = None) -> list[Any]:
    with conn.transaction(force_rollback=True):
        conn.execute("set local role analyst")
        return conn.execute(query.encode(), params or []).fetchall()


def test_the_analyst_role_is_plain(db: Conn) -> None:
    row = db.execute(
        "select rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb"
        " from pg_roles where rolname = 'analyst'"
    ).fetchone()
    assert row == (False, False, False, False, False)
    # member of nothing: it inherits no one's rights
    assert db.execute(
        "select count(*) from pg_auth_members where member = 'analyst'::regrole"
    ).fetchone() == (0,)


def test_analyst_reads_exactly_the_analytics_views(db: Conn) -> None:
    readable = {
        row[0]
        for row in db.execute(
            "select c.oid::regclass::text from pg_class as c"
            " join pg_namespace as n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')"
            " and n.nspname not in ('pg_catalog', 'information_schema')"
            " and n.nspname not like 'pg_toast%%'"
            " and (has_table_privilege('analyst', c.oid, 'select, insert, update, delete,"
            " truncate, references, trigger')"
            " or has_any_column_privilege('analyst', c.oid, 'select, insert, update'))"
        ).fetchall()
    }
    assert readable == ANALYTICS_VIEWS
    assert {
        row[0]
        for row in db.execute(
            "select nspname from pg_namespace where has_schema_privilege('analyst', oid, 'usage')"
            " and nspname not in ('pg_catalog', 'information_schema')"
            " and pg_get_userbyid(nspowner) = 'trainlytics_owner'"
        ).fetchall()
    } == {"analytics"}


def test_analyst_executes_none_of_our_functions(db: Conn) -> None:
    executable = db.execute(
        "select p.oid::regprocedure::text from pg_proc as p"
        " join pg_namespace as n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'private', 'analytics')"
        " and has_function_privilege('analyst', p.oid, 'execute')"
    ).fetchall()
    assert executable == []


@pytest.mark.parametrize(
    "statement",
    [
        "select * from public.activities",
        "select * from public.users",
        "select * from public.weekly_rollups",
        "select * from public.weekly_volume",
        "select * from public.sync_history",
        "select * from private.provider_tokens",
        "select public.rebuild_rollups()",
        "select private.readable_user_ids()",
        "delete from public.activities",
        "select * from auth.users",
        "create view analytics.mine as select 1 as x",
    ],
)
def test_analyst_is_denied_everything_else(db: Conn, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_analyst(db, statement)


def test_analytics_views_hold_no_personal_data(db: Conn) -> None:
    columns = db.execute(
        "select c.oid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod)"
        " from pg_attribute as a join pg_class as c on c.oid = a.attrelid"
        " where c.relnamespace = 'analytics'::regnamespace and a.attnum > 0"
    ).fetchall()
    assert {c[0] for c in columns} == ANALYTICS_VIEWS
    for view, column, type_name in columns:
        assert type_name != "uuid", (view, column)
        assert not any(
            word in column
            for word in ("user", "email", "name", "device", "external", "description", "_id")
        ), (view, column)


def _population(conn: Conn, athletes: int) -> list[uuid.UUID]:
    world = make_athletes(conn, athletes)
    for user in world.users:
        insert_activity(conn, world, user, "garmin", T0, distance=10000.0)
        insert_activity(conn, world, user, "manual", T0, activity_type="run", distance=5000.0)
        # Strava-sourced and private activities must never reach the analyst
        insert_activity(conn, world, user, "strava", T0, activity_type="swim", distance=777.0)
        insert_activity(
            conn, world, user, "garmin", T0, activity_type="walk", distance=333.0, is_private=True
        )
    return world.users


def test_analyst_sees_aggregates_without_strava_or_private_rows(db: Conn) -> None:
    _population(db, 6)
    weekly = _as_analyst(
        db,
        "select activity_type::text, athlete_count::int, activity_count::int, total_distance"
        " from analytics.weekly_volume_by_sport where week_start = %s order by 1",
        [T0.date()],
    )
    assert weekly == [("ride", 6, 6, 60000.0), ("run", 6, 6, 30000.0)]
    sources = _as_analyst(
        db,
        "select source, athlete_count::int from analytics.monthly_volume_by_provider"
        " where month_start = %s order by 1",
        [T0.date().replace(day=1)],
    )
    assert sources == [("garmin", 6), ("manual_or_file", 6)]
    load = _as_analyst(
        db,
        "select athlete_count::int, mean_load > 0, load_median is null"
        " from analytics.weekly_training_load where week_start = %s",
        [T0.date()],
    )
    assert load == [(6, True, True)]  # quartiles only from 10 athletes (issue 14)


def test_groups_of_fewer_than_five_athletes_are_hidden(db: Conn) -> None:
    _population(db, 4)
    for view in ANALYTICS_VIEWS - {"analytics.monthly_sync_outcomes"}:
        assert _as_analyst(db, f"select count(*) from {view}") == [(0,)], view
