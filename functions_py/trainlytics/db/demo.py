"""The demo's SQL: the seed file, the duplicate groups of the imported sample set, the
statistics rebuild, and the original design's example queries (``trainlytics.db.seed_queries``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from trainlytics.db.seed_queries import SeedQuery

__all__ = [
    "duplicate_groups",
    "rebuild_rollups_if_present",
    "run_seed_file",
    "run_seed_queries",
    "user_id_text",
]

Conn = psycopg.Connection[Any]


def run_seed_file(conn: Conn, text: str) -> None:
    """Run supabase/seed.sql in one transaction (it is idempotent)."""
    with conn.transaction():
        conn.execute(text.encode())


def duplicate_groups(conn: Conn, athlete_id: str) -> int | None:
    """How many workouts of the athlete's files have copies grouped under a primary (None when
    the database has no duplicate grouping)."""
    has_groups = conn.execute(
        "select 1 from information_schema.columns where table_schema = 'public'"
        " and table_name = 'activities' and column_name = 'primary_activity_id'"
    ).fetchone()
    if not has_groups:
        return None
    row = conn.execute(
        "select count(distinct primary_activity_id) from public.activities"
        " where user_id = %s and source = 'file' and primary_activity_id is not null",
        [athlete_id],
    ).fetchone()
    return int(row[0]) if row else 0


def rebuild_rollups_if_present(conn: Conn, athlete_id: str) -> None:
    """Rebuild the athlete's statistics rollups when the rollup migration is there."""
    row = conn.execute("select to_regprocedure('public.rebuild_rollups(uuid)')").fetchone()
    if row is not None and row[0] is not None:
        conn.execute("select public.rebuild_rollups(%s::uuid)", [athlete_id])


def user_id_text(conn: Conn, email: str) -> str | None:
    """The id (as text) of the user with exactly this email, or None."""
    row = conn.execute("select id::text from public.users where email = %s", (email,)).fetchone()
    return str(row[0]) if row is not None else None


def run_seed_queries(
    conn: Conn, queries: Sequence[SeedQuery], athlete_id: str
) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """Each query's title, column names and rows, run unqualified as the design wrote them
    (``search_path = public`` for the transaction)."""
    answers = []
    with conn.transaction():
        conn.execute("set local search_path = public")
        for query in queries:
            cur = conn.execute(query.sql.encode(), {"user_id": athlete_id})
            columns = [col.name for col in cur.description or []]
            answers.append((query.title, columns, cur.fetchall()))
    return answers
