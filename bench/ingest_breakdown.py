"""Where an ingest page's time goes: per statement (pg_stat_statements) or per function.

Creates a throwaway database (``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else an
embedded server), one athlete with a Strava connection and ``--history`` pages of Strava list
items committed oldest first (as a first sync stores them), then runs the next page through
``public.ingest_activities`` ``--rounds`` times as service_role, each round rolled back: every
round meets the same stored state, the state of a first sync's next page. It reports per page:

- the client-side wall clock (median over the rounds after the first five);
- with ``pg_stat_statements`` in the server's ``shared_preload_libraries``: every statement,
  nested ones included (the triggers' statements, the foreign-key checks), with its calls,
  plans and execution time per page. A statement's time includes the statements it runs
  (its triggers too), so the lines overlap;
- otherwise (or with ``--by-function``): every function's calls, total and self time per page
  (``track_functions``).

Used for the peer baseline's breakdown (bench/README.md, "peer_baseline.py"):

    .venv/bin/python bench/ingest_breakdown.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from ingest_throughput import (
    bench_server,
    ingest_page,
    make_connection,
    strava_activity,
    throwaway_database,
)
from psycopg.types.json import Jsonb

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.database import redact_url  # noqa: E402
from trainlytics.db.jsonb_text import jsonb_bytes  # noqa: E402

WARM_ROUNDS = 5  # plans and caches made before the measured rounds

STATEMENTS_SQL = """
select
    calls, plans, total_exec_time, total_plan_time,
    left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
from pg_stat_statements
where dbid = (select oid from pg_database where datname = current_database())
    and query not like '%%pg_stat_statements%%'
order by total_exec_time + total_plan_time desc
limit %s
"""

FUNCTIONS_SQL = """
select schemaname || '.' || funcname, calls, total_time, self_time
from pg_stat_user_functions
"""


def preloaded(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("show shared_preload_libraries").fetchone()
    return row is not None and "pg_stat_statements" in row[0]


def function_stats(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, float, float]]:
    # Function statistics reach the shared view when the backend reports them (at most once a
    # second): force the next report, then read a fresh snapshot.
    conn.execute("select pg_stat_force_next_flush()")
    conn.execute("select 1")
    conn.execute("select pg_stat_clear_snapshot()")
    return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(FUNCTIONS_SQL).fetchall()}


def run(
    url: str, history: int, page_size: int, rounds: int, top: int, by_function: bool
) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as admin:
        migrations.migrate(admin)
        by_statement = preloaded(admin) and not by_function
        if by_statement:
            admin.execute("create extension if not exists pg_stat_statements")
        connection_id = make_connection(admin, "breakdown")
    received = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        for k in range(history):
            page = [strava_activity(k * page_size + n) for n in range(page_size)]
            ingest_page(conn, connection_id, page, received)
        conn.execute("analyze")
        conn.commit()
    page = [strava_activity(history * page_size + n) for n in range(page_size)]
    payload = Jsonb(page, dumps=jsonb_bytes)
    with psycopg.connect(url, autocommit=True) as conn:
        # No round pays a JIT compilation (jit_above_cost compares plan estimates, which vary
        # with the statistics): the figures are the statements' own.
        conn.execute("set jit = off")
        if by_statement:
            conn.execute("set pg_stat_statements.track = 'all'")
            conn.execute("set pg_stat_statements.track_planning = on")
        else:
            conn.execute("set track_functions = 'all'")
        wall: list[float] = []
        before: dict[str, tuple[int, float, float]] = {}
        for r in range(WARM_ROUNDS + rounds):
            if r == WARM_ROUNDS:
                if by_statement:
                    conn.execute("select pg_stat_statements_reset()")
                else:
                    before = function_stats(conn)
            with conn.transaction(force_rollback=True):
                conn.execute("set local role service_role")
                started = time.perf_counter()
                conn.execute(
                    "select * from public.ingest_activities(%s, %s)", [connection_id, payload]
                ).fetchall()
                wall.append((time.perf_counter() - started) * 1000)
        lines: list[dict[str, Any]] = []
        if by_statement:
            for calls, plans, exec_ms, plan_ms, query in conn.execute(
                STATEMENTS_SQL, [top]
            ).fetchall():
                lines.append(
                    {
                        "statement": query,
                        "calls": calls / rounds,
                        "plans": plans / rounds,
                        "exec_ms": exec_ms / rounds,
                        "plan_ms": plan_ms / rounds,
                    }
                )
        else:
            after = function_stats(conn)
            for name, (calls, total, self_time) in after.items():
                b = before.get(name, (0, 0.0, 0.0))
                if calls > b[0]:
                    lines.append(
                        {
                            "function": name,
                            "calls": (calls - b[0]) / rounds,
                            "total_ms": (total - b[1]) / rounds,
                            "self_ms": (self_time - b[2]) / rounds,
                        }
                    )
            lines.sort(key=lambda x: -x["total_ms"])
            lines = lines[:top]
    return {
        "page_size": page_size,
        "history_pages": history,
        "rounds": rounds,
        "mode": "pg_stat_statements" if by_statement else "track_functions",
        "page_ms_median": statistics.median(wall[WARM_ROUNDS:]),
        "lines": lines,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="superuser URL (default: embedded server)")
    parser.add_argument("--history", type=int, default=20, help="pages stored before")
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=40, help="measured rolled-back pages")
    parser.add_argument("--top", type=int, default=25, help="lines reported")
    parser.add_argument(
        "--by-function", action="store_true", help="per function even with pg_stat_statements"
    )
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / "bench/results/ingest_breakdown.json"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if min(args.history, args.page_size, args.rounds, args.top) < 1:
        raise SystemExit("--history, --page-size, --rounds and --top must be positive")
    with (
        bench_server(args.database_url) as (server, origin),
        throwaway_database(server, args.keep) as url,
    ):
        print(f"Server: {redact_url(server)} ({origin})")
        result = run(url, args.history, args.page_size, args.rounds, args.top, args.by_function)
    print(
        f"\nA page of {result['page_size']} after {result['history_pages']} stored pages: "
        f"median {result['page_ms_median']:.2f} ms client-side ({result['mode']}, per page)"
    )
    for line in result["lines"]:
        if result["mode"] == "pg_stat_statements":
            print(
                f"{line['exec_ms']:8.3f} ms exec {line['plan_ms']:6.3f} ms plan"
                f" {line['calls']:7.1f} calls  {line['statement']}"
            )
        else:
            print(
                f"{line['total_ms']:8.3f} ms total {line['self_ms']:8.3f} ms self"
                f" {line['calls']:7.1f} calls  {line['function']}"
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"Results written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
