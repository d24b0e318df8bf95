"""The report's issue-18 reads — settings, activity pages, best efforts, plan compliance and a
coach's athletes — one query each, rows as dicts.

Like :mod:`trainlytics.db.report_queries`, they run inside
:func:`~trainlytics.db.report_queries.as_athlete` (as the athlete, or as a coach), so
row-level security decides what each returns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from trainlytics.db.report_queries import Conn, Row, dict_rows

__all__ = [
    "activity_best_efforts",
    "activity_laps",
    "activity_streams",
    "activity_time_in_zones",
    "athlete_settings",
    "best_efforts",
    "coached_athlete_emails",
    "planned_workouts",
    "weekly_compliance",
]


def athlete_settings(conn: Conn, user_id: uuid.UUID) -> Any:
    """public.get_athlete_settings: ``{key: {value, source}}`` (None when it returns none)."""
    rows = dict_rows(
        conn, "select public.get_athlete_settings(%(user_id)s) as settings", {"user_id": user_id}
    )
    return rows[0]["settings"] if rows else None


def activity_streams(conn: Conn, ids: list[int]) -> list[Row]:
    """The streams of these activities that the reader may read (RLS on activity_streams)."""
    return dict_rows(
        conn,
        "select activity_id, time_s, distance_m, lat, lon, altitude_m, heart_rate, power_w,"
        " speed_mps from public.activity_streams where activity_id = any(%(ids)s)",
        {"ids": ids},
    )


def activity_laps(conn: Conn, ids: list[int]) -> list[Row]:
    """The laps of these activities that the reader may read (RLS on activity_laps: as the
    streams), in order."""
    return dict_rows(
        conn,
        "select activity_id, lap_index, start_offset_s, elapsed_s, moving_s, distance_m,"
        " avg_heart_rate, max_heart_rate, avg_power_w, avg_cadence, elevation_gain_m"
        " from public.activity_laps where activity_id = any(%(ids)s)"
        " order by activity_id, lap_index",
        {"ids": ids},
    )


def activity_best_efforts(conn: Conn, ids: list[int]) -> list[Row]:
    """The standard best efforts of these activities the reader may read."""
    return dict_rows(
        conn,
        "select activity_id, activity_type, effort, span, label, value"
        " from public.activity_best_efforts"
        " where activity_id = any(%(ids)s) and is_standard order by activity_id, effort, span",
        {"ids": ids},
    )


def activity_time_in_zones(conn: Conn, activity_id: int) -> list[Row]:
    """Time in each zone of one activity (zones of the settings in force on its date); pace
    bounds come as speeds (m/s)."""
    return dict_rows(
        conn,
        "select kind, zone, min_value, max_value, seconds"
        " from public.activity_time_in_zones(%(id)s) order by kind, zone",
        {"id": activity_id},
    )


def best_efforts(conn: Conn, user_id: uuid.UUID, as_of: dt.date) -> list[Row]:
    """The standard best efforts of the season of ``as_of`` (``scope`` 'season') and of all
    time ('all_time'), over the activities the reader may read (the views run as the caller);
    ``local_date`` is the local day of the activity that set each."""
    return dict_rows(
        conn,
        "select 'season' as scope, activity_type, effort, span, label, value,"
        " local_date from public.season_best_efforts"
        " where user_id = %(user_id)s and is_standard"
        " and season = extract(year from %(as_of)s::date)"
        " union all"
        " select 'all_time', activity_type, effort, span, label, value, local_date"
        " from public.all_time_best_efforts where user_id = %(user_id)s and is_standard"
        " order by 2, 3, 4, 1",
        {"user_id": user_id, "as_of": as_of},
    )


def planned_workouts(conn: Conn, user_id: uuid.UUID, start: dt.date, end: dt.date) -> list[Row]:
    """The period's planned workouts and what fulfilled them: ``activity_id`` is set only for
    an activity the reader may read (the rule of public.weekly_compliance)."""
    return dict_rows(
        conn,
        "select w.planned_date, w.name, w.activity_type, w.planned_duration,"
        " w.planned_distance, w.planned_load, a.id as activity_id,"
        " coalesce(a.moving_time, a.elapsed_time) as completed_time,"
        " a.distance as completed_distance, l.load as completed_load"
        " from public.workouts as w"
        " left join public.activities as a"
        "   on a.id = w.completed_activity_id and a.deleted_at is null"
        " left join public.activity_loads as l on l.activity_id = a.id"
        " where w.user_id = %(user_id)s and w.planned_date between %(start)s and %(end)s"
        " order by w.planned_date, w.id",
        {"user_id": user_id, "start": start, "end": end},
    )


def weekly_compliance(conn: Conn, user_id: uuid.UUID, start: dt.date, end: dt.date) -> list[Row]:
    return dict_rows(
        conn,
        "select week_start, planned_count, completed_count, planned_duration,"
        " completed_duration, planned_load, completed_load from public.weekly_compliance"
        " where user_id = %(user_id)s and week_start between %(start)s and %(end)s"
        " order by week_start",
        {"user_id": user_id, "start": start, "end": end},
    )


def coached_athlete_emails(conn: Conn, coach_id: uuid.UUID) -> list[str]:
    """The emails of the athletes who granted the coach active access (run as the coach:
    row-level security on coach_athletes and users decides)."""
    rows = conn.execute(
        "select u.email from public.coach_athletes as ca"
        " inner join public.users as u on u.id = ca.athlete_id"
        " where ca.coach_id = %s and ca.status = 'active'"
        " order by lower(u.email)",
        [coach_id],
    ).fetchall()
    return [str(r[0]) for r in rows]
