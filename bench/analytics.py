"""Statistics under RLS at scale, and what rollup maintenance costs the ingest.

Creates a throwaway database (``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else an
embedded server in a temporary directory), migrates it with the project's runner, generates
``--users`` athletes with ``--activities`` activities set-based (``generate_series``, direct
inserts with the activity triggers disabled, then ``public.rebuild_rollups()``, timed), and
measures, in the same run:

1. **weekly volume** (``public.weekly_volume``, last 52 weeks) and **a one-year CTL/ATL/TSB
   series** (``public.training_load_series``) for sampled athletes (the heaviest plus a random
   sample), as the athlete under RLS (PostgREST's ``set_config`` calls) vs as the owner
   (``trainlytics_owner``, bypasses RLS) with an explicit ``user_id`` filter. Server-side time:
   ``EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)`` planning + execution. Targets: < 10 ms each,
   ratio <= 1.2.
2. **ingest slowdown**: ``--ingest`` Strava-shaped activities through
   ``public.ingest_activities`` (pages of 200, as service_role) with the rollup triggers
   enabled vs disabled, alternating rounds on fresh external ids. Target: <= 20 % slower.
3. with ``--policy-floor``: the weekly volume again under the cheapest policies weekly_rollups
   could have (``auth.uid()`` alone; no function call at all), neither of which serves coaches:
   what RLS costs on that query at the least. The real policy is restored afterwards.
4. with ``--previous-policy``: both queries again under the rollup policies as they were before
   the owner-first rewrite (issue 14; now in 20261125130400_rollups.sql): the helper's
   initPlan evaluated on every statement, restored afterwards: the before/after comparison
   within one run.

Every query is timed two ways, both server-side (``EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)``,
planning + execution, each side on its own transaction set up as PostgREST does):

- **unprepared**: the statement text sent and planned on every run;
- **prepared**: what PostgREST does by default (``db-prepared-statements = true``): one
  ``PREPARE`` per side and connection, then ``EXPLAIN ANALYZE EXECUTE`` of it with each
  subject's parameters; after PostgreSQL's first five custom plans the plan cache may switch to
  a generic plan, whose planning is not paid again. Warm-up runs (``--warmup``, distinct
  subjects) come first, so the timed runs see the plan cache's steady state.

    .venv/bin/python bench/analytics.py [--users 10000] [--activities 10000000]
                                        [--ingest 20000] [--database-url URL] [--keep]
                                        [--policy-floor] [--previous-policy]
                                        [--reuse-database NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.embedded import start_embedded, stop_embedded  # noqa: E402

BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "analytics.json"
ROLLUP_TRIGGERS = (
    "activities_rollups_insert",
    "activities_rollups_update",
    "activities_rollups_delete",
)
TODAY = date(2026, 11, 25)

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
Connection = psycopg.Connection[Any]

USER_ID_SQL = "md5('trainlytics-analytics-bench-' || {n})::uuid"

USERS_SQL = f"""
insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
select {USER_ID_SQL.format(n="n")}, 'authenticated', 'authenticated',
    'athlete' || n || '@bench.trainlytics.test', '', now(), '{{}}', '{{}}', now(), now()
from generate_series(1, %(users)s::int) as n
"""  # noqa: S608 - a fixed expression, no input

# Zipf-like skew: athlete n gets a share proportional to n^-0.7 (the heaviest ~ 5-6 per day over
# ten years at 10M/10k); activities spread back from TODAY at that athlete's pace.
PLAN_SQL = f"""
create unlogged table bench_plan as
with w as (
    select n, {USER_ID_SQL.format(n="n")} as user_id, power(n::float8, -0.7) as w
    from generate_series(1, %(users)s::int) as n
)
select n, user_id,
    greatest(1, round(%(activities)s::float8 * w / sum(w) over ()))::int as n_activities,
    (array[3600, 0, -18000, -28800, 32400, 7200])[1 + n %% 6] as utc_offset
