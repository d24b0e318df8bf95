"""The sync engine's own cost per activity, as a ratio against ingest alone, in the same run.

Against a zero-latency fake provider (pages of Strava SummaryActivities built in memory, no
HTTP), on a throwaway database (``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else
an embedded server), migrated by the project's runner:

- **ingest**: ``public.ingest_activities`` called directly (service_role, one transaction per
  page) on the pages, into connection A;
- **engine**: ``SyncEngine.run`` over the same pages into connection B: sync_start, the window
  plan, the (shared, SQL) rate limiter, one ``sync_ingest_page`` per page (ingest + counters +
  cursor + heartbeat in one transaction), sync_finish.

Both sides run alternately ``--repeat`` times on fresh connections; the medians are compared.
Printed: activities/s of each, the engine's overhead per activity (µs) and the ratio
engine/ingest throughput (1.0 = free).

    .venv/bin/python bench/sync_engine.py [--activities 5000] [--page-size 200] [--repeat 3]
                                          [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT / "functions_py", REPO_ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from ingest_throughput import bench_server, throwaway_database  # noqa: E402

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.gateway import PsycopgGateway  # noqa: E402
from trainlytics.providers.base import (  # noqa: E402
    ActivityPage,
    ProviderCredentials,
    SyncWindow,
    TokenSet,
)
from trainlytics.providers.strava import StravaProvider  # noqa: E402
from trainlytics.sync.engine import SyncEngine  # noqa: E402
from trainlytics.sync.rate_limits import RateLimiter  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def summary(activity_id: int) -> dict[str, Any]:
    start = T0 + timedelta(minutes=30 * activity_id)
    return {
        "resource_state": 2,
        "athlete": {"id": 1, "resource_state": 1},
        "id": activity_id,
        "name": f"Run {activity_id}",
        "distance": 10000.0 + activity_id % 500,
        "moving_time": 3000,
        "elapsed_time": 3100,
        "total_elevation_gain": 40.0,
        "type": "Run",
        "sport_type": "Run",
        "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_date_local": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone": "(GMT+01:00) Europe/Paris",
        "utc_offset": 3600.0,
        "average_speed": 3.3,
        "max_speed": 5.0,
        "average_cadence": 85.0,
        "has_heartrate": True,
        "average_heartrate": 150.0,
        "max_heartrate": 175.0,
        "manual": False,
        "private": False,
        "visibility": "everyone",
        "device_name": "Garmin Forerunner 965",
    }


class InMemoryStrava(StravaProvider):
    """Strava's listing without HTTP: the pages are already built."""

    rate_limit_buckets: ClassVar[tuple[tuple[str, int, int], ...]] = (
        ("bench:15min", 10**9, 900),
        ("bench:daily", 10**9, 86400),
    )

    def __init__(self, pages: Sequence[list[dict[str, Any]]]) -> None:
        super().__init__(
            ProviderCredentials("bench", "bench", "https://bench.invalid/cb"),
            httpx.Client(),
        )
        self.pages = pages

    def fetch_activities(
        self, tokens: TokenSet, window: SyncWindow, cursor: Mapping[str, Any] | None
    ) -> ActivityPage:
        index = int((cursor or {}).get("page", 0))
        return ActivityPage(
            items=self.pages[index],
            next_cursor={"page": index + 1} if index + 1 < len(self.pages) else None,
        )


class Tokens:
    def valid_tokens(self, connection_id: int) -> TokenSet:
        return TokenSet(access_token="bench")  # noqa: S106 - not a secret


def new_connection(conn: psycopg.Connection[Any]) -> int:
    user = conn.execute(
        "insert into auth.users (id, aud, role, email) values"
        " (gen_random_uuid(), 'authenticated', 'authenticated', %s) returning id",
        [f"{uuid.uuid4().hex}@bench.invalid"],
    ).fetchone()
    if user is None:
        raise RuntimeError("no user created")
    row = conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', %s) returning id",
        [user[0], uuid.uuid4().hex[:12]],
    ).fetchone()
    if row is None:
        raise RuntimeError("no connection created")
    return int(row[0])


def run_ingest(conn: psycopg.Connection[Any], pages: Sequence[list[dict[str, Any]]]) -> float:
    connection_id = new_connection(conn)
    started = time.perf_counter()
    for page in pages:
        with conn.transaction():
            conn.execute("set local role service_role")
            conn.execute(
                "select * from public.ingest_activities(%s, %s)", [connection_id, Jsonb(page)]
            )
    return time.perf_counter() - started


def run_engine(
    conn: psycopg.Connection[Any], pool: ConnectionPool[Any], engine: SyncEngine
) -> float:
    connection_id = new_connection(conn)
    started = time.perf_counter()
    outcome = engine.run(connection_id, "initial")
    elapsed = time.perf_counter() - started
    if outcome.status != "success":
        raise RuntimeError(f"the engine run did not succeed: {outcome}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    items = [summary(i) for i in range(1, args.activities + 1)]
    pages = [items[i : i + args.page_size] for i in range(0, len(items), args.page_size)]

    with (
        bench_server(args.database_url) as (server, kind),
        throwaway_database(server, keep=False) as url,
    ):
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn)
        pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=2, open=True)
        gateway = PsycopgGateway(pool, role="service_role")
        engine = SyncEngine(
            gateway,
            Tokens(),
            {"strava": InMemoryStrava(pages)},
            limiter=RateLimiter(gateway),
            clock=lambda: T0 + timedelta(minutes=30 * (args.activities + 2)),
        )
        ingest_times: list[float] = []
        engine_times: list[float] = []
        with psycopg.connect(url, autocommit=True) as conn:
            run_ingest(conn, pages[:2])  # warm up
            for _ in range(args.repeat):
                ingest_times.append(run_ingest(conn, pages))
                engine_times.append(run_engine(conn, pool, engine))
        pool.close()

    n = args.activities
    ingest = statistics.median(ingest_times)
    eng = statistics.median(engine_times)
    result = {
        "server": kind,
        "activities": n,
        "page_size": args.page_size,
        "pages": len(pages),
        "repeat": args.repeat,
        "ingest_activities_per_s": round(n / ingest),
        "engine_activities_per_s": round(n / eng),
        "engine_overhead_us_per_activity": round((eng - ingest) / n * 1e6, 1),
        "engine_overhead_ms_per_page": round((eng - ingest) / len(pages) * 1e3, 2),
        "ratio_engine_vs_ingest_throughput": round(ingest / eng, 3),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
