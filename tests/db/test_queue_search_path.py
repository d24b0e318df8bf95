"""The job queue's functions (procrastinate, schema queue) pin their search_path.

procrastinate writes its table and type names unqualified; without a pinned search_path they
resolve against the caller's (and `supabase db lint`'s plpgsql_check reports each as an error).
"""

from __future__ import annotations

from typing import Any

import psycopg

from trainlytics.db.queue_schema import pin_queue_search_path

Conn = psycopg.Connection[Any]

UNPINNED = (
    "select p.oid::regprocedure::text from pg_proc as p"
    " where p.pronamespace = 'queue'::regnamespace and p.prokind = 'f'"
    " and not coalesce('search_path=queue' = any(p.proconfig), false) order by 1"
)


def test_every_queue_function_pins_search_path_queue(db: Conn) -> None:
    count = db.execute(
        "select count(*) from pg_proc where pronamespace = 'queue'::regnamespace"
    ).fetchone()
    assert count is not None
    assert count[0] >= 10
    assert db.execute(UNPINNED).fetchall() == []


def test_pinning_repairs_a_queue_installed_before(db: Conn) -> None:
    with db.transaction(force_rollback=True):
        db.execute(
            "alter function queue.procrastinate_fetch_job_v2(character varying[], bigint)"
            " reset search_path"
        )
        assert db.execute(UNPINNED).fetchall() != []
        pin_queue_search_path(db)
        assert db.execute(UNPINNED).fetchall() == []
