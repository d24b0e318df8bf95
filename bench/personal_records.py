"""Personal records: reading the maintained records vs recomputing them from the history.

Creates a throwaway database (``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else an
embedded server in a temporary directory), migrates it with the project's runner, loads one
athlete with ``--activities`` activities (runs, rides and swims over the years; triggers
disabled for the load, then ``public.rebuild_personal_records``) and a coach with an active
grant, and times in the same run, as PostgREST runs the query (``authenticated`` with the JWT
claims), server-side (``EXPLAIN ANALYZE`` planning + execution):

- **maintained**: ``select * from public.personal_records`` (reads
  ``public.personal_record_entries``, kept by the activities trigger since issue 14);
- **recompute (reference)**: the same records computed from the activities as the view did
  before issue 14 (``RECOMPUTE_SQL``, the earlier view's query), under the same RLS.

Both sides must return the same records. Before issue 14 the view was the recompute: 1.7 s at
100k activities.

    .venv/bin/python bench/personal_records.py [--activities 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.database import redact_url  # noqa: E402
from trainlytics.db.embedded import start_embedded, stop_embedded  # noqa: E402

BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "personal_records.json"
Connection = psycopg.Connection[Any]

USER_SQL = """
insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values (%s, 'authenticated', 'authenticated', %s, '', now(), '{}', '{}', now(), now())
"""

HISTORY_SQL = """
insert into public.activities (user_id, external_id, activity_type, start_date, elapsed_time,
    moving_time, distance, elevation_gain, is_private)
select %(user)s, 'h' || g, (array['run', 'ride', 'swim', 'run'])[1 + g %% 4]::public.activity_type,
    timestamptz '2026-11-01 06:00+00' - make_interval(hours => g * 3),
    1800 + (g * 37) %% 7200, 1700 + (g * 37) %% 7000,
    case g %% 4 when 1 then 20000 + (g * 131) %% 90000 when 2 then 500 + (g * 7) %% 3000
    else 1000 + (g * 131) %% 43000 end,
    (g %% 900)::real, g %% 10 = 0
from generate_series(1, %(activities)s::int) as g
"""

# The view's query before issue 14 (migration 20261125130200_records.sql), for the reference.
RECOMPUTE_SQL = """
select distinct on (c.user_id, c.activity_type, c.record, c.standard_distance)
    c.user_id, c.activity_type, c.record, c.standard_distance, c.value, c.activity_id,
    c.achieved_on
from (
    select a.user_id, a.activity_type, r.record, r.standard_distance, r.value,
        r.lower_is_better, a.id as activity_id, a.start_date,
        a.start_date_local::date as achieved_on
    from public.activities as a
    cross join lateral (
        values
        ('longest_distance', null::double precision, a.distance, false),
        ('longest_duration', null, coalesce(a.elapsed_time, a.moving_time)::double precision,
            false),
        ('biggest_climb', null, a.elevation_gain::double precision, false)
        union all
        select 'fastest', s.distance,
            coalesce(a.moving_time, a.elapsed_time) * s.distance / a.distance, true
        from (values ('run', 1000.0::double precision), ('run', 5000.0), ('run', 10000.0),
            ('run', 21097.5), ('run', 42195.0), ('ride', 20000.0), ('ride', 40000.0),
            ('ride', 100000.0), ('swim', 400.0), ('swim', 1500.0)) as s (family, distance)
        where a.distance >= s.distance and s.family = case
            when a.activity_type in ('run', 'trail_run', 'treadmill_run', 'track_run',
                'virtual_run') then 'run'
            when a.activity_type in ('ride', 'mountain_bike_ride', 'gravel_ride',
                'virtual_ride', 'indoor_ride', 'handcycle', 'velomobile') then 'ride'
            when a.activity_type in ('swim', 'open_water_swim') then 'swim' end
    ) as r (record, standard_distance, value, lower_is_better)
    where a.deleted_at is null and a.primary_activity_id is null and r.value > 0
) as c
order by c.user_id, c.activity_type, c.record, c.standard_distance,
    case when c.lower_is_better then c.value else -c.value end, c.start_date, c.activity_id
"""
MAINTAINED_SQL = "select * from public.personal_records"


@contextmanager
def bench_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-bench-records-"))
    try:
        yield start_embedded(data_dir, cleanup_mode="delete")
    finally:
        stop_embedded(data_dir)


def as_user(conn: Connection, user: uuid.UUID) -> None:
    conn.execute(
        "select set_config('role', 'authenticated', true),"
        " set_config('request.jwt.claims', %s, true)",
        [json.dumps({"sub": str(user), "role": "authenticated"})],
    )


def explain_ms(conn: Connection, user: uuid.UUID, query: str) -> float:
    with conn.transaction(force_rollback=True):
        as_user(conn, user)
        row = conn.execute(
            ("explain (analyze, timing off, summary on, format json) " + query).encode()
        ).fetchone()
    if row is None:
        raise RuntimeError("EXPLAIN returned nothing")
    top = row[0][0]
    return float(top["Planning Time"]) + float(top["Execution Time"])


def rows(conn: Connection, user: uuid.UUID, query: str) -> list[Any]:
    with conn.transaction(force_rollback=True):
        as_user(conn, user)
        return sorted(conn.execute(query.encode()).fetchall(), key=repr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    with bench_server(args.database_url) as server:
        name = f"trainlytics_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        url = make_conninfo(server, dbname=name)
        print(f"Server: {redact_url(server)}")
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                migrations.migrate(conn)
                athlete, coach = uuid.uuid4(), uuid.uuid4()
                for person in (athlete, coach):
                    conn.execute(USER_SQL, [person, f"{person.hex}@bench.trainlytics.test"])
                conn.execute("update public.users set role = 'coach' where id = %s", [coach])
                conn.execute(
                    "insert into public.coach_athletes (athlete_id, coach_id, status)"
                    " values (%s, %s, 'active')",
                    [athlete, coach],
                )
                conn.execute("alter table public.activities disable trigger user")
                conn.execute(HISTORY_SQL, {"user": athlete, "activities": args.activities})
                conn.execute("alter table public.activities enable trigger user")
                conn.execute("select public.rebuild_personal_records()")
                conn.execute("vacuum analyze")
            with psycopg.connect(url, autocommit=False) as conn:
                results = {}
                for label, reader in (("athlete", athlete), ("coach", coach)):
                    maintained = rows(conn, reader, MAINTAINED_SQL)
                    recomputed = rows(conn, reader, RECOMPUTE_SQL)
                    if maintained != recomputed:
                        raise SystemExit(f"{label}: maintained records differ from a recompute")
                    new = [explain_ms(conn, reader, MAINTAINED_SQL) for _ in range(args.iterations)]
                    old = [explain_ms(conn, reader, RECOMPUTE_SQL) for _ in range(args.iterations)]
                    results[label] = {
                        "records": len(maintained),
                        "maintained_ms": round(statistics.median(new), 3),
                        "recompute_ms": round(statistics.median(old), 3),
                        "ratio": round(statistics.median(new) / statistics.median(old), 7),
                    }
                    print(
                        f"  {label}: {len(maintained)} records; maintained"
                        f" {statistics.median(new):.2f} ms vs recompute"
                        f" {statistics.median(old):.1f} ms (ratio"
                        f" {statistics.median(new) / statistics.median(old):.2e})"
                    )
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    output = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "activities": args.activities,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
    print(f"Results written to {args.output}")


if __name__ == "__main__":
    main()
