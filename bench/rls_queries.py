"""RLS overhead of the frontend's main queries, as a ratio against the owner in the same run.

Creates a throwaway database (on ``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else
on an embedded server in a temporary directory), applies the bootstrap and the migrations with
the project's own runner, generates users, provider connections, coach grants and activities
set-based in SQL, then times each query two ways, interleaved, per sampled athlete:

- **RLS**: as PostgREST runs it, inside a transaction after ``set_config('role',
  'authenticated', true)`` and ``set_config('request.jwt.claims', '{"sub": ...}', true)``;
- **reference**: the same query as the table owner (``trainlytics_owner``, Supabase's
  ``postgres``, which bypasses RLS) with the policy's conditions written as explicit filters.

Timing is server-side: ``EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)`` planning + execution time of
each run (no network, no client). A client-side ``perf_counter`` round trip of the plain query is
recorded as well, for context. Both sides must return the same rows, or the benchmark fails.

    .venv/bin/python bench/rls_queries.py [--users 10000] [--activities 1000000]
                                          [--database-url URL] [--variants]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.database import redact_url  # noqa: E402
from trainlytics.db.embedded import start_embedded, stop_embedded  # noqa: E402

BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"
DATABASE_PREFIX = "trainlytics_bench_"
OWNER_ROLE = migrations.OWNER_ROLE
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "rls_queries.json"
TARGET_RATIO = 1.2

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

Connection = psycopg.Connection[Any]
Side = Literal["rls", "ref"]
SIDES: tuple[Side, Side] = ("rls", "ref")


# --- data generation ------------------------------------------------------------------------

# Users are md5-derived uuids so that every step (and a reader of the kept database) can name
# user number n without a lookup table. Rank 1 is the heaviest athlete (Zipf-like skew).
USER_ID_SQL = "md5('trainlytics-bench-user-' || {n})::uuid"

AUTH_USERS_SQL = f"""
insert into users (
    instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at
)
select
    '00000000-0000-0000-0000-000000000000',
    {USER_ID_SQL.format(n="n")},
    'authenticated',
    'authenticated',
    'athlete' || n || '@bench.trainlytics.test',
    '',
    now() - interval '3 years',
    '{{"provider": "email", "providers": ["email"]}}',
    jsonb_build_object('first_name', 'Athlete', 'last_name', 'No. ' || n),
    now() - interval '3 years',
    now()
from generate_series(%(lo)s::int, %(hi)s::int) as n
"""  # noqa: S608 - a fixed expression, no input

PLAN_SQL = f"""
create table bench.plan as
with base as (
    select n, {USER_ID_SQL.format(n="n")} as user_id, power(n::float8, -%(skew)s::float8) as w
    from generate_series(1, %(users)s::int) as n
), counted as (
    select n, user_id, ceil(%(activities)s::float8 * w / sum(w) over ())::int as n_activities
    from base
), extra as (
    select
        counted.*,
        n %% 100 = 50 as is_coach,
        random() as r_tz,
        random() as r_end,
        random() as r_span
    from counted
)
select
    n,
    user_id,
    n_activities,
    is_coach,
    (array['Europe/Paris', 'Europe/London', 'America/New_York', 'America/Los_Angeles',
           'Asia/Tokyo', 'Australia/Sydney', 'America/Sao_Paulo', 'Europe/Berlin'])
        [1 + floor(r_tz * 8)::int] as tz_name,
    (array[3600, 0, -18000, -28800, 32400, 36000, -10800, 3600])
        [1 + floor(r_tz * 8)::int] as utc_offset,
    -- 15%% of athletes stopped training up to two years ago; the heaviest 50 are current.
    case when n > 50 and r_end < 0.15 then floor(r_end / 0.15 * 700)::int else 0 end
        as end_offset_days,
    -- one activity every 1-3 days, at most ten years of history
    least(3650, greatest(30, n_activities * (1 + r_span * 2)))::int as span_days,
    least(%(chunks)s - 1,
          floor((sum(n_activities) over (order by n) - n_activities)
                / (sum(n_activities) over () / %(chunks)s::float8)))::int as chunk
from extra
"""  # noqa: S608 - a fixed expression, no input

CONNECTIONS_SQL = """
insert into public.provider_connections (
    user_id, provider, provider_user_id, provider_username, scopes, status, connected_at,
    last_sync_at
)
select
    p.user_id,
    v.provider::public.provider_type,
    p.n::text,
    'athlete' || p.n,
    '{read}',
    (case when p.n > 100 and random() < 0.05 then 'disconnected' else 'active' end)
        ::public.connection_status,
    now() - interval '3 years',
    now()
