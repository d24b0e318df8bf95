"""The main job on the default database: migrate, load the demo data, import a generated
sample set of activity files, compute the statistics, write the report, show what it holds.

Kept apart from the CLI so tests can run it against a throwaway database. The sample set
(:mod:`trainlytics.demo.sample_set`) and the files it is made of (:mod:`trainlytics.demo.files`)
are written by the project itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from trainlytics import migrations, resources
from trainlytics.demo.sample_set import SampleSet, build_sample_set
from trainlytics.seed_queries import SEED_QUERIES

__all__ = [
    "DEMO_ATHLETE_EMAIL",
    "DemoResult",
    "ImportResult",
    "QueryResult",
    "compute_statistics",
    "import_sample_set",
    "load_seed",
    "run_demo",
]

SEED_FILE = resources.seed_file()
DEMO_ATHLETE_EMAIL = "alice@example.com"


@dataclass(frozen=True)
class QueryResult:
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class ImportResult:
    """What importing the sample set did (``groups``: workouts with copies from two sources)."""

    sample_set: SampleSet
    read: int
    created: int
    skipped: int
    failed: int
    groups: int | None


@dataclass(frozen=True)
class DemoResult:
    athlete_id: str
    applied_migrations: int
    queries: list[QueryResult]
    imported: ImportResult | None = None
    report_path: Path | None = None


def load_seed(conn: psycopg.Connection[Any], seed_file: Path = SEED_FILE) -> None:
    """Run supabase/seed.sql in one transaction (it is idempotent)."""
    with conn.transaction():
        conn.execute(seed_file.read_text(encoding="utf-8"))


def import_sample_set(
    conn: psycopg.Connection[Any], athlete_id: str, folder: Path, *, weeks: int = 8
) -> ImportResult:
    """Generate the sample set into ``folder`` and import it for the athlete (idempotent)."""
    from trainlytics.commands.import_ import import_paths

    sample_set = build_sample_set(folder, weeks=weeks)
    run = import_paths(conn, uuid.UUID(athlete_id), sample_set.paths)
    groups = None
    has_groups = conn.execute(
        "select 1 from information_schema.columns where table_schema = 'public'"
        " and table_name = 'activities' and column_name = 'primary_activity_id'"
    ).fetchone()
    if has_groups:
        row = conn.execute(
            "select count(distinct primary_activity_id) from public.activities"
            " where user_id = %s and source = 'file' and primary_activity_id is not null",
            [athlete_id],
        ).fetchone()
        groups = int(row[0]) if row else 0
    return ImportResult(sample_set, run.read, run.created, run.skipped, run.failed, groups)


def compute_statistics(conn: psycopg.Connection[Any], athlete_id: str) -> None:
    """Rebuild the athlete's statistics rollups when the rollup migration is there."""
    row = conn.execute("select to_regprocedure('public.rebuild_rollups(uuid)')").fetchone()
    if row is not None and row[0] is not None:
        conn.execute("select public.rebuild_rollups(%s::uuid)", [athlete_id])


def run_demo(
    conn: psycopg.Connection[Any],
    *,
    sample_dir: Path | None = None,
    report_path: Path | None = None,
    weeks: int = 8,
) -> DemoResult:
    """Migrate, load the demo data set, and run the original design's example queries.

    With ``sample_dir``, also generate the sample set there and import it for the demo
    athlete, then compute the statistics; with ``report_path``, write the athlete's report."""
    result = migrations.migrate(conn)
    load_seed(conn)
    row = conn.execute(
        "select id::text from public.users where email = %s", (DEMO_ATHLETE_EMAIL,)
    ).fetchone()
    if row is None:  # the seed creates this user; its absence means the seed did not run
        raise RuntimeError(f"demo athlete {DEMO_ATHLETE_EMAIL} missing after loading the seed")
    athlete_id = str(row[0])
    imported = None
    if sample_dir is not None:
        imported = import_sample_set(conn, athlete_id, sample_dir, weeks=weeks)
        compute_statistics(conn, athlete_id)
    written = None
    if report_path is not None:
        from trainlytics.report import write_report

        write_report(conn, DEMO_ATHLETE_EMAIL, report_path)
        written = report_path
    answers = []
    with conn.transaction():
        conn.execute("set local search_path = public")
        for query in SEED_QUERIES:
            cur = conn.execute(query.sql, {"user_id": athlete_id})
            columns = [col.name for col in cur.description or []]
            answers.append(QueryResult(query.title, columns, cur.fetchall()))
    return DemoResult(athlete_id, len(result.applied), answers, imported, written)