from w
"""  # noqa: S608 - a fixed expression, no input

ACTIVITIES_SQL = """
insert into public.activities (
    user_id, connection_id, provider, source, is_manual, external_id, activity_type, start_date,
    utc_offset, elapsed_time, moving_time, distance, average_heartrate, weighted_average_watts,
    elevation_gain, calories, is_private
)
select
    p.user_id,
    case when g %% 10 < 8 then c.id end,
    case when g %% 10 < 8 then c.provider end,
    (case when g %% 10 < 8 then 'provider' else 'manual' end)::public.activity_source,
    g %% 10 >= 8,
    'b' || p.n || '-' || g,
    (array['run', 'ride', 'swim', 'walk', 'ride', 'run'])[1 + (g * 7 + p.n) %% 6]
        ::public.activity_type,
    timestamptz '2026-11-25 06:00:00+00'
        - make_interval(secs => (g::float8 * 315360000.0 / p.n_activities)::bigint),
    p.utc_offset,
    1800 + (g * 37) %% 7200,
    1700 + (g * 37) %% 7000,
    2000 + (g * 131) %% 80000,
    110 + (g %% 60),
    case when g %% 3 = 0 then 150 + g %% 150 end,
    (g %% 900)::real,
    (200 + g %% 1500)::real,
    g %% 20 = 0
from bench_plan as p
cross join lateral (
    select pc.id, pc.provider from public.provider_connections as pc
    where pc.user_id = p.user_id and pc.provider = (
        case when p.n %% 2 = 0 then 'garmin' else 'strava' end
    )::public.provider_type
) as c
cross join lateral generate_series(1, p.n_activities) as g
where p.n between %(lo)s and %(hi)s
"""


@contextmanager
def bench_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-bench-analytics-"))
    try:
        yield start_embedded(data_dir, cleanup_mode="delete")
    finally:
        stop_embedded(data_dir)


def timed(label: str, conn: Connection, query: str, params: dict[str, Any] | None = None) -> float:
    started = time.perf_counter()
    conn.execute(query.encode(), params or {})
    elapsed = time.perf_counter() - started
    console.print(f"  {label}: {elapsed:.1f} s")
    return elapsed


def generate(conn: Connection, users: int, activities: int) -> dict[str, float]:
    t: dict[str, float] = {}
    t["users"] = timed("users", conn, USERS_SQL, {"users": users})
    conn.execute('update public.users set preferences = \'{"ftp": 250, "run_ftp": 300}\'')
    conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " select id, p.provider::public.provider_type, md5(id::text || p.provider)"
        " from public.users cross join (values ('strava'), ('garmin')) as p (provider)"
    )
    conn.execute(PLAN_SQL.encode(), {"users": users, "activities": activities})
    # Bulk load: the row-by-row work of every trigger is skipped, the rollups rebuilt after.
    conn.execute("alter table public.activities disable trigger user")
    started = time.perf_counter()
    chunks = 20
    step = max(1, users // chunks)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("activities", total=users)
        for lo in range(1, users + 1, step):
            hi = min(users, lo + step - 1)
            conn.execute(ACTIVITIES_SQL.encode(), {"lo": lo, "hi": hi})
            progress.update(task, completed=hi)
    t["activities"] = time.perf_counter() - started
    console.print(f"  activities: {t['activities']:.1f} s")
    conn.execute("alter table public.activities enable trigger user")
    t["rebuild_rollups"] = timed("rebuild_rollups()", conn, "select public.rebuild_rollups()")
    t["vacuum_analyze"] = timed("vacuum analyze", conn, "vacuum analyze")
    return t


def explain_ms(conn: Connection, query: str, params: list[Any]) -> float:
    plan = conn.execute(
        ("explain (analyze, timing off, summary on, format json) " + query).encode(), params
    ).fetchone()
    if plan is None:
        raise RuntimeError("EXPLAIN returned nothing")
    top = plan[0][0]
    return float(top["Planning Time"]) + float(top["Execution Time"])


QUERIES = {
    "weekly_volume_1y": (
        "select * from public.weekly_volume where user_id = %s and week_start >= %s"
        " order by week_start, activity_type"
    ),
    "load_series_1y": "select * from public.training_load_series(%s, %s, %s)",
    # The reference is the filtered query above; the athlete's side leaves the user_id filter
    # out (a client ignoring the frontend contract, or a coach's overview): RLS alone narrows.
    "weekly_volume_1y_unfiltered": (
        "select * from public.weekly_volume where user_id = %s and week_start >= %s"
        " order by week_start, activity_type"
    ),
}
RLS_QUERIES = {
    "weekly_volume_1y_unfiltered": (
        "select * from public.weekly_volume where week_start >= %s"
        " order by week_start, activity_type"
    ),
}


def query_for(key: str, side: str) -> str:
    return RLS_QUERIES.get(key, QUERIES[key]) if side == "rls" else QUERIES[key]


def params_for(key: str, user: uuid.UUID, side: str = "ref") -> list[Any]:
    start = TODAY - timedelta(days=365)
    if key == "load_series_1y":
        return [user, start, TODAY]
    if side == "rls" and key in RLS_QUERIES:
        return [start]
    return [user, start]


def become(conn: Connection, side: str, user: uuid.UUID) -> None:
    """The request's transaction-local setup: PostgREST's for the athlete, the owner's role."""
    if side == "rls":
        conn.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            [json.dumps({"sub": str(user), "role": "authenticated"})],
        )
    else:
        conn.execute(f"set local role {migrations.OWNER_ROLE}")


