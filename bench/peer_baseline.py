"""Peer baseline: the same Strava pages stored as open-source Python sync services do, vs
``public.ingest_activities``, side by side in one run.

What the peers do (read for this benchmark, public code):

- yihong0618/running_page, ``run_page/generator/db.py`` ``update_or_create_activity`` and
  ``generator/__init__.py`` ``Generator.sync``: for each activity of the Strava listing,
  ``session.query(Activity).filter_by(run_id=...).first()``, then either a new ``Activity(...)``
  built from the normalised fields and ``session.add`` or the attributes set on the loaded
  object; one ``session.commit()`` after the loop;
- jtelszasz/strava_playground, ``app/routes.py``: the same query-then-add per activity,
  ``db.session.commit()`` once after the page;
- a DAO variant seen in several projects (``StravaActivitiesDao.upsert_activity``,
  ``ActivityDAO.upsert_activities``): ``sqlalchemy.dialects.postgresql.insert(...)
  .on_conflict_do_update(...)`` executed per activity.

The baseline here does both, as fairly as they can be done: the payload normalised in Python
into the columns public.activities stores (SI units, sport mapped, local time from
``utc_offset``), one ORM round trip per activity (``merge``-style query-then-add/update, or one
``insert ... on conflict do update`` statement per activity), one commit per page of 200 (the
peers commit once per sync; per page is the same or cheaper for them here). Its table
``peer_baseline.activities`` has the same columns and types as the normalised part of
public.activities, the same unique key (connection, external id) and the same
``(user_id, start_date desc)`` index, in the same database, and no trigger: it does strictly
less than the ingest, which also keeps the raw payload (activity_raw_payloads), records the sync,
groups duplicates and maintains rollups, daily fitness and personal records.

The ingest side: ``select * from public.ingest_activities(connection, page)`` as service_role,
one call and one commit per page. Pages alternate between the sides (both tables grow alike);
``--warmup`` pages per side come first (other payloads, untimed), then ``analyze`` (a running
database has statistics; one created a second ago has none), then ``--activities`` payloads
(realistic SummaryActivity JSON, ``ingest_throughput.strava_activity``) as a first sync, then the
same pages again (a re-sync: nothing changed). Client-side wall clock per page.

``--one-way-ms D`` puts a network between the timed connections (all three sides) and the
server: ``bench/latency_proxy.py`` holds every chunk D ms in each direction. The round trip of
the timed connections (median of 200 ``select 1``) is measured and reported either way. On
loopback the ORM's ~400 round trips a page cost least: the topology most favourable to it, not
the one it runs in (Supabase's database is a managed server the services reach over a network).

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/peer_baseline.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/peer_baseline.py --database-url ... --one-way-ms 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb
from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    create_engine,
    select,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "functions_py") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT / "functions_py"))

from ingest_throughput import strava_activity  # noqa: E402

from trainlytics.db import migrations  # noqa: E402
from trainlytics.db.jsonb_text import jsonb_bytes  # noqa: E402

BENCH_DATABASE_URL_ENV = "TRAINLYTICS_BENCH_DATABASE_URL"


class Base(DeclarativeBase):
    metadata = MetaData(schema="peer_baseline")


class PeerActivity(Base):
    """The normalised columns public.activities stores, as a peer's model would declare them
    (same SQL types; the sport as text)."""

    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("peer_activities_user_start_idx", "user_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, nullable=False)
    connection_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    external_id: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    activity_type: Mapped[str] = mapped_column(Text, nullable=False)
    provider_activity_type: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    start_date_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    timezone: Mapped[str | None] = mapped_column(Text)
    utc_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    elapsed_time: Mapped[int | None] = mapped_column(Integer)
    moving_time: Mapped[int | None] = mapped_column(Integer)
    distance: Mapped[float | None] = mapped_column(Float)
    average_speed: Mapped[float | None] = mapped_column(Float)
    max_speed: Mapped[float | None] = mapped_column(Float)
    average_heartrate: Mapped[float | None] = mapped_column(REAL)
    max_heartrate: Mapped[float | None] = mapped_column(REAL)
    average_watts: Mapped[float | None] = mapped_column(REAL)
    weighted_average_watts: Mapped[float | None] = mapped_column(REAL)
    average_cadence: Mapped[float | None] = mapped_column(REAL)
    elevation_gain: Mapped[float | None] = mapped_column(REAL)
    calories: Mapped[float | None] = mapped_column(REAL)
    is_manual: Mapped[bool] = mapped_column(Boolean, nullable=False)
    is_private: Mapped[bool] = mapped_column(Boolean, nullable=False)
    device_name: Mapped[str | None] = mapped_column(Text)


# Strava sport_type -> activity_type, for the sports the payloads use (the ingest maps the
# full list in SQL, public.activity_type_mappings).
SPORTS = {
    "Run": "run",
    "Ride": "ride",
    "TrailRun": "trail_run",
    "VirtualRide": "virtual_ride",
    "Walk": "walk",
    "Swim": "swim",
    "Hike": "hike",
    "WeightTraining": "weight_training",
}


def normalise(payload: dict[str, Any], user_id: uuid.UUID, connection_id: int) -> dict[str, Any]:
    """A SummaryActivity as a peer normalises it in Python."""
    start = datetime.strptime(payload["start_date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    offset = int(payload.get("utc_offset") or 0)
    sport = payload.get("sport_type") or payload.get("type") or "Workout"
    timezone = payload.get("timezone")
    return {
        "user_id": user_id,
        "connection_id": connection_id,
        "external_id": str(payload["id"]),
        "name": payload.get("name"),
        "activity_type": SPORTS.get(sport, "other"),
        "provider_activity_type": sport,
        "start_date": start,
        "start_date_local": (start + timedelta(seconds=offset)).replace(tzinfo=None),
        "timezone": timezone.split(") ", 1)[-1] if timezone else None,
        "utc_offset": offset,
        "elapsed_time": payload.get("elapsed_time"),
        "moving_time": payload.get("moving_time"),
        "distance": payload.get("distance"),
        "average_speed": payload.get("average_speed"),
        "max_speed": payload.get("max_speed"),
        "average_heartrate": payload.get("average_heartrate"),
        "max_heartrate": payload.get("max_heartrate"),
        "average_watts": payload.get("average_watts"),
        "weighted_average_watts": payload.get("weighted_average_watts"),
        "average_cadence": payload.get("average_cadence"),
        "elevation_gain": payload.get("total_elevation_gain"),
        "calories": payload.get("kilojoules"),
        "is_manual": bool(payload.get("manual")),
        "is_private": bool(payload.get("private")),
        "device_name": payload.get("device_name"),
    }


def orm_merge_page(
    session: Session, page: list[dict[str, Any]], user_id: uuid.UUID, connection_id: int
) -> None:
    """running_page's update_or_create_activity, per activity; one commit per page."""
    for payload in page:
        row = normalise(payload, user_id, connection_id)
        found = session.execute(
            select(PeerActivity).filter_by(
                connection_id=connection_id, external_id=row["external_id"]
            )
        ).scalar_one_or_none()
        if found is None:
            session.add(PeerActivity(**row))
        else:
            for key, value in row.items():
                setattr(found, key, value)
    session.commit()


