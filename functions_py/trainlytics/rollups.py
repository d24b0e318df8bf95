"""Rebuilding the statistics rollups (``public.weekly_rollups`` and ``public.daily_loads``).

Triggers on ``public.activities`` keep the rollups current incrementally; a rebuild recomputes
them from the activities, one athlete at a time (each in its own transaction, through the SQL
function ``public.rebuild_rollups``), after a bulk load with triggers disabled or to check the
incremental maintenance. Used by ``trainlytics stats rebuild``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from trainlytics.errors import TrainlyticsError

__all__ = ["RebuildResult", "athletes_to_rebuild", "rebuild_rollups"]

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class RebuildResult:
    athletes: int
    weekly_rows: int
    daily_rows: int


def athletes_to_rebuild(conn: Connection, email: str | None = None) -> list[uuid.UUID]:
    """The athlete named by ``email``, or every athlete with activities or rollups."""
    if email is not None:
        row = conn.execute(
            "select id from public.users where lower(email) = lower(%s)", [email]
        ).fetchone()
        if row is None:
            raise TrainlyticsError(
                f"no user with email {email}",
                hint="give the athlete's sign-in email, or leave --user out to rebuild everyone",
            )
        return [row[0]]
    rows = conn.execute(
        "select user_id from public.activities"
        " union select user_id from public.weekly_rollups"
        " union select user_id from public.daily_loads"
        " order by 1"
    ).fetchall()
    return [row[0] for row in rows]


def rebuild_rollups(
    conn: Connection,
    athletes: list[uuid.UUID],
    on_progress: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Rebuild each athlete's rollups in a transaction of its own; returns the rows written.

    ``conn`` must be in autocommit mode (one transaction per athlete).
    """
    if not conn.autocommit:
        raise ValueError("rebuild_rollups needs an autocommit connection")
    for done, athlete in enumerate(athletes, start=1):
        with conn.transaction():
            conn.execute("select public.rebuild_rollups(%s)", [athlete])
        if on_progress is not None:
            on_progress(done)
    counts = conn.execute(
        "select (select count(*) from public.weekly_rollups where user_id = any(%s)),"
        " (select count(*) from public.daily_loads where user_id = any(%s))",
        [athletes, athletes],
    ).fetchone()
    weekly, daily = counts if counts is not None else (0, 0)
    return RebuildResult(len(athletes), int(weekly), int(daily))