def run_side(conn: Connection, side: str, user: uuid.UUID, key: str) -> tuple[float, list[Any]]:
    """Unprepared: the statement is planned on every run."""
    with conn.transaction(force_rollback=True):
        become(conn, side, user)
        query, params = query_for(key, side), params_for(key, user, side)
        rows = conn.execute(query.encode(), params).fetchall()
        return explain_ms(conn, query, params), rows


def positional(query: str) -> str:
    """psycopg's %s placeholders as PREPARE's $1, $2, ..."""
    parts = query.split("%s")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class PreparedSide:
    """One side's own connection holding its prepared statements, as a PostgREST pool
    connection does (db-prepared-statements = true): prepared once, executed request after
    request; PostgreSQL's plan cache decides between custom and generic plans."""

    def __init__(self, url: str, side: str) -> None:
        # psycopg's own automatic preparing is turned off: the statements are prepared here.
        self.conn: Connection = psycopg.connect(url, autocommit=True, prepare_threshold=None)
        self.side = side
        self.prepared: set[str] = set()

    def close(self) -> None:
        self.conn.close()

    def _execute_sql(self, key: str, user: uuid.UUID) -> sql.Composed:
        args = sql.SQL(", ").join(sql.Literal(p) for p in params_for(key, user, self.side))
        return sql.SQL("execute {} ({})").format(sql.Identifier(key), args)

    def run(self, user: uuid.UUID, key: str, fetch: bool = False) -> tuple[float, list[Any]]:
        conn = self.conn
        with conn.transaction(force_rollback=True):
            become(conn, self.side, user)
            if key not in self.prepared:
                # Prepared under the request's role, as PostgREST prepares inside the request.
                conn.execute(f"prepare {key} as {positional(query_for(key, self.side))}".encode())
                self.prepared.add(key)
            execute = self._execute_sql(key, user)
            if fetch:
                return 0.0, conn.execute(execute).fetchall()
            plan = conn.execute(
                sql.SQL("explain (analyze, timing off, summary on, format json) {}").format(execute)
            ).fetchone()
        if plan is None:
            raise RuntimeError("EXPLAIN returned nothing")
        top = plan[0][0]
        return float(top["Planning Time"]) + float(top["Execution Time"]), []

    def plan_counts(self, key: str) -> dict[str, int]:
        row = self.conn.execute(
            "select generic_plans, custom_plans from pg_prepared_statements where name = %s",
            [key],
        ).fetchone()
        return {"generic_plans": row[0], "custom_plans": row[1]} if row else {}


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def plan_check(conn: Connection, user: uuid.UUID) -> dict[str, Any]:
    """The athlete's weekly volume plans, filtered and not: how often the helper's initPlan ran
    (0 = never executed), whether a BitmapOr appears, and how the rollup table is scanned."""
    checks: dict[str, Any] = {}
    for key in ("weekly_volume_1y", "weekly_volume_1y_unfiltered"):
        query, params = query_for(key, "rls"), params_for(key, user, "rls")
        with conn.transaction(force_rollback=True):
            become(conn, "rls", user)
            row = conn.execute(
                ("explain (analyze, verbose, format json) " + query).encode(), params
            ).fetchone()
        if row is None:
            raise RuntimeError("EXPLAIN returned nothing")
        nodes = list(_plan_nodes(row[0][0]["Plan"]))
        checks[key] = {
            "helper_initplan_loops": [
                n["Actual Loops"]
                for n in nodes
                if n.get("Parent Relationship") == "InitPlan"
                and "readable_user_ids" in json.dumps(n.get("Output", []))
            ],
            "bitmap_or": any(n["Node Type"] == "BitmapOr" for n in nodes),
            "rollup_scans": [
                f"{n['Node Type']} {n.get('Index Name', '')}".strip()
                for n in nodes
                if n.get("Relation Name") == "weekly_rollups"
                or n.get("Index Name", "").startswith("weekly_rollups")
            ],
        }
    return checks


