"""The report's and ``trainlytics stats``' reads — as the athlete, under row-level security.

:func:`as_athlete` sets the transaction-local role and JWT claims PostgREST sets, so every
read inside it sees exactly what the athlete sees in the frontend. The other functions are one
query each over the statistics views (rows as dicts); the catalog probes say which optional
statistics objects the database has.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

__all__ = [
    "Conn",
    "Row",
    "as_athlete",
    "column_names",
    "dict_rows",
    "function_exists",
    "last_activity_day",
    "latest_activity_start",
    "personal_records",
    "provider_connections",
    "recent_activities",
    "recent_syncs",
    "recurring_errors",
    "relation_exists",
    "source_totals",
    "sport_totals",
    "sync_statistics",
    "training_load",
    "user_profile_by_email",
    "weekly_volume",
]

Conn = psycopg.Connection[Any]
Row = dict[str, Any]


def dict_rows(conn: Conn, query: LiteralString, params: dict[str, Any] | None = None) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(query, params).fetchall())


def user_profile_by_email(conn: Conn, email: str) -> tuple[Any, ...] | None:
    """``(id, email, first_name, last_name, preferences)`` of the user (any case), or None."""
    return conn.execute(
        "select id, email, first_name, last_name, preferences from public.users"
        " where lower(email) = lower(%s)",
        [email],
    ).fetchone()


@contextmanager
def as_athlete(conn: Conn, athlete_id: uuid.UUID) -> Iterator[None]:
    """Inside a transaction (or savepoint), act as the athlete behind PostgREST; restore after."""
    claims = json.dumps({"sub": str(athlete_id), "role": "authenticated", "aud": "authenticated"})
    with conn.transaction():
        conn.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            [claims],
        )
        try:
            yield
        finally:
            if not conn.broken and conn.info.transaction_status != TransactionStatus.INERROR:
                conn.execute("reset role")
                conn.execute("select set_config('request.jwt.claims', '', true)")


def relation_exists(conn: Conn, regclass: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", [regclass]).fetchone()
    return bool(row and row[0])


def function_exists(conn: Conn, regprocedure: str) -> bool:
    row = conn.execute("select to_regprocedure(%s) is not null", [regprocedure]).fetchone()
    return bool(row and row[0])


def column_names(conn: Conn, relation: str) -> set[str]:
    rows = conn.execute(
        "select attname from pg_attribute where attrelid = to_regclass(%s)"
        " and attnum > 0 and not attisdropped",
        [relation],
    ).fetchall()
    return {str(r[0]) for r in rows}


def latest_activity_start(conn: Conn, user_id: uuid.UUID) -> dt.datetime | None:
    """When the athlete's latest stored (not deleted) activity started: one row in index order
    (issue 16), whatever the history."""
    row = conn.execute(
        "select start_date from public.activities where user_id = %s and deleted_at is null"
        " order by start_date desc limit 1",
        [user_id],
    ).fetchone()
    return row[0] if row else None


def last_activity_day(conn: Conn, user_id: uuid.UUID, latest_start: dt.datetime) -> dt.date | None:
    """The latest local day among the activities started up to 36 h before ``latest_start``
    (see :func:`latest_activity_start`; UTC offsets lie within +-18 h, so the latest local day
    is among them): a bounded read instead of a max over every activity (issue 16)."""
    row = conn.execute(
        "select max(start_date_local)::date from public.activities"
        " where user_id = %s and deleted_at is null"
        " and start_date >= %s::timestamptz - interval '36 hours'",
        [user_id, latest_start],
    ).fetchone()
    return row[0] if row else None


# --- read as the athlete (inside as_athlete) -------------------------------------------------


def weekly_volume(conn: Conn, user_id: uuid.UUID, start: dt.date, end: dt.date) -> list[Row]:
    return dict_rows(
        conn,
        "select week_start, activity_type, activity_count, total_distance,"
        " total_moving_time, total_elevation_gain from public.weekly_volume"
        " where user_id = %(user_id)s and week_start between %(start)s and %(end)s"
        " order by week_start, activity_type",
        {"user_id": user_id, "start": start, "end": end},
    )


def sport_totals(conn: Conn, user_id: uuid.UUID, start: dt.date, end: dt.date) -> list[Row]:
    return dict_rows(
        conn,
        "select activity_type, sum(activity_count) as n, sum(total_distance) as distance,"
        " sum(total_moving_time) as moving_time,"
        " sum(total_elevation_gain) as elevation, sum(total_calories) as calories"
        " from public.weekly_volume"
        " where user_id = %(user_id)s and week_start between %(start)s and %(end)s"
        " group by activity_type order by sum(total_moving_time) desc, activity_type",
        {"user_id": user_id, "start": start, "end": end},
    )


def source_windows(start: dt.date, end: dt.date) -> dict[str, dt.date]:
    """The window ``start``..``end`` (local days, inclusive) as whole ISO weeks
    ``first_week``..``last_week`` (exclusive) and the days before and after them, up to
    ``after`` (exclusive): what :func:`source_totals` reads of public.source_totals."""
    after = end + dt.timedelta(days=1)
    first_week = start + dt.timedelta(days=(7 - start.weekday()) % 7)
    last_week = after - dt.timedelta(days=after.weekday())
    if last_week <= first_week:  # no whole week: days only
        first_week = last_week = after
    return {"start": start, "first_week": first_week, "last_week": last_week, "after": after}


SOURCE_TOTALS_SQL: LiteralString = (
    # The scope the caller reads: every activity for the athlete and admins, the shareable
    # ones for a coach (RLS holds the rest: a coach asking for scope all reads nothing).
    "with scope as (select %(user_id)s::uuid is distinct from (select auth.uid())"
    " and not (select private.is_admin()) as shareable_only)"
    " select t.source as src, sum(t.activity_count)::bigint as n,"
    " sum(t.distance)::double precision as distance, sum(t.moving_time)::bigint as moving_time"
    " from ("
    " select w.source, w.activity_count, w.distance, w.moving_time from public.source_totals as w"
    " where w.user_id = %(user_id)s and w.shareable_only = (select shareable_only from scope)"
    " and w.period = 'week' and w.period_start >= %(first_week)s"
    " and w.period_start < %(last_week)s"
    " union all"
    " select d.source, d.activity_count, d.distance, d.moving_time from public.source_totals as d"
    " where d.user_id = %(user_id)s and d.shareable_only = (select shareable_only from scope)"
    " and d.period = 'day' and d.period_start >= %(start)s and d.period_start < %(first_week)s"
    " union all"
    " select d.source, d.activity_count, d.distance, d.moving_time from public.source_totals as d"
    " where d.user_id = %(user_id)s and d.shareable_only = (select shareable_only from scope)"
    " and d.period = 'day' and d.period_start >= %(last_week)s and d.period_start < %(after)s"
    ") as t group by 1 order by 2 desc, 1"
)


def source_totals(conn: Conn, user_id: uuid.UUID, start: dt.date, end: dt.date) -> list[Row]:
    """Every stored copy, by where it came from (``src``), local days ``start``..``end``: read
    from public.source_totals, whole weeks from week rows and the other days from day rows, so
    the read costs a few rows per source whatever the athlete's activities (issue 16)."""
    return dict_rows(conn, SOURCE_TOTALS_SQL, {"user_id": user_id, **source_windows(start, end)})