from bench.plan as p
cross join (
    values ('strava', 0.55), ('garmin', 0.45), ('polar', 0.10), ('coros', 0.10),
           ('wahoo', 0.15), ('fitbit', 0.10)
) as v (provider, share)
where random() < v.share or (p.n <= 100 and v.provider in ('strava', 'garmin'))
"""

USER_CONNECTIONS_SQL = """
create table bench.user_connections as
select user_id, array_agg(id order by id) as ids, array_agg(provider order by id) as providers
from public.provider_connections
group by user_id
"""

STAGING_SQL = """
create unlogged table bench.staging (
    user_id uuid, connection_id bigint, provider public.provider_type,
    source public.activity_source, external_id text, name text,
    activity_type public.activity_type, provider_activity_type text, start_date timestamptz,
    timezone text, utc_offset integer, elapsed_time integer, moving_time integer,
    distance double precision, average_speed double precision, max_speed double precision,
    average_heartrate real, max_heartrate real, elevation_gain real, elevation_loss real,
    calories real, is_manual boolean, is_private boolean, device_name text,
    deleted_at timestamptz
)
"""

ACTIVITY_COLUMNS = (
    "user_id, connection_id, provider, source, external_id, name, activity_type, "
    "provider_activity_type, start_date, timezone, utc_offset, elapsed_time, moving_time, "
    "distance, average_speed, max_speed, average_heartrate, max_heartrate, elevation_gain, "
    "elevation_loss, calories, is_manual, is_private, device_name, deleted_at"
)

# One chunk of athletes. Volatile random() in a CTE is computed once per row.
STAGE_CHUNK_SQL = f"""
with rnd as (
    select
        p.user_id, g, p.tz_name, p.utc_offset, p.end_offset_days, p.span_days,
        coalesce(c.ids, '{{}}') as conn_ids,
        coalesce(c.providers, '{{}}') as conn_providers,
        random() as r_src, random() as r_conn, random() as r_type, random() as r_time,
        random() as r_dur, random() as r_hr, random() as r_elev, random() as r_priv,
        random() as r_del, random() as r_man
    from bench.plan as p
    left join bench.user_connections as c on c.user_id = p.user_id
    cross join lateral generate_series(1, p.n_activities) as g
    where p.chunk = %(chunk)s
), typed as (
    select
        rnd.*,
        case
            when cardinality(conn_ids) > 0 and r_src < 0.85 then 'provider'
            when r_src < 0.95 then 'manual'
            else 'file'
        end as src,
        1 + floor(r_conn * greatest(cardinality(conn_ids), 1))::int as conn_idx,
        (array['run', 'run', 'run', 'run', 'run', 'run', 'run', 'ride', 'ride', 'ride',
               'ride', 'ride', 'walk', 'swim', 'trail_run', 'virtual_ride',
               'weight_training', 'hike', 'yoga', 'other'])[1 + floor(r_type * 20)::int]
            as atype
    from rnd
), measured as (
    select
        typed.*,
        (case atype
            when 'run' then 2.9 when 'trail_run' then 2.4 when 'ride' then 7.8
            when 'virtual_ride' then 8.5 when 'walk' then 1.4 when 'hike' then 1.2
            when 'swim' then 0.8 else 0
        end * (0.8 + r_hr * 0.4))::float8 as speed,
        (900 + floor(r_dur * 9000))::int as moving,
        now() - make_interval(days => end_offset_days)
            - (r_time * span_days) * interval '1 day' as start_date
    from typed
)
insert into bench.staging ({ACTIVITY_COLUMNS})
select
    user_id,
    case when src = 'provider' then conn_ids[conn_idx] end,
    case when src = 'provider' then conn_providers[conn_idx] end,
    src::public.activity_source,
    case src
        when 'provider' then 'ext-' || g
        when 'manual' then 'manual-' || g
        else 'file-' || md5(user_id::text || g)
    end,
    initcap(replace(atype, '_', ' ')) || ' #' || g,
    atype::public.activity_type,
    atype,
    start_date,
    tz_name,
    utc_offset,
    round(moving * (1 + r_man * 0.25))::int,
    moving,
    round(moving * speed),
    speed,
    speed * 1.6,
    (100 + r_hr * 70)::real,
    (125 + r_hr * 70)::real,
    (case when atype in ('run', 'trail_run', 'ride', 'hike') then r_elev * 900 else 0 end)::real,
    (case when atype in ('run', 'trail_run', 'ride', 'hike') then r_elev * 880 else 0 end)::real,
    (moving * (0.1 + r_hr * 0.2))::real,
    src = 'manual' or (src = 'provider' and r_man < 0.03),
    r_priv < 0.05,
    case when src <> 'manual' then
        (array['Garmin Forerunner 965', 'Wahoo ELEMNT BOLT', 'COROS PACE 3',
               'Polar Vantage V3', 'Apple Watch Ultra'])[1 + floor(r_man * 5)::int]
    end,
    case when src = 'provider' and r_del < 0.02
        then least(now(), start_date + interval '2 days') end
from measured
"""  # noqa: S608 - fixed column list, no input

INSERT_ACTIVITIES_SQL = f"""
insert into public.activities ({ACTIVITY_COLUMNS})
select {ACTIVITY_COLUMNS}
from bench.staging
where start_date >= %(lo)s and start_date < %(hi)s
order by start_date
"""  # noqa: S608 - fixed column list, no input

COACH_GRANTS_SQL = """
with coaches as (
    select row_number() over (order by n) - 1 as k, user_id from bench.plan where is_coach
), athletes as (
    select p.n, p.user_id, random() as r_pick, random() as r_coach, random() as r_status
    from bench.plan as p
    where not p.is_coach
)
insert into public.coach_athletes (athlete_id, coach_id, status, activated_at, revoked_at)
select
    a.user_id,
    c.user_id,
    s.status::public.coach_grant_status,
    case when s.status <> 'pending' then now() - interval '1 year' end,
    case when s.status = 'revoked' then now() - interval '1 month' end
