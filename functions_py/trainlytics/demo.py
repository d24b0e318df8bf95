"""The main job on the default database: migrate, load the demo data, show what it holds.

Kept apart from the CLI so tests can run it against a throwaway database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from trainlytics import migrations
from trainlytics.seed_queries import SEED_QUERIES

__all__ = ["DEMO_ATHLETE_EMAIL", "DemoResult", "QueryResult", "load_seed", "run_demo"]

SEED_FILE = Path(__file__).resolve().parents[2] / "supabase" / "seed.sql"
DEMO_ATHLETE_EMAIL = "alice@example.com"


@dataclass(frozen=True)
class QueryResult:
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class DemoResult:
    athlete_id: str
    applied_migrations: int
    queries: list[QueryResult]


def load_seed(conn: psycopg.Connection[Any], seed_file: Path = SEED_FILE) -> None:
    """Run supabase/seed.sql in one transaction (it is idempotent)."""
    with conn.transaction():
        conn.execute(seed_file.read_text(encoding="utf-8"))


def run_demo(conn: psycopg.Connection[Any]) -> DemoResult:
    """Migrate, load the demo data set, and run the original design's example queries."""
    result = migrations.migrate(conn)
    load_seed(conn)
    row = conn.execute(
        "select id::text from public.users where email = %s", (DEMO_ATHLETE_EMAIL,)
    ).fetchone()
    if row is None:  # the seed creates this user; its absence means the seed did not run
        raise RuntimeError(f"demo athlete {DEMO_ATHLETE_EMAIL} missing after loading the seed")
    athlete_id = str(row[0])
    answers = []
    with conn.transaction():
        conn.execute("set local search_path = public")
        for query in SEED_QUERIES:
            cur = conn.execute(query.sql, {"user_id": athlete_id})
            columns = [col.name for col in cur.description or []]
            answers.append(QueryResult(query.title, columns, cur.fetchall()))
    return DemoResult(athlete_id, len(result.applied), answers)