def training_load(conn: Conn, user_id: uuid.UUID, start: dt.date, as_of: dt.date) -> list[Row]:
    return dict_rows(
        conn,
        "select day, load, ctl, atl, tsb"
        " from public.training_load_series(%(user_id)s, %(start)s, %(as_of)s)"
        " order by day",
        {"user_id": user_id, "start": start, "as_of": as_of},
    )


def personal_records(conn: Conn, user_id: uuid.UUID) -> list[Row]:
    return dict_rows(
        conn,
        "select pr.activity_type, pr.record, pr.standard_distance, pr.value, pr.achieved_on,"
        " a.name as activity_name"
        " from public.personal_records as pr"
        " left join public.activities as a on a.id = pr.activity_id"
        " where pr.user_id = %(user_id)s",
        {"user_id": user_id},
    )


def provider_connections(conn: Conn, user_id: uuid.UUID) -> list[Row]:
    return dict_rows(
        conn,
        "select provider, provider_username, status, connected_at, last_sync_at,"
        " last_error, consecutive_failures from public.provider_connections"
        " where user_id = %(user_id)s order by provider",
        {"user_id": user_id},
    )


def sync_statistics(conn: Conn) -> list[Row]:
    """The view has no ``user_id``: row-level security narrows it to the athlete."""
    return dict_rows(
        conn,
        "select provider, sync_status, total_created, sync_count"
        " from public.sync_statistics order by provider, sync_status",
    )


def recent_syncs(conn: Conn, user_id: uuid.UUID) -> list[Row]:
    return dict_rows(
        conn,
        "select pc.provider, sh.sync_trigger, sh.sync_status, sh.sync_started_at,"
        " sh.sync_completed_at, sh.activities_created, sh.activities_updated,"
        " sh.error_message from public.sync_history as sh"
        " inner join public.provider_connections as pc on pc.id = sh.connection_id"
        " where sh.user_id = %(user_id)s order by sh.sync_started_at desc limit 8",
        {"user_id": user_id},
    )


def recurring_errors(conn: Conn, user_id: uuid.UUID) -> list[Row]:
    """Under the athlete's RLS, shared errors are counted over their own connections only."""
    return dict_rows(
        conn,
        "select kind, provider, error_message, failures, connections"
        " from public.recurring_sync_errors"
        " where user_id is null or user_id = %(user_id)s"
        " order by last_failure_at desc",
        {"user_id": user_id},
    )


_RECENT_SQL = """
select
    a.id, a.start_date_local, a.name, a.activity_type,
    coalesce(a.provider::text, a.source::text) as src, a.distance, a.moving_time,
    a.elapsed_time, a.elevation_gain, a.average_heartrate, a.average_watts
from public.activities as a
where a.user_id = %(user_id)s and a.deleted_at is null
order by a.start_date desc
limit %(limit)s
"""
_RECENT_PRIMARY_SQL = _RECENT_SQL.replace(
    "a.deleted_at is null", "a.deleted_at is null and a.primary_activity_id is null"
)
# The activity's training load (public.activity_loads: the FTP in force on its date).
_LOAD_COLUMN = (
    "a.average_watts,\n"
    "    (select l.load from public.activity_loads as l where l.activity_id = a.id) as load\n"
)


def recent_activities(
    conn: Conn, user_id: uuid.UUID, limit: int, *, primary_only: bool, with_load: bool
) -> list[Row]:
    """The latest activities; ``primary_only`` counts a workout once where duplicate grouping
    exists (its primary copy); ``with_load`` adds ``load`` (needs public.activity_loads)."""
    query = _RECENT_PRIMARY_SQL if primary_only else _RECENT_SQL
    if with_load:
        query = query.replace("a.average_watts\n", _LOAD_COLUMN)
    return dict_rows(conn, query, {"user_id": user_id, "limit": limit})
