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

from trainlytics import resources
from trainlytics.db import demo as demo_sql
from trainlytics.db import migrations
from trainlytics.db.seed_queries import SEED_QUERIES
from trainlytics.demo.sample_set import SampleSet, build_sample_set

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
    demo_sql.run_seed_file(conn, seed_file.read_text(encoding="utf-8"))


def import_sample_set(
    conn: psycopg.Connection[Any], athlete_id: str, folder: Path, *, weeks: int = 8
) -> ImportResult:
    """Generate the sample set into ``folder`` and import it for the athlete (idempotent)."""
    from trainlytics.cli.import_ import import_paths

    sample_set = build_sample_set(folder, weeks=weeks)
    run = import_paths(conn, uuid.UUID(athlete_id), sample_set.paths)
    groups = demo_sql.duplicate_groups(conn, athlete_id)
    return ImportResult(sample_set, run.read, run.created, run.skipped, run.failed, groups)


def compute_statistics(conn: psycopg.Connection[Any], athlete_id: str) -> None:
    """Rebuild the athlete's statistics rollups when the rollup migration is there."""
    demo_sql.rebuild_rollups_if_present(conn, athlete_id)


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
    found = demo_sql.user_id_text(conn, DEMO_ATHLETE_EMAIL)
    if found is None:  # the seed creates this user; its absence means the seed did not run
        raise RuntimeError(f"demo athlete {DEMO_ATHLETE_EMAIL} missing after loading the seed")
    athlete_id = found
    imported = None
    if sample_dir is not None:
        imported = import_sample_set(conn, athlete_id, sample_dir, weeks=weeks)
        compute_statistics(conn, athlete_id)
    written = None
    if report_path is not None:
        from trainlytics.report import write_report

        write_report(conn, DEMO_ATHLETE_EMAIL, report_path)
        written = report_path
    answers = [
        QueryResult(title, columns, rows)
        for title, columns, rows in demo_sql.run_seed_queries(conn, SEED_QUERIES, athlete_id)
    ]
    return DemoResult(athlete_id, len(result.applied), answers, imported, written)
