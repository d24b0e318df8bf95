"""Generate a large, realistic activity history set-based, then build the derived tables in bulk.

The ingest path has its own benchmark (``ingest_throughput.py``); this generator is for reads at
scale (10M activities, 100k athletes): every row is made by ``insert ... select`` over
``generate_series`` inside PostgreSQL, chunk by chunk of athletes, with the activity triggers
disabled, and the derived tables (weekly rollups, daily loads, daily fitness, personal records)
are then built by their bulk rebuild functions, which are the same functions the schema offers
after a bulk load. Duplicates are grouped first (``private.group_activity_duplicates`` over every
history, 1,000 anchors a call), as the grouping trigger would have grouped them at ingest: the
same-time rows of a dense multi-source history left ungrouped made the first write near them
regroup them, a cost the ingest benchmark charged to the page.

Distributions (seeded, reproducible):

- **history size per athlete**: Zipf-like, athlete rank n gets ``top x n^-s`` activities, with
  ``--top`` (the heaviest, default 60,000) pinned and ``s`` solved so that the total is
  ``--activities``; at 10M / 100k the median athlete has ~50 activities;
- **profile per athlete** (runner 40 %, cyclist 30 %, triathlete 15 %, walker/gym 15 %), which
  sets the sport mix of each activity (run, trail_run, treadmill_run, ride, virtual_ride,
  gravel_ride, swim, open_water_swim, walk, hike, weight_training, yoga);
- **durations** log-normal per sport (median 45 min run, 90 min ride, 40 min swim, ...), moving
  time 85-100 % of elapsed; distance = moving time x a sport speed x a per-athlete factor;
- **heart rate** on 75 % of activities (average ~ N(135, 12) bpm); **power** on rides of the
  45 % of cyclists/triathletes with a power meter (weighted ~ their FTP x 0.65-0.9); FTP in
  preferences for those athletes;
- **time zones**: one of 12 zones per athlete (Europe, Americas, Asia, Oceania) with their UTC
  offsets; starts between 05:00 and 21:00 local;
- history ends today (or up to two years ago for 15 % of athletes), spans
  ``count x 1-3`` days, at most 12 years; 5 % private, 85 % through a provider connection
  (Strava or Garmin), 10 % manual, 5 % files; 1 % of provider rows soft deleted;
- planned workouts: 3 a week over the last year for 5 % of athletes (and the heaviest), half
  linked to a completed activity of that day.

    .venv/bin/python bench/scale_generate.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres --name scale_10m \\
        --users 100000 --activities 10000000

The database is kept (it is the input of ``bench/scale.py --database``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics.db import migrations  # noqa: E402

Connection = psycopg.Connection[Any]

USER_ID_SQL = "md5('trainlytics-scale-bench-' || {n})::uuid"

USERS_SQL = f"""
insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
select {USER_ID_SQL.format(n="n")}, 'authenticated', 'authenticated',
    'athlete' || n || '@scale.trainlytics.test', '', now(), '{{}}', '{{}}', now(), now()
