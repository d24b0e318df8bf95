"""Athlete screens at scale: each read costs its window, heaviest vs median; ingest heavy vs new.

Runs on a database made by ``bench/scale_generate.py`` (``--database``; the server URL is
``--database-url``, a superuser's, or ``$TRAINLYTICS_BENCH_DATABASE_URL``), applies pending
migrations with the project's runner, and measures in one run:

1. **Reads**, each as the athlete under RLS (``set_config('role', 'authenticated')`` and
   ``request.jwt.claims``, as PostgREST sends them), with the window's filter and the athlete's
   own ``user_id`` (the frontend contract): recent page, weekly volume (12 weeks, 1 year),
   monthly volume (1 year), yearly volume (3 years), the CTL/ATL/TSB series (1 year), personal
   records, weekly compliance (12 weeks) and the report's window queries. For the heaviest
   athlete and ``--median-sample`` athletes of the median history size, still training today:
   server-side ``EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)`` planning + execution, interleaved,
   ``--iterations`` each after warm-up; medians; the ratio heaviest / median for the same
   window; shared buffers touched (hit + read, from ``EXPLAIN (ANALYZE, BUFFERS)``) as the
   window-bound evidence. The series from before migration 20261205200000
   (``private.training_load_series_recomputed``, the 40 x ctl_days history) is timed beside it.
2. **Ingest of one page** (``--page`` Strava SummaryActivity payloads of the last weeks, the
   shape of ``ingest_throughput.py``) through ``public.ingest_activities`` as service_role, for
   the heaviest athlete's Strava connection vs a brand-new athlete's (with the same Strava and
   Garmin connections as every generated athlete, so that both run the same code), the same
   payloads,
   alternating, each in a transaction rolled back afterwards (every trigger fired: duplicate
   grouping, rollups, daily fitness, records), ``--ingest-rounds`` each; ratio of medians, and
   the median of each round's ratio (its two pages back to back: the machine's drift cancels). In
   the same transaction, after the page, ``private.group_activity_duplicates`` is timed alone
   for the page's start times (its rows stored), as the owner.

    .venv/bin/python bench/scale.py --database-url postgresql://postgres@127.0.0.1:5432/postgres \\
        --database scale_10m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from ingest_throughput import strava_activity  # noqa: E402

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.jsonb_text import jsonb_bytes  # noqa: E402
from trainlytics.db.report_queries import SOURCE_TOTALS_SQL, source_windows  # noqa: E402

Connection = psycopg.Connection[Any]
BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"
TODAY = date(2026, 12, 4)

# The reads, as the frontend and the report send them; %(u)s is the athlete's own id.
READS: dict[str, str] = {
    "recent_page": (
        "select id, name, activity_type, start_date, distance, moving_time"
        " from public.activities where user_id = %(u)s order by start_date desc limit 20"
    ),
    "weekly_volume_12w": (
        "select * from public.weekly_volume where user_id = %(u)s and week_start >= %(d84)s"
        " order by week_start, activity_type"
    ),
    "weekly_volume_1y": (
        "select * from public.weekly_volume where user_id = %(u)s and week_start >= %(d365)s"
        " order by week_start, activity_type"
    ),
    "monthly_volume_1y": (
        "select * from public.monthly_volume where user_id = %(u)s and month_start >= %(m12)s"
        " order by month_start, activity_type"
    ),
    "yearly_volume_3y": (
        "select * from public.yearly_volume where user_id = %(u)s and year_start >= %(y3)s"
        " order by year_start, activity_type"
    ),
    "load_series_1y": "select * from public.training_load_series(%(u)s, %(d364)s, %(today)s)",
    "records": "select * from public.personal_records where user_id = %(u)s",
    "compliance_12w": (
        "select * from public.weekly_compliance where user_id = %(u)s and week_start >= %(d84)s"
        " order by week_start"
    ),
    # trainlytics.report.data: the last active day, the sources of the period.
    "report_last_start": (
        "select a.start_date from public.activities as a"
        " where a.user_id = %(u)s and a.deleted_at is null order by a.start_date desc limit 1"
    ),
    "report_last_day": (
        "select max(a.start_date_local)::date from public.activities as a"
        " where a.user_id = %(u)s and a.deleted_at is null"
        " and a.start_date >= %(last)s::timestamptz - interval '36 hours'"
    ),
    # the report's query (trainlytics.db.report_queries.source_totals), as it sends it
    "report_sources_12w": SOURCE_TOTALS_SQL.replace("%(user_id)s", "%(u)s"),
}
# Timed as the owner (no RLS): the series before migration 20261205200000, for comparison.
BEFORE = {
    "load_series_1y_before": (
        "select * from private.training_load_series_recomputed(%(u)s, %(d364)s, %(today)s)"
    ),
}


LAST_START: dict[uuid.UUID, datetime] = {}


def params(user: uuid.UUID) -> dict[str, Any]:
    return {
        "u": user,
        "last": LAST_START.get(user),
        "today": TODAY,
        "d84": TODAY - timedelta(days=84),
        # the report's start_date bounds of the same window (UTC offsets within +-18 h)
        "d84_utc": datetime.combine(TODAY - timedelta(days=84), datetime.min.time(), UTC)
        - timedelta(hours=18),
        "today_utc": datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=42),
        "d364": TODAY - timedelta(days=364),
        "d365": TODAY - timedelta(days=365),
        "m12": date(TODAY.year - 1, TODAY.month, 1),
        "y3": date(TODAY.year - 2, 1, 1),
        # the report's source windows of the 12 weeks (whole weeks, days around them)
        **source_windows(TODAY - timedelta(days=84), TODAY),
    }


def become(conn: Connection, user: uuid.UUID) -> None:
    conn.execute(
        "select set_config('role', 'authenticated', true),"
        " set_config('request.jwt.claims', %s, true)",
        [json.dumps({"sub": str(user), "role": "authenticated"})],
    )


def explain(conn: Connection, query: str, user: uuid.UUID, rls: bool, buffers: bool) -> Any:
    options = (
        "analyze, buffers, format json"
        if buffers
        else "analyze, timing off, summary on, format json"
    )
    with conn.transaction(force_rollback=True):
        if rls:
            become(conn, user)
        row = conn.execute(f"explain ({options}) {query}".encode(), params(user)).fetchone()
    if not (row is not None):
        raise RuntimeError("unexpected empty result")
    return row[0][0]


def blocks(plan: dict[str, Any]) -> int:
    top = plan["Plan"]
    return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))


def subjects(
    conn: Connection, sample: int, median_activities: int | None = None
) -> tuple[uuid.UUID, int, list[uuid.UUID], int]:
    heaviest = conn.execute(
        "select user_id, n_activities from scale_bench.plan order by n_activities desc limit 1"
    ).fetchone()
    median = conn.execute(
        "select percentile_disc(0.5) within group (order by n_activities) from scale_bench.plan"
    ).fetchone()
    if not (heaviest is not None and median is not None):
        raise RuntimeError("unexpected empty result")
    if median_activities is not None:
        # a small database's median differs from the target's (56): compare with that size
        median = (median_activities,)
    rows = conn.execute(
        "select user_id from scale_bench.plan where end_offset_days = 0 and plans_workouts"
        " order by abs(n_activities - %s), md5(user_id::text) limit %s",
        [median[0], sample],
    ).fetchall()
    return heaviest[0], heaviest[1], [r[0] for r in rows], median[0]


def measure_reads(
    conn: Connection,
    heavy: uuid.UUID,
    medians: list[uuid.UUID],
    iterations: int,
    only: set[str] | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for user in [heavy, *medians]:
        row = conn.execute(READS["report_last_start"].encode(), params(user)).fetchone()
        if not (row is not None):
            raise RuntimeError("unexpected empty result")
        LAST_START[user] = row[0]
    for key, query in {**READS, **BEFORE}.items():
        if only is not None and key not in only:
            continue
        rls = key in READS
        for user in [heavy, *medians][:3]:  # warm-up
            explain(conn, query, user, rls, False)
        times: dict[str, list[float]] = {"heaviest": [], "median": []}
        for _ in range(iterations):
            runs = [("heaviest", heavy)] + [("median", m) for m in medians]
            random.shuffle(runs)
            for group, user in runs:
                plan = explain(conn, query, user, rls, False)
                times[group].append(plan["Planning Time"] + plan["Execution Time"])
        heavy_plan = explain(conn, query, heavy, rls, True)
        median_plan = explain(conn, query, medians[0], rls, True)
        h = statistics.median(times["heaviest"])
        m = statistics.median(times["median"])
        results[key] = {
            "rls": rls,
            "heaviest_ms": h,
            "median_ms": m,
            "ratio": h / m,
            "heaviest_p95_ms": statistics.quantiles(times["heaviest"], n=20)[18],
            "heaviest_rows": heavy_plan["Plan"].get("Actual Rows"),
            "median_rows": median_plan["Plan"].get("Actual Rows"),
            "heaviest_buffers": blocks(heavy_plan),
            "median_buffers": blocks(median_plan),
        }
        r = results[key]
        print(
            f"  {key:24s} heaviest {h:7.3f} ms  median {m:7.3f} ms  ratio {h / m:5.2f}"
            f"  buffers {r['heaviest_buffers']}/{r['median_buffers']}"
            f"  rows {r['heaviest_rows']}/{r['median_rows']}",
            flush=True,
        )
    return results


def new_athlete_connection(conn: Connection) -> int:
    with conn.transaction():
        conn.execute("set local role supabase_auth_admin")
        conn.execute("set local search_path = auth")
        row = conn.execute(
            "insert into users (id, aud, role, email, encrypted_password, raw_app_meta_data,"
            " raw_user_meta_data, created_at, updated_at) values (gen_random_uuid(),"
            " 'authenticated', 'authenticated', %s, 'x', '{}', '{}', now(), now())"
            " returning id",
            [f"new-{uuid.uuid4().hex[:10]}@scale.trainlytics.test"],
        ).fetchone()
    if not (row is not None):
        raise RuntimeError("unexpected empty result")
    # The same connections as every generated athlete (Strava and Garmin): both sides then run
    # the same code (an athlete with a single source skips the duplicate matching).
    conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'garmin', %s)",
        [row[0], uuid.uuid4().hex[:10]],
    )
    found = conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', %s) returning id",
        [row[0], uuid.uuid4().hex[:10]],
    ).fetchone()
    if not (found is not None):
        raise RuntimeError("unexpected empty result")
    return int(found[0])


def page_payloads(size: int, first: int) -> list[dict[str, Any]]:
    """A Strava page of the last weeks: newest first, one activity every ~7 hours."""
    newest = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
    page = []
    for i in range(size):
        payload = strava_activity(first + i)
        start = newest - timedelta(hours=7 * i)
        payload["start_date"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        payload["start_date_local"] = (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        page.append(payload)
    return page


def measure_ingest(conn: Connection, heavy: uuid.UUID, size: int, rounds: int) -> dict[str, Any]:
    row = conn.execute(
        "select id from public.provider_connections where user_id = %s and provider = 'strava'",
        [heavy],
    ).fetchone()
    if not (row is not None):
        raise RuntimeError("unexpected empty result")
    heavy_connection = int(row[0])
    times: dict[str, list[float]] = {"heaviest": [], "new": []}
    grouping: dict[str, list[float]] = {"heaviest": [], "new": []}
    results: dict[str, list[int]] = {"heaviest": [], "new": []}
    for r in range(rounds + 2):
        payloads = page_payloads(size, 100_000 + r * size)
        page = Jsonb(payloads, dumps=jsonb_bytes)  # as the gateways encode jsonb
        starts = [p["start_date"] for p in payloads]
        new_connection = new_athlete_connection(conn)
        sides = [("heaviest", heavy_connection), ("new", new_connection)]
        random.shuffle(sides)
        for side, connection in sides:
            with conn.transaction(force_rollback=True):
                conn.execute("set local role service_role")
                started = time.perf_counter()
                out = conn.execute(
                    "select * from public.ingest_activities(%s, %s)", [connection, page]
                ).fetchall()
                elapsed = time.perf_counter() - started
                # The page's duplicate grouping alone, again (as the owner), its rows stored.
                conn.execute("reset role")
                started = time.perf_counter()
                conn.execute(
                    "select private.group_activity_duplicates(array_fill(c.user_id,"
                    " array[cardinality(%s::timestamptz[])]), %s::timestamptz[])"
                    " from public.provider_connections as c where c.id = %s",
                    [starts, starts, connection],
                ).fetchone()
                grouped = time.perf_counter() - started
            if r >= 2:  # the first two rounds warm up
                times[side].append(elapsed * 1000)
                grouping[side].append(grouped * 1000)
                results[side].append(len(out))
    h = statistics.median(times["heaviest"])
    n = statistics.median(times["new"])
    # Each round's two pages ran back to back (the same page, in random order): the median of
    # the rounds' ratios cancels the drift of a shared machine's speed between rounds, which
    # the ratio of the medians does not.
    paired = statistics.median(a / b for a, b in zip(times["heaviest"], times["new"], strict=True))
    gh = statistics.median(grouping["heaviest"])
    gn = statistics.median(grouping["new"])
    print(
        f"  ingest page of {size}: heaviest {h:.1f} ms, new athlete {n:.1f} ms, ratio {h / n:.2f}"
        f" (median of the rounds' ratios {paired:.2f})"
    )
    print(f"  its duplicate grouping alone: heaviest {gh:.2f} ms, new athlete {gn:.2f} ms")
    return {
        "page": size,
        "rounds": rounds,
        "heaviest_ms": h,
        "new_ms": n,
        "ratio": h / n,
        "ratio_paired": paired,
        "grouping_heaviest_ms": gh,
        "grouping_new_ms": gn,
    }


def machine(conn: Connection) -> dict[str, Any]:
    version = conn.execute("show server_version").fetchone()
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024 // 1024
    except OSError:
        pass
    return {
        "postgres": version[0] if version else "?",
        "cores": os.cpu_count(),
        "ram_gb": mem,
        "platform": platform.platform(),
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    parser.add_argument("--database", required=True, help="made by bench/scale_generate.py")
    parser.add_argument("--median-sample", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--page", type=int, default=200)
    parser.add_argument("--ingest-rounds", type=int, default=20)
    parser.add_argument("--skip-migrate", action="store_true")
    parser.add_argument(
        "--skip-reads", action="store_true", help="only the ingest part (heaviest vs new athlete)"
    )
    parser.add_argument(
        "--median-activities",
        type=int,
        help="compare with athletes of about this many activities instead of the median",
    )
    parser.add_argument("--skip-ingest", action="store_true", help="time the reads only")
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--only",
        metavar="KEY[,KEY]",
        help="measure only these reads (keys of READS / BEFORE) and skip the ingest",
    )
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if only is not None and not only <= READS.keys() | BEFORE.keys():
        parser.error(f"--only: unknown read(s) {sorted(only - (READS.keys() | BEFORE.keys()))}")
    if not args.database_url:
        raise SystemExit("--database-url or $TRAINLYTICS_BENCH_DATABASE_URL is required")
    url = make_conninfo(args.database_url, dbname=args.database)
    random.seed(16)
    with psycopg.connect(url, autocommit=True) as conn:
        if not args.skip_migrate:
            started = time.perf_counter()
            migrations.migrate(conn)
            conn.execute("analyze")
            print(f"migrate + analyze: {time.perf_counter() - started:.1f} s", flush=True)
        facts = machine(conn)
        sizes = conn.execute(
            "select (select count(*) from public.activities), (select count(*) from public.users),"
            " (select count(*) from public.daily_fitness)"
        ).fetchone()
        if not (sizes is not None):
            raise RuntimeError("unexpected empty result")
        heavy, heavy_n, medians, median_n = subjects(
            conn, args.median_sample, args.median_activities
        )
        print(
            f"{sizes[0]:,} activities, {sizes[1]:,} users, {sizes[2]:,} daily fitness rows;"
            f" heaviest {heavy_n:,} activities, median {median_n}; {facts}",
            flush=True,
        )
        reads = (
            {} if args.skip_reads else measure_reads(conn, heavy, medians, args.iterations, only)
        )
        ingest = (
            None
            if only is not None or args.skip_ingest
            else measure_ingest(conn, heavy, args.page, args.ingest_rounds)
        )
        facts["load_after"] = os.getloadavg()
    print("\n| read | heaviest ms | median ms | heaviest / median | buffers heaviest / median |")
    print("|---|---:|---:|---:|---:|")
    for key, r in reads.items():
        print(
            f"| {key} | {r['heaviest_ms']:.3f} | {r['median_ms']:.3f} | {r['ratio']:.2f} |"
            f" {r['heaviest_buffers']} / {r['median_buffers']} |"
        )
    output = args.output or REPO_ROOT / "bench" / "results" / f"scale_{args.database}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "machine": facts,
                "sizes": {"activities": sizes[0], "users": sizes[1], "daily_fitness": sizes[2]},
                "heaviest_activities": heavy_n,
                "median_activities": median_n,
                "reads": reads,
                "ingest": ingest,
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
