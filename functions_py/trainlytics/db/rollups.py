"""The statistics rollups' SQL (``public.weekly_rollups``, ``public.daily_loads``): who has
rollups, the per-athlete rebuild (``public.rebuild_rollups``) and the row counts after it."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

__all__ = ["athletes_with_rollups", "rebuild_athlete", "rollup_row_counts"]

Conn = psycopg.Connection[Any]


def athletes_with_rollups(conn: Conn) -> list[uuid.UUID]:
    """Every athlete with activities or rollups, by id."""
    rows = conn.execute(
        "select user_id from public.activities"
        " union select user_id from public.weekly_rollups"
        " union select user_id from public.daily_loads"
        " order by 1"
    ).fetchall()
    return [row[0] for row in rows]


def rebuild_athlete(conn: Conn, athlete: uuid.UUID) -> None:
    """Recompute one athlete's rollups from the activities (in the caller's transaction)."""
    conn.execute("select public.rebuild_rollups(%s)", [athlete])


def rollup_row_counts(conn: Conn, athletes: list[uuid.UUID]) -> tuple[int, int]:
    """How many weekly and daily rollup rows these athletes have."""
    counts = conn.execute(
        "select (select count(*) from public.weekly_rollups where user_id = any(%s)),"
        " (select count(*) from public.daily_loads where user_id = any(%s))",
        [athletes, athletes],
    ).fetchone()
    weekly, daily = counts if counts is not None else (0, 0)
    return int(weekly), int(daily)
