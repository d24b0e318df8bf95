"""Ingest throughput: public.ingest_activities against a plain COPY of the same rows, same run.

Creates a throwaway database (on ``--database-url`` / ``$TRAINLYTICS_BENCH_DATABASE_URL``, else
on an embedded server in a temporary directory), applies the bootstrap and the migrations with
the project's own runner, builds ``--activities`` Strava activities in their real shape
(SummaryActivity, ~1.5 kB of JSON each) and loads them page by page (``--page-size``, Strava's
maximum 200 by default) two ways, interleaved page by page so both sides see tables of the same
size:

- **ingest**: ``select * from public.ingest_activities(connection, page)`` as ``service_role``,
  one call and one commit per page: normalisation (private.normalize_strava through the
  dispatcher), upsert, raw payloads kept in activity_raw_payloads;
- **reference**: ``COPY public.activities (...) FROM STDIN`` of the very rows the normaliser
  produced for that page (computed beforehand, untimed), into another athlete's connection,
  one COPY and one commit per page: no normalisation, no raw payloads, no upsert.

Then the same pages are ingested again (nothing changed: every item skipped), the steady
state of incremental syncs with look-back overlap, and a third time with every activity
renamed (every item updated). Times are client-side wall clock per page (round trip
included; the server is local). The ratio is ingest rows/s over COPY rows/s (target >= 0.5).

    .venv/bin/python bench/ingest_throughput.py [--activities 20000] [--page-size 200]
                                                [--database-url URL] [--keep]
                                                [--migrations-through VERSION]

``--migrations-through 20261125121000`` applies only the migrations up to that version (e.g. to
measure the ingest without the triggers later migrations put on activities, which both sides
pay once per statement).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.database import redact_url  # noqa: E402
from trainlytics.db.embedded import start_embedded, stop_embedded  # noqa: E402
from trainlytics.db.jsonb_text import jsonb_bytes  # noqa: E402

BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"
DATABASE_PREFIX = "trainlytics_bench_"
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "ingest_throughput.json"
TARGET_RATIO = 0.5

Connection = psycopg.Connection[Any]

# The columns the normaliser fills, in private.normalized_activity order (minus error).
COLUMNS = (
    "external_id",
    "name",
    "description",
    "activity_type",
    "provider_activity_type",
    "start_date",
    "timezone",
    "utc_offset",
    "elapsed_time",
    "moving_time",
    "distance",
    "average_speed",
    "max_speed",
    "average_heartrate",
    "max_heartrate",
    "average_watts",
    "max_watts",
    "weighted_average_watts",
    "average_cadence",
    "max_cadence",
    "elevation_gain",
    "elevation_loss",
    "calories",
    "is_manual",
    "is_private",
    "device_name",
    "activity_data",
    "provider_updated_at",
)
SPORTS = ("Run", "Ride", "TrailRun", "VirtualRide", "Walk", "Swim", "Hike", "WeightTraining")
EPOCH = datetime(2020, 1, 1, 6, 0, tzinfo=UTC)


def strava_activity(n: int, name_suffix: str = "") -> dict[str, Any]:
    """A Strava SummaryActivity (GET /athlete/activities) in its real shape."""
    sport = SPORTS[n % len(SPORTS)]
    start = EPOCH + timedelta(hours=7 * n)
    ride = "Ride" in sport
    payload: dict[str, Any] = {
        "resource_state": 2,
        "athlete": {"id": 134815, "resource_state": 1},
        "name": f"{sport} #{n}{name_suffix}",
        "distance": 5000.0 + (n * 37) % 40000,
        "moving_time": 1500 + (n * 13) % 7000,
        "elapsed_time": 1600 + (n * 13) % 7500,
        "total_elevation_gain": float((n * 7) % 900),
        "type": sport.replace("Trail", "").replace("Virtual", "") or sport,
        "sport_type": sport,
        "workout_type": None,
        "id": 9_000_000_000 + n,
        "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_date_local": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone": "(GMT+01:00) Europe/Paris",
        "utc_offset": 3600.0,
        "location_country": "France",
        "achievement_count": n % 5,
        "kudos_count": n % 17,
        "comment_count": n % 3,
        "athlete_count": 1,
        "photo_count": 0,
        "map": {
            "id": f"a{9_000_000_000 + n}",
            "summary_polyline": "ki{eFvqfiVqAWQIGEEKAYJgBVqDJ{BHa@jAkNJw@Pw@V{APs@^aABQAOEQGKoJ_"
            "FuJkFqAo@{A}@sH{DiAs@Q]?WVy@`@oBt@_CB]KYMMkB{AQEI@WT{BlE{@zAQPI@ICsCqA_BcAeCmAaFmC"
            "qIoEcLeG}KcG}A}@cDaBiDsByAkAuBqBi@y@_@o@o@kB}BgIoA_EUkAMcACa@BeBBq@LaAJe@b@uA`@_Ad"
            "BcD`@iAPq@RgALqAB{@EqAyAoOCy@AmCBmANqBLqAZkB\\iCPiBJwCCsASiCq@iD]eA]y@[i@w@mAa@i@k",
            "resource_state": 2,
        },
        "trainer": sport == "VirtualRide",
        "commute": n % 11 == 0,
        "manual": n % 50 == 0,
        "private": n % 20 == 0,
        "visibility": "only_me" if n % 20 == 0 else "everyone",
        "flagged": False,
        "gear_id": "b12345" if ride else "g8453133",
        "start_latlng": [48.85 + (n % 100) / 1000, 2.35],
        "end_latlng": [48.86, 2.29],
        "average_speed": 2.5 + (n % 70) / 10,
        "max_speed": 6.0 + (n % 90) / 10,
        "average_cadence": 80.0 + n % 15,
        "average_watts": 180.0 + n % 60 if ride else None,
        "weighted_average_watts": 190 + n % 60 if ride else None,
        "kilojoules": 600.0 + n % 400 if ride else None,
        "device_watts": ride,
        "has_heartrate": True,
        "average_heartrate": 120.0 + n % 40,
        "max_heartrate": 160.0 + n % 30,
        "heartrate_opt_out": False,
        "display_hide_heartrate_option": True,
        "elev_high": 58.2,
        "elev_low": 31.0,
        "upload_id": 10_000_000_000 + n,
        "upload_id_str": str(10_000_000_000 + n),
        "external_id": f"garmin_ping_{n}",
        "from_accepted_tag": False,
        "pr_count": n % 4,
        "total_photo_count": 0,
        "has_kudoed": False,
        "suffer_score": float(n % 200),
    }
    return {k: v for k, v in payload.items() if v is not None}


# --- database -------------------------------------------------------------------------------


@contextmanager
def bench_server(explicit: str | None) -> Iterator[tuple[str, str]]:
    url = explicit or os.environ.get(BENCH_DATABASE_URL_ENV)
    if url:
        yield url, "given"
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trainlytics-bench-pg-"))
    print(f"Starting the embedded PostgreSQL server in {data_dir}")
    try:
        yield start_embedded(data_dir, cleanup_mode="delete"), "embedded"
    finally:
        stop_embedded(data_dir)


@contextmanager
def throwaway_database(server: str, keep: bool) -> Iterator[str]:
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    print(f"Created database {name}")
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        if keep:
            print(f"Kept database {name} (--keep)")
        else:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )


def make_connection(conn: Connection, label: str) -> int:
    """An athlete (created as Supabase Auth does) with a Strava connection; its id."""
    with conn.transaction():
        conn.execute("set local role supabase_auth_admin")
        conn.execute("set local search_path = auth")
        row = conn.execute(
            "insert into users (id, aud, role, email, encrypted_password, raw_app_meta_data,"
            " raw_user_meta_data, created_at, updated_at) values (gen_random_uuid(),"
            " 'authenticated', 'authenticated', %s, 'x', '{}', '{}', now(), now())"
            " returning id",
            [f"{label}-{uuid.uuid4().hex[:8]}@bench.example"],
        ).fetchone()
    if row is None:
        raise SystemExit("could not create a benchmark user")
    with conn.transaction():
        conn.execute("reset role")
        found = conn.execute(
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " values (%s, 'strava', %s) returning id, user_id",
            [row[0], uuid.uuid4().hex[:10]],
        ).fetchone()
    if found is None:
        raise SystemExit("could not create a benchmark connection")
    return int(found[0])


def normalised_rows(conn: Connection, page: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What the normaliser makes of a page: the rows the COPY side loads (untimed)."""
    cols = ", ".join(f"n.{c}" for c in COLUMNS)
    # As the worker's role: the ingest's prepared normaliser statement is planned for the role
    # that runs it, and a statement run as another role in between would re-plan it.
    conn.execute("set local role service_role")
    rows = conn.execute(
        f"select {cols} from private.normalize_page('strava', %s) as x"  # noqa: S608 (constants)
        " cross join lateral (select (x.normalized).*) as n"
        " where n.error is null",
        [Jsonb(page)],
    ).fetchall()
    conn.rollback()
    if len(rows) != len(page):
        raise SystemExit(f"the normaliser rejected {len(page) - len(rows)} benchmark items")
    return rows