from athletes as a
cross join lateral (
    select case
        when a.n <= 20 or a.r_status < 0.8 then 'active'
        when a.r_status < 0.9 then 'pending'
        else 'revoked'
    end as status
) as s
join coaches as c on c.k = floor(a.r_coach * (select count(*) from coaches))::int
where a.n <= 20 or a.r_pick < 0.25
"""


@contextmanager
def progress_bar() -> Iterator[Progress]:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress


def step(conn: Connection, description: str, statement: str, params: dict[str, Any]) -> None:
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(statement.encode(), params)
    console.print(f"  {description} [dim]({time.perf_counter() - started:.1f} s)[/]")


def generate(
    conn: Connection, users: int, activities: int, skew: float, seed: int, chunks: int = 20
) -> dict[str, int]:
    """Fill the migrated database; return the row counts. ``conn`` is a superuser, autocommit."""
    console.print(
        f"[bold]Generating[/] ~{activities:,} activities for {users:,} users (skew {skew})"
    )
    conn.execute("select setseed(%s)", [(seed % 1000) / 1000.0])
    conn.execute("create schema bench")

    # Users, as Supabase Auth creates them: the trigger on auth.users makes the profiles.
    with progress_bar() as progress:
        task = progress.add_task("auth.users (as supabase_auth_admin)", total=users)
        batch = max(1000, users // 10)
        for lo in range(1, users + 1, batch):
            hi = min(users, lo + batch - 1)
            with conn.transaction():
                conn.execute("set local role supabase_auth_admin")
                conn.execute("set local search_path = auth")
                conn.execute(AUTH_USERS_SQL.encode(), {"lo": lo, "hi": hi})
            progress.update(task, completed=hi)

    params: dict[str, Any] = {
        "users": users,
        "activities": activities,
        "skew": skew,
        "chunks": chunks,
    }
    step(conn, "plan: activity counts per athlete", PLAN_SQL, params)
    step(
        conn,
        "coaches: 1 user in 100",
        "update public.users set role = 'coach'"
        " where id in (select user_id from bench.plan where is_coach)",
        {},
    )
    step(conn, "provider connections", CONNECTIONS_SQL, {})
    step(conn, "connections per athlete", USER_CONNECTIONS_SQL, {})
    step(conn, "coach grants", COACH_GRANTS_SQL, {})

    conn.execute(STAGING_SQL)
    with progress_bar() as progress:
        task = progress.add_task("activities: generate", total=chunks)
        for chunk in range(chunks):
            with conn.transaction():
                conn.execute(STAGE_CHUNK_SQL.encode(), {"chunk": chunk})
            progress.advance(task)
    conn.execute("create index on bench.staging (start_date)")
    conn.execute("analyze bench.staging")

    # Insert in start_date order, as a live system receives them: one athlete's activities
    # are spread over the whole table, not packed in a few pages.
    fractions = [i / chunks for i in range(1, chunks)]
    row = conn.execute(
        "select percentile_disc(%s::float8[]) within group (order by start_date)"
        " from bench.staging",
        [fractions],
    ).fetchone()
    assert row is not None  # noqa: S101
    bounds: list[Any] = ["-infinity", *row[0], "infinity"]
    with progress_bar() as progress:
        task = progress.add_task("activities: insert (time order)", total=chunks)
        for lo, hi in itertools.pairwise(bounds):
            with conn.transaction():
                conn.execute(INSERT_ACTIVITIES_SQL.encode(), {"lo": lo, "hi": hi})
            progress.advance(task)
    conn.execute("drop table bench.staging")

    started = time.perf_counter()
    conn.execute(
        "vacuum (analyze) public.activities, public.users, public.coach_athletes,"
        " public.provider_connections"
    )
    console.print(f"  vacuum analyze [dim]({time.perf_counter() - started:.1f} s)[/]")

    counts_row = conn.execute(
        """
        select
            (select count(*) from public.users),
            (select count(*) from public.users where role = 'coach'),
            (select count(*) from public.provider_connections),
            (select count(*) from public.coach_athletes),
            (select count(*) from public.coach_athletes where status = 'active'),
            (select count(*) from public.activities),
            (select count(*) from public.activities where source = 'provider'),
            (select count(*) from public.activities where source = 'manual'),
            (select count(*) from public.activities where source = 'file'),
            (select count(*) from public.activities where is_private),
            (select count(*) from public.activities where deleted_at is not null),
            (select max(c) from (select count(*) c from public.activities group by user_id) m),
            (select percentile_disc(0.5) within group (order by c)
             from (select count(*) c from public.activities group by user_id) m),
            (select pg_total_relation_size('public.activities') / 1048576)
        """
    ).fetchone()
    assert counts_row is not None  # noqa: S101
    names = (
        "users",
        "coaches",
        "provider_connections",
        "coach_grants",
        "coach_grants_active",
        "activities",
        "activities_provider",
        "activities_manual",
        "activities_file",
        "activities_private",
        "activities_deleted",
        "activities_max_per_user",
        "activities_median_per_user",
        "activities_total_mb",
    )
    counts = {name: int(value) for name, value in zip(names, counts_row, strict=True)}
    console.print(
        "  " + ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in counts.items())
    )
    return counts


# --- the queries ----------------------------------------------------------------------------

# The page's column list, as the frontend selects it.
PAGE_SELECT = "select id, name, activity_type, start_date, distance, moving_time"


@dataclass(frozen=True)
class Subject:
    """Who runs the query (``reader``) about whose data (``owner``)."""

    label: str
    reader: str
    owner: str
    owner_activities: int
    heavy: bool


@dataclass(frozen=True)
class QuerySpec:
    key: str
    title: str
    rls_sql: str  # {owner} is replaced by the owner's id literal
    ref_sql: str
    subjects: str  # "athletes" or "coaches"

    def text(self, side: Side, subject: Subject) -> str:
        template = self.rls_sql if side == "rls" else self.ref_sql
        return template.replace("{owner}", sql.Literal(subject.owner).as_string())


PAGE = QuerySpec(
    key="recent_page",
    title="athlete: page of recent activities",
    rls_sql=PAGE_SELECT + " from public.activities order by start_date desc limit 20",
    ref_sql=(
        PAGE_SELECT + " from public.activities"
        " where user_id = {owner} and deleted_at is null order by start_date desc limit 20"
    ),
    subjects="athletes",
)
WEEKLY = QuerySpec(
    key="weekly_volume",
    title="athlete: weekly volume, last 12 weeks",
    rls_sql="select * from public.weekly_volume where week_start >= current_date - 84",
    ref_sql=(
        "select * from public.weekly_volume"
        " where user_id = {owner} and week_start >= current_date - 84"
    ),
    subjects="athletes",
)
COACH_PAGE = QuerySpec(
    key="coach_page",
    title="coach: an athlete's recent activities",
    rls_sql=(
        PAGE_SELECT + " from public.activities"
        " where user_id = {owner} order by start_date desc limit 20"
    ),
    ref_sql=(
        PAGE_SELECT + " from public.activities"
        " where user_id = {owner} and deleted_at is null and not is_private"
        " and provider is distinct from 'strava' order by start_date desc limit 20"
    ),
    subjects="coaches",
)
PAGE_FILTERED = QuerySpec(
    key="recent_page_filtered",
    title="athlete: recent page + explicit user_id filter",
    rls_sql=(
        PAGE_SELECT + " from public.activities"
        " where user_id = {owner} order by start_date desc limit 20"
    ),
    ref_sql=PAGE.ref_sql,
    subjects="athletes",
)
WEEKLY_FILTERED = QuerySpec(
    key="weekly_volume_filtered",
    title="athlete: weekly volume + explicit user_id filter",
    rls_sql=WEEKLY.ref_sql,
    ref_sql=WEEKLY.ref_sql,
    subjects="athletes",
)
QUERIES = (PAGE, WEEKLY, COACH_PAGE, PAGE_FILTERED, WEEKLY_FILTERED)


def enter(conn: Connection, side: Side, subject: Subject) -> None:
    """Begin a transaction as PostgREST would for ``subject.reader`` (rls) or as the owner."""
    if side == "rls":
        claims = json.dumps({"sub": subject.reader, "role": "authenticated"})
        conn.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            [claims],
        )
    else:
        conn.execute("select set_config('role', %s, true)", [OWNER_ROLE])


def fetch(conn: Connection, side: Side, spec: QuerySpec, subject: Subject) -> list[tuple[Any, ...]]:
    try:
        enter(conn, side, subject)
        return conn.execute(spec.text(side, subject).encode()).fetchall()
    finally:
        conn.rollback()


def explain(conn: Connection, side: Side, spec: QuerySpec, subject: Subject, options: str) -> Any:
    try:
        enter(conn, side, subject)
        statement = f"explain ({options}) {spec.text(side, subject)}"
        return [row[0] for row in conn.execute(statement.encode()).fetchall()]
    finally:
        conn.rollback()


@dataclass
class Samples:
    execution_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)  # planning + execution
    client_ms: list[float] = field(default_factory=list)
    request_ms: list[float] = field(default_factory=list)  # the whole PostgREST-shaped request

    def add(self, execution: float, total: float, client: float, request: float) -> None:
        self.execution_ms.append(execution)
        self.total_ms.append(total)
        self.client_ms.append(client)
        self.request_ms.append(request)


def time_once(
    conn: Connection, side: Side, spec: QuerySpec, subject: Subject, expected_rows: int
) -> tuple[float, float, float, float]:
    """(execution ms, planning + execution ms, client round trip ms of the query, whole request
    ms) of one run each. The request is what PostgREST does per API call: open a transaction,
    set the role and claims, run the query, end the transaction; both sides do all of it."""
    plan = explain(conn, side, spec, subject, "analyze, timing off, summary on, format json")
    document = plan[0][0]
    actual_rows = int(document["Plan"]["Actual Rows"])
    if actual_rows != expected_rows:
        raise BenchmarkError(
            f"{spec.key} {side} for {subject.label}: {actual_rows} rows under EXPLAIN ANALYZE, "
            f"{expected_rows} when verified"
        )
    execution = float(document["Execution Time"])
    total = float(document["Planning Time"]) + execution
    request_started = time.perf_counter()
    try:
        enter(conn, side, subject)
        started = time.perf_counter()
        rows = conn.execute(spec.text(side, subject).encode()).fetchall()
        client = (time.perf_counter() - started) * 1000.0
    finally:
        conn.rollback()
    request = (time.perf_counter() - request_started) * 1000.0
    if len(rows) != expected_rows:
        raise BenchmarkError(
            f"{spec.key} {side} for {subject.label}: {len(rows)} rows, expected {expected_rows}"
        )
    return execution, total, client, request


class BenchmarkError(RuntimeError):
    """The two sides disagree, or the data cannot support a measurement."""


def row_key(row: tuple[Any, ...]) -> str:
    """Sort key of a result row, ignoring float columns (their last digits may differ)."""
    return repr([value for value in row if not isinstance(value, float)])


def rows_equal(left: tuple[Any, ...], right: tuple[Any, ...]) -> bool:
    """Equal rows; sums of ``real`` columns may differ in the last bit with summation order."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        if isinstance(a, float) and isinstance(b, float):
            if not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9):
                return False
        elif a != b:
            return False
    return True