from generate_series(%(lo)s::int, %(hi)s::int) as n
"""  # noqa: S608 - a fixed expression, no input

ZONES = (
    ("Europe/Paris", 3600),
    ("Europe/London", 0),
    ("Europe/Berlin", 3600),
    ("Europe/Madrid", 3600),
    ("America/New_York", -18000),
    ("America/Chicago", -21600),
    ("America/Denver", -25200),
    ("America/Los_Angeles", -28800),
    ("America/Sao_Paulo", -10800),
    ("Asia/Tokyo", 32400),
    ("Asia/Kolkata", 19800),
    ("Australia/Sydney", 36000),
)

PLAN_SQL = """
create table scale_bench.plan as
with base as (
    select n, {user_id} as user_id,
        greatest(1, round(%(top)s::float8 * power(n::float8, -%(skew)s::float8)))::int
            as n_activities,
        random() as r_profile, random() as r_tz, random() as r_end, random() as r_span,
        random() as r_power, random() as r_speed, random() as r_plan
    from generate_series(1, %(users)s::int) as n
)
select
    n, user_id, n_activities,
    case when r_profile < 0.40 then 'runner' when r_profile < 0.70 then 'cyclist'
        when r_profile < 0.85 then 'triathlete' else 'walker' end as profile,
    (%(zones)s::text[])[1 + floor(r_tz * %(n_zones)s)::int] as tz_name,
    (%(offsets)s::int[])[1 + floor(r_tz * %(n_zones)s)::int] as utc_offset,
    case when n > 100 and r_end < 0.15 then floor(r_end / 0.15 * 730)::int else 0 end
        as end_offset_days,
    least(4380, greatest(30, n_activities * (1 + r_span * 2)))::float8 as span_days,
    r_power < 0.45 as has_power,
    200 + floor(r_power * 150)::int as ftp,
    0.8 + r_speed * 0.4 as speed_factor,
    n = 1 or r_plan < 0.05 as plans_workouts