def copy_page(
    conn: Connection,
    connection_id: int,
    user_id: Any,
    rows: list[tuple[Any, ...]],
    received: datetime,
) -> float:
    columns = ("user_id", "connection_id", "provider", "source", *COLUMNS)
    statement = sql.SQL("copy public.activities ({}) from stdin").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            values = list(row)
            values[-1] = values[-1] or received  # provider_updated_at, as the ingest sets it
            values[26] = jsonb_bytes(values[26]).decode()  # activity_data
            copy.write_row((user_id, connection_id, "strava", "provider", *values))
    conn.commit()
    return time.perf_counter() - started


def ingest_page(
    conn: Connection, connection_id: int, page: list[dict[str, Any]], received: datetime
) -> tuple[float, tuple[int, int, int, int]]:
    started = time.perf_counter()
    conn.execute("set role service_role")
    row = conn.execute(
        "select created, updated, skipped, deleted, jsonb_array_length(errors)"
        " from public.ingest_activities(%s, %s, '{}', %s)",
        # Encoded as the gateways do (trainlytics.db.jsonb_text.jsonb_bytes).
        [connection_id, Jsonb(page, dumps=jsonb_bytes), received],
    ).fetchone()
    conn.execute("reset role")
    conn.commit()
    elapsed = time.perf_counter() - started
    if row is None:
        raise SystemExit("ingest_activities returned no row")
    if row[4]:
        raise SystemExit(f"ingest reported {row[4]} errors on benchmark items")
    return elapsed, (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


# --- run ------------------------------------------------------------------------------------


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def selected_migrations(through: str | None) -> Path | None:
    """A temporary copy of the migrations up to ``through`` (None: the project's directory)."""
    if through is None:
        return None
    source = REPO_ROOT / "supabase" / "migrations"
    target = Path(tempfile.mkdtemp(prefix="trainlytics-bench-migrations-"))
    for path in sorted(source.glob("*.sql")):
        if path.name.split("_", 1)[0] <= through:
            shutil.copy(path, target / path.name)
    return target


def run(
    url: str, activities: int, page_size: int, migrations_through: str | None = None
) -> dict[str, Any]:
    directory = selected_migrations(migrations_through)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn, migrations_dir=directory)
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    conn = psycopg.connect(url)
    ingest_connection = make_connection(conn, "ingest")
    copy_connection = make_connection(conn, "copy")
    copy_user = conn.execute(
        "select user_id from public.provider_connections where id = %s", [copy_connection]
    ).fetchone()
    if copy_user is None:
        raise SystemExit("the COPY side's connection is missing")
    conn.commit()

    pages = [
        [strava_activity(n) for n in range(start, min(start + page_size, activities))]
        for start in range(0, activities, page_size)
    ]
    payload_bytes = sum(len(json.dumps(item)) for page in pages for item in page)
    received = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    ingest_seconds = copy_seconds = 0.0
    totals = [0, 0, 0, 0]
    print(f"First load: {activities} activities in {len(pages)} pages of {page_size}")
    for number, page in enumerate(pages, 1):
        rows = normalised_rows(conn, page)
        copy_seconds += copy_page(conn, copy_connection, copy_user[0], rows, received)
        elapsed, counts = ingest_page(conn, ingest_connection, page, received)
        ingest_seconds += elapsed
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        if number % max(1, len(pages) // 10) == 0:
            print(f"  page {number}/{len(pages)}")
    if totals[0] != activities:
        raise SystemExit(f"ingest created {totals[0]} of {activities} activities")

    print("Re-ingest of the same pages (every item unchanged)")
    skip_seconds = 0.0
    later = received + timedelta(hours=1)
    for page in pages:
        elapsed, counts = ingest_page(conn, ingest_connection, page, later)
        skip_seconds += elapsed
        if counts[2] != len(page):
            raise SystemExit(f"re-ingest skipped {counts[2]} of {len(page)}")

    print("Ingest of changed pages (every item renamed)")
    update_seconds = 0.0
    latest = received + timedelta(hours=2)
    for page in pages:
        changed = [{**item, "name": item["name"] + " (edited)"} for item in page]
        elapsed, counts = ingest_page(conn, ingest_connection, changed, latest)
        update_seconds += elapsed
        if counts[1] != len(page):
            raise SystemExit(f"update ingested {counts[1]} of {len(page)}")

    triggers = [
        str(row[0])
        for row in conn.execute(
            "select tgname from pg_trigger where tgrelid = 'public.activities'::regclass"
            " and not tgisinternal order by tgname"
        ).fetchall()
    ]
    facts: dict[str, str] = dict(
        conn.execute(
            "select name, setting || coalesce(unit, '') from pg_settings where name in"
            " ('server_version', 'shared_buffers', 'synchronous_commit', 'wal_level')"
        ).fetchall()
    )
    conn.close()

    copy_rate = rate(activities, copy_seconds)
    ingest_rate = rate(activities, ingest_seconds)
    return {
        "activities": activities,
        "page_size": page_size,
        "pages": len(pages),
        "payload_bytes_per_activity": round(payload_bytes / activities),
        "copy_seconds": round(copy_seconds, 3),
        "ingest_seconds": round(ingest_seconds, 3),
        "copy_rows_per_second": round(copy_rate),
        "ingest_rows_per_second": round(ingest_rate),
        "ratio_ingest_vs_copy": round(ingest_rate / copy_rate, 3),
        "reingest_unchanged_rows_per_second": round(rate(activities, skip_seconds)),
        "ratio_reingest_vs_copy": round(rate(activities, skip_seconds) / copy_rate, 3),
        "update_rows_per_second": round(rate(activities, update_seconds)),
        "ratio_update_vs_copy": round(rate(activities, update_seconds) / copy_rate, 3),
        "target_ratio": TARGET_RATIO,
        "migrations_through": migrations_through or "all",
        "triggers_on_activities": triggers,
        "server": facts,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--activities", type=int, default=20_000, help="activities to load")
    parser.add_argument("--page-size", type=int, default=200, help="activities per page")
    parser.add_argument(
        "--database-url",
        help=f"superuser URL of the server to create the throwaway database on "
        f"(default ${BENCH_DATABASE_URL_ENV}, else an embedded server)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    parser.add_argument(
        "--migrations-through",
        metavar="VERSION",
        help="apply only the migrations up to this version (default: all)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.activities < 1 or args.page_size < 1:
        raise SystemExit("--activities and --page-size must be positive")
    with (
        bench_server(args.database_url) as (server, origin),
        throwaway_database(server, args.keep) as url,
    ):
        print(f"Server: {redact_url(server)} ({origin})")
        result = run(url, args.activities, args.page_size, args.migrations_through)
    print()
    print(f"{'side':<34}{'rows/s':>10}{'ratio vs COPY':>16}")
    print(f"{'COPY of normalised rows (ref)':<34}{result['copy_rows_per_second']:>10}{1:>16.3f}")
    print(
        f"{'ingest_activities, new rows':<34}{result['ingest_rows_per_second']:>10}"
        f"{result['ratio_ingest_vs_copy']:>16.3f}"
    )
    print(
        f"{'ingest_activities, unchanged':<34}{result['reingest_unchanged_rows_per_second']:>10}"
        f"{result['ratio_reingest_vs_copy']:>16.3f}"
    )
    print(
        f"{'ingest_activities, all updated':<34}{result['update_rows_per_second']:>10}"
        f"{result['ratio_update_vs_copy']:>16.3f}"
    )
    verdict = "meets" if result["ratio_ingest_vs_copy"] >= TARGET_RATIO else "MISSES"
    print(
        f"\nRatio ingest/COPY {result['ratio_ingest_vs_copy']:.3f} {verdict} the target "
        f">= {TARGET_RATIO} ({result['activities']} activities, pages of "
        f"{result['page_size']}, {result['payload_bytes_per_activity']} B of JSON each)"
    )
    print(
        f"Migrations: {result['migrations_through']}; triggers on activities: "
        f"{', '.join(result['triggers_on_activities']) or 'none'}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"Results written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