def verify(conn: Connection, spec: QuerySpec, subject: Subject) -> int:
    """Run both sides once; fail loudly unless they return exactly the same rows."""
    results = {side: fetch(conn, side, spec, subject) for side in SIDES}
    rls, ref = (sorted(results[side], key=row_key) for side in SIDES)
    if len(rls) != len(ref) or not all(map(rows_equal, rls, ref)):
        only_rls = [row for row in rls if row not in ref][:3]
        only_ref = [row for row in ref if row not in rls][:3]
        raise BenchmarkError(
            f"{spec.key} for {subject.label}: RLS returned {len(rls)} rows, the reference "
            f"{len(ref)}; only under RLS: {only_rls}; only in the reference: {only_ref}"
        )
    # A page query over an athlete with enough (visible) activities must fill its page.
    if spec.key.endswith("page") and subject.owner_activities >= 40 and len(rls) != 20:
        raise BenchmarkError(f"{spec.key} for {subject.label}: expected a full page of 20 rows")
    return len(rls)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarize(values: Sequence[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values), 4),
        "p95_ms": round(percentile(values, 0.95), 4),
        "mean_ms": round(statistics.fmean(values), 4),
        "min_ms": round(min(values), 4),
        "max_ms": round(max(values), 4),
    }


def measure_query(
    conn: Connection,
    spec: QuerySpec,
    subjects: Sequence[Subject],
    *,
    warmup: int,
    iterations: int,
    rng: random.Random,
    progress: Progress,
) -> dict[str, Any]:
    task = progress.add_task(spec.title, total=len(subjects))
    pooled: dict[Side, Samples] = {"rls": Samples(), "ref": Samples()}
    heavy: dict[Side, Samples] = {"rls": Samples(), "ref": Samples()}
    per_subject: list[dict[str, Any]] = []
    for subject in subjects:
        rows = verify(conn, spec, subject)
        for _ in range(warmup):
            for side in SIDES:
                time_once(conn, side, spec, subject, rows)
        mine: dict[Side, Samples] = {"rls": Samples(), "ref": Samples()}
        for _ in range(iterations):
            order = list(SIDES)
            rng.shuffle(order)  # interleaved, in random order: neither side always goes first
            for side in order:
                measured = time_once(conn, side, spec, subject, rows)
                mine[side].add(*measured)
                pooled[side].add(*measured)
                if subject.heavy:
                    heavy[side].add(*measured)
        rls_median = statistics.median(mine["rls"].execution_ms)
        ref_median = statistics.median(mine["ref"].execution_ms)
        per_subject.append(
            {
                "subject": subject.label,
                "reader": subject.reader,
                "owner": subject.owner,
                "owner_activities": subject.owner_activities,
                "heavy": subject.heavy,
                "rows": rows,
                "rls_execution_median_ms": round(rls_median, 4),
                "ref_execution_median_ms": round(ref_median, 4),
                "ratio": round(rls_median / ref_median, 3),
            }
        )
        progress.advance(task)

    ratios = [entry["ratio"] for entry in per_subject]
    result: dict[str, Any] = {
        "key": spec.key,
        "title": spec.title,
        "rls_sql": spec.rls_sql,
        "ref_sql": spec.ref_sql,
        "subjects": len(subjects),
        "samples_per_side": len(pooled["rls"].execution_ms),
        "rows_checked_equal": True,
        "rows_total": sum(entry["rows"] for entry in per_subject),
    }
    for metric in ("execution", "total", "client", "request"):
        rls = summarize(getattr(pooled["rls"], f"{metric}_ms"))
        ref = summarize(getattr(pooled["ref"], f"{metric}_ms"))
        result[metric] = {
            "rls": rls,
            "ref": ref,
            "ratio_median": round(rls["median_ms"] / ref["median_ms"], 3),
            "ratio_p95": round(rls["p95_ms"] / ref["p95_ms"], 3),
        }
    result["per_subject_execution_ratio"] = {
        "median": round(statistics.median(ratios), 3),
        "max": round(max(ratios), 3),
    }
    if heavy["rls"].execution_ms:
        rls = summarize(heavy["rls"].execution_ms)
        ref = summarize(heavy["ref"].execution_ms)
        result["heaviest"] = {
            "subjects": sum(1 for s in subjects if s.heavy),
            "rls": rls,
            "ref": ref,
            "ratio_median": round(rls["median_ms"] / ref["median_ms"], 3),
        }
    result["per_subject"] = per_subject
    return result