def subjects_of(conn: Connection, sample: int) -> tuple[list[uuid.UUID], int]:
    """The heaviest athlete first, then a random sample (fixed for the whole run)."""
    heaviest = conn.execute(
        "select user_id, n_activities from bench_plan order by n_activities desc limit 1"
    ).fetchone()
    if heaviest is None:
        raise RuntimeError("no athlete generated")
    others = [
        r[0]
        for r in conn.execute(
            "select user_id from bench_plan where n_activities >= 50 and user_id <> %s"
            " order by md5(user_id::text) limit %s",
            [heaviest[0], sample],
        ).fetchall()
    ]
    return [heaviest[0], *others], heaviest[1]


def summarise(times: dict[str, list[float]], heavy: dict[str, list[float]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        side: {
            "median_ms": statistics.median(times[side]),
            "p95_ms": statistics.quantiles(times[side], n=20)[18],
            "heaviest_median_ms": statistics.median(heavy[side]),
        }
        for side in times
    }
    result["ratio"] = result["rls"]["median_ms"] / result["ref"]["median_ms"]
    result["overhead_ms"] = result["rls"]["median_ms"] - result["ref"]["median_ms"]
    return result


def measure_prepared(
    url: str,
    subjects: list[uuid.UUID],
    iterations: int,
    warmup: int,
    keys: tuple[str, ...] = tuple(QUERIES),
) -> dict[str, Any]:
    """Each side on its own connection with prepared statements (PostgREST's default)."""
    sides = {side: PreparedSide(url, side) for side in ("rls", "ref")}
    results: dict[str, Any] = {}
    try:
        for key in keys:
            for user in subjects:
                _, rls_rows = sides["rls"].run(user, key, fetch=True)
                _, ref_rows = sides["ref"].run(user, key, fetch=True)
                if rls_rows != ref_rows or not rls_rows:
                    console.print(f"[red]{key} (prepared): RLS and reference rows differ[/]")
                    sys.exit(2)
            for n in range(warmup):
                for side in sides.values():
                    side.run(subjects[n % len(subjects)], key)
            times: dict[str, list[float]] = {"rls": [], "ref": []}
            heavy: dict[str, list[float]] = {"rls": [], "ref": []}
            for _ in range(iterations):
                for user in subjects:
                    for name in random.sample(["rls", "ref"], 2):
                        elapsed, _ = sides[name].run(user, key)
                        times[name].append(elapsed)
                        if user == subjects[0]:
                            heavy[name].append(elapsed)
            results[key] = summarise(times, heavy)
            results[key]["plan_cache"] = {
                name: side.plan_counts(key) for name, side in sides.items()
            }
    finally:
        for side in sides.values():
            side.close()
    return results


def measure_queries(
    conn: Connection, sample: int, iterations: int, keys: tuple[str, ...] = tuple(QUERIES)
) -> dict[str, Any]:
    subjects, heaviest_activities = subjects_of(conn, sample)
    results: dict[str, Any] = {
        "heaviest_activities": heaviest_activities,
        "subjects": len(subjects),
    }
    for key in keys:
        times: dict[str, list[float]] = {"rls": [], "ref": []}
        heavy: dict[str, list[float]] = {"rls": [], "ref": []}
        for user in subjects:
            _, rls_rows = run_side(conn, "rls", user, key)
            _, ref_rows = run_side(conn, "ref", user, key)
            if rls_rows != ref_rows or not rls_rows:
                console.print(f"[red]{key}: RLS and reference rows differ (or are empty)[/]")
                sys.exit(2)
            for _ in range(iterations):
                for side in random.sample(["rls", "ref"], 2):
                    elapsed, _ = run_side(conn, side, user, key)
                    times[side].append(elapsed)
                    if user == subjects[0]:
                        heavy[side].append(elapsed)
        results[key] = summarise(times, heavy)
    return results


# The rollup policies as they were before the owner-first rewrite (issue 14): the helper's
# initPlan is an operand of the AND, so every statement calls private.readable_user_ids(),
# the athlete's own included. Same rows as today's policies (tests/db/test_rls_matrix.py).
PREVIOUS_POLICY = (
    "user_id = any(array(select private.readable_user_ids()))"
    " and (shareable or user_id = (select auth.uid()) or (select private.is_admin()))"
)

# The cheapest policies weekly_rollups could have, to measure what RLS costs at the least on the
# weekly volume: neither serves coaches or admins, so neither is a candidate, only a floor.
FLOOR_POLICIES = {
    # Supabase's minimal policy.
    "auth_uid_only": "user_id = (select auth.uid())",
    # No function call at all: the JWT subject read inline from PostgREST's setting.
    "no_function_call": (
        "user_id = (select (nullif(current_setting('request.jwt.claims', true), '')::jsonb"
        " ->> 'sub')::uuid)"
    ),
}

ROLLUP_POLICIES = {
    "weekly_rollups": "weekly_rollups_select",
    "daily_loads": "daily_loads_select",
}


def measure_under_policies(
    conn: Connection,
    url: str,
    policies: dict[str, tuple[dict[str, str], tuple[str, ...]]],
    sample: int,
    iterations: int,
    warmup: int,
) -> dict[str, Any]:
    """Each named alternative: ({table: policy expression}, query keys), measured unprepared
    and prepared; the real policies are restored afterwards."""
    current = {
        table: conn.execute(
            "select qual from pg_policies"
            " where schemaname = 'public' and tablename = %s and policyname = %s",
            [table, policy],
        ).fetchone()
        for table, policy in ROLLUP_POLICIES.items()
    }
    subjects, _ = subjects_of(conn, sample)
    results: dict[str, Any] = {}
    try:
        for name, (expressions, keys) in policies.items():
            for table, expression in expressions.items():
                conn.execute(
                    f"alter policy {ROLLUP_POLICIES[table]} on public.{table} using ({expression})"
                )
            results[name] = {
                "unprepared": measure_queries(conn, sample, iterations, keys),
                "prepared": measure_prepared(url, subjects, iterations, warmup, keys),
            }
    finally:
        for table, row in current.items():
            if row is None:
                raise RuntimeError(f"{ROLLUP_POLICIES[table]} is missing")
            conn.execute(
                f"alter policy {ROLLUP_POLICIES[table]} on public.{table} using ({row[0]})"
            )
    return results


def strava_payload(activity_id: int, start: datetime) -> dict[str, Any]:
    return {
        "id": activity_id,
        "name": f"Ride {activity_id}",
        "type": "Ride",
        "sport_type": "Ride",
        "distance": 30000.5 + activity_id % 1000,
        "moving_time": 3600,
        "elapsed_time": 3700,
        "total_elevation_gain": 250.0,
        "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_date_local": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone": "(GMT+01:00) Europe/Paris",
        "utc_offset": 3600.0,
        "average_heartrate": 140.0,
        "weighted_average_watts": 210,
        "average_watts": 190.0,
        "private": False,
        "manual": False,
    }


def measure_ingest(conn: Connection, total: int, rounds: int) -> dict[str, Any]:
    connections = [
        r[0]
        for r in conn.execute(
            "select pc.id from public.provider_connections as pc"
            " join bench_plan as p on p.user_id = pc.user_id"
            " where pc.provider = 'strava' order by p.n_activities desc limit 20"
        ).fetchall()
    ]
    per_round = max(200, total // rounds)
    seconds: dict[str, float] = {"with_rollups": 0.0, "without_rollups": 0.0}
    next_id = 10**12
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("ingest", total=rounds * 2)
        for r in range(rounds):
            for mode in random.sample(list(seconds), 2):
                action = "enable" if mode == "with_rollups" else "disable"
                for trigger in ROLLUP_TRIGGERS:
                    conn.execute(f"alter table public.activities {action} trigger {trigger}")
                pages = []
                for offset in range(0, per_round, 200):
                    start = datetime(2026, 11, 1, 6, tzinfo=UTC) - timedelta(hours=next_id % 5000)
                    page = [
                        strava_payload(next_id + i, start - timedelta(hours=i * 7))
                        for i in range(min(200, per_round - offset))
                    ]
                    next_id += len(page)
                    pages.append(page)
                started = time.perf_counter()
                for n, page in enumerate(pages):
                    with conn.transaction():
                        conn.execute("set local role service_role")
                        conn.execute(
                            "select * from public.ingest_activities(%s, %s)",
                            [connections[(r + n) % len(connections)], Jsonb(page)],
                        )
                seconds[mode] += time.perf_counter() - started
                progress.advance(task)
    for trigger in ROLLUP_TRIGGERS:
        conn.execute(f"alter table public.activities enable trigger {trigger}")
    return {
        "activities_per_mode": per_round * rounds,
        "seconds": seconds,
        "slowdown": seconds["with_rollups"] / seconds["without_rollups"] - 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument(
        "--warmup", type=int, default=20, help="prepared runs per side before timing"
    )
    parser.add_argument("--ingest", type=int, default=20_000, help="0 skips the ingest part")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--reuse-database",
        metavar="NAME",
        help="measure a database kept by an earlier --keep run (no generation; kept again)",
    )
    parser.add_argument(
        "--policy-floor",
        action="store_true",
        help="also measure the weekly volume under the cheapest possible policies",
    )
    parser.add_argument(
        "--previous-policy",
        action="store_true",
        help="also measure both queries under the rollup policies before the owner-first rewrite",
    )
    parser.add_argument(
        "--try-policy",
        action="append",
        default=[],
        metavar="NAME=EXPRESSION",
        help="also measure both queries with this USING expression on both rollup tables",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    alternatives: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {}
    if args.previous_policy:
        alternatives["previous policy"] = (
            dict.fromkeys(ROLLUP_POLICIES, PREVIOUS_POLICY),
            tuple(QUERIES),
        )
    for spec in args.try_policy:
        label, _, expression = spec.partition("=")
        alternatives[label] = (dict.fromkeys(ROLLUP_POLICIES, expression), tuple(QUERIES))
    if args.policy_floor:
        for label, expression in FLOOR_POLICIES.items():
            alternatives[f"floor {label}"] = (
                {"weekly_rollups": expression},
                ("weekly_volume_1y",),
            )

    generation: dict[str, float] = {}
    with bench_server(args.database_url) as server:
        name = args.reuse_database or f"trainlytics_bench_{uuid.uuid4().hex[:12]}"
        if not args.reuse_database:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        url = make_conninfo(server, dbname=name)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                version = conn.execute("show server_version").fetchone()
                console.print(f"PostgreSQL {version[0] if version else '?'}")
                if not args.reuse_database:
                    migrations.migrate(conn)
                    console.print("generating")
                    generation = generate(conn, args.users, args.activities)
                sizes = conn.execute(
                    "select (select count(*) from public.activities),"
                    " (select count(*) from public.weekly_rollups),"
                    " (select count(*) from public.daily_loads)"
                ).fetchone()
                if sizes is None:
                    raise RuntimeError("no sizes")
                console.print(
                    f"  {sizes[0]:,} activities, {sizes[1]:,} weekly rollup rows,"
                    f" {sizes[2]:,} daily load rows"
                )
                subjects, _ = subjects_of(conn, args.sample)
                plans = plan_check(conn, subjects[0])
                for key, check in plans.items():
                    console.print(f"  plan of {key} (heaviest athlete): {check}")
                measured: dict[str, Any] = {
                    "current policy": {
                        "unprepared": measure_queries(conn, args.sample, args.iterations),
                        "prepared": measure_prepared(url, subjects, args.iterations, args.warmup),
                    }
                }
                measured |= measure_under_policies(
                    conn, url, alternatives, args.sample, args.iterations, args.warmup
                )
                ingest = measure_ingest(conn, args.ingest, args.rounds) if args.ingest > 0 else None
        finally:
            if not (args.keep or args.reuse_database):
                with psycopg.connect(server, autocommit=True) as admin:
                    admin.execute(
                        sql.SQL("drop database if exists {} with (force)").format(
                            sql.Identifier(name)
                        )
                    )

    table = Table(
        title="Statistics under RLS vs owner with explicit filter (same run; server-side ms,"
        " planning + execution; medians)"
    )
    for column in (
        "policy",
        "query",
        "statement",
        "RLS ms",
        "ref ms",
        "ratio",
        "RLS - ref ms",
        "RLS p95",
        "heaviest RLS / ref",
        "plans (RLS: generic/custom)",
    ):
        table.add_column(column)
    for policy, modes in measured.items():
        for mode, by_key in modes.items():
            for key, q in by_key.items():
                if key not in QUERIES:
                    continue
                cache = q.get("plan_cache", {}).get("rls", {})
                table.add_row(
                    policy,
                    key,
                    mode,
                    f"{q['rls']['median_ms']:.3f}",
                    f"{q['ref']['median_ms']:.3f}",
                    f"{q['ratio']:.2f}",
                    f"{q['overhead_ms']:.3f}",
                    f"{q['rls']['p95_ms']:.3f}",
                    f"{q['rls']['heaviest_median_ms']:.3f} / {q['ref']['heaviest_median_ms']:.3f}",
                    f"{cache.get('generic_plans', '')}/{cache.get('custom_plans', '')}",
                )
    console.print(table)
    if ingest is not None:
        console.print(
            f"Ingest of {ingest['activities_per_mode']:,} activities per mode: with rollups "
            f"{ingest['seconds']['with_rollups']:.2f} s, "
            f"without {ingest['seconds']['without_rollups']:.2f} s"
            f" -> slowdown {ingest['slowdown'] * 100:.1f} % (target <= 20 %)"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items() if k != "database_url"},
                "sizes": {
                    "activities": sizes[0],
                    "weekly_rollups": sizes[1],
                    "daily_loads": sizes[2],
                },
                "generation_seconds": generation,
                "plans": plans,
                "measured": measured,
                "ingest": ingest,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