def orm_upsert_page(
    session: Session, page: list[dict[str, Any]], user_id: uuid.UUID, connection_id: int
) -> None:
    """The DAO variant: one insert ... on conflict do update per activity; commit per page."""
    table = PeerActivity.__table__
    for payload in page:
        row = normalise(payload, user_id, connection_id)
        statement = insert(table).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["connection_id", "external_id"],
            set_={
                k: statement.excluded[k] for k in row if k not in ("connection_id", "external_id")
            },
        )
        session.execute(statement)
    session.commit()


# Each side's rows for the same external id, compared column by column (the merge side's rows;
# the upsert side stores the same values through the same normaliser).
AGREEMENT_SQL = """
select count(*)
from public.activities as a
full join (
    select p.* from peer_baseline.activities as p
    where p.connection_id = (
        select min(q.connection_id) from peer_baseline.activities as q
    )
) as p on a.external_id = p.external_id
where
    a.connection_id = %s
    and (
        p.id is null
        or a.start_date <> p.start_date
        or a.start_date_local <> p.start_date_local
        or a.utc_offset <> p.utc_offset
        or a.activity_type::text <> p.activity_type
        or a.distance is distinct from p.distance
        or a.moving_time is distinct from p.moving_time
        or a.elapsed_time is distinct from p.elapsed_time
        or a.average_heartrate is distinct from p.average_heartrate
        or a.average_watts is distinct from p.average_watts
        or a.is_private <> p.is_private
        or a.is_manual <> p.is_manual
        or a.name is distinct from p.name
    )
"""