def pick_subjects(
    conn: Connection, sample: int, heavy_count: int, rng: random.Random
) -> dict[str, list[Subject]]:
    """The heaviest athletes plus a random sample of the others; coach/athlete pairs likewise."""
    athletes = conn.execute(
        """
        select u.id::text, count(a.id)
        from public.users as u
        join public.activities as a on a.user_id = u.id
        where u.role = 'athlete'
        group by u.id
        order by count(a.id) desc, u.id
        """
    ).fetchall()
    heavy_count = min(heavy_count, sample, len(athletes))
    chosen = athletes[:heavy_count] + rng.sample(
        athletes[heavy_count:], min(sample - heavy_count, len(athletes) - heavy_count)
    )
    athlete_subjects = [
        Subject(
            label=f"athlete #{athletes.index(row) + 1} ({row[1]:,} activities)",
            reader=row[0],
            owner=row[0],
            owner_activities=int(row[1]),
            heavy=index < heavy_count,
        )
        for index, row in enumerate(chosen)
    ]

    pairs = conn.execute(
        """
        select ca.coach_id::text, ca.athlete_id::text, count(a.id)
        from public.coach_athletes as ca
        join public.activities as a on a.user_id = ca.athlete_id
        where ca.status = 'active'
            and a.deleted_at is null and not a.is_private and a.provider is distinct from 'strava'
        group by ca.coach_id, ca.athlete_id
        order by count(a.id) desc, ca.athlete_id
        """
    ).fetchall()
    coach_sample = max(1, sample // 2)
    coach_heavy = min(max(1, heavy_count // 2), coach_sample, len(pairs))
    chosen_pairs = pairs[:coach_heavy] + rng.sample(
        pairs[coach_heavy:], min(coach_sample - coach_heavy, len(pairs) - coach_heavy)
    )
    coach_subjects = [
        Subject(
            label=f"coach of athlete with {row[2]:,} shared activities",
            reader=row[0],
            owner=row[1],
            owner_activities=int(row[2]),
            heavy=index < coach_heavy,
        )
        for index, row in enumerate(chosen_pairs)
    ]
    return {"athletes": athlete_subjects, "coaches": coach_subjects}


# --- variants of the policy, tried in the throwaway database only ---------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    description: str
    ddl: str
    queries: tuple[QuerySpec, ...]


# private.readable_user_ids() as migrated costs ~45 us per call on PG15: two security definer
# plpgsql hops (it calls private.is_admin()), four auth.uid() calls and a UNION. Same result,
# same signature, one hop, auth.uid() once, no UNION (a grant never names the athlete as their
# own coach, and (athlete_id, coach_id) is unique, so there is nothing to deduplicate).
READABLE_USER_IDS_ONE_HOP = """
create or replace function private.readable_user_ids()
returns setof uuid
rows 10
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    caller uuid := auth.uid();
begin
    if caller is null then
        return;
    end if;
    if exists (
        select from public.users as u
        where u.id = caller and u.role = 'admin' and u.is_active
    ) then
        return query select u.id from public.users as u;
        return;
    end if;
    return next caller;
    return query
        select ca.athlete_id
        from public.coach_athletes as ca
        where ca.coach_id = caller and ca.status = 'active';
end;
$$
"""

# Same rows as the migrated policy, with the caller's own rows on a first OR arm so that the
# helper's initPlan would not run for them. Measured and rejected: with an explicit user_id
# filter the planner multiplies the two equalities' selectivities, estimates a handful of rows
# and picks BitmapOr + Sort of all the athlete's rows instead of the ordered index scan.
OWNER_FIRST_POLICY = """
alter policy activities_select on public.activities
using (
    deleted_at is null
    and (
        user_id = (select auth.uid())
        or (
            user_id = any (array(select private.readable_user_ids()))
            and (
                (not is_private and provider is distinct from 'strava')
                or (select private.is_admin())
            )
        )
    )
)
"""

# Not a proposal (coaches and admins lose access): the cheapest policy there is, to show the
# floor of any RLS on these queries.
OWNER_ONLY_POLICY = """
alter policy activities_select on public.activities
using (user_id = (select auth.uid()) and deleted_at is null)
"""

VARIANTS: tuple[Variant, ...] = (
    Variant(
        key="readable_user_ids_one_hop",
        description="private.readable_user_ids() rewritten: one definer hop, auth.uid() once, "
        "no UNION (policy unchanged)",
        ddl=READABLE_USER_IDS_ONE_HOP,
        queries=QUERIES,
    ),
    Variant(
        key="owner_first_policy",
        description="REJECTED: activities_select with the caller's own rows as a first OR arm "
        "(plus the one-hop helper); the OR misleads the planner into BitmapOr + Sort",
        ddl=OWNER_FIRST_POLICY,
        queries=QUERIES,
    ),
    Variant(
        key="owner_only_floor",
        description="lower bound, NOT a proposal: policy user_id = (select auth.uid()) "
        "and deleted_at is null",
        ddl=OWNER_ONLY_POLICY,
        queries=(PAGE, WEEKLY, PAGE_FILTERED),
    ),
)


# --- orchestration --------------------------------------------------------------------------


@contextmanager
def bench_server(explicit: str | None) -> Iterator[tuple[str, str]]:
    """A superuser URL of the server to benchmark, and where it came from."""
    url = explicit or os.environ.get(BENCH_DATABASE_URL_ENV)
    if url:
        yield url, "given"
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-bench-pg-"))
    console.print(f"Starting the embedded PostgreSQL server in {data_dir}")
    try:
        yield start_embedded(data_dir, cleanup_mode="delete"), "embedded"
    finally:
        stop_embedded(data_dir)


@contextmanager
def throwaway_database(server: str, keep: bool) -> Iterator[str]:
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    console.print(f"Created database [bold]{name}[/]")
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        if keep:
            console.print(f"Kept database [bold]{name}[/] (--keep)")
        else:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )


def server_facts(conn: Connection) -> dict[str, str]:
    rows = conn.execute(
        """
        select name, setting || coalesce(unit, '') from pg_settings
        where name in ('server_version', 'shared_buffers', 'work_mem', 'effective_cache_size',
                       'random_page_cost', 'jit', 'max_parallel_workers_per_gather')
        order by name
        """
    ).fetchall()
    return {str(name): str(value) for name, value in rows}


def print_plans(conn: Connection, subject: Subject, spec: QuerySpec) -> dict[str, str]:
    plans: dict[str, str] = {}
    for side in SIDES:
        lines = explain(conn, side, spec, subject, "analyze, buffers, costs")
        plans[side] = "\n".join(str(line) for line in lines)
    console.rule(f"EXPLAIN {spec.key} — {subject.label}")
    for side in SIDES:
        heading = "RLS (authenticated)" if side == "rls" else f"reference ({OWNER_ROLE})"
        console.print(f"[bold]{heading}[/]: {escape(spec.text(side, subject))}", soft_wrap=True)
        console.print(escape(plans[side]), soft_wrap=True)
    return plans


def heaviest_ratio(result: dict[str, Any]) -> str:
    heaviest = result.get("heaviest")
    return f"{heaviest['ratio_median']:.2f}" if heaviest else "-"


def markdown_table(results: Sequence[dict[str, Any]], label: str) -> str:
    lines = [
        f"**{label}** — execution time (EXPLAIN ANALYZE), ms",
        "",
        "| query | n | RLS median / p95 | reference median / p95 | ratio median | ratio p95 "
        "| heaviest ratio | worst athlete | ratio incl. planning "
        "| whole request RLS / ref ms | **request ratio** | rows equal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for result in results:
        execution = result["execution"]
        flag = "" if execution["ratio_median"] <= TARGET_RATIO else " ✗"
        lines.append(
            f"| {result['title']} | {result['subjects']} "
            f"| {execution['rls']['median_ms']:.3f} / {execution['rls']['p95_ms']:.3f} "
            f"| {execution['ref']['median_ms']:.3f} / {execution['ref']['p95_ms']:.3f} "
            f"| **{execution['ratio_median']:.2f}**{flag} | {execution['ratio_p95']:.2f} "
            f"| {heaviest_ratio(result)} "
            f"| {result['per_subject_execution_ratio']['max']:.2f} "
            f"| {result['total']['ratio_median']:.2f} "
            f"| {result['request']['rls']['median_ms']:.3f} / "
            f"{result['request']['ref']['median_ms']:.3f} "
            f"| **{result['request']['ratio_median']:.2f}** "
            f"| {'yes' if result['rows_checked_equal'] else 'NO'} |"
        )
    return "\n".join(lines)


def print_table(results: Sequence[dict[str, Any]], title: str) -> None:
    table = Table(title=title, caption="execution ms (EXPLAIN ANALYZE); ratio = RLS / reference")
    for column in (
        "query",
        "n",
        "RLS med",
        "RLS p95",
        "ref med",
        "ref p95",
        "ratio",
        "ratio p95",
        "heaviest",
        "worst",
        "w/ planning",
        "client",
        "request",
    ):
        table.add_column(column, justify="left" if column == "query" else "right")
    for result in results:
        execution = result["execution"]
        ok = execution["ratio_median"] <= TARGET_RATIO
        table.add_row(
            result["title"],
            str(result["subjects"]),
            f"{execution['rls']['median_ms']:.3f}",
            f"{execution['rls']['p95_ms']:.3f}",
            f"{execution['ref']['median_ms']:.3f}",
            f"{execution['ref']['p95_ms']:.3f}",
            f"[{'green' if ok else 'red'}]{execution['ratio_median']:.2f}[/]",
            f"{execution['ratio_p95']:.2f}",
            heaviest_ratio(result),
            f"{result['per_subject_execution_ratio']['max']:.2f}",
            f"{result['total']['ratio_median']:.2f}",
            f"{result['client']['ratio_median']:.2f}",
            f"{result['request']['ratio_median']:.2f}",
        )
    console.print(table)


def run_queries(
    conn: Connection,
    specs: Sequence[QuerySpec],
    subjects: dict[str, list[Subject]],
    args: argparse.Namespace,
    rng: random.Random,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    results: list[dict[str, Any]] = []
    plans: dict[str, dict[str, str]] = {}
    for spec in specs:
        group = subjects[spec.subjects]
        if not group:
            console.print(f"[yellow]skipped {spec.key}: no {spec.subjects} in the data[/]")
            continue
        plans[spec.key] = print_plans(conn, group[0], spec)
    with progress_bar() as progress:
        for spec in specs:
            group = subjects[spec.subjects]
            if group:
                results.append(
                    measure_query(
                        conn,
                        spec,
                        group,
                        warmup=args.warmup,
                        iterations=args.iterations,
                        rng=rng,
                        progress=progress,
                    )
                )
    for result in results:
        result["explain"] = plans[result["key"]]
    return results, plans


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=10_000, help="athletes to create")
    parser.add_argument("--activities", type=int, default=1_000_000, help="activities (at least)")
    parser.add_argument(
        "--database-url",
        default=None,
        help=f"superuser URL of the server to create the throwaway database on "
        f"(default: ${BENCH_DATABASE_URL_ENV}, else an embedded server in a temp dir)",
    )
    parser.add_argument("--sample", type=int, default=50, help="athletes measured")
    parser.add_argument("--heavy", type=int, default=10, help="of which the heaviest athletes")
    parser.add_argument("--iterations", type=int, default=20, help="timed runs per side")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per side")
    parser.add_argument("--skew", type=float, default=0.7, help="Zipf exponent of activities")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--variants", action="store_true", help="also measure the proposed policy variants"
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results")
    args = parser.parse_args(argv)
    if args.users < 100 or args.activities < args.users:
        parser.error("need at least 100 users (1 in 100 is a coach) and one activity per user")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 - sampling, not security
    started = time.perf_counter()
    with (
        bench_server(args.database_url) as (server, origin),
        throwaway_database(server, args.keep) as url,
    ):
        console.print(f"Server: {redact_url(server)} ({origin})", soft_wrap=True)
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            result = migrations.migrate(conn)
            console.print(
                f"Applied {len(result.applied)} migrations"
                + (" after the compatibility bootstrap" if result.bootstrapped else "")
            )
            counts = generate(conn, args.users, args.activities, args.skew, args.seed)
            facts = server_facts(conn)
        generated_s = time.perf_counter() - started

        with psycopg.connect(url, autocommit=False, prepare_threshold=None) as conn:
            subjects = pick_subjects(conn, args.sample, args.heavy, rng)
            conn.rollback()
            results, _ = run_queries(conn, QUERIES, subjects, args, rng)
            variant_results: list[dict[str, Any]] = []
            if args.variants:
                for variant in VARIANTS:
                    console.rule(f"variant {variant.key}: {variant.description}")
                    with conn.transaction():  # as the migrations' owner, like a migration
                        set_owner = sql.SQL("set local role {}").format(sql.Identifier(OWNER_ROLE))
                        conn.execute(set_owner)
                        conn.execute(variant.ddl.encode())
                    measured, _ = run_queries(conn, variant.queries, subjects, args, rng)
                    for entry in measured:
                        entry["title"] = f"{variant.key}: {entry['title']}"
                        entry["variant"] = variant.key
                        entry["variant_description"] = variant.description
                        entry["variant_ddl"] = variant.ddl
                    variant_results.extend(measured)

    label = (
        f"PostgreSQL {facts['server_version']} ({origin} server), "
        f"{counts['activities']:,} activities, {counts['users']:,} users"
    )
    print_table(results, label)
    if variant_results:
        print_table(variant_results, "variants (throwaway database only)")
    document = {
        "benchmark": "rls_queries",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": {"origin": origin, **facts},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": {
            "users": args.users,
            "activities": args.activities,
            "skew": args.skew,
            "seed": args.seed,
            "sample": args.sample,
            "heavy": args.heavy,
            "warmup": args.warmup,
            "iterations": args.iterations,
        },
        "timing": (
            "server-side, per run: execution = Execution Time of EXPLAIN (ANALYZE, TIMING OFF, "
            "SUMMARY ON); total = Planning Time + Execution Time; client = perf_counter round "
            "trip of the plain query over psycopg without prepared statements. Sides "
            "interleaved in random order, after warm-up runs."
        ),
        "target_ratio": TARGET_RATIO,
        "data": counts,
        "generation_seconds": round(generated_s, 1),
        "results": results,
        "variants": variant_results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    console.print()
    console.print(markdown_table(results, label), soft_wrap=True, markup=False)
    if variant_results:
        console.print()
        console.print(
            markdown_table(variant_results, "proposed variants"), soft_wrap=True, markup=False
        )
    console.print(f"\nWrote {args.output} in {time.perf_counter() - started:.0f} s")
    missed = [r["key"] for r in results if r["execution"]["ratio_median"] > TARGET_RATIO]
    if missed:
        console.print(f"[yellow]ratio above {TARGET_RATIO}: {', '.join(missed)}[/]")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        console.print(f"[bold red]benchmark failed:[/] {escape(str(exc))}")
        sys.exit(2)
