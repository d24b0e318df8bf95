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

from trainlytics.db.lookups import user_id_by_email
from trainlytics.db.rollups import athletes_with_rollups, rebuild_athlete, rollup_row_counts
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
        user_id = user_id_by_email(conn, email)
        if user_id is None:
            raise TrainlyticsError(
                f"no user with email {email}",
                hint="give the athlete's sign-in email, or leave --user out to rebuild everyone",
            )
        return [user_id]
    return athletes_with_rollups(conn)


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
            rebuild_athlete(conn, athlete)
        if on_progress is not None:
            on_progress(done)
    weekly, daily = rollup_row_counts(conn, athletes)
    return RebuildResult(len(athletes), weekly, daily)
