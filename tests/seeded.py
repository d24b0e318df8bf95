"""A throwaway database with every migration and ``supabase/seed.sql`` (Alice, her coach Bob,
six weeks of Strava runs and Garmin rides, sync history), for tests whose code commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.databases import migrated_database
from trainlytics.db.migrations import REPO_ROOT

__all__ = ["ALICE", "BOB", "SEED_FILE", "seeded_database"]

SEED_FILE = REPO_ROOT / "supabase" / "seed.sql"

ALICE = "alice@example.com"
BOB = "bob.coach@example.com"


@contextmanager
def seeded_database(server_url: str) -> Iterator[str]:
    with migrated_database(server_url) as url:
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            conn.execute(SEED_FILE.read_text(encoding="utf-8"))
        yield url