def new_connection(conn: psycopg.Connection[Any], label: str) -> tuple[uuid.UUID, int]:
    with conn.transaction():
        conn.execute("set local role supabase_auth_admin")
        conn.execute("set local search_path = auth")
        row = conn.execute(
            "insert into users (id, aud, role, email, encrypted_password, raw_app_meta_data,"
            " raw_user_meta_data, created_at, updated_at) values (gen_random_uuid(),"
            " 'authenticated', 'authenticated', %s, 'x', '{}', '{}', now(), now())"
            " returning id",
            [f"{label}-{uuid.uuid4().hex[:8]}@peer.trainlytics.test"],
        ).fetchone()
    if not (row is not None):
        raise RuntimeError("unexpected empty result")
    found = conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', %s) returning id",
        [row[0], uuid.uuid4().hex[:10]],
    ).fetchone()
    if not (found is not None):
        raise RuntimeError("unexpected empty result")
    return row[0], int(found[0])


def pages_of(first: int, total: int, size: int) -> list[list[dict[str, Any]]]:
    payloads = [strava_activity(first + n) for n in range(total)]
    return [payloads[i : i + size] for i in range(0, total, size)]


@contextmanager
def through_network(url: str, one_way_ms: float) -> Iterator[str]:
    """The URL for the timed connections: url itself, or through bench/latency_proxy.py (a
    process of its own) holding every chunk one_way_ms in each direction."""
    if one_way_ms <= 0:
        yield url
        return
    params = conninfo_to_dict(url)
    target = f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}"
    proxy = subprocess.Popen(  # noqa: S603 (this interpreter, this repository's script)
        [
            sys.executable,
            str(Path(__file__).with_name("latency_proxy.py")),
            "--target",
            target,
            "--one-way-ms",
            str(one_way_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proxy.stdout.readline() if proxy.stdout else ""
        if not line.startswith("listening "):
            raise RuntimeError("bench/latency_proxy.py did not start")
        yield make_conninfo(url, host="127.0.0.1", port=line.split()[1])
    finally:
        proxy.kill()
        proxy.wait()


def round_trip_ms(url: str) -> float:
    """The median of 200 `select 1` round trips on a new connection to url."""
    with psycopg.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(220):
            started = time.perf_counter()
            conn.execute("select 1").fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[20:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5, help="pages per side before timing")
    parser.add_argument(
        "--one-way-ms",
        type=float,
        default=0.0,
        help="timed connections through bench/latency_proxy.py with this delay each way",
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench/results/peer.json")
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("--database-url or $TRAINLYTICS_BENCH_DATABASE_URL is required")
    name = f"scale_peer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(args.database_url, dbname=name)
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    try:
        with (
            psycopg.connect(url, autocommit=True) as conn,
            through_network(url, args.one_way_ms) as timed_url,
            psycopg.connect(timed_url, autocommit=True) as timed,
        ):
            migrations.migrate(conn)
            conn.execute("create schema peer_baseline")
            engine = create_engine(
                "postgresql+psycopg://", creator=lambda: psycopg.connect(timed_url), future=True
            )
            Base.metadata.create_all(engine)
            version = conn.execute("show server_version").fetchone()
            results["postgres"] = version[0] if version else "?"
            results["one_way_ms"] = args.one_way_ms
            results["round_trip_ms"] = round_trip_ms(timed_url)
            print(
                f"  timed connections: a round trip (select 1) {results['round_trip_ms']:.3f} ms"
                + (f" through the proxy ({args.one_way_ms} ms each way)" if args.one_way_ms else "")
            )
            sides = {
                "ingest_activities": new_connection(conn, "ingest"),
                "orm_merge": new_connection(conn, "merge"),
                "orm_upsert": new_connection(conn, "upsert"),
            }
            # Warm-up payloads: other ids, dated before the timed ones. A first sync lists
            # oldest first (Strava's `after` listing, the engine's windows oldest first), so
            # each timed page is newer than what is stored, as it is in production.
            warm = pages_of(
                -args.warmup * args.page_size, args.warmup * args.page_size, args.page_size
            )
            pages = pages_of(0, args.activities, args.page_size)
            seconds: dict[str, dict[str, float]] = {
                s: {"first_sync": 0.0, "resync": 0.0} for s in sides
            }
            with Session(engine) as session:

                def run(side: str, page: list[dict[str, Any]]) -> float:
                    user_id, connection_id = sides[side]
                    started = time.perf_counter()
                    if side == "ingest_activities":
                        with timed.transaction():
                            timed.execute("set local role service_role")
                            timed.execute(
                                "select * from public.ingest_activities(%s, %s)",
                                # encoded as the gateways encode every jsonb argument
                                [connection_id, Jsonb(page, dumps=jsonb_bytes)],
                            ).fetchall()
                    elif side == "orm_merge":
                        orm_merge_page(session, page, user_id, connection_id)
                    else:
                        orm_upsert_page(session, page, user_id, connection_id)
                    return time.perf_counter() - started

                for page in warm:
                    for side in sides:
                        run(side, page)
                # A running database has statistics (autovacuum analyzes as tables grow); a
                # database created a second ago has none, and the planner's guesses cost the
                # ingest's trigger statements ~30 % (55 vs 42 ms a page). Both sides' tables.
                conn.execute("analyze")
                for phase in ("first_sync", "resync"):
                    per_page: dict[str, list[float]] = {s: [] for s in sides}
                    for n, page in enumerate(pages):
                        order = list(sides)
                        order = order[n % 3 :] + order[: n % 3]  # rotate who goes first
                        for side in order:
                            elapsed = run(side, page)
                            seconds[side][phase] += elapsed
                            per_page[side].append(elapsed * 1000)
                    for side in sides:
                        print(
                            f"  {phase:10s} {side:18s} {seconds[side][phase]:7.2f} s"
                            f"  ({args.activities / seconds[side][phase]:8.0f} activities/s,"
                            f" median page {statistics.median(per_page[side]):.1f} ms)",
                            flush=True,
                        )
            engine.dispose()
            counts = conn.execute(
                "select (select count(*) from public.activities),"
                " (select count(*) from peer_baseline.activities)"
            ).fetchone()
            if not (counts is not None):
                raise RuntimeError("unexpected empty result")
            # Fairness: both sides stored the same activities with the same values in the
            # columns they share (the ingest additionally doubles foot cadence, which the
            # baseline's normaliser does not).
            disagreements = conn.execute(AGREEMENT_SQL, [sides["ingest_activities"][1]]).fetchone()
            results["disagreements"] = disagreements[0] if disagreements else None
            print(
                f"  rows whose shared columns differ between the sides: {results['disagreements']}"
            )
    finally:
        if not args.keep:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    results |= {
        "activities": args.activities,
        "page_size": args.page_size,
        "rows": {"public.activities": counts[0], "peer_baseline.activities": counts[1]},
        "seconds": seconds,
        "ratios": {
            phase: {
                peer: seconds[peer][phase] / seconds["ingest_activities"][phase]
                for peer in ("orm_merge", "orm_upsert")
            }
            for phase in ("first_sync", "resync")
        },
        "load_after": os.getloadavg(),
        "cores": os.cpu_count(),
    }
    print(json.dumps(results["ratios"], indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