from base
""".format(user_id=USER_ID_SQL.format(n="n"))  # noqa: S608 - fixed expressions, no input

# One chunk of athletes (by rank). random() is volatile: each reference is a new draw, so every
# draw is taken once in the first CTE and named.
ACTIVITIES_SQL = """
with draws as (
    select p.*, g, sc.id as strava_id, gc.id as garmin_id,
        random() as r_src, random() as r_type, random() as r_day, random() as r_hour,
        random() as r_dur1, random() as r_dur2, random() as r_move, random() as r_hr1,
        random() as r_hr2, random() as r_pw, random() as r_elev, random() as r_priv,
        random() as r_del
    from scale_bench.plan as p
    join public.provider_connections as sc
        on sc.user_id = p.user_id and sc.provider = 'strava'
    join public.provider_connections as gc
        on gc.user_id = p.user_id and gc.provider = 'garmin'
    cross join lateral generate_series(1, p.n_activities) as g
    where p.n between %(lo)s and %(hi)s
), typed as (
    select d.*,
        case when r_src < 0.45 then 'strava' when r_src < 0.85 then 'garmin'
            when r_src < 0.95 then 'manual' else 'file' end as src,
        (case profile
            when 'runner' then (array['run', 'run', 'run', 'run', 'run', 'trail_run',
                'treadmill_run', 'run', 'walk', 'weight_training'])[1 + floor(r_type * 10)::int]
            when 'cyclist' then (array['ride', 'ride', 'ride', 'ride', 'virtual_ride',
                'virtual_ride', 'gravel_ride', 'ride', 'run', 'weight_training'])
                [1 + floor(r_type * 10)::int]
            when 'triathlete' then (array['run', 'run', 'run', 'ride', 'ride', 'virtual_ride',
                'swim', 'swim', 'open_water_swim', 'weight_training'])
                [1 + floor(r_type * 10)::int]
            else (array['walk', 'walk', 'walk', 'hike', 'yoga', 'yoga', 'weight_training',
                'run', 'ride', 'walk'])[1 + floor(r_type * 10)::int]
        end)::public.activity_type as atype,
        -- a standard normal draw (Box-Muller) for the log-normal duration
        sqrt(-2 * ln(greatest(r_dur1, 1e-12))) * cos(2 * pi() * r_dur2) as z
    from draws as d
), measured as (
    select t.*,
        least(8 * 3600, greatest(300, round(
            case atype
                when 'ride' then 5400 when 'gravel_ride' then 6000 when 'virtual_ride' then 3600
                when 'run' then 2700 when 'trail_run' then 4200 when 'treadmill_run' then 2400
                when 'swim' then 2400 when 'open_water_swim' then 2700
                when 'walk' then 2700 when 'hike' then 9000 else 3000
            end * exp(0.4 * z))))::int as elapsed,
        case atype
            when 'ride' then 7.5 when 'gravel_ride' then 6.5 when 'virtual_ride' then 8.5
            when 'run' then 2.9 when 'trail_run' then 2.3 when 'treadmill_run' then 2.8
            when 'swim' then 0.75 when 'open_water_swim' then 0.8
            when 'walk' then 1.4 when 'hike' then 1.1 else 0
        end * speed_factor as speed,
        -- the day back from the athlete's last day, then a local hour 05:00-21:00
        timestamptz '2026-12-04 00:00:00+00'
            - make_interval(days => end_offset_days + floor(r_day * span_days)::int)
            + make_interval(secs => (5 * 3600 + floor(r_hour * 16 * 3600))::int - utc_offset)
            as start_date
    from typed as t
)
insert into public.activities (
    user_id, connection_id, provider, source, is_manual, external_id, name, activity_type,
    provider_activity_type, start_date, timezone, utc_offset, elapsed_time, moving_time,
    distance, average_speed, average_heartrate, max_heartrate, average_watts,
    weighted_average_watts, elevation_gain, calories, is_private, deleted_at
)
select
    user_id,
    case src when 'strava' then strava_id when 'garmin' then garmin_id end,
    case when src in ('strava', 'garmin') then src::public.provider_type end,
    (case when src in ('strava', 'garmin') then 'provider' else src end)::public.activity_source,
    src = 'manual',
    case when src in ('strava', 'garmin') then '' || (n::bigint * 1000000 + g)
        else src || '-' || g end,
    initcap(replace(atype::text, '_', ' ')) || ' ' || g,
    atype,
    atype::text,
    start_date,
    tz_name,
    utc_offset,
    elapsed,
    round(elapsed * (0.85 + r_move * 0.15))::int,
    case when speed > 0 then round((elapsed * (0.85 + r_move * 0.15) * speed)::numeric, 1) end,
    case when speed > 0 then speed end,
    case when r_hr1 < 0.75 then round((135 + 12 * sqrt(-2 * ln(greatest(r_hr2, 1e-12)))
        * cos(2 * pi() * r_pw))::numeric)::real end,
    case when r_hr1 < 0.75 then round((165 + 20 * r_hr2)::numeric)::real end,
    case when has_power and atype in ('ride', 'virtual_ride', 'gravel_ride')
        then round(ftp * (0.55 + 0.3 * r_pw))::real end,
    case when has_power and atype in ('ride', 'virtual_ride', 'gravel_ride')
        then round(ftp * (0.65 + 0.25 * r_pw))::real end,
    case when atype in ('ride', 'gravel_ride', 'run', 'trail_run', 'hike')
        then round((elapsed / 3600.0 * (50 + 500 * r_elev * r_elev))::numeric)::real end,
    round((elapsed / 3600.0 * (350 + 400 * r_hr2))::numeric)::real,
    r_priv < 0.05,
    case when src in ('strava', 'garmin') and r_del < 0.01 then start_date + interval '1 day' end
from measured
"""

WORKOUTS_SQL = """
insert into public.workouts (
    user_id, planned_date, activity_type, name, planned_duration, planned_load,
    completed_activity_id
)
select p.user_id, d::date, 'run', 'Planned ' || d::date, 3600, 60,
    case when random() < 0.5 then (
        select a.id from public.activities as a
        where a.user_id = p.user_id
          and a.start_date >= d - interval '12 hours' and a.start_date < d + interval '36 hours'
        order by a.start_date limit 1
    ) end
from scale_bench.plan as p
cross join generate_series(
    timestamptz '2025-12-01', timestamptz '2026-12-04', interval '56 hours'
) as d
where p.plans_workouts
"""


# Every athlete's history through private.group_activity_duplicates (the function behind the
# grouping trigger and public.regroup_activity_duplicates), 1,000 consecutive (athlete, start)
# anchors per call, a transaction each (one advisory lock per athlete of a call); then
# primary_hidden as private.activities_maintain_primary_hidden keeps it. Without this the
# generated copies were ungrouped, and the first ingest around them regrouped them (a write
# the benchmark would wrongly charge to the page). The athletes are split at {first} / {last}
# (uuid bounds, null: open) so that two connections group disjoint athletes.
GROUP_DUPLICATES_SQL = """
do $$
declare
    v_users uuid[];
    v_starts timestamptz[];
