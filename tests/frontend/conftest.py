"""The world the screens are proved on, committed to a database of its own.

- alice, an athlete (Europe/Paris, UTC+2 in June) with a Garmin connection whose last three
  syncs failed after a success, a Strava connection and a disconnected Polar one; her
  activities: a Garmin run and its Strava copy (grouped: the Garmin copy is primary), a
  Strava-only ride, a private Garmin run, a soft-deleted Garmin run, a manual walk; four
  planned workouts (one by her coach), three of them fulfilled (by the Garmin run, by the
  Strava ride and by the private run: her coach sees neither of the last two);
- bob, coach with alice's active grant, and gina's offer pending; hank revoked his grant;
- frank, a coach nobody granted anything;
- eve, another athlete with her own Garmin run.

Every screen request runs as PostgREST runs it (``tests.frontend.postgrest.run``), each in its
own transaction, rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.databases import migrated_database
from tests.fakes import FAKES
from tests.helpers import create_auth_user
from tests.http.conftest import World as HttpWorld
from tests.http.conftest import make_world

Conn = psycopg.Connection[Any]

# Monday 2 June 2025, 07:00 in Paris (UTC+2).
PARIS = 7200


@dataclass
class Screens:
    url: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def uid(self, name: str) -> uuid.UUID:
        return self.users[name]


def _one(conn: Conn, query: str, params: dict[str, Any] | list[Any]) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


def _insert(conn: Conn, table: str, values: dict[str, Any]) -> int:
    names = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    query = f"insert into public.{table} ({names}) values ({placeholders}) returning id"
    return int(_one(conn, query, values))


def build(conn: Conn, world: Screens) -> None:
    people = {
        "alice": ("Alice", "Martin", "athlete"),
        "bob": ("Bob", "Coach", "coach"),
        "frank": ("Frank", "Nogrant", "coach"),
        "eve": ("Eve", "Other", "athlete"),
        "gina": ("Gina", "Pending", "athlete"),
        "hank": ("Hank", "Revoked", "athlete"),
    }
    for name, (first, last, role) in people.items():
        uid = create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)
        world.users[name] = uid
        conn.execute(
            "update public.users set first_name = %s, last_name = %s, role = %s,"
            " avatar_url = %s, preferences = %s where id = %s",
            [first, last, role, f"https://cdn.example/{name}.png", '{"ftp": 250}', uid],
        )
    alice, bob, eve = world.uid("alice"), world.uid("bob"), world.uid("eve")
    for athlete, status in (("alice", "active"), ("gina", "pending"), ("hank", "revoked")):
        # Offered, then moved on as the app moves it (the trigger stamps activated_at).
        grant = _insert(conn, "coach_athletes", {"athlete_id": world.uid(athlete), "coach_id": bob})
        conn.execute("update public.coach_athletes set status = %s where id = %s", [status, grant])
        world.ids[f"grant_{athlete}"] = grant

    ids = world.ids
    for label, owner, provider, status in (
        ("c_garmin", alice, "garmin", "error"),
        ("c_strava", alice, "strava", "active"),
        ("c_polar", alice, "polar", "disconnected"),
        ("c_eve", eve, "garmin", "active"),
    ):
        ids[label] = _insert(
            conn,
            "provider_connections",
            {
                "user_id": owner,
                "provider": provider,
                "provider_user_id": f"{provider}-{label}",
                "provider_username": f"{label}_user",
                "status": status,
                "scopes": ["activity:read_all"] if provider == "strava" else [],
            },
        )
    conn.execute(
        "update public.provider_connections set disconnected_at = now() where id = %s",
        [ids["c_polar"]],
    )
    conn.execute(
        "update public.provider_connections set last_error = 'Garmin answered 500',"
        " last_error_at = now(), consecutive_failures = 3 where id = %s",
        [ids["c_garmin"]],
    )

    def activity(label: str, owner: uuid.UUID, connection: str | None, **columns: Any) -> None:
        values: dict[str, Any] = {
            "user_id": owner,
            "activity_type": "run",
            "utc_offset": PARIS,
            "timezone": "Europe/Paris",
            "name": label,
            **columns,
        }
        if connection is None:
            values.setdefault("source", "manual")
            values.setdefault("is_manual", True)
        else:
            values |= {
                "connection_id": ids[connection],
                "provider": "strava" if connection == "c_strava" else "garmin",
                "source": "provider",
                "is_manual": False,
                "external_id": f"ext-{label}",
            }
        ids[label] = _insert(conn, "activities", values)

    run = {"distance": 10000.0, "moving_time": 3000, "elapsed_time": 3100, "average_speed": 10 / 3}
    activity(
        "garmin_run",
        alice,
        "c_garmin",
        start_date="2025-06-02T05:00:00Z",
        average_heartrate=150,
        elevation_gain=80,
        calories=700,
        **run,
    )
    # Strava's copy of the same run (Garmin Connect forwarded it): grouped, Garmin primary.
    activity("strava_copy", alice, "c_strava", start_date="2025-06-02T05:00:20Z", **run)
    activity(
        "strava_ride",
        alice,
        "c_strava",
        activity_type="ride",
        start_date="2025-06-04T16:00:00Z",
        distance=40000.0,
        moving_time=4800,
        elapsed_time=5000,
        average_speed=25 / 3,
        average_watts=200,
        weighted_average_watts=210,
        elevation_gain=450,
    )
    activity(
        "private_run",
        alice,
        "c_garmin",
        start_date="2025-06-05T05:00:00Z",
        is_private=True,
        distance=5000.0,
        moving_time=1400,
        elapsed_time=1450,
        average_speed=5000 / 1400,
    )
    activity(
        "deleted_run",
        alice,
        "c_garmin",
        start_date="2025-06-06T05:00:00Z",
        deleted_at="2025-06-07T00:00:00Z",
        **run,
    )
    activity(
        "manual_walk",
        alice,
        None,
        activity_type="walk",
        start_date="2025-06-10T17:00:00Z",
        distance=3000.0,
        moving_time=1800,
        elapsed_time=1800,
    )
    activity("eve_run", eve, "c_eve", start_date="2025-06-03T05:00:00Z", **run)

    # Workouts: the run, the ride and the private run fulfilled, one open; one planned by the
    # coach.
    ids["w_run"] = _insert(
        conn,
        "workouts",
        {
            "user_id": alice,
            "planned_date": "2025-06-02",
            "activity_type": "run",
            "name": "Easy 10k",
            "planned_duration": 3000,
            "planned_distance": 10000.0,
            "planned_load": 60,
            "completed_activity_id": ids["garmin_run"],
        },
    )
    ids["w_ride"] = _insert(
        conn,
        "workouts",
        {
            "user_id": alice,
            "coach_id": bob,
            "planned_date": "2025-06-04",
            "activity_type": "ride",
            "name": "Tempo ride",
            "planned_duration": 4800,
            "completed_activity_id": ids["strava_ride"],
        },
    )
    ids["w_private"] = _insert(
        conn,
        "workouts",
        {
            "user_id": alice,
            "planned_date": "2025-06-05",
            "activity_type": "run",
            "name": "Easy 5k",
            "planned_duration": 1400,
            "planned_distance": 5000.0,
            "completed_activity_id": ids["private_run"],
        },
    )
    ids["w_open"] = _insert(
        conn,
        "workouts",
        {
            "user_id": alice,
            "planned_date": "2025-06-12",
            "activity_type": "run",
            "name": "Intervals",
            "planned_duration": 2700,
        },
    )
    _insert(
        conn,
        "workouts",
        {"user_id": eve, "planned_date": "2025-06-03", "activity_type": "run", "name": "Eve's"},
    )

    # Sync history: Garmin succeeded once, then failed three times in a row.
    now = datetime.now(UTC)
    for connection, owner, status, hours_ago, error in (
        ("c_garmin", alice, "success", 40, None),
        ("c_garmin", alice, "failed", 30, "Garmin answered 500"),
        ("c_garmin", alice, "failed", 20, "Garmin answered 500"),
        ("c_garmin", alice, "failed", 10, "Garmin answered 500"),
        ("c_strava", alice, "success", 5, None),
        ("c_eve", eve, "success", 5, None),
    ):
        _insert(
            conn,
            "sync_history",
            {
                "connection_id": ids[connection],
                "user_id": owner,
                "sync_trigger": "scheduled",
                "sync_status": status,
                "sync_started_at": now - timedelta(hours=hours_ago),
                "sync_completed_at": now - timedelta(hours=hours_ago - 1),
                "error_message": error,
                "api_calls": 2,
                "activities_created": 1 if status == "success" else 0,
            },
        )


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database of its own: this world is committed (each request is its own transaction),
    and must not show up in the other suites' row-level security matrices."""
    with migrated_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def screens_world(database_url: str) -> Screens:
    world = Screens(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        build(conn, world)
    return world


@pytest.fixture
def api(screens_world: Screens) -> Iterator[Conn]:
    """An autocommit connection: each request opens and rolls back its own transaction."""
    with psycopg.connect(screens_world.url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def service_pool(database_url: str) -> Iterator[ConnectionPool[Any]]:
    pool: ConnectionPool[Any] = ConnectionPool(database_url, min_size=1, max_size=4, open=True)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def http_world(database_url: str, service_pool: ConnectionPool[Any]) -> Iterator[HttpWorld]:
    """The real HTTP app over this database, every provider served by its fake."""
    fakes = {name: cls() for name, cls in FAKES.items()}
    yield from make_world(database_url, service_pool, fakes, configured=set(FAKES) - {"polar"})
