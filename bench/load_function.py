"""Per-call cost of private.activity_training_load: the single-pass plpgsql definition (migration
20261205290000) against the previous SQL definition (migration 20261125130100), in one run.

Over every activity of a database made by ``bench/scale_generate.py`` (athletes with FTP and
heart-rate preferences, heart rate on 75 % of activities, power on some rides), each definition
computes every activity's load in three shapes the schema uses:

- ``column``: the athletes' preferences column as the argument (public.activity_loads before
  the settings; the previous definition is inlined into the query);
- ``overlay``: ``private.load_preferences(users.preferences, <settings>, <ftp>)`` as the
  argument, as the rollup maintenance, ``rebuild_rollups`` and public.activity_loads call it
  (the previous definition cannot be inlined there and runs as a SQL function per row);
- ``insert``: ``insert into <temp table> select`` of the loads (column shape).

Each shape is timed ``--repeat`` times per definition, alternating, best kept; the join alone
(no load) is the baseline subtracted to give µs per call. Parallel query is off (one core per
call, as a trigger or rebuild on a busy server). Then both definitions are compared on every row
(the bytes of the real load and the method): the count of differences must be 0.

    .venv/bin/python bench/scale_generate.py --name loadfn_dev --users 5000 --activities 500000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/load_function.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/loadfn_dev

The database is migrated first (pending migrations, i.e. this one), the previous definition is
created in a transaction that is rolled back; nothing else is changed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics.db import migrations  # noqa: E402

Connection = psycopg.Connection[Any]

PREVIOUS = REPO_ROOT / "supabase" / "migrations" / "20261125130100_training_load.sql"
CURRENT = "private.activity_training_load"
OLD = "private.activity_training_load_previous"
FROM = (
    " from public.activities as a inner join public.users as u on a.user_id = u.id"
    " left join public.athlete_settings as s on a.user_id = s.user_id"
)
METRICS = (
    "a.activity_type, a.moving_time, a.elapsed_time, a.average_heartrate,"
    " a.weighted_average_watts, a.average_watts"
)
OVERLAY = (
    "private.load_preferences(u.preferences, s.max_heart_rate, s.resting_heart_rate,"
    " s.threshold_heart_rate, s.sex, null)"
)


def previous_definition() -> str:
    text = PREVIOUS.read_text()
    found = re.search(r"create function private\.activity_training_load\(.*?\n\$\$;\n", text, re.S)
    if found is None:
        raise SystemExit(f"no activity_training_load definition in {PREVIOUS.name}")
    return found.group(0).replace(f"{CURRENT}(", f"{OLD}(", 1)


def statement(shape: str, function: str | None) -> str:
    if function is None:  # the baseline: the same rows, no load
        select = "sum(a.moving_time)"
    else:
        prefs = OVERLAY if shape == "overlay" else "u.preferences"
        select = f"sum(({function}({METRICS}, {prefs})).load)"
    if shape == "insert":
        column = "a.moving_time::real" if function is None else select[4:-1]
        return f"insert into bench_loads select {column}{FROM}"
    return f"select {select}{FROM}"


def one(conn: Connection, query: str) -> tuple[Any, ...]:
    row = conn.execute(query.encode()).fetchone()
    if row is None:
        raise SystemExit(f"no row: {query}")
    return tuple(row)


def timed(conn: Connection, query: str) -> float:
    conn.execute("truncate bench_loads")
    started = time.perf_counter()
    conn.execute(query.encode())
    return time.perf_counter() - started


def run(conn: Connection, repeat: int, shapes: list[str]) -> dict[str, Any]:
    conn.execute("set local max_parallel_workers_per_gather = 0")
    conn.execute(previous_definition().encode())
    conn.execute("create temporary table bench_loads (load real)")
    counts = one(
        conn,
        "select count(*), count(*) filter (where u.preferences ? 'ftp'),"
        " count(a.average_heartrate), count(a.weighted_average_watts)" + FROM,
    )
    rows = int(counts[0])
    methods = dict(
        conn.execute(
            # constant fragments of this module, no input
            f"select (l).method, count(*) from (select {CURRENT}({METRICS}, u.preferences) as l"  # noqa: S608
            f"{FROM}) as t group by 1 order by 1".encode()
        ).fetchall()
    )
    result: dict[str, Any] = {
        "activities": rows,
        "with_ftp_preferences": int(counts[1]),
        "with_heart_rate": int(counts[2]),
        "with_power": int(counts[3]),
        "methods": methods,
        "shapes": {},
    }
    for shape in shapes:
        best: dict[str, float] = {}
        for _ in range(repeat):
            for name, function in (("baseline", None), ("previous", OLD), ("single_pass", CURRENT)):
                seconds = timed(conn, statement(shape, function))
                best[name] = min(best.get(name, seconds), seconds)
        per_call = {
            name: (best[name] - best["baseline"]) / rows * 1e6
            for name in ("previous", "single_pass")
        }
        speedup = per_call["previous"] / per_call["single_pass"]
        result["shapes"][shape] = {"seconds": best, "us_per_call": per_call, "speedup": speedup}
        print(
            f"{shape:8} baseline {best['baseline']:7.2f} s | previous {best['previous']:7.2f} s"
            f" ({per_call['previous']:6.1f} µs/call) | single pass {best['single_pass']:7.2f} s"
            f" ({per_call['single_pass']:6.1f} µs/call) | x{speedup:.1f}",
            flush=True,
        )
    differences = one(
        conn,
        "select count(*) filter (where float4send((o).load) is distinct from float4send((n).load)"  # noqa: S608
        " or (o).method is distinct from (n).method) from (select"
        f" {OLD}({METRICS}, u.preferences) as o, {CURRENT}({METRICS}, u.preferences) as n"
        f"{FROM} offset 0) as t",
    )
    result["differences"] = int(differences[0])
    print(f"rows whose load or method differ: {result['differences']} of {rows}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a superuser's URL of the database")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--shapes", default="column,overlay,insert", help="comma-separated: column,overlay,insert"
    )
    parser.add_argument("--skip-migrate", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if not args.skip_migrate:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            migrations.migrate(conn)
    with psycopg.connect(args.database_url) as conn:
        result = run(conn, args.repeat, args.shapes.split(","))
        conn.rollback()
    print(json.dumps(result, indent=2))
    output = args.output or REPO_ROOT / "bench" / "results" / "load_function.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
