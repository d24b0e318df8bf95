"""Duplicate grouping under crowds and over a long history (issue 14, finding 7).

Creates a throwaway database (``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else an
embedded server in a temporary directory), migrates it with the project's runner, then measures
in the same run:

1. **crowds**, each in a transaction rolled back afterwards, each timed with the grouping
   triggers enabled and, as the reference, disabled (the ratio is what grouping costs the
   insert): 250 manual entries at the same instant in one insert; 250 imported files at the same
   instant in one insert; one manual entry and one file next to a cluster of 70 same-time files
   already stored. Before issue 14 these took 0.56 s for 40 manual rows, 14.8 s for 100 and
   timed out for 250, and 2.8 s per nearby insert.
2. **regroup** over a history of ``--activities`` activities of ``--users`` athletes, loaded
   with the activity triggers disabled: each athlete records with a device cloud (Garmin),
   40 % of the workouts reach Strava too (20 s later, 0.3 % longer: a forwarded copy), 10 % are
   also typed in by hand, and one day holds a crowd of 70 same-time imported files.
   ``public.regroup_activity_duplicates()`` is timed for everyone (batches of 1000 start times
   per grouping statement), and each athlete's regroup separately (the longest is reported).
   Reference: loading the same history with ``INSERT ... SELECT`` (triggers disabled).

    .venv/bin/python bench/duplicate_grouping.py [--activities 100000] [--users 20]
                                                 [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
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
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "duplicate_grouping.json"
GROUPING_TRIGGERS = (
    "activities_group_duplicates_insert",
    "activities_group_duplicates_update",
    "activities_group_duplicates_delete",
)
Connection = psycopg.Connection[Any]

USER_SQL = """
insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values (%s, 'authenticated', 'authenticated', %s, '', now(), '{}', '{}', now(), now())
"""

CROWD_SQL = """
insert into public.activities (user_id, source, is_manual, external_id, start_date,
    activity_type, moving_time, distance)
select %(user)s, %(source)s::public.activity_source, %(source)s = 'manual',
    %(prefix)s || g, %(start)s::timestamptz, 'run', 3600, 10000
from generate_series(1, %(count)s::int) as g
"""

# One athlete's history: a Garmin workout every ~`spacing` hours; 40 % forwarded to Strava
# (20 s later, 0.3 % longer), 10 % also typed in by hand (2 min later, rounded figures).
HISTORY_SQL = """
insert into public.activities (
    user_id, connection_id, provider, source, is_manual, external_id, activity_type, start_date,
    elapsed_time, moving_time, distance, device_name, activity_data
)
select
    %(user)s,
    case when v.copy = 'manual' then null else c.id end,
    case when v.copy = 'manual' then null else c.provider end,
    (case when v.copy = 'manual' then 'manual' else 'provider' end)::public.activity_source,
    v.copy = 'manual',
    v.copy || '-' || g,
    (array['run', 'ride', 'swim', 'run'])[1 + g %% 4]::public.activity_type,
    timestamptz '2026-11-01 06:00:00+00' - make_interval(hours => g * %(spacing)s)
        + v.shift,
    1800 + (g * 37) %% 7200,
    1700 + (g * 37) %% 7000,
    (2000 + (g * 131) %% 80000) * v.scale,
    case when v.copy = 'garmin' then 'Forerunner 965' end,
    case when v.copy = 'strava' then jsonb_build_object('external_id', 'garmin_push_' || g)
    else '{}'::jsonb end
from generate_series(1, %(workouts)s::int) as g
cross join lateral (
    values
    ('garmin', interval '0 s', 1.0::float8, true),
    ('strava', interval '20 s', 1.003, g %% 10 < 4),
    ('manual', interval '2 min', 1.0, g %% 10 = 9)
) as v (copy, shift, scale, present)
left join public.provider_connections as c
    on c.user_id = %(user)s and c.provider::text = v.copy
