"""Best efforts from streams: a 4 h ride and a 4 h run at 1 Hz, processed server-side.

Creates a throwaway database (``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else an
embedded server in a temporary directory), migrates it, stores synthetic 1 Hz streams
(``--hours`` long, deterministic pseudo-random power / speed variations) for one ride (time,
distance, power, heart rate, cadence, position) and one run (time, distance, heart rate,
cadence) through ``private.store_activity_streams``, then times in the same run:

- **efforts**: ``private.activity_efforts_refresh`` (what the streams trigger runs: every
  distance window 100 m to 100 km, every power window 1 s to 2 h), median of
  ``--iterations`` (``EXPLAIN ANALYZE``-free: ``clock_timestamp()`` around the call);
- **store**: the whole ``private.store_activity_streams`` call (validation + insert + the
  trigger's effort refresh), for context;
- **reference**: one pass over the stored samples (``sum`` over an ``unnest`` of two channels
  of the streams row), the cost of merely touching the data once.

Each figure is given twice: the median wall-clock time of one call, and the server backend's
CPU time per call (utime + stime of the backend process from ``/proc``, over all iterations:
only when the server runs on this machine). The CPU figure is what the work costs; the wall
figure also holds the time the backend waited for a core, which on a shared machine (2 cores,
several test suites) can be several times larger.

The target (issue 18): a 4 h ride at 1 Hz processed in < 50 ms.

    .venv/bin/python bench/stream_efforts.py [--hours 4] [--iterations 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
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
from psycopg.types.json import Jsonb

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics import migrations  # noqa: E402
from trainlytics.database import redact_url  # noqa: E402
from trainlytics.embedded import start_embedded, stop_embedded  # noqa: E402

BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "stream_efforts.json"
Connection = psycopg.Connection[Any]

USER_SQL = """
insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values (%s, 'authenticated', 'authenticated', %s, '', now(), '{}', '{}', now(), now())
"""
ACTIVITY_SQL = """
insert into public.activities (user_id, source, is_manual, external_id, activity_type,
    start_date)
values (%s, 'file', false, %s, %s, '2025-06-01T06:00:00Z') returning id
"""
TIMED_SQL = """
select extract(epoch from clock_timestamp() - t0) * 1000
from (select clock_timestamp() as t0) as s, lateral (select {call}) as c
"""


def synthetic(seconds: int, *, ride: bool) -> dict[str, Any]:
    rng = random.Random(18)  # noqa: S311 - reproducible synthetic samples, not secrets
    distance, power, out = 0.0, 200.0, {"time": [], "distance": [], "heartrate": [], "cadence": []}
    watts: list[int] = []
    latlng: list[list[float]] = []
    for t in range(seconds):
        speed = (8.0 if ride else 3.2) + math.sin(t / 300) + rng.uniform(-0.3, 0.3)
        distance += max(speed, 0.0)
        power = min(900.0, max(0.0, power + rng.uniform(-25, 25) + (210 - power) * 0.05))
        out["time"].append(t)
        out["distance"].append(round(distance, 2))
        out["heartrate"].append(130 + int(15 * math.sin(t / 600)))
        out["cadence"].append(88 if ride else 86)
        watts.append(round(power))
        latlng.append([round(45 + distance / 111_000, 6), 6.0])
    if ride:
        out["watts"] = watts
        out["latlng"] = latlng
    return out


@contextmanager
def bench_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-bench-efforts-"))
    try:
        yield start_embedded(data_dir, cleanup_mode="delete")
    finally:
        stop_embedded(data_dir)


def backend_cpu_s(conn: Connection) -> float | None:
    """CPU seconds (user + system) the connection's backend process used so far."""
    row = conn.execute("select pg_backend_pid()").fetchone()
    if row is None:
        return None
    try:
        fields = Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # a remote server
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def cpu_ms_per_call(
    conn: Connection, call: str, params: list[Any], iterations: int
) -> float | None:
    before = backend_cpu_s(conn)
    for _ in range(iterations):
        timed_ms(conn, call, params)
    after = backend_cpu_s(conn)
    if before is None or after is None:
        return None
    return (after - before) * 1000 / iterations


def timed_ms(conn: Connection, call: str, params: list[Any]) -> float:
    with conn.transaction(force_rollback=True):
        row = conn.execute(TIMED_SQL.format(call=call).encode(), params).fetchone()
    if row is None:
        raise RuntimeError("the timing query returned nothing")
    return float(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    seconds = int(args.hours * 3600)

    results: dict[str, Any] = {}
    with bench_server(args.database_url) as server:
        name = f"trainlytics_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        url = make_conninfo(server, dbname=name)
        print(f"Server: {redact_url(server)}")
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                migrations.migrate(conn)
                athlete = uuid.uuid4()
                conn.execute(USER_SQL, [athlete, f"{athlete.hex}@bench.trainlytics.test"])
            with psycopg.connect(url, autocommit=False) as conn:
                for sport in ("ride", "run"):
                    streams = synthetic(seconds, ride=sport == "ride")
                    row = conn.execute(ACTIVITY_SQL, [athlete, uuid.uuid4().hex, sport]).fetchone()
                    if row is None:
                        raise RuntimeError("the activity insert returned nothing")
                    activity = int(row[0])
                    conn.execute(
                        "select private.store_activity_streams(%s, %s)", [activity, Jsonb(streams)]
                    )
                    conn.commit()
                    efforts = conn.execute(
                        "select count(*) from public.activity_efforts where activity_id = %s",
                        [activity],
                    ).fetchone()
                    conn.rollback()
                    refresh = [
                        timed_ms(conn, "private.activity_efforts_refresh(%s)", [activity])
                        for _ in range(args.iterations)
                    ]
                    store = [
                        timed_ms(
                            conn,
                            "private.store_activity_streams(%s, %s)",
                            [activity, Jsonb(streams)],
                        )
                        for _ in range(max(3, args.iterations // 3))
                    ]
                    read = [
                        timed_ms(
                            conn,
                            "(select sum(x) from public.activity_streams as s,"
                            " unnest(s.power_w, s.heart_rate) as u (x, y)"
                            " where s.activity_id = %s)",
                            [activity],
                        )
                        for _ in range(args.iterations)
                    ]
                    cpu = cpu_ms_per_call(
                        conn,
                        "private.activity_efforts_refresh(%s)",
                        [activity],
                        max(args.iterations, 20),
                    )
                    results[sport] = {
                        "samples": seconds,
                        "efforts": int(efforts[0]) if efforts else 0,
                        "efforts_ms": round(statistics.median(refresh), 2),
                        "efforts_cpu_ms": None if cpu is None else round(cpu, 2),
                        "store_ms": round(statistics.median(store), 2),
                        "read_ms": round(statistics.median(read), 3),
                    }
                    cpu_text = "n/a" if cpu is None else f"{cpu:.1f} ms"
                    print(
                        f"  {sport} {args.hours:g} h at 1 Hz ({seconds} samples):"
                        f" efforts {statistics.median(refresh):.1f} ms wall, {cpu_text} backend"
                        f" CPU ({results[sport]['efforts']} efforts); whole store"
                        f" {statistics.median(store):.1f} ms wall; one pass over the samples"
                        f" {statistics.median(read):.2f} ms wall"
                    )
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    output = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "hours": args.hours,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
    print(f"Results written to {args.output}")


if __name__ == "__main__":
    main()
