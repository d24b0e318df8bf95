"""Legacy import throughput: `trainlytics legacy import` against the plain ingest, same run.

Creates three throwaway databases on one server (``--database-url`` /
``$TRAINLYTICS_BENCH_DATABASE_URL``, else an embedded server in a temporary directory): a
Trainlytics v1 database (tests/fixtures/legacy/v1_schema.sql) filled with ``--users`` users and
``--activities`` activities, and two migrated v2 databases.

- **import**: :class:`trainlytics.legacy.importer.LegacyImporter` end to end, v1 to the first v2
  database: reading v1 (one read-only transaction), one auth user with its bcrypt hash, profile,
  Strava connection with encrypted tokens, activities through ``public.ingest_activities``
  (manual v1 entries through the Strava normaliser into manual rows), workouts, sync_history
  and the mapping, one transaction per user. Timed from start to end (wall clock).
- **reference**: the same activities ingested plainly into the second v2 database: one
  athlete with a Strava connection per v1 user made beforehand (untimed), then, right after
  the import committed that user (interleaved, so both see the same load),
  ``public.ingest_activities`` of the very payloads the import hands to the ingest (raw_data
  when present, else the row rebuilt by ``private.legacy_strava_payload``; computed untimed) in
  pages of 200 as ``service_role``, one commit per page. Only the ingest calls are timed; the
  time spent on the reference is taken out of the import's wall clock.

The ratio is import activities/s over reference activities/s (target >= 0.5). The v1 data:
90 % of the activities carry Strava's JSON in raw_data (bench/ingest_throughput.py's
SummaryActivity, ~1.5 kB), 5 % only the columns, 5 % are manual v1 entries; one Strava
connection and two workouts per user; every user has the same bcrypt hash (cost 10).

    .venv/bin/python bench/legacy_import.py [--users 100] [--activities 20000]
                                            [--database-url URL] [--keep]

The issue's size is ``--users 1000 --activities 200000``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import bcrypt
import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT / "functions_py", REPO_ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from ingest_throughput import EPOCH, bench_server, strava_activity, throwaway_database  # noqa: E402

from trainlytics.connections.crypto import TokenCipher  # noqa: E402
from trainlytics.db import migrations  # noqa: E402
from trainlytics.legacy.auth_users import LocalAuthUsers  # noqa: E402
from trainlytics.legacy.importer import LegacyImporter  # noqa: E402

V1_SCHEMA = REPO_ROOT / "tests" / "fixtures" / "legacy" / "v1_schema.sql"
PAGE = 200


def fill_v1(url: str, users: int, activities: int) -> None:
    started = time.perf_counter()
    password_hash = bcrypt.hashpw(b"bench-password", bcrypt.gensalt(rounds=10)).decode()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(V1_SCHEMA.read_text(encoding="utf-8").encode())
        conn.execute(
            "insert into users (email, password_hash, first_name, last_name, role,"
            " is_verified, preferences)"
            " select format(' Athlete%%s@Bench.example ', n), %s, 'First' || n, 'Last' || n,"
            " case when n %% 20 = 0 then 'Coach' else 'athlete' end, n %% 10 <> 0,"
            " '{\"ftp\": 250}' from generate_series(1, %s) as n",
            [password_hash, users],
        )
        conn.execute(
            "insert into strava_connections (user_id, strava_athlete_id, strava_username,"
            " athlete_data, access_token, refresh_token, token_expires_at, scope, last_sync_at)"
            " select id, (100000 + id)::text, 'athlete' || id,"
            " json_build_object('id', 100000 + id, 'firstname', 'First' || id)::text,"
            " 'access-' || id, 'refresh-' || id, now() + interval '6 hours',"
            " 'read,activity:read_all', now() from users"
        )
        columns = (
            "user_id", "strava_activity_id", "name", "activity_type", "start_date",
            "start_date_local", "timezone", "distance", "moving_time", "elapsed_time",
            "total_elevation_gain", "average_speed", "max_speed", "average_heartrate",
            "max_heartrate", "average_cadence", "is_manual", "is_private", "raw_data",
        )  # fmt: skip
        with (
            conn.cursor() as cur,
            cur.copy(f"copy activities ({', '.join(columns)}) from stdin") as copy,
        ):
            for n in range(activities):
                payload = strava_activity(n)
                start = EPOCH + timedelta(hours=7 * n)
                kind = n % 20
                manual = kind == 19
                copy.write_row(
                    (
                        1 + n % users,
                        None if manual else str(payload["id"]),
                        payload["name"],
                        payload["sport_type"],
                        start.replace(tzinfo=None),
                        (start + timedelta(hours=1)).replace(tzinfo=None),
                        payload["timezone"],
                        payload["distance"],
                        payload["moving_time"],
                        payload["elapsed_time"],
                        payload["total_elevation_gain"],
                        payload["average_speed"],
                        payload["max_speed"],
                        payload["average_heartrate"],
                        payload["max_heartrate"],
                        payload["average_cadence"],
                        manual,
                        False,
                        json.dumps(payload) if kind < 18 else None,
                    )
                )
        conn.execute(
            "insert into workouts (user_id, coach_id, title, planned_date, activity_type,"
            " planned_duration, planned_distance)"
            " select u.id, (select min(c.id) from users as c where c.role = 'Coach'),"
            " 'Workout ' || k, date '2026-01-01' + k, 'Run', 3600, 10000"
            " from users as u cross join generate_series(1, 2) as k"
        )
        conn.execute("analyze")
    print(f"v1: {users} users, {activities} activities in {time.perf_counter() - started:.1f} s")


class Reference:
    """The plain ingest of the import's payloads, one v1 user at a time (see the docstring)."""

    def __init__(self, v1_url: str, v2_url: str) -> None:
        self.v1 = psycopg.connect(v1_url)
        self.v1.read_only = True
        self.v2 = psycopg.connect(v2_url)
        self.count = 0
        self.seconds = 0.0
        v1, v2 = self.v1, self.v2
        user_ids = [r[0] for r in v1.execute("select id from users order by id")]
        v1.rollback()
        # One athlete with a Strava connection per v1 user (untimed).
        v2.execute("set role supabase_auth_admin")
        v2.execute(
            "insert into auth.users (id, aud, role, email, encrypted_password, created_at,"
            " updated_at) select gen_random_uuid(), 'authenticated', 'authenticated',"
            " 'ref' || n || '@bench.example', '', now(), now() from unnest(%s::int[]) as n",
            [user_ids],
        )
        v2.execute("reset role")
        rows = v2.execute(
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " select id, 'strava', 'ref-' || email from public.users"
            " returning id, (regexp_match(provider_user_id, '^ref-ref([0-9]+)@'))[1]::int"
        ).fetchall()
        v2.commit()
        self.connection_of = {v1_id: conn_id for conn_id, v1_id in rows}

    def ingest_user(self, v1_id: int) -> None:
        v1, v2 = self.v1, self.v2
        row = v1.execute(
            "select coalesce(jsonb_agg(to_jsonb(a) order by a.id), '[]')::text"
            " from activities as a where a.user_id = %s",
            [v1_id],
        ).fetchone()
        v1.rollback()
        # The payloads the import hands to the ingest (untimed).
        pages = v2.execute(
            "select jsonb_agg(p.payload order by p.ord)::text from ("
            " select i.ord, (i.ord - 1) / %s as page_no, case"
            "  when nullif(btrim(i.r ->> 'raw_data'), '') is not null"
            "   then (i.r ->> 'raw_data')::jsonb"
            "  else private.legacy_strava_payload(i.r) end as payload"
            " from jsonb_array_elements(%s::jsonb) with ordinality as i (r, ord)) as p"
            " group by p.page_no order by p.page_no",
            [PAGE, row[0] if row else "[]"],
        ).fetchall()
        v2.rollback()
        for (page,) in pages:
            started = time.perf_counter()
            v2.execute("set role service_role")
            result = v2.execute(
                "select created from public.ingest_activities(%s, %s::jsonb)",
                [self.connection_of[v1_id], page],
            ).fetchone()
            v2.execute("reset role")
            v2.commit()
            self.seconds += time.perf_counter() - started
            self.count += int(result[0]) if result else 0

    def close(self) -> None:
        self.v1.close()
        self.v2.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    cipher = TokenCipher({"bench": os.urandom(32)}, "bench")
    print(
        f"legacy import benchmark: {args.users} users, {args.activities} activities; "
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with (
        bench_server(args.database_url) as (server, kind),
        throwaway_database(server, args.keep) as v1_url,
        throwaway_database(server, args.keep) as import_url,
        throwaway_database(server, args.keep) as reference_url,
    ):
        with psycopg.connect(server) as conn:
            version = conn.execute("show server_version").fetchone()
        print(f"server: {kind}, PostgreSQL {version[0] if version else '?'}")
        fill_v1(v1_url, args.users, args.activities)
        for url in (import_url, reference_url):
            with psycopg.connect(url, autocommit=True) as conn:
                migrations.migrate(conn)

        # Interleaved: after each user the import commits, the reference ingests the same
        # user's activities, so both sides see the same machine load and tables of about the
        # same size; the reference's time (and its untimed preparation) is taken out of the
        # import's wall clock.
        ref = Reference(v1_url, reference_url)
        outside = 0.0

        def after_user(v1_id: int, _activities: int) -> None:
            nonlocal outside
            started = time.perf_counter()
            ref.ingest_user(v1_id)
            outside += time.perf_counter() - started

        started = time.perf_counter()
        try:
            report = LegacyImporter(
                v1_url, import_url, auth=LocalAuthUsers(), cipher=cipher, on_user=after_user
            ).run()
        finally:
            ref.close()
        import_seconds = time.perf_counter() - started - outside
        imported = report.tables["activities"].created
        failures = report.notes.get("failures", [])
        if failures or imported != args.activities:
            print(f"import incomplete: {imported} activities, failures {failures[:3]}")
            return 1
        ref_count, ref_seconds = ref.count, ref.seconds
        if ref_count != args.activities:
            print(f"reference incomplete: {ref_count} activities")
            return 1

    import_rate = imported / import_seconds
    ref_rate = ref_count / ref_seconds
    print(
        f"import:    {imported} activities ({report.tables['users'].created} users) in "
        f"{import_seconds:.1f} s = {import_rate:,.0f} activities/s (end to end)"
    )
    print(
        f"reference: {ref_count} activities in {ref_seconds:.1f} s of ingest calls = "
        f"{ref_rate:,.0f} activities/s"
    )
    print(f"ratio import / plain ingest: {import_rate / ref_rate:.3f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