where v.present
"""


@contextmanager
def bench_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-bench-grouping-"))
    try:
        yield start_embedded(data_dir, cleanup_mode="delete")
    finally:
        stop_embedded(data_dir)


def new_user(conn: Connection) -> uuid.UUID:
    user = uuid.uuid4()
    conn.execute(USER_SQL, [user, f"{user.hex}@bench.trainlytics.test"])
    return user


def set_grouping(conn: Connection, enabled: bool) -> None:
    verb = "enable" if enabled else "disable"
    for trigger in GROUPING_TRIGGERS:
        conn.execute(
            sql.SQL("alter table public.activities {} trigger {}").format(
                sql.SQL(verb), sql.Identifier(trigger)
            )
        )


def timed_crowd(
    conn: Connection, source: str, count: int, *, cluster: int = 0, grouping: bool
) -> float:
    """Seconds of one insert of `count` same-time rows (next to `cluster` stored files)."""
    with conn.transaction(force_rollback=True):
        user = new_user(conn)
        start = "2026-01-05T10:00:00Z"
        if cluster:
            conn.execute(
                CROWD_SQL,
                {"user": user, "source": "file", "prefix": "c", "start": start, "count": cluster},
            )
            start = "2026-01-05T10:01:00Z"
        set_grouping(conn, grouping)
        began = time.perf_counter()
        conn.execute(
            CROWD_SQL,
            {"user": user, "source": source, "prefix": "x", "start": start, "count": count},
        )
        elapsed = time.perf_counter() - began
        set_grouping(conn, True)
    return elapsed


def crowds(conn: Connection) -> list[dict[str, Any]]:
    cases = [
        ("250 same-time manual entries, one insert", "manual", 250, 0),
        ("250 same-time imported files, one insert", "file", 250, 0),
        ("1 manual entry next to a 70-file cluster", "manual", 1, 70),
        ("1 file next to a 70-file cluster", "file", 1, 70),
    ]
    results = []
    for label, source, count, cluster in cases:
        reference = min(
            timed_crowd(conn, source, count, cluster=cluster, grouping=False) for _ in range(3)
        )
        grouped = min(
            timed_crowd(conn, source, count, cluster=cluster, grouping=True) for _ in range(3)
        )
        results.append(
            {
                "case": label,
                "with_grouping_s": round(grouped, 4),
                "without_grouping_s": round(reference, 4),
                "ratio": round(grouped / reference, 2),
            }
        )
        print(
            f"  {label}: {grouped * 1000:.1f} ms with grouping, {reference * 1000:.1f} ms"
            f" without (ratio {grouped / reference:.2f})"
        )
    return results


def history(conn: Connection, activities: int, users: int) -> dict[str, Any]:
    # ~1.5 rows per workout (1 + 0.4 + 0.1), one athlete's workouts every 7 hours.
    workouts = max(1, round(activities / users / 1.5))
    people = [new_user(conn) for _ in range(users)]
    conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " select u, p::public.provider_type, md5(u::text || p)"
        " from unnest(%s::uuid[]) as u cross join (values ('garmin'), ('strava')) as x (p)",
        [people],
    )
    conn.execute("alter table public.activities disable trigger user")
    began = time.perf_counter()
    for person in people:
        conn.execute(HISTORY_SQL, {"user": person, "workouts": workouts, "spacing": 7})
    # A crowd of 70 same-time imported files in the first athlete's history.
    conn.execute(
        CROWD_SQL,
        {
            "user": people[0],
            "source": "file",
            "prefix": "crowd",
            "start": "2025-06-01T07:00Z",
            "count": 70,
        },
    )
    load_s = time.perf_counter() - began
    conn.execute("alter table public.activities enable trigger user")
    conn.execute("vacuum analyze public.activities")
    row = conn.execute("select count(*) from public.activities").fetchone()
    total = int(row[0]) if row else 0
    print(f"  history: {total} activities of {users} athletes loaded in {load_s:.1f} s")

    began = time.perf_counter()
    row = conn.execute("select public.regroup_activity_duplicates()").fetchone()
    regroup_s = time.perf_counter() - began
    changed = int(row[0]) if row else 0
    grouped = conn.execute(
        "select count(*) filter (where primary_activity_id is not null),"
        " count(*) filter (where primary_activity_id is null) from public.activities"
    ).fetchone()
    print(
        f"  regroup_activity_duplicates(): {regroup_s:.1f} s, {changed} rows changed,"
        f" {total / regroup_s:.0f} activities/s; ratio to the load {regroup_s / load_s:.2f}"
    )
    per_athlete = []
    for person in people:
        began = time.perf_counter()
        conn.execute("select public.regroup_activity_duplicates(%s)", [person])
        per_athlete.append(time.perf_counter() - began)
    print(
        f"  per athlete (again, nothing left to change): longest {max(per_athlete):.2f} s,"
        f" median {sorted(per_athlete)[len(per_athlete) // 2]:.2f} s"
    )
    return {
        "activities": total,
        "athletes": users,
        "load_s": round(load_s, 2),
        "regroup_s": round(regroup_s, 2),
        "regroup_ratio_to_load": round(regroup_s / load_s, 2),
        "rows_changed": changed,
        "copies": grouped[0] if grouped else None,
        "workouts": grouped[1] if grouped else None,
        "per_athlete_longest_s": round(max(per_athlete), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20)
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
                version = conn.execute("show server_version").fetchone()
                print(f"PostgreSQL {version[0] if version else '?'}; crowds")
                crowd_results = crowds(conn)
                print("History")
                history_result = history(conn, args.activities, args.users)
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "crowds": crowd_results,
        "history": history_result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"Results written to {args.output}")


if __name__ == "__main__":
    main()