begin
    for v_users, v_starts in
        select array_agg(b.user_id order by b.rn), array_agg(b.start_date order by b.rn)
        from (
            select
                a.user_id,
                a.start_date,
                row_number() over (order by a.user_id, a.start_date) as rn
            from public.activities as a
            where
                ({first}::uuid is null or a.user_id >= {first}::uuid)
                and ({last}::uuid is null or a.user_id < {last}::uuid)
        ) as b
        group by (b.rn - 1) / 1000
        order by (b.rn - 1) / 1000
    loop
        perform private.group_activity_duplicates(v_users, v_starts);
        commit;
    end loop;
end;
$$
"""

PRIMARY_HIDDEN_SQL = """
    update public.activities as a
    set primary_hidden = h.hidden
    from public.activities as p
    cross join lateral (
        select coalesce(p.is_private or p.provider = 'strava', false) as hidden
    ) as h
    where a.primary_activity_id = p.id and a.primary_hidden is distinct from h.hidden
"""


def solve_skew(users: int, activities: int, top: int) -> float:
    """The exponent s with sum over n of round(top x n^-s) = activities (bisection)."""

    def total(s: float) -> float:
        return sum(max(1.0, top * n**-s) for n in range(1, users + 1))

    lo, hi = 0.05, 3.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if total(mid) > activities:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def timed(label: str, conn: Connection, statement: str, params: Any = None) -> float:
    started = time.perf_counter()
    conn.execute(statement.encode(), params)
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.1f} s", flush=True)
    return elapsed


def chunk_seed(seed: float, index: int) -> float:
    """A setseed() value for chunk ``index``: the data do not depend on which connection ran it."""
    return (seed + index * 0.6180339887) % 1.0


def connect(url: str) -> Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("set synchronous_commit = off")
    return conn


def in_parallel(url: str, jobs: list[Any], run: Any, workers: int, setup: str = "") -> None:
    """Runs ``run(conn, job)`` for every job, ``workers`` connections taking the next job."""
    pending = list(reversed(jobs))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with connect(url) as conn:
                if setup:
                    conn.execute(setup.encode())
                while not errors:
                    with lock:
                        if not pending:
                            return
                        job = pending.pop()
                    run(conn, job)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# The secondary indexes of public.activities (and unique constraints on them), as the schema
# defines them: dropped for the bulk load, built afterwards from these definitions. The primary
# key stays (foreign keys depend on it; ids are appended in order).
INDEXES_SQL = """
select
    i.indexrelid::regclass::text,
    pg_get_indexdef(i.indexrelid),
    c.conname,
    obj_description(i.indexrelid, 'pg_class'),
    obj_description(c.oid, 'pg_constraint')
from pg_index as i
left join pg_constraint as c
    on c.conindid = i.indexrelid and c.conrelid = i.indrelid and c.contype <> 'f'
where
    i.indrelid = 'public.activities'::regclass
    and not i.indisprimary
    and (c.oid is null or (c.contype = 'u' and not c.condeferrable))
    and not exists (
        select from pg_constraint as f where f.contype = 'f' and f.conindid = i.indexrelid
    )
order by i.indpred is not null, i.indnatts desc, 1
"""

# With session_replication_role = replica the load skips the foreign keys' per-row checks as
# well as the user triggers; the rows reference their athlete and connection by construction,
# and this one set-based check holds them to both foreign keys afterwards.
ORPHANS_SQL = """
select count(*) from public.activities as a
where
    not exists (select from public.users as u where u.id = a.user_id)
    or (
        a.connection_id is not null
        and not exists (
            select from public.provider_connections as c
            where c.id = a.connection_id and c.user_id = a.user_id and c.provider = a.provider
        )
    )
