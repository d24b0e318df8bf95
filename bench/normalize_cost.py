"""Per-page cost of Strava normalisation and of a whole ingest page, before vs after a migration.

Two throwaway databases on one server, migrated through ``--before`` (default: the migration
before 20261205320000) and through every migration; both get ``--warmup`` pages ingested
(untimed) and ``analyze``. Then, alternating the databases page by page so that the machine's
load falls on both alike:

- ``normalize_page_strava``: the server's execution time (``explain analyze``, as service_role,
  generic plan as in the page function) of ``private.normalize_page_strava`` on one page of
  ``--page-size`` realistic list items (``ingest_throughput.strava_activity``), ``--repeats``
  times, the median;
- ``ingest_activities``: the wall time of ``public.ingest_activities`` on a page of new
  activities (``--pages`` pages, the median).

Prints both medians for each side and the ratio after/before (lower is faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from ingest_throughput import (  # noqa: E402
    ingest_page,
    make_connection,
    selected_migrations,
    strava_activity,
)

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.jsonb_text import jsonb_bytes  # noqa: E402

DEFAULT_BEFORE = "20261205310200"
PREFIX = "trainlytics_bench_normcost_"


def page_of(start: int, size: int) -> list[dict[str, Any]]:
    return [strava_activity(n) for n in range(start, start + size)]


def normalise_ms(conn: psycopg.Connection[Any], page: list[dict[str, Any]]) -> float:
    """Server execution time (ms) of normalize_page_strava on the page."""
    conn.execute("set role service_role")
    rows = conn.execute(
        "explain (analyze, timing off, format json)"
        " select * from private.normalize_page_strava(%s)",
        [Jsonb(page, dumps=jsonb_bytes)],
    ).fetchone()
    conn.execute("reset role")
    conn.rollback()
    if rows is None:
        raise SystemExit("explain returned no row")
    return float(rows[0][0]["Execution Time"])


def prepare(server: str, name: str, through: str | None, warmup: int, size: int) -> int:
    """Create and migrate database ``name``, ingest ``warmup`` pages, analyze; a connection id."""
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(server, dbname=name)
    directory = selected_migrations(through)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, migrations_dir=directory)
    with psycopg.connect(url) as conn:
        connection = make_connection(conn, "normcost")
        conn.commit()
        received = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        for number in range(warmup):
            ingest_page(conn, connection, page_of(1_000_000 + number * size, size), received)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze")
    return connection


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="superuser URL of the server")
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="last migration of 'before'")
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=30, help="normalize_page_strava runs")
    parser.add_argument("--pages", type=int, default=30, help="ingest pages timed per side")
    parser.add_argument("--warmup", type=int, default=5, help="untimed ingest pages per side")
    parser.add_argument("--output", type=Path, help="JSON results file (optional)")
    parser.add_argument("--name-prefix", default=PREFIX, help="throwaway databases' prefix")
    args = parser.parse_args(argv)

    tag = uuid.uuid4().hex[:8]
    sides = {"before": args.before, "after": None}
    names = {side: f"{args.name_prefix}{side}_{tag}" for side in sides}
    try:
        connections = {
            side: prepare(args.database_url, names[side], through, args.warmup, args.page_size)
            for side, through in sides.items()
        }
        conns = {
            side: psycopg.connect(make_conninfo(args.database_url, dbname=names[side]))
            for side in sides
        }
        page = page_of(0, args.page_size)
        normalise: dict[str, list[float]] = {side: [] for side in sides}
        for side in sides:  # the first run plans the page function's statement: untimed
            normalise_ms(conns[side], page)
        for _ in range(args.repeats):
            for side in sides:
                normalise[side].append(normalise_ms(conns[side], page))
        ingest: dict[str, list[float]] = {side: [] for side in sides}
        received = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        for number in range(args.pages):
            for side in sides:
                elapsed, counts = ingest_page(
                    conns[side],
                    connections[side],
                    page_of(number * args.page_size, args.page_size),
                    received,
                )
                if counts[0] != args.page_size:
                    raise SystemExit(f"{side}: created {counts[0]} of {args.page_size}")
                ingest[side].append(elapsed * 1000)
        for conn in conns.values():
            conn.close()
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            for name in names.values():
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    result = {
        "before": args.before,
        "page_size": args.page_size,
        **{
            f"normalize_page_strava_ms_{side}": round(statistics.median(v), 3)
            for side, v in normalise.items()
        },
        **{f"ingest_page_ms_{side}": round(statistics.median(v), 3) for side, v in ingest.items()},
    }
    result["normalize_ratio_after_vs_before"] = round(
        result["normalize_page_strava_ms_after"] / result["normalize_page_strava_ms_before"], 3
    )
    result["ingest_ratio_after_vs_before"] = round(
        result["ingest_page_ms_after"] / result["ingest_page_ms_before"], 3
    )
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
