"""Two sync worker processes against one, on the same job set, in one run.

Workers scale out by process (and by machine): each ``trainlytics worker`` consumes the
procrastinate queue in the database, a sync run holds a lease on its connection, and nothing
else is shared. This benchmark runs the real queue path, ``procrastinate.App.run_worker`` on the
app of :func:`trainlytics.jobs.build_app` with the ``sync_connection`` task, whose
:class:`trainlytics.sync.SyncEngine` reads Strava pages from memory
(``sync_engine.InMemoryStrava``: no HTTP, so the provider's latency is not what is measured)
and writes through ``public.sync_ingest_page`` as service_role, exactly as a worker does.

For each round, ``--jobs`` new Strava connections get one ``sync_connection`` job each
(``public.enqueue_job``, as the API queues them), each job syncing ``--pages`` pages of
``--page-size`` SummaryActivities; then ``1`` or ``2`` worker processes (``--concurrency``
jobs at a time each) are started, and run until the queue is empty (``wait=False``). Rounds
alternate one / two workers (``--rounds`` each). Throughput = jobs / (last run's end - first
run's start, from sync_history); ratio = two workers' / one worker's.

    .venv/bin/python bench/workers.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT / "functions_py", REPO_ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from sync_engine import T0, InMemoryStrava, Tokens, new_connection, summary  # noqa: E402

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.gateway import PsycopgGateway  # noqa: E402
from trainlytics.sync.engine import SyncEngine  # noqa: E402
from trainlytics.sync.jobs import SYNC_QUEUE, JobQueue, build_app  # noqa: E402
from trainlytics.sync.rate_limits import RateLimiter  # noqa: E402

BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"


def pages_for(pages: int, size: int) -> list[list[dict[str, Any]]]:
    items = [summary(i) for i in range(1, pages * size + 1)]
    return [items[i : i + size] for i in range(0, len(items), size)]


def child(url: str, pages: int, size: int, concurrency: int) -> None:
    """One worker process: the queue's sync jobs until the queue is empty."""
    pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=concurrency + 1, open=True)
    gateway = PsycopgGateway(pool, role="service_role")
    engine = SyncEngine(
        gateway,
        Tokens(),  # type: ignore[arg-type]
        {"strava": InMemoryStrava(pages_for(pages, size))},
        limiter=RateLimiter(gateway),
        clock=lambda: T0 + timedelta(minutes=30 * (pages * size + 2)),
    )
    app = build_app(url)
    app.run_worker(
        queues=[SYNC_QUEUE],
        concurrency=concurrency,
        wait=False,
        additional_context={"engine": engine},
        install_signal_handlers=False,
    )
    pool.close()


def run_round(
    conn: psycopg.Connection[Any], url: str, args: argparse.Namespace, workers: int
) -> dict[str, Any]:
    connections = [new_connection(conn) for _ in range(args.jobs)]
    pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=1, open=True)
    queue = JobQueue(PsycopgGateway(pool, role="service_role"))
    for connection_id in connections:
        queue.enqueue_sync(connection_id, "initial")
    pool.close()
    command = [
        sys.executable,
        __file__,
        "--child",
        url,
        "--pages",
        str(args.pages),
        "--page-size",
        str(args.page_size),
        "--concurrency",
        str(args.concurrency),
    ]
    started = time.perf_counter()
    processes = [subprocess.Popen(command) for _ in range(workers)]  # noqa: S603 - our own script
    codes = [p.wait() for p in processes]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a worker failed: {codes}")
    row = conn.execute(
        "select count(*) filter (where sync_status = 'success'), count(*),"
        " extract(epoch from max(sync_completed_at) - min(sync_started_at))"
        " from public.sync_history where connection_id = any(%s)",
        [connections],
    ).fetchone()
    if not (row is not None):
        raise RuntimeError("unexpected empty result")
    if row[0] != args.jobs:
        raise SystemExit(f"{row[0]} of {args.jobs} syncs succeeded ({row[1]} runs)")
    span = float(row[2])
    print(
        f"  {workers} worker(s): {args.jobs} jobs in {span:.1f} s"
        f" ({args.jobs / span:.2f} jobs/s; wall {wall:.1f} s)",
        flush=True,
    )
    return {"workers": workers, "span_s": span, "wall_s": wall, "jobs_per_s": args.jobs / span}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench/results/workers.json")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.pages, args.page_size, args.concurrency)
        return
    if not args.database_url:
        raise SystemExit("--database-url or $TRAINLYTICS_BENCH_DATABASE_URL is required")
    name = f"scale_workers_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(args.database_url, dbname=name)
    rounds: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn)
            for _ in range(args.rounds):
                for workers in (1, 2):
                    rounds.append(run_round(conn, url, args, workers))
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    one = statistics.median(r["jobs_per_s"] for r in rounds if r["workers"] == 1)
    two = statistics.median(r["jobs_per_s"] for r in rounds if r["workers"] == 2)
    result = {
        "jobs": args.jobs,
        "activities_per_job": args.pages * args.page_size,
        "concurrency_per_worker": args.concurrency,
        "rounds": rounds,
        "one_worker_jobs_per_s": one,
        "two_workers_jobs_per_s": two,
        "ratio": two / one,
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