"""


def generate(
    conn: Connection,
    url: str,
    users: int,
    activities: int,
    top: int,
    seed: float,
    chunks: int,
    workers: int = 2,
) -> dict[str, Any]:
    """Fill a migrated database (``conn``: superuser, autocommit); returns timings and sizes."""
    skew = solve_skew(users, activities, top)
    print(f"Generating ~{activities:,} activities for {users:,} athletes (skew {skew:.4f})")
    seconds: dict[str, float] = {}
    conn.execute("select setseed(%s)", [seed])
    conn.execute("set synchronous_commit = off")
    conn.execute("create schema if not exists scale_bench")
    # auth.users as Supabase Auth writes it: the trigger on it creates public.users.
    started = time.perf_counter()
    conn.execute("set role supabase_auth_admin")
    conn.execute("set search_path = auth")
    step = 20_000
    for lo in range(1, users + 1, step):
        conn.execute(USERS_SQL.encode(), {"lo": lo, "hi": min(users, lo + step - 1)})
    conn.execute("reset role")
    conn.execute("reset search_path")
    seconds["users"] = time.perf_counter() - started
    print(f"  users: {seconds['users']:.1f} s", flush=True)
    seconds["plan"] = timed(
        "plan",
        conn,
        PLAN_SQL,
        {
            "users": users,
            "top": top,
            "skew": skew,
            "zones": [z for z, _ in ZONES],
            "offsets": [o for _, o in ZONES],
            "n_zones": len(ZONES),
        },
    )
    conn.execute(
        "update public.users as u set preferences = jsonb_build_object("
        "'ftp', p.ftp, 'run_ftp', p.ftp + 60, 'resting_heart_rate', 55, 'max_heart_rate', 188)"
        " from scale_bench.plan as p where p.user_id = u.id and p.has_power"
    )
    seconds["connections"] = timed(
        "connections",
        conn,
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " select p.user_id, v.provider::public.provider_type, p.n::text"
        " from scale_bench.plan as p cross join (values ('strava'), ('garmin')) as v (provider)",
    )
    conn.execute("analyze scale_bench.plan, public.users, public.provider_connections")
    # Bulk load: the secondary indexes are built once afterwards; the row-by-row work of every
    # activity trigger (and of the foreign keys' checks) is skipped; derived tables are rebuilt
    # afterwards by their bulk functions.
    indexes = conn.execute(INDEXES_SQL).fetchall()
    started = time.perf_counter()
    for name, _, constraint, _, _ in indexes:
        if constraint:
            conn.execute(
                sql.SQL("alter table public.activities drop constraint {}").format(
                    sql.Identifier(constraint)
                )
            )
        else:
            conn.execute(sql.SQL("drop index {}").format(sql.SQL(name)))
    # Chunks of equal activity counts: the heavy head gets narrow rank ranges.
    bounds = conn.execute(
        "select max(n) from (select n, sum(n_activities) over (order by n) as c"
        " from scale_bench.plan) as t"
        " group by floor((c - 1) * %s / (select sum(n_activities) from scale_bench.plan)::float8)"
        " order by 1",
        [chunks],
    ).fetchall()
    ranges: list[tuple[int, int, int]] = []
    lo = 1
    for (hi,) in bounds:
        if hi >= lo:
            ranges.append((len(ranges), lo, hi))
            lo = hi + 1

    def load(chunk_conn: Connection, job: tuple[int, int, int]) -> None:
        index, lo, hi = job
        t0 = time.perf_counter()
        chunk_conn.execute("select setseed(%s)", [chunk_seed(seed, index)])
        chunk_conn.execute(ACTIVITIES_SQL.encode(), {"lo": lo, "hi": hi})
        print(f"    athletes {lo}-{hi}: {time.perf_counter() - t0:.1f} s", flush=True)

    in_parallel(url, ranges, load, workers, "set session_replication_role = replica")
    seconds["activities"] = time.perf_counter() - started
    print(f"  activities: {seconds['activities']:.1f} s", flush=True)

    started = time.perf_counter()

    def build(index_conn: Connection, job: tuple[str, str]) -> None:
        name, definition = job
        t0 = time.perf_counter()
        if name == "":
            row = index_conn.execute(definition).fetchone()
            if row is None or row[0] != 0:
                raise RuntimeError(f"activities violating a foreign key: {row}")
        else:
            index_conn.execute(definition.encode())
        print(f"    {name or 'foreign keys checked'}: {time.perf_counter() - t0:.1f} s", flush=True)

    jobs = [(name, definition) for name, definition, _, _, _ in indexes] + [("", ORPHANS_SQL)]
    # One index per connection at a time (two cores), each sorted in memory.
    setup = (
        "set maintenance_work_mem = '1GB'; set max_parallel_maintenance_workers = 0;"
        " set work_mem = '256MB'"
    )
    in_parallel(url, jobs, build, workers, setup)
    for name, _, constraint, index_comment, constraint_comment in indexes:
        if constraint:
            conn.execute(
                sql.SQL(
                    "alter table public.activities add constraint {} unique using index {}"
                ).format(sql.Identifier(constraint), sql.SQL(name))
            )
            if constraint_comment is not None:
                conn.execute(
                    sql.SQL("comment on constraint {} on public.activities is {}").format(
                        sql.Identifier(constraint), sql.Literal(constraint_comment)
                    )
                )
        elif index_comment is not None:
            conn.execute(
                sql.SQL("comment on index {} is {}").format(
                    sql.SQL(name), sql.Literal(index_comment)
                )
            )
    seconds["indexes"] = time.perf_counter() - started
    print(f"  indexes: {seconds['indexes']:.1f} s", flush=True)
    seconds["analyze"] = timed("analyze", conn, "analyze public.activities")
    # Duplicates grouped as the grouping trigger would have grouped them at ingest (a dense
    # history of several sources has same-time rows); the user triggers off, in bulk.
    # Two connections, the athletes split where half of the activities are on each side.
    conn.execute("alter table public.activities disable trigger user")
    t0 = time.perf_counter()
    row = conn.execute(
        "select min(user_id::text) from (select user_id, sum(n_activities) over"
        " (order by user_id) * 2 >= sum(n_activities) over () as second_half"
        " from scale_bench.plan) as t where second_half"
    ).fetchone()
    middle = row[0] if row else None
    halves = [(None, middle), (middle, None)]
    in_parallel(
        url,
        halves,
        lambda side, bounds: side.execute(
            sql.SQL(GROUP_DUPLICATES_SQL).format(
                first=sql.Literal(bounds[0]), last=sql.Literal(bounds[1])
            )
        ),
        workers,
    )
    conn.execute(PRIMARY_HIDDEN_SQL.encode())
    seconds["group_duplicates"] = time.perf_counter() - t0
    print(f"  group duplicates: {seconds['group_duplicates']:.1f} s", flush=True)
    conn.execute("alter table public.activities enable trigger user")
    seconds.update(build_derived(conn, url, chunk_seed(seed, len(ranges)), workers))
    started = time.perf_counter()
    tables = [
        r[0]
        for r in conn.execute(
            "select c.oid::regclass::text from pg_class as c"
            " join pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname in ('public', 'auth', 'scale_bench') and c.relkind = 'r'"
            " order by pg_relation_size(c.oid) desc"
        ).fetchall()
    ]
    in_parallel(
        url,
        tables,
        lambda vacuum_conn, table: vacuum_conn.execute(f"vacuum analyze {table}".encode()),
        workers,
    )
    seconds["vacuum_analyze"] = time.perf_counter() - started
    print(f"  vacuum analyze: {seconds['vacuum_analyze']:.1f} s", flush=True)
    sizes = conn.execute(
        "select (select count(*) from public.activities), (select count(*) from public.users),"
        " (select max(n_activities) from scale_bench.plan),"
        " (select percentile_disc(0.5) within group (order by n_activities)"
        "  from scale_bench.plan)"
    ).fetchone()
    if not (sizes is not None):
        raise RuntimeError("unexpected empty result")
    return {
        "seconds": seconds,
        "skew": skew,
        "activities": sizes[0],
        "users": sizes[1],
        "heaviest": sizes[2],
        "median": sizes[3],
    }


def build_derived(conn: Connection, url: str, seed: float, workers: int) -> dict[str, float]:
    """The derived tables in bulk, with the functions the schema offers after a bulk load.

    Two connections: the rollups on one; the planned workouts and the personal records, which
    read only activities, on the other; then the daily fitness (it reads the rollups' daily
    loads) on both.
    """
    seconds: dict[str, float] = {}
    row = conn.execute(
        "select to_regprocedure('public.rebuild_daily_fitness(uuid)') is not null"
    ).fetchone()
    has_fitness = bool(row and row[0])

    def rollups(side: Connection) -> None:
        if has_fitness:
            # Fitness follows daily_loads athlete by athlete; in bulk it is rebuilt once after.
            side.execute("alter table public.daily_loads disable trigger user")
        seconds["rebuild_rollups"] = timed(
            "rebuild_rollups", side, "select public.rebuild_rollups()"
        )
        if has_fitness:
            side.execute("alter table public.daily_loads enable trigger user")

    def records(side: Connection) -> None:
        side.execute("select setseed(%s)", [seed])
        seconds["workouts"] = timed("workouts", side, WORKOUTS_SQL)
        seconds["rebuild_personal_records"] = timed(
            "rebuild_personal_records", side, "select public.rebuild_personal_records()"
        )

    started = time.perf_counter()
    in_parallel(url, [rollups, records], lambda side, job: job(side), 2)
    if has_fitness:
        # What public.rebuild_daily_fitness() does (delete, then private.daily_fitness_refresh
        # of every athlete with daily loads, nothing to read or delete first), the athletes
        # split in two halves refreshed on two connections.
        t0 = time.perf_counter()
        conn.execute("delete from public.daily_fitness")
        halves = [
            row[0]
            for row in conn.execute(
                "select array_agg(user_id order by user_id) from ("
                " select user_id, ntile(%s) over (order by user_id) as half"
                " from (select distinct user_id from public.daily_loads) as d) as t"
                " group by half order by half",
                [workers],
            ).fetchall()
        ]
        in_parallel(
            url,
            halves,
            lambda side, users: side.execute(
                "select private.daily_fitness_refresh(%s::uuid[], null, false)", [users]
            ),
            workers,
        )
        seconds["rebuild_daily_fitness"] = time.perf_counter() - t0
        print(f"  rebuild_daily_fitness: {seconds['rebuild_daily_fitness']:.1f} s", flush=True)
    seconds["derived_wall"] = time.perf_counter() - started
    print(f"  derived tables (two connections): {seconds['derived_wall']:.1f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a superuser's URL of the server")
    parser.add_argument("--name", required=True, help="database to create (kept)")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--top", type=int, default=60_000, help="the heaviest athlete's count")
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--seed", type=float, default=0.16)
    parser.add_argument("--workers", type=int, default=2, help="connections loading in parallel")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(args.name)))
    url = make_conninfo(args.database_url, dbname=args.name)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        migrations.migrate(conn)
        print(f"  migrate: {time.perf_counter() - started:.1f} s", flush=True)
        result = generate(
            conn,
            url,
            args.users,
            args.activities,
            args.top,
            args.seed,
            args.chunks,
            args.workers,
        )
        result["total_seconds"] = time.perf_counter() - started
    print(json.dumps(result, indent=2))
    output = args.output or REPO_ROOT / "bench" / "results" / f"scale_generate_{args.name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
