"""procrastinate's job-queue schema, installed into ``queue`` by the migration runner.

procrastinate ships its schema as SQL (``SchemaManager.get_schema()``); it is split into
statements and run in one transaction with ``search_path = queue``, so every object lands
there; its functions then get that ``search_path`` pinned, and ``service_role`` gets what
enqueueing and workers need.
"""

from __future__ import annotations

import psycopg
from procrastinate.schema import SchemaManager
from psycopg import sql
from psycopg.rows import TupleRow

from trainlytics.db.sql_splitter import split_statements
from trainlytics.logs import get_logger

__all__ = [
    "QUEUE_SCHEMA",
    "install_queue_schema",
    "pin_queue_search_path",
    "queue_schema_installed",
]

logger = get_logger(__name__)

#: The schema that holds procrastinate's tables and functions.
QUEUE_SCHEMA = "queue"

Connection = psycopg.Connection[TupleRow]


def queue_schema_installed(conn: Connection) -> bool:
    row = conn.execute(
        "select to_regclass(%s) is not null", [f"{QUEUE_SCHEMA}.procrastinate_jobs"]
    ).fetchone()
    return bool(row and row[0])


# Every procrastinate function in ``queue`` gets ``search_path = queue``: procrastinate writes its
# table and type names unqualified, so without a pinned path they resolve against the caller's
# (plpgsql_check, run by `supabase db lint`, reports each of them as an error).
_PIN_QUEUE_SEARCH_PATH = """
do $pin$
declare
    f regprocedure;
begin
    for f in
        select p.oid::regprocedure
        from pg_proc as p
        where p.pronamespace = 'queue'::regnamespace and p.prokind = 'f'
          and not exists (
              select from unnest(p.proconfig) as c where c like 'search_path=%'
          )
    loop
        execute format('alter function %s set search_path = queue', f);
    end loop;
end
$pin$
"""


def pin_queue_search_path(conn: Connection) -> None:
    """Pin ``search_path = queue`` on the functions in ``queue`` that do not pin one."""
    conn.execute(_PIN_QUEUE_SEARCH_PATH)


def install_queue_schema(conn: Connection, *, role: str | None = None) -> bool:
    """Install procrastinate's schema into ``queue`` unless it is there; True when installed.

    Runs in one transaction (as ``role`` when given, the migrations' owner), with
    ``search_path`` set to ``queue`` so every procrastinate object lands there, pins that
    ``search_path`` on its functions, then grants ``service_role`` what enqueueing and workers
    need. Requires the schema to exist (the
    job-queue migration creates it). ``conn`` must be in autocommit mode or idle.
    """
    if queue_schema_installed(conn):
        return False
    statements = split_statements(SchemaManager.get_schema())
    queue = sql.Identifier(QUEUE_SCHEMA)
    with conn.transaction():
        if role is not None:
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("set local search_path = {}").format(queue))
        for statement in statements:
            conn.execute(statement.encode())
        pin_queue_search_path(conn)
        for grant in (
            "grant all on all tables in schema {} to service_role",
            "grant all on all sequences in schema {} to service_role",
            "grant execute on all functions in schema {} to service_role",
        ):
            conn.execute(sql.SQL(grant).format(queue))
    logger.info("installed the procrastinate job queue in schema %s", QUEUE_SCHEMA)
    return True
