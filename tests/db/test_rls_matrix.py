"""The row-level security threat matrix: every table and view x every kind of caller x command.

The world (built once per module as superuser, each test run in a savepoint rolled back
afterwards, the world itself rolled back after the module):

- alice, an athlete with a Strava and a Garmin connection (tokens in private.provider_tokens,
  connection events, sync history), activities from both providers, one of them private, a
  manual one, an imported file, a soft-deleted one, raw payloads, an OAuth state in flight, a
  self-planned workout and one planned by her coach;
- bob, coach with an active grant from alice; carol, coach with a pending grant; dave, coach
  with a revoked grant; frank, coach with no grant at all;
- eve, another athlete with her own Garmin connection, activity, payload, history and workout;
- an admin.

Every statement runs as PostgREST runs it (``set_config('role', ...)`` plus JWT claims) inside
a savepoint that is always rolled back, so each attempt sees the same world. Outcomes are told
apart precisely: a missing grant raises 42501 "permission denied" (DENIED), a WITH CHECK
failure raises 42501 "new row violates row-level security policy" (RLS), a guard trigger
raises 42501 with its own message (GUARD), and a USING clause filters silently (an int: the
number of rows affected).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from tests.databases import rolled_back
from tests.helpers import act_as_anon, act_as_service, act_as_user, create_auth_user

Conn = psycopg.Connection[Any]

DENIED = "denied: permission denied (missing grant)"
RLS = "rls: new row violates row-level security policy"
GUARD = "guard: rejected by a trigger with 42501"

ATHLETES = ("alice", "eve")
COACHES = ("bob", "carol", "dave", "frank")
PEOPLE = ("alice", "bob", "carol", "dave", "eve", "frank", "admin")
ACTORS = ("anon", *PEOPLE, "service")
AUTHENTICATED = PEOPLE
NOT_ALICE = tuple(p for p in PEOPLE if p != "alice")


@dataclass
class World:
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    # relation -> key (as text) -> label
    labels: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def uid(self, name: str) -> uuid.UUID:
        return self.users[name]

    def label_of(self, relation: str, key: object) -> str:
        return self.labels[relation].get(str(key), f"<unknown {relation} {key}>")


def _insert(conn: Conn, query: str, params: list[object]) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


def build_world(conn: Conn) -> World:
    world = World()
    for name in PEOPLE:
        world.users[name] = create_auth_user(conn, f"{name}@example.com", confirmed=True)
    for name in COACHES:
        conn.execute("update public.users set role = 'coach' where id = %s", [world.uid(name)])
    conn.execute("update public.users set role = 'admin' where id = %s", [world.uid("admin")])

    ids = world.ids
    alice, eve = world.uid("alice"), world.uid("eve")

    for coach, status in (("bob", "active"), ("carol", "pending"), ("dave", "revoked")):
        ids[f"g_{coach}"] = _insert(
            conn,
            "insert into public.coach_athletes (athlete_id, coach_id, status) values (%s, %s, %s)"
            " returning id",
            [alice, world.uid(coach), status],
        )

    connections = (
        ("c_alice_strava", alice, "strava", "s-1001", "alice_strava"),
        ("c_alice_garmin", alice, "garmin", "g-2002", "alice_garmin"),
        ("c_eve_garmin", eve, "garmin", "g-3003", "eve_garmin"),
    )
    # A connection alice disconnected: no tokens left, no activities.
    ids["c_alice_polar"] = _insert(
        conn,
        "insert into public.provider_connections (user_id, provider, provider_user_id, status,"
        " disconnected_at) values (%s, 'polar', 'p-4004', 'disconnected', now()) returning id",
        [alice],
    )
    for label, owner, provider, account, username in connections:
        ids[label] = _insert(
            conn,
            "insert into public.provider_connections"
            " (user_id, provider, provider_user_id, provider_username, last_sync_at)"
            " values (%s, %s, %s, %s, now()) returning id",
            [owner, provider, account, username],
        )
        suffix = label.removeprefix("c_")
        conn.execute(
            "insert into private.provider_tokens"
            " (connection_id, user_id, key_id, access_token_ciphertext, refresh_token_ciphertext)"
            " values (%s, %s, 'k1', 'sealed-access'::bytea, 'sealed-refresh'::bytea)",
            [ids[label], owner],
        )
        ids[f"t_{suffix}"] = ids[label]
        ids[f"ev_{suffix}"] = _insert(
            conn,
            "insert into public.connection_events (connection_id, user_id, event)"
            " values (%s, %s, 'connected') returning id",
            [ids[label], owner],
        )

    provider_activities = (
        ("a_strava", alice, "c_alice_strava", "strava", False, None),
        ("a_garmin", alice, "c_alice_garmin", "garmin", False, None),
        ("a_private", alice, "c_alice_garmin", "garmin", True, None),
        ("a_deleted", alice, "c_alice_garmin", "garmin", False, "2025-06-03T00:00:00Z"),
        ("a_eve", eve, "c_eve_garmin", "garmin", False, None),
    )
    for number, (label, owner, conn_label, provider, private, deleted) in enumerate(
        provider_activities, start=1
    ):
        ids[label] = _insert(
            conn,
            "insert into public.activities (user_id, connection_id, provider, source, is_manual,"
            " external_id, name, activity_type, start_date, utc_offset, distance, moving_time,"
            " elapsed_time, is_private, deleted_at)"
            " values (%s, %s, %s, 'provider', false, %s, %s, 'run',"
            " '2025-06-01T06:00:00Z'::timestamptz + make_interval(days => %s), 7200,"
            " 10000, 3000, 3100, %s, %s) returning id",
            [owner, ids[conn_label], provider, f"ext-{number}", label, number, private, deleted],
        )
    ids["a_manual"] = _insert(
        conn,
        "insert into public.activities (user_id, source, is_manual, name, activity_type,"
        " start_date, distance, moving_time) values"
        " (%s, 'manual', true, 'a_manual', 'walk', '2025-06-10T06:00:00Z', 3000, 1800)"
        " returning id",
        [alice],
    )
    ids["a_file"] = _insert(
        conn,
        "insert into public.activities (user_id, source, is_manual, external_id, name,"
        " activity_type, start_date, distance, moving_time) values"
        " (%s, 'file', false, 'sha256:abc', 'a_file', 'ride', '2025-06-11T06:00:00Z', 40000,"
        " 5400) returning id",
        [alice],
    )
    for activity, owner in (("a_strava", alice), ("a_garmin", alice), ("a_eve", eve)):
        conn.execute(
            "insert into public.activity_raw_payloads (activity_id, user_id, payload)"
            " values (%s, %s, '{\"id\": 1}')",
            [ids[activity], owner],
        )
        ids[f"p_{activity.removeprefix('a_')}"] = ids[activity]

    # Streams (issue 18): Strava's, a shared Garmin one, a private one, a file's, eve's.
    for activity, owner, source in (
        ("a_strava", alice, "strava"),
        ("a_garmin", alice, "garmin"),
        ("a_private", alice, "garmin"),
        ("a_file", alice, "file"),
        ("a_eve", eve, "garmin"),
    ):
        conn.execute(
            "insert into public.activity_streams (activity_id, user_id, source, sample_count,"
            " time_s, heart_rate, power_w) values (%s, %s, %s, 2, '{0,1}', '{120,121}',"
            " '{200,210}')",
            [ids[activity], owner, source],
        )
        conn.execute(
            "insert into public.activity_laps (activity_id, lap_index, user_id, source,"
            " start_offset_s, distance_m) values (%s, 0, %s, %s, 0, 1000)",
            [ids[activity], owner, source],
        )
        ids[f"st_{activity.removeprefix('a_')}"] = ids[activity]

    for label, conn_label, owner, status, created in (
        ("s_alice_strava", "c_alice_strava", alice, "success", 3),
        ("s_alice_garmin", "c_alice_garmin", alice, "failed", 0),
        ("s_eve_garmin", "c_eve_garmin", eve, "success", 1),
    ):
        ids[label] = _insert(
            conn,
            "insert into public.sync_history (connection_id, user_id, sync_trigger, sync_status,"
            " sync_completed_at, activities_created) values (%s, %s, 'scheduled', %s, now(), %s)"
            " returning id",
            [ids[conn_label], owner, status, created],
        )

    # Stream fetch outcomes (issue 18, provider streams): the athlete's own only.
    for activity, owner, conn_label in (
        ("a_strava", alice, "c_alice_strava"),
        ("a_eve", eve, "c_eve_garmin"),
    ):
        conn.execute(
            "insert into public.activity_stream_fetches (activity_id, user_id, connection_id,"
            " status) values (%s, %s, %s, 'unavailable')",
            [ids[activity], owner, ids[conn_label]],
        )
        ids[f"fx_{activity.removeprefix('a_')}"] = ids[activity]

    # A sync lease on alice's Strava connection and a shared rate-limit window (workers' state).
    conn.execute(
        "insert into private.sync_leases (connection_id, sync_history_id, holder, lease_until)"
        " values (%s, %s, 'worker-1', now() + interval '5 minutes')",
        [ids["c_alice_strava"], ids["s_alice_strava"]],
    )
    ids["l_alice_strava"] = ids["c_alice_strava"]
    conn.execute(
        "insert into private.rate_limit_windows (bucket, window_start, window_seconds,"
        " request_limit, used) values ('strava:overall:15min', '2025-06-01T06:00:00Z', 900, 200,"
        " 3)"
    )
    # Tokens of alice's disconnected Polar connection, waiting to be revoked (issue 14).
    ids["r_alice_polar"] = _insert(
        conn,
        "insert into private.token_revocations (connection_id, user_id, provider,"
        " provider_user_id, key_id, access_token_ciphertext) values (%s, %s, 'polar', 'p-4004',"
        " 'k1', 'sealed-access') returning id",
        [ids["c_alice_polar"], alice],
    )

    ids["o_alice"] = _insert(
        conn,
        "insert into private.oauth_states (state_hash, user_id, provider, code_verifier,"
        " redirect_uri, expires_at) values (%s, %s, 'strava', 'verifier-secret',"
        " 'https://app.example/cb', now() + interval '10 minutes') returning id",
        ["0" * 64, alice],
    )

    # The legacy import's mapping (alice came from Trainlytics v1) and a pending auth user.
    conn.execute(
        "insert into private.legacy_users (v1_user_id, user_id, v1_email)"
        " values (17, %s, ' Alice@Example.com')",
        [alice],
    )
    conn.execute(
        "insert into private.legacy_auth_pending (v1_user_id, user_id) values (18, %s)",
        [eve],
    )

    for label, owner, planner in (
        ("w_alice", alice, None),
        ("w_bob", alice, world.uid("bob")),
        ("w_eve", eve, None),
    ):
        ids[label] = _insert(
            conn,
            "insert into public.workouts (user_id, coach_id, planned_date, activity_type, name)"
            " values (%s, %s, '2025-06-20', 'run', %s) returning id",
            [owner, planner, label],
        )

    # Settings and FTP history (issue 18): one row each for alice and eve.
    for owner, units in ((alice, "imperial"), (eve, "metric")):
        conn.execute(
            "insert into public.athlete_settings (user_id, units) values (%s, %s)", [owner, units]
        )
        conn.execute(
            "insert into public.athlete_ftp_history (user_id, effective_from, ftp_w)"
            " values (%s, '2025-01-01', 250)",
            [owner],
        )

    def by_prefix(*prefixes: str) -> dict[str, str]:
        return {str(v): k for k, v in ids.items() if k.startswith(prefixes)}

    user_labels = {str(v): k for k, v in world.users.items()}
    rollup_labels = {
        f"{uid}:{shareable}": f"{name}:{'shareable' if shareable == 'true' else 'unshareable'}"
        for name, uid in world.users.items()
        for shareable in ("true", "false")
    }
    world.labels = {
        "public.users": user_labels,
        "public.coach_athletes": by_prefix("g_"),
        "public.provider_connections": by_prefix("c_"),
        "public.connection_events": by_prefix("ev_"),
        "public.activities": by_prefix("a_"),
        "public.activity_raw_payloads": by_prefix("p_"),
        "public.activity_streams": by_prefix("st_"),
        "public.activity_laps": by_prefix("st_"),
        # best efforts (issue 18): told apart by their activity (one 1 s power effort each)
        "public.activity_efforts": by_prefix("st_"),
        "public.activity_best_efforts": by_prefix("st_"),
        "public.season_best_efforts": by_prefix("st_"),
        "public.all_time_best_efforts": by_prefix("st_"),
        "public.sync_history": by_prefix("s_"),
        "public.activity_stream_fetches": by_prefix("fx_"),
        "public.stream_fetch_summary": by_prefix("c_"),
        "public.workouts": by_prefix("w_"),
        "private.provider_tokens": by_prefix("t_"),
        "private.oauth_states": by_prefix("o_"),
        "private.legacy_users": {"17": "lu_alice"},
        "private.legacy_auth_pending": {"18": "lp_eve"},
        "private.sync_leases": by_prefix("l_"),
        "private.rate_limit_windows": {"strava:overall:15min": "rl_strava"},
        "private.token_revocations": by_prefix("r_"),
        "private.providers": {"strava": "reg_strava"},
        # Reference data: every row is readable by design; one known row stands for them.
        "public.activity_type_mappings": {"strava:Run": "m_strava_run"},
        "public.sport_families": {"run:running": "sf_run"},
        "public.provider_priorities": {"garmin:10": "pp_garmin"},
        "public.activities_with_provider": by_prefix("a_"),
        "public.weekly_volume": user_labels,
        "public.monthly_volume": user_labels,
        # rollups (issue 5): a rollup row is told apart by its athlete and shareability
        "public.weekly_rollups": rollup_labels,
        "public.daily_loads": rollup_labels,
        "public.yearly_volume": user_labels,
        "public.provider_volume": user_labels,
        "public.recurring_sync_errors": user_labels,
        # training load, records, compliance (issue 5)
        "public.activity_loads": by_prefix("a_"),
        "public.personal_records": user_labels,
        "public.personal_record_entries": {
            f"{uid}:{scope}": f"{name}:{'shareable' if scope == 'true' else 'all'}"
            for name, uid in world.users.items()
            for scope in ("true", "false")
        },
        "public.weekly_compliance": user_labels,
        "public.athlete_settings": user_labels,
        "public.athlete_ftp_history": user_labels,
        # volume totals (issue 16): two scopes per athlete, as the records
        "public.volume_totals": {
            f"{uid}:{scope}": f"{name}:{'shareable' if scope == 'true' else 'all'}"
            for name, uid in world.users.items()
            for scope in ("true", "false")
        },
        "public.source_totals": {
            f"{uid}:{scope}": f"{name}:{'shareable' if scope == 'true' else 'all'}"
            for name, uid in world.users.items()
            for scope in ("true", "false")
        },
        # daily fitness (issue 16): two scopes per athlete, as the records
        "public.daily_fitness": {
            f"{uid}:{scope}": f"{name}:{'shareable' if scope == 'true' else 'all'}"
            for name, uid in world.users.items()
            for scope in ("true", "false")
        },
        # keys are built by READ_QUERIES below
        "public.user_provider_connections": {
            f"{uid}:{provider}": f"{name}:{provider}"
            for name, uid in world.users.items()
            for provider in ("strava", "garmin", "polar", "-")
        },
        "public.sync_statistics": {
            f"{p}:{s}:{n}": f"{p}:{s}:{n}"
            for p in ("strava", "garmin")
            for s in ("success", "failed")
            for n in (1, 2, 3)
        },
    }
    return world


@pytest.fixture(scope="module")
def world(module_db: Conn) -> World:
    """Built once for the module, in module_db's open (never committed) transaction."""
    return build_world(module_db)


@pytest.fixture
def db(module_db: Conn, world: World) -> Iterator[Conn]:
    """Overrides tests/conftest.py's ``db``: the world's connection, each test in a savepoint
    rolled back afterwards, so every test sees the same world."""
    with rolled_back(module_db) as conn:
        yield conn


# --- acting and attempting ----------------------------------------------------------------


def act(conn: Conn, world: World, actor: str) -> None:
    if actor == "anon":
        act_as_anon(conn)
    elif actor == "service":
        act_as_service(conn)
    else:
        act_as_user(conn, world.uid(actor), email=f"{actor}@example.com")


def _classify(exc: psycopg.errors.InsufficientPrivilege) -> str:
    message = exc.diag.message_primary or ""
    if message.startswith("permission denied"):
        return DENIED
    if message.startswith("new row violates row-level security policy"):
        return RLS
    return GUARD


def attempt(
    conn: Conn, world: World, actor: str, query: str, params: list[object] | None = None
) -> int | str:
    """Run one write as ``actor`` in a savepoint that is always rolled back.

    Returns the number of rows affected, or DENIED / RLS / GUARD / "error <sqlstate>".
    """
    with conn.transaction(force_rollback=True):
        act(conn, world, actor)
        try:
            with conn.transaction():
                return conn.execute(query.encode(), params).rowcount
        except psycopg.errors.InsufficientPrivilege as exc:
            return _classify(exc)
        except psycopg.Error as exc:
            return f"error {exc.sqlstate}"


def read(
    conn: Conn, world: World, actor: str, query: str, params: list[object] | None = None
) -> list[tuple[Any, ...]] | str:
    """Run one query as ``actor`` (always rolled back): its rows, or DENIED / GUARD."""
    with conn.transaction(force_rollback=True):
        act(conn, world, actor)
        try:
            with conn.transaction():
                return conn.execute(query.encode(), params).fetchall()
        except psycopg.errors.InsufficientPrivilege as exc:
            return _classify(exc)


# --- the read matrix ----------------------------------------------------------------------

READ_QUERIES: dict[str, str] = {
    "public.users": "select id from public.users",
    "public.coach_athletes": "select id from public.coach_athletes",
    "public.provider_connections": "select id from public.provider_connections",
    "public.connection_events": "select id from public.connection_events",
    "public.activities": "select id from public.activities",
    "public.activity_raw_payloads": "select activity_id from public.activity_raw_payloads",
    "public.activity_streams": "select activity_id from public.activity_streams",
    "public.activity_laps": "select activity_id from public.activity_laps",
    "public.activity_efforts": "select activity_id from public.activity_efforts",
    "public.activity_best_efforts": "select activity_id from public.activity_best_efforts",
    "public.season_best_efforts": "select activity_id from public.season_best_efforts",
    "public.all_time_best_efforts": "select activity_id from public.all_time_best_efforts",
    "public.sync_history": "select id from public.sync_history",
    "public.activity_stream_fetches": "select activity_id from public.activity_stream_fetches",
    "public.stream_fetch_summary": "select connection_id from public.stream_fetch_summary",
    "public.workouts": "select id from public.workouts",
    "private.provider_tokens": "select connection_id from private.provider_tokens",
    "private.oauth_states": "select id from private.oauth_states",
    "private.legacy_users": "select v1_user_id from private.legacy_users",
    "private.legacy_auth_pending": "select v1_user_id from private.legacy_auth_pending",
    "private.sync_leases": "select connection_id from private.sync_leases",
    "private.rate_limit_windows": "select bucket from private.rate_limit_windows",
    "private.token_revocations": "select id from private.token_revocations",
    "private.providers": "select provider::text from private.providers where provider = 'strava'",
    "private.analyst_published_rollups": "select week_start from private.analyst_published_rollups",
    "public.activity_type_mappings": (
        "select provider || ':' || provider_value from public.activity_type_mappings"
        " where provider = 'strava' and provider_value = 'Run'"
    ),
    "public.sport_families": (
        "select activity_type || ':' || sport_family from public.sport_families"
        " where activity_type = 'run'"
    ),
    "public.provider_priorities": (
        "select origin || ':' || priority from public.provider_priorities where origin = 'garmin'"
    ),
    "public.activities_with_provider": "select id from public.activities_with_provider",
    "public.user_provider_connections": (
        "select user_id || ':' || coalesce(provider::text, '-')"
        " from public.user_provider_connections"
    ),
    "public.sync_statistics": (
        "select provider || ':' || sync_status || ':' || sync_count from public.sync_statistics"
    ),
    "public.weekly_volume": "select user_id from public.weekly_volume",
    "public.monthly_volume": "select user_id from public.monthly_volume",
    "public.weekly_rollups": "select user_id || ':' || shareable from public.weekly_rollups",
    "public.daily_loads": "select user_id || ':' || shareable from public.daily_loads",
    "public.yearly_volume": "select user_id from public.yearly_volume",
    "public.provider_volume": "select user_id from public.provider_volume",
    # one failed run per connection in the world: no recurring error (see test_statistics_views)
    "public.recurring_sync_errors": "select user_id from public.recurring_sync_errors",
    "public.activity_loads": "select activity_id from public.activity_loads",
    "public.personal_records": "select user_id from public.personal_records",
    "public.daily_fitness": ("select user_id || ':' || shareable_only from public.daily_fitness"),
    "public.volume_totals": "select user_id || ':' || shareable_only from public.volume_totals",
    "public.source_totals": "select user_id || ':' || shareable_only from public.source_totals",
    "public.personal_record_entries": (
        "select user_id || ':' || shareable_only from public.personal_record_entries"
    ),
    "public.weekly_compliance": "select user_id from public.weekly_compliance",
    "public.athlete_settings": "select user_id from public.athlete_settings",
    "public.athlete_ftp_history": "select user_id from public.athlete_ftp_history",
}


def visible(conn: Conn, world: World, actor: str, relation: str) -> set[str] | str:
    rows = read(conn, world, actor, READ_QUERIES[relation])
    if isinstance(rows, str):
        return rows
    return {world.label_of(relation, row[0]) for row in rows}


NONE: set[str] = set()
EVERY_CONNECTION_ROW = {"alice:strava", "alice:garmin", "alice:polar", "eve:garmin"} | {
    f"{p}:-" for p in PEOPLE if p not in ATHLETES
}
ALICE_ACTIVITIES = {"a_strava", "a_garmin", "a_private", "a_manual", "a_file"}
# What a coach with an active grant may read: not private, not Strava-sourced, not deleted.
COACHABLE_ACTIVITIES = {"a_garmin", "a_manual", "a_file"}


def _reads(
    alice: set[str],
    eve: set[str],
    bob: set[str],
    admin: set[str] | str,
    service: set[str],
    *,
    carol: set[str] = NONE,
    dave: set[str] = NONE,
    frank: set[str] = NONE,
) -> dict[str, set[str] | str]:
    return {
        "anon": DENIED,
        "alice": alice,
        "eve": eve,
        "bob": bob,
        "carol": carol,
        "dave": dave,
        "frank": frank,
        "admin": admin,
        "service": service,
    }


EXPECTED_READS: dict[str, dict[str, set[str] | str]] = {
    "public.users": _reads(
        alice={"alice", "bob"},  # a pending grant does not reveal the coach
        eve={"eve"},
        bob={"bob", "alice"},
        carol={"carol"},  # a pending grant opens no profile (issue 14)
        dave={"dave"},
        frank={"frank"},
        admin=set(PEOPLE),
        service=set(PEOPLE),
    ),
    "public.coach_athletes": _reads(
        alice={"g_bob", "g_carol", "g_dave"},
        eve=NONE,
        bob={"g_bob"},
        carol={"g_carol"},
        dave={"g_dave"},
        admin={"g_bob", "g_carol", "g_dave"},
        service={"g_bob", "g_carol", "g_dave"},
    ),
    "public.provider_connections": _reads(
        alice={"c_alice_strava", "c_alice_garmin", "c_alice_polar"},
        eve={"c_eve_garmin"},
        bob=NONE,
        admin={"c_alice_strava", "c_alice_garmin", "c_alice_polar", "c_eve_garmin"},
        service={"c_alice_strava", "c_alice_garmin", "c_alice_polar", "c_eve_garmin"},
    ),
    "public.connection_events": _reads(
        alice={"ev_alice_strava", "ev_alice_garmin"},
        eve={"ev_eve_garmin"},
        bob=NONE,
        admin={"ev_alice_strava", "ev_alice_garmin", "ev_eve_garmin"},
        service={"ev_alice_strava", "ev_alice_garmin", "ev_eve_garmin"},
    ),
    "public.activities": _reads(
        alice=ALICE_ACTIVITIES,
        eve={"a_eve"},
        bob=COACHABLE_ACTIVITIES,
        admin=ALICE_ACTIVITIES | {"a_eve"},
        service=ALICE_ACTIVITIES | {"a_eve", "a_deleted"},
    ),
    "public.activity_raw_payloads": _reads(
        alice={"p_strava", "p_garmin"},
        eve={"p_eve"},
        bob=NONE,
        admin=NONE,  # the athlete only: not coaches, not admins (policy comment)
        service={"p_strava", "p_garmin", "p_eve"},
    ),
    # Streams (issue 18): as the activity, but Strava's for the athlete only (not admins).
    "public.activity_streams": _reads(
        alice={"st_strava", "st_garmin", "st_private", "st_file"},
        eve={"st_eve"},
        bob={"st_garmin", "st_file"},
        admin={"st_garmin", "st_private", "st_file", "st_eve"},
        service={"st_strava", "st_garmin", "st_private", "st_file", "st_eve"},
    ),
    # Laps (issue 18): exactly as the streams.
    "public.activity_laps": _reads(
        alice={"st_strava", "st_garmin", "st_private", "st_file"},
        eve={"st_eve"},
        bob={"st_garmin", "st_file"},
        admin={"st_garmin", "st_private", "st_file", "st_eve"},
        service={"st_strava", "st_garmin", "st_private", "st_file", "st_eve"},
    ),
    "public.activity_efforts": _reads(
        alice={"st_strava", "st_garmin", "st_private", "st_file"},
        eve={"st_eve"},
        bob={"st_garmin", "st_file"},
        admin={"st_garmin", "st_private", "st_file", "st_eve"},
        service={"st_strava", "st_garmin", "st_private", "st_file", "st_eve"},
    ),
    "public.activity_best_efforts": _reads(
        alice={"st_strava", "st_garmin", "st_private", "st_file"},
        eve={"st_eve"},
        bob={"st_garmin", "st_file"},
        admin={"st_garmin", "st_private", "st_file", "st_eve"},
        service={"st_strava", "st_garmin", "st_private", "st_file", "st_eve"},
    ),
    # the best per athlete and sport among the readable rows (equal power: the earliest run)
    "public.season_best_efforts": _reads(
        alice={"st_strava", "st_file"},
        eve={"st_eve"},
        bob={"st_garmin", "st_file"},
        admin={"st_garmin", "st_file", "st_eve"},
        service={"st_strava", "st_file", "st_eve"},
    ),
    "public.all_time_best_efforts": _reads(
        alice={"st_strava", "st_file"},
        eve={"st_eve"},
        bob={"st_garmin", "st_file"},
        admin={"st_garmin", "st_file", "st_eve"},
        service={"st_strava", "st_file", "st_eve"},
    ),
    "public.sync_history": _reads(
        alice={"s_alice_strava", "s_alice_garmin"},
        eve={"s_eve_garmin"},
        bob=NONE,
        admin={"s_alice_strava", "s_alice_garmin", "s_eve_garmin"},
        service={"s_alice_strava", "s_alice_garmin", "s_eve_garmin"},
    ),
    # Stream fetch outcomes (issue 18): the athlete only (a Strava activity's among them).
    "public.activity_stream_fetches": _reads(
        alice={"fx_strava"},
        eve={"fx_eve"},
        bob=NONE,
        admin=NONE,
        service={"fx_strava", "fx_eve"},
    ),
    "public.stream_fetch_summary": _reads(
        alice={"c_alice_strava"},
        eve={"c_eve_garmin"},
        bob=NONE,
        admin=NONE,
        service={"c_alice_strava", "c_eve_garmin"},
    ),
    "public.workouts": _reads(
        alice={"w_alice", "w_bob"},
        eve={"w_eve"},
        bob={"w_alice", "w_bob"},
        admin={"w_alice", "w_bob", "w_eve"},
        service={"w_alice", "w_bob", "w_eve"},
    ),
    "private.provider_tokens": {
        **dict.fromkeys(ACTORS, DENIED),
        "service": {"t_alice_strava", "t_alice_garmin", "t_eve_garmin"},
    },
    "private.oauth_states": {**dict.fromkeys(ACTORS, DENIED), "service": {"o_alice"}},
    # The legacy import's v1-id mapping: not even its own user reads it.
    "private.legacy_users": {**dict.fromkeys(ACTORS, DENIED), "service": {"lu_alice"}},
    "private.legacy_auth_pending": {**dict.fromkeys(ACTORS, DENIED), "service": {"lp_eve"}},
    "private.sync_leases": {**dict.fromkeys(ACTORS, DENIED), "service": {"l_alice_strava"}},
    "private.rate_limit_windows": {**dict.fromkeys(ACTORS, DENIED), "service": {"rl_strava"}},
    "private.token_revocations": {**dict.fromkeys(ACTORS, DENIED), "service": {"r_alice_polar"}},
    # The provider registry: the service reads it (the ingest's dispatch), nobody else does.
    "private.providers": {**dict.fromkeys(ACTORS, DENIED), "service": {"reg_strava"}},
    # The analyst views' input (issue 14): no one reads it but those views' owner.
    "private.analyst_published_rollups": dict.fromkeys(ACTORS, DENIED),
    # Sport vocabulary: reference data for every signed-in user, nothing for anon.
    "public.activity_type_mappings": {
        **{actor: {"m_strava_run"} for actor in ACTORS},
        "anon": DENIED,
    },
    # Duplicate grouping's reference data: every signed-in user, nothing for anon.
    "public.sport_families": {**{actor: {"sf_run"} for actor in ACTORS}, "anon": DENIED},
    "public.provider_priorities": {**{actor: {"pp_garmin"} for actor in ACTORS}, "anon": DENIED},
    # Views run as the caller: each row passes the RLS of every table it joins.
    "public.activities_with_provider": _reads(
        alice={"a_strava", "a_garmin", "a_private"},
        eve={"a_eve"},
        bob=NONE,  # the coach cannot read alice's connections, so the inner join is empty
        admin={"a_strava", "a_garmin", "a_private", "a_eve"},
        service={"a_strava", "a_garmin", "a_private", "a_eve"},  # soft-deleted excluded by the view
    ),
    "public.user_provider_connections": _reads(
        alice={"alice:strava", "alice:garmin", "alice:polar", "bob:-"},
        eve={"eve:garmin"},
        bob={"bob:-", "alice:-"},
        carol={"carol:-"},  # a pending grant opens no profile (issue 14)
        dave={"dave:-"},
        frank={"frank:-"},
        admin=EVERY_CONNECTION_ROW,
        service=EVERY_CONNECTION_ROW,
    ),
    "public.sync_statistics": _reads(
        alice={"strava:success:1", "garmin:failed:1"},
        eve={"garmin:success:1"},
        bob=NONE,
        admin={"strava:success:1", "garmin:failed:1", "garmin:success:1"},
        service={"strava:success:1", "garmin:failed:1", "garmin:success:1"},
    ),
    "public.weekly_volume": _reads(
        alice={"alice"},
        eve={"eve"},
        bob={"alice"},
        admin={"alice", "eve"},
        service={"alice", "eve"},
    ),
    "public.monthly_volume": _reads(
        alice={"alice"},
        eve={"eve"},
        bob={"alice"},
        admin={"alice", "eve"},
        service={"alice", "eve"},
    ),
    # Rollups: alice's Strava and private activities sit in unshareable rows, which her coach
    # never reads (tests/analytics/test_rollups.py checks the sums).
    **{
        rollups: _reads(
            alice={"alice:shareable", "alice:unshareable"},
            eve={"eve:shareable"},
            bob={"alice:shareable"},
            admin={"alice:shareable", "alice:unshareable", "eve:shareable"},
            service={"alice:shareable", "alice:unshareable", "eve:shareable"},
        )
        for rollups in ("public.weekly_rollups", "public.daily_loads")
    },
    # Volume totals (issue 16): the athlete reads both scopes of hers, her coach only the
    # shareable one (her Strava and private activities are only in scope all).
    "public.volume_totals": _reads(
        alice={"alice:all", "alice:shareable"},
        eve={"eve:all", "eve:shareable"},
        bob={"alice:shareable"},
        admin={"alice:all", "alice:shareable", "eve:all", "eve:shareable"},
        service={"alice:all", "alice:shareable", "eve:all", "eve:shareable"},
    ),
    # Source totals (issue 16): as the volume totals.
    "public.source_totals": _reads(
        alice={"alice:all", "alice:shareable"},
        eve={"eve:all", "eve:shareable"},
        bob={"alice:shareable"},
        admin={"alice:all", "alice:shareable", "eve:all", "eve:shareable"},
        service={"alice:all", "alice:shareable", "eve:all", "eve:shareable"},
    ),
    # Daily fitness (issue 16): the athlete's full scope, the coach's shareable one (alice's
    # shareable activity gives her shareable scope rows; eve has no unshareable activity).
    "public.daily_fitness": _reads(
        alice={"alice:all"},
        eve={"eve:all"},
        bob={"alice:shareable"},
        admin={"alice:all", "eve:all"},
        service={"alice:all", "alice:shareable", "eve:all", "eve:shareable"},
    ),
    # Personal records (issue 14): the athlete's full records, the coach's over shareable rows.
    "public.personal_record_entries": _reads(
        alice={"alice:all"},
        eve={"eve:all"},
        bob={"alice:shareable"},
        admin={"alice:all", "eve:all"},
        service={"alice:all", "alice:shareable", "eve:all", "eve:shareable"},
    ),
    **{
        view: _reads(
            alice={"alice"},
            eve={"eve"},
            bob={"alice"},
            admin={"alice", "eve"},
            service={"alice", "eve"},
        )
        for view in ("public.yearly_volume", "public.provider_volume")
    },
    "public.recurring_sync_errors": _reads(
        alice=NONE, eve=NONE, bob=NONE, admin=NONE, service=NONE
    ),
    # Each activity's load: exactly the live activities the caller reads.
    "public.activity_loads": _reads(
        alice=ALICE_ACTIVITIES,
        eve={"a_eve"},
        bob=COACHABLE_ACTIVITIES,
        admin=ALICE_ACTIVITIES | {"a_eve"},
        service=ALICE_ACTIVITIES | {"a_eve"},  # soft-deleted excluded by the view
    ),
    **{
        view: _reads(
            alice={"alice"},
            eve={"eve"},
            bob={"alice"},
            admin={"alice", "eve"},
            service={"alice", "eve"},
        )
        for view in ("public.personal_records", "public.weekly_compliance")
    },
    # Settings (issue 18): the athlete, a coach with an active grant (bob; carol's grant is
    # pending, dave's revoked), an admin; never another athlete.
    **{
        table: _reads(
            alice={"alice"},
            eve={"eve"},
            bob={"alice"},
            admin={"alice", "eve"},
            service={"alice", "eve"},
        )
        for table in ("public.athlete_settings", "public.athlete_ftp_history")
    },
}

READ_CELLS = [(relation, actor) for relation in EXPECTED_READS for actor in ACTORS]


def test_matrix_covers_every_table_and_view(db: Conn) -> None:
    """A table or view added later must get its row in this matrix."""
    relations = {
        row[0]
        for row in db.execute(
            "select format('%s.%s', n.nspname, c.relname) from pg_class as c"
            " join pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname in ('public', 'private') and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        ).fetchall()
    }
    assert relations - EXPECTED_READS.keys() == set(), "relations missing from the RLS matrix"
    assert EXPECTED_READS.keys() - relations == set(), "matrix names relations that do not exist"


@pytest.mark.parametrize(("relation", "actor"), READ_CELLS, ids=[f"{a}-{r}" for r, a in READ_CELLS])
def test_read_matrix(db: Conn, world: World, relation: str, actor: str) -> None:
    assert visible(db, world, actor, relation) == EXPECTED_READS[relation][actor]


# --- the write matrix ---------------------------------------------------------------------
# Each statement targets alice's data; the expectation is per actor.


@dataclass(frozen=True)
class Write:
    name: str
    query: str
    params: Callable[[World], list[object]]
    expected: dict[str, int | str]


def _writes(default: int | str, **overrides: int | str) -> dict[str, int | str]:
    expected: dict[str, int | str] = dict.fromkeys(AUTHENTICATED, default)
    expected["anon"] = DENIED
    expected.update(overrides)
    return expected


ALL_DENIED = _writes(DENIED)

WRITES: tuple[Write, ...] = (
    # users
    Write(
        "insert-users",
        "insert into public.users (id, email) values (gen_random_uuid(), 'x@example.com')",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "update-alices-profile",
        "update public.users set first_name = 'Mallory' where id = %s",
        lambda w: [w.uid("alice")],
        _writes(0, alice=1, admin=GUARD),
    ),
    Write(
        "delete-alice",
        "delete from public.users where id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    # coach_athletes
    Write(
        "offer-alices-access-to-frank",
        "insert into public.coach_athletes (athlete_id, coach_id) values (%s, %s)",
        lambda w: [w.uid("alice"), w.uid("frank")],
        _writes(RLS, alice=1),
    ),
    Write(
        "revoke-bobs-grant",
        "update public.coach_athletes set status = 'revoked' where id = %s",
        lambda w: [w.ids["g_bob"]],
        _writes(0, alice=1, bob=1),
    ),
    Write(
        "delete-bobs-grant",
        "delete from public.coach_athletes where id = %s",
        lambda w: [w.ids["g_bob"]],
        ALL_DENIED,
    ),
    # provider_connections
    Write(
        "insert-connection-for-alice",
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'wahoo', 'w-1')",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "disconnect-alices-strava",
        "update public.provider_connections set status = 'disconnected' where id = %s",
        lambda w: [w.ids["c_alice_strava"]],
        _writes(0, alice=1),
    ),
    Write(
        "delete-alices-strava",
        "delete from public.provider_connections where id = %s",
        lambda w: [w.ids["c_alice_strava"]],
        ALL_DENIED,
    ),
    # connection_events
    Write(
        "forge-connection-event",
        "insert into public.connection_events (connection_id, user_id, event)"
        " values (%s, %s, 'reconnected')",
        lambda w: [w.ids["c_alice_strava"], w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "rewrite-connection-event",
        "update public.connection_events set event = 'refreshed' where id = %s",
        lambda w: [w.ids["ev_alice_strava"]],
        ALL_DENIED,
    ),
    Write(
        "erase-connection-event",
        "delete from public.connection_events where id = %s",
        lambda w: [w.ids["ev_alice_strava"]],
        ALL_DENIED,
    ),
    # activities
    Write(
        "insert-activity-for-alice",
        "insert into public.activities (user_id, name, start_date)"
        " values (%s, 'planted', '2025-07-01T06:00:00Z')",
        lambda w: [w.uid("alice")],
        _writes(RLS, alice=1),
    ),
    Write(
        "rename-alices-activity",
        "update public.activities set name = 'renamed' where id = %s",
        lambda w: [w.ids["a_garmin"]],
        _writes(0, alice=1),
    ),
    Write(
        "delete-alices-manual-activity",
        "delete from public.activities where id = %s",
        lambda w: [w.ids["a_manual"]],
        _writes(0, alice=1),
    ),
    # activity_type_mappings: reference data only service_role (migrations) changes
    Write(
        "remap-a-sport",
        "update public.activity_type_mappings set activity_type = 'walk'"
        " where provider = 'strava' and provider_value = 'Run'",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "plant-a-sport-mapping",
        "insert into public.activity_type_mappings (provider, provider_value, activity_type)"
        " values ('strava', 'Planted', 'run')",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "drop-a-sport-mapping",
        "delete from public.activity_type_mappings"
        " where provider = 'strava' and provider_value = 'Run'",
        lambda w: [],
        ALL_DENIED,
    ),
    # duplicate grouping's reference data: only service_role (migrations) changes it
    Write(
        "regroup-a-sport-family",
        "update public.sport_families set sport_family = 'cycling' where activity_type = 'run'",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "promote-strava-above-garmin",
        "update public.provider_priorities set priority = 1 where origin = 'strava'",
        lambda w: [],
        ALL_DENIED,
    ),
    # the provider registry: only migrations change it (the service only reads it)
    Write(
        "swap-stravas-normaliser",
        "update private.providers set normaliser = 'private.normalize_garmin(jsonb)'"
        " where provider = 'strava'",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "keep-strava-data-after-disconnect",
        "update private.providers set deletes_data_on_disconnect = false where provider = 'strava'",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "register-a-provider",
        "insert into private.providers (provider, normaliser)"
        " values ('strava', 'private.normalize_garmin(jsonb)')",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "drop-a-provider-priority",
        "delete from public.provider_priorities where origin = 'garmin'",
        lambda w: [],
        ALL_DENIED,
    ),
    # activity_streams: written only through private.store_activity_streams
    Write(
        "insert-streams",
        "insert into public.activity_streams (activity_id, user_id, source, sample_count, time_s)"
        " values (%s, %s, 'file', 1, '{0}')",
        lambda w: [w.ids["a_manual"], w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "rewrite-streams",
        "update public.activity_streams set heart_rate = '{1,2}' where activity_id = %s",
        lambda w: [w.ids["a_garmin"]],
        ALL_DENIED,
    ),
    Write(
        "delete-streams",
        "delete from public.activity_streams where activity_id = %s",
        lambda w: [w.ids["a_garmin"]],
        ALL_DENIED,
    ),
    # activity_laps: written only through private.store_activity_laps
    Write(
        "insert-laps",
        "insert into public.activity_laps (activity_id, lap_index, user_id, source,"
        " start_offset_s) values (%s, 5, %s, 'file', 0)",
        lambda w: [w.ids["a_manual"], w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "rewrite-laps",
        "update public.activity_laps set distance_m = 1 where activity_id = %s",
        lambda w: [w.ids["a_garmin"]],
        ALL_DENIED,
    ),
    Write(
        "delete-laps",
        "delete from public.activity_laps where activity_id = %s",
        lambda w: [w.ids["a_garmin"]],
        ALL_DENIED,
    ),
    # activity_raw_payloads
    Write(
        "insert-raw-payload",
        "insert into public.activity_raw_payloads (activity_id, user_id, payload)"
        " values (%s, %s, '{}')",
        lambda w: [w.ids["a_manual"], w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "rewrite-raw-payload",
        "update public.activity_raw_payloads set payload = '{}' where activity_id = %s",
        lambda w: [w.ids["a_garmin"]],
        ALL_DENIED,
    ),
    Write(
        "delete-raw-payload",
        "delete from public.activity_raw_payloads where activity_id = %s",
        lambda w: [w.ids["a_garmin"]],
        ALL_DENIED,
    ),
    # sync_history
    Write(
        "forge-sync-history",
        "insert into public.sync_history (connection_id, user_id, sync_trigger)"
        " values (%s, %s, 'manual')",
        lambda w: [w.ids["c_alice_strava"], w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "rewrite-sync-history",
        "update public.sync_history set activities_created = 999 where id = %s",
        lambda w: [w.ids["s_alice_garmin"]],
        ALL_DENIED,
    ),
    Write(
        "erase-sync-history",
        "delete from public.sync_history where id = %s",
        lambda w: [w.ids["s_alice_garmin"]],
        ALL_DENIED,
    ),
    # activity_stream_fetches: written only by the stream job (service role)
    Write(
        "forge-stream-fetch",
        "update public.activity_stream_fetches set status = 'fetched' where activity_id = %s",
        lambda w: [w.ids["a_strava"]],
        ALL_DENIED,
    ),
    Write(
        "erase-stream-fetch",
        "delete from public.activity_stream_fetches where activity_id = %s",
        lambda w: [w.ids["a_strava"]],
        ALL_DENIED,
    ),
    # workouts: coach_id is the caller unless alice plans for herself
    Write(
        "plan-workout-for-alice",
        "insert into public.workouts (user_id, coach_id, planned_date, activity_type, name)"
        " values (%s, nullif((select auth.uid()), %s), '2025-07-01', 'run', 'intervals')",
        lambda w: [w.uid("alice"), w.uid("alice")],
        _writes(RLS, alice=1, bob=1),
    ),
    Write(
        "edit-alices-workout",
        "update public.workouts set name = 'edited' where id = %s",
        lambda w: [w.ids["w_alice"]],
        _writes(0, alice=1, bob=1),
    ),
    Write(
        "delete-alices-workout",
        "delete from public.workouts where id = %s",
        lambda w: [w.ids["w_alice"]],
        _writes(0, alice=1),
    ),
    # private tables
    Write(
        "insert-token",
        "insert into private.provider_tokens (connection_id, user_id, key_id,"
        " access_token_ciphertext) values (%s, %s, 'k', 'x'::bytea)",
        lambda w: [w.ids["c_alice_polar"], w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "replace-token",
        "update private.provider_tokens set access_token_ciphertext = 'x'::bytea"
        " where connection_id = %s",
        lambda w: [w.ids["c_alice_strava"]],
        ALL_DENIED,
    ),
    Write(
        "delete-token",
        "delete from private.provider_tokens where connection_id = %s",
        lambda w: [w.ids["c_alice_strava"]],
        ALL_DENIED,
    ),
    Write(
        "plant-oauth-state",
        "insert into private.oauth_states (state_hash, user_id, provider, redirect_uri,"
        " expires_at) values ('f00', %s, 'strava', 'https://evil.example/cb',"
        " now() + interval '1 hour')",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "redirect-oauth-state",
        "update private.oauth_states set redirect_uri = 'https://evil.example/cb' where id = %s",
        lambda w: [w.ids["o_alice"]],
        ALL_DENIED,
    ),
    Write(
        "delete-oauth-state",
        "delete from private.oauth_states where id = %s",
        lambda w: [w.ids["o_alice"]],
        ALL_DENIED,
    ),
    Write(
        "take-sync-lease",
        "insert into private.sync_leases (connection_id, sync_history_id, holder, lease_until)"
        " values (%s, %s, 'mallory', now() + interval '1 day')",
        lambda w: [w.ids["c_alice_garmin"], w.ids["s_alice_garmin"]],
        ALL_DENIED,
    ),
    Write(
        "extend-sync-lease",
        "update private.sync_leases set lease_until = now() + interval '1 day'"
        " where connection_id = %s",
        lambda w: [w.ids["l_alice_strava"]],
        ALL_DENIED,
    ),
    Write(
        "drop-sync-lease",
        "delete from private.sync_leases where connection_id = %s",
        lambda w: [w.ids["l_alice_strava"]],
        ALL_DENIED,
    ),
    Write(
        "exhaust-rate-limit",
        "insert into private.rate_limit_windows (bucket, window_start, window_seconds,"
        " request_limit, used) values ('strava:overall:daily', now(), 86400, 2000, 2000)",
        lambda w: [],
        ALL_DENIED,
    ),
    Write(
        "reset-rate-limit",
        "update private.rate_limit_windows set used = 0 where bucket = %s",
        lambda w: ["strava:overall:15min"],
        ALL_DENIED,
    ),
    Write(
        "drop-rate-limit",
        "delete from private.rate_limit_windows where bucket = %s",
        lambda w: ["strava:overall:15min"],
        ALL_DENIED,
    ),
    # rollups: written only by the maintenance triggers and public.rebuild_rollups
    Write(
        "forge-weekly-rollup",
        "insert into public.weekly_rollups (user_id, week_start, month_start, activity_type,"
        " shareable, activity_count, distance, moving_time, elapsed_time, elevation_gain,"
        " calories, load) values (%s, '2025-06-02', '2025-06-01', 'run', true, 9, 1, 1, 1, 1,"
        " 1, 1)",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "inflate-weekly-rollup",
        "update public.weekly_rollups set distance = distance * 10 where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "erase-weekly-rollup",
        "delete from public.weekly_rollups where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    # volume totals: written only by the triggers on weekly_rollups
    Write(
        "forge-volume-total",
        "insert into public.volume_totals (user_id, shareable_only, period, period_start,"
        " activity_type, activity_count, distance, moving_time, elapsed_time, elevation_gain,"
        " calories, load) values (%s, true, 'week', '2025-06-02', 'run', 9, 1, 1, 1, 1, 1, 1)",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "inflate-volume-total",
        "update public.volume_totals set distance = distance * 10 where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "erase-volume-total",
        "delete from public.volume_totals where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    # source totals: written only by the rollups' trigger on activities
    Write(
        "forge-source-total",
        "insert into public.source_totals (user_id, shareable_only, period, period_start,"
        " source, activity_count, distance, moving_time)"
        " values (%s, true, 'day', '2025-06-02', 'garmin', 9, 1, 1)",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "inflate-source-total",
        "update public.source_totals set activity_count = 99 where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "erase-source-total",
        "delete from public.source_totals where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "forge-daily-load",
        "insert into public.daily_loads (user_id, day, shareable, load, activity_count)"
        " values (%s, '2025-06-02', true, 500, 1)",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "inflate-daily-load",
        "update public.daily_loads set load = load * 10 where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
    Write(
        "erase-daily-load",
        "delete from public.daily_loads where user_id = %s",
        lambda w: [w.uid("alice")],
        ALL_DENIED,
    ),
)

WRITE_CELLS = [(write, actor) for write in WRITES for actor in ACTORS if actor != "service"]


@pytest.mark.parametrize(
    ("write", "actor"), WRITE_CELLS, ids=[f"{a}-{w.name}" for w, a in WRITE_CELLS]
)
def test_write_matrix(db: Conn, world: World, write: Write, actor: str) -> None:
    assert attempt(db, world, actor, write.query, write.params(world)) == write.expected[actor]


def test_service_role_reads_and_writes_everything(db: Conn, world: World) -> None:
    """The workers' role bypasses RLS and holds every grant, private tables included."""
    special = {
        # profiles come from auth.users (see test_auth_trigger.py)
        "insert-users": "error 23503",
        "delete-alice": 1,
        # a connection with activities is never deleted: the activities keep their source
        "delete-alices-strava": "error 23503",
        # rollups are written by their maintenance functions only, even for the workers
        **dict.fromkeys(
            (
                "forge-weekly-rollup",
                "inflate-weekly-rollup",
                "erase-weekly-rollup",
                "forge-daily-load",
                "inflate-daily-load",
                "erase-daily-load",
                "forge-volume-total",
                "inflate-volume-total",
                "erase-volume-total",
                "forge-source-total",
                "inflate-source-total",
                "erase-source-total",
                # streams pass private.store_activity_streams's checks (issue 18); workers
                # may delete them
                "insert-streams",
                "rewrite-streams",
                "insert-laps",
                "rewrite-laps",
            ),
            DENIED,
        ),
        # the provider registry is changed by migrations only; the workers only read it
        **dict.fromkeys(
            ("swap-stravas-normaliser", "keep-strava-data-after-disconnect", "register-a-provider"),
            DENIED,
        ),
    }
    for write in WRITES:
        outcome = attempt(db, world, "service", write.query, write.params(world))
        assert outcome == special.get(write.name, 1), f"service_role: {write.name}"
    for relation, expected in EXPECTED_READS.items():
        assert visible(db, world, "service", relation) == expected["service"], relation


# --- named threats ------------------------------------------------------------------------


def test_eve_cannot_read_alices_tokens(db: Conn, world: World) -> None:
    for query in (
        "select access_token_ciphertext from private.provider_tokens",
        "select count(*) from private.provider_tokens",
    ):
        assert read(db, world, "eve", query) == DENIED
    # Her own tokens neither: the table is the workers' alone.
    assert visible(db, world, "eve", "private.provider_tokens") == DENIED
    # The connection rows she reads are her own (and hold no token: see the catalog tests).
    assert read(db, world, "eve", "select distinct user_id from public.provider_connections") == [
        (world.uid("eve"),)
    ]


def test_anon_reads_nothing(db: Conn, world: World) -> None:
    relations = [
        row[0]
        for row in db.execute(
            "select format('%I.%I', n.nspname, c.relname) from pg_class as c"
            " join pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname in ('public', 'private') and c.relkind in ('r', 'p', 'v', 'm', 'f')"
            " order by 1"
        ).fetchall()
    ]
    assert len(relations) >= len(EXPECTED_READS)
    outcomes = {rel: read(db, world, "anon", f"select * from {rel}") for rel in relations}
    assert {rel: o for rel, o in outcomes.items() if o != DENIED} == {}


def test_athlete_cannot_read_other_users_profiles(db: Conn, world: World) -> None:
    assert visible(db, world, "eve", "public.users") == {"eve"}
    assert (
        read(db, world, "eve", "select 1 from public.users where id = %s", [world.uid("alice")])
        == []
    )


def test_athlete_cannot_raise_own_role(db: Conn, world: World) -> None:
    for role in ("admin", "coach"):
        outcome = attempt(
            db,
            world,
            "alice",
            "update public.users set role = %s where id = %s",
            [role, world.uid("alice")],
        )
        assert outcome == GUARD, role
    # A coach cannot make themselves admin either.
    assert (
        attempt(
            db,
            world,
            "bob",
            "update public.users set role = 'admin' where id = %s",
            [world.uid("bob")],
        )
        == GUARD
    )


def test_athlete_cannot_change_protected_profile_columns(db: Conn, world: World) -> None:
    for column, value in (
        ("is_verified", False),
        ("is_active", False),
        ("email", "stolen@example.com"),
        ("id", uuid.uuid4()),
        ("created_at", "2000-01-01"),
    ):
        outcome = attempt(
            db,
            world,
            "alice",
            f"update public.users set {column} = %s where id = %s",
            [value, world.uid("alice")],
        )
        assert outcome == DENIED, column


def test_athlete_cannot_change_user_id_of_activity(db: Conn, world: World) -> None:
    for activity in ("a_manual", "a_garmin"):
        outcome = attempt(
            db,
            world,
            "alice",
            "update public.activities set user_id = %s where id = %s",
            [world.uid("eve"), world.ids[activity]],
        )
        assert outcome == DENIED, activity


def test_athlete_cannot_insert_activity_for_someone_else(db: Conn, world: World) -> None:
    insert = (
        "insert into public.activities (user_id, name, start_date)"
        " values (%s, 'planted', '2025-07-01T06:00:00Z')"
    )
    assert attempt(db, world, "eve", insert, [world.uid("alice")]) == RLS
    assert attempt(db, world, "bob", insert, [world.uid("alice")]) == RLS
    # Her own manual activity is fine, and the provider columns are not hers to set.
    assert attempt(db, world, "eve", insert, [world.uid("eve")]) == 1
    for column, value in (
        ("source", "provider"),
        ("connection_id", world.ids["c_eve_garmin"]),
        ("provider", "garmin"),
        ("deleted_at", None),
    ):
        outcome = attempt(
            db,
            world,
            "eve",
            f"insert into public.activities (name, start_date, {column})"
            " values ('x', '2025-07-01T06:00:00Z', %s)",
            [value],
        )
        assert outcome == DENIED, column


def test_coach_cannot_read_private_activities(db: Conn, world: World) -> None:
    rows = read(db, world, "bob", "select id from public.activities where is_private")
    assert rows == []
    assert (
        read(
            db,
            world,
            "bob",
            "select 1 from public.activities where id = %s",
            [world.ids["a_private"]],
        )
        == []
    )
    # ... not through the views either: the private Garmin run counts in alice's volume for her
    # (a_garmin + a_private in one week), for bob only a_garmin does.
    week = "select sum(activity_count) from public.weekly_volume where activity_type = 'run'"
    assert read(db, world, "alice", week) == [(3,)]  # a_strava, a_garmin, a_private
    assert read(db, world, "bob", week) == [(1,)]  # a_garmin


def test_coach_cannot_read_strava_sourced_activities(db: Conn, world: World) -> None:
    assert (
        read(db, world, "bob", "select id from public.activities where provider = 'strava'") == []
    )
    assert visible(db, world, "bob", "public.activities") == COACHABLE_ACTIVITIES
    assert (
        read(
            db,
            world,
            "bob",
            "select 1 from public.activities_with_provider where provider = 'strava'",
        )
        == []
    )


def test_coach_sees_granted_athletes_shared_activities(db: Conn, world: World) -> None:
    """The positive side, so that the negative ones above are not vacuous."""
    assert visible(db, world, "bob", "public.activities") == {"a_garmin", "a_manual", "a_file"}
    assert visible(db, world, "bob", "public.users") == {"alice", "bob"}


@pytest.mark.parametrize("coach", ["carol", "dave", "frank"])
def test_coach_without_active_grant_reads_nothing(db: Conn, world: World, coach: str) -> None:
    for relation in (
        "public.activities",
        "public.activity_raw_payloads",
        "public.provider_connections",
        "public.connection_events",
        "public.sync_history",
        "public.workouts",
        "public.activities_with_provider",
        "public.sync_statistics",
        "public.weekly_volume",
        "public.monthly_volume",
    ):
        assert visible(db, world, coach, relation) == set(), f"{coach} reads {relation}"
    for relation in ("private.provider_tokens", "private.oauth_states"):
        assert visible(db, world, coach, relation) == DENIED


def test_revoking_a_grant_ends_the_coachs_access_at_once(db: Conn, world: World) -> None:
    with db.transaction(force_rollback=True):
        act(db, world, "alice")
        db.execute(
            "update public.coach_athletes set status = 'revoked' where id = %s",
            [world.ids["g_bob"]],
        )
        act(db, world, "bob")
        assert db.execute("select count(*) from public.activities").fetchone() == (0,)
        assert db.execute("select count(*) from public.workouts").fetchone() == (0,)
        assert db.execute("select id from public.users").fetchall() == [(world.uid("bob"),)]


def test_coach_cannot_grant_themselves_access(db: Conn, world: World) -> None:
    # No grant at all: a coach cannot insert one naming the athlete.
    for coach in ("frank", "dave", "carol", "bob"):
        outcome = attempt(
            db,
            world,
            coach,
            "insert into public.coach_athletes (athlete_id, coach_id) values (%s, %s)",
            [world.uid("alice"), world.uid(coach)],
        )
        assert outcome == RLS, coach
    # Nor set the status on insert (the column is not granted).
    assert (
        attempt(
            db,
            world,
            "frank",
            "insert into public.coach_athletes (athlete_id, coach_id, status)"
            " values (%s, %s, 'active')",
            [world.uid("alice"), world.uid("frank")],
        )
        == DENIED
    )
    # A revoked grant cannot be reactivated (nor re-offered) by the coach.
    activate = "update public.coach_athletes set status = %s where id = %s"
    for status in ("active", "pending"):
        assert attempt(db, world, "dave", activate, [status, world.ids["g_dave"]]) == GUARD
    # Another coach's grant is out of reach (filtered).
    assert attempt(db, world, "frank", activate, ["active", world.ids["g_carol"]]) == 0
    # Nor can a coach re-point a grant to themselves.
    assert (
        attempt(
            db,
            world,
            "carol",
            "update public.coach_athletes set coach_id = %s where id = %s",
            [world.uid("carol"), world.ids["g_bob"]],
        )
        == DENIED
    )
    # Only the coach accepts a pending offer; the athlete cannot accept on the coach's behalf.
    assert attempt(db, world, "alice", activate, ["active", world.ids["g_carol"]]) == GUARD
    assert attempt(db, world, "carol", activate, ["active", world.ids["g_carol"]]) == 1


def test_offering_access_does_not_tell_whether_a_uuid_is_a_coach(db: Conn, world: World) -> None:
    # Issue 14: the offer succeeds (a pending row) whatever the grantee's role, so an athlete
    # cannot probe uuids for coaches; only an active coach can accept (see the next test).
    offer = "insert into public.coach_athletes (athlete_id, coach_id) values (%s, %s)"
    for grantee in ("frank", "alice", "admin"):
        assert attempt(db, world, "eve", offer, [world.uid("eve"), world.uid(grantee)]) == 1


def test_views_do_not_leak_other_users_rows(db: Conn, world: World) -> None:
    views = [
        row[0]
        for row in db.execute(
            "select format('%s.%s', n.nspname, c.relname) from pg_class as c"
            " join pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname = 'public' and c.relkind in ('v', 'm') order by 1"
        ).fetchall()
    ]
    assert len(views) >= 5
    # No one's sync fails repeatedly in this world; tests/analytics/test_statistics_views.py
    # checks recurring_sync_errors against leaks with failing connections of its own.
    empty_in_this_world = {"public.recurring_sync_errors"}
    for view in views:
        if view in empty_in_this_world:
            assert visible(db, world, "eve", view) == set(), view
            continue
        seen = visible(db, world, "eve", view)
        assert isinstance(seen, set), f"eve cannot read {view}: {seen}"
        assert seen, f"eve sees none of her own rows in {view}: the leak test would be vacuous"
        assert seen == EXPECTED_READS[view]["eve"], view
        assert not any("alice" in label or "strava" in label for label in seen), view


def test_nobody_but_service_role_reads_oauth_states(db: Conn, world: World) -> None:
    for actor in ACTORS:
        expected = {"o_alice"} if actor == "service" else DENIED
        assert visible(db, world, actor, "private.oauth_states") == expected, actor
    # Not even alice, whose flow it is, can read her own PKCE verifier.
    assert read(db, world, "alice", "select code_verifier from private.oauth_states") == DENIED


def test_admin_reads_everything_but_tokens_and_oauth_state(db: Conn, world: World) -> None:
    for relation in (
        "public.users",
        "public.coach_athletes",
        "public.provider_connections",
        "public.connection_events",
        "public.sync_history",
        "public.workouts",
    ):
        assert visible(db, world, "admin", relation) == visible(db, world, "service", relation)
    # Every live activity, private and Strava-sourced included; soft-deleted rows stay hidden.
    assert visible(db, world, "admin", "public.activities") == ALICE_ACTIVITIES | {"a_eve"}
    assert visible(db, world, "admin", "private.provider_tokens") == DENIED
    assert visible(db, world, "admin", "private.oauth_states") == DENIED
    assert read(db, world, "admin", "select private.is_admin()") == [(True,)]


def test_suspended_admin_loses_admin_rights(db: Conn, world: World) -> None:
    db.execute("update public.users set is_active = false where id = %s", [world.uid("admin")])
    assert visible(db, world, "admin", "public.users") == {"admin"}
    assert visible(db, world, "admin", "public.activities") == set()
    assert (
        attempt(
            db,
            world,
            "admin",
            "update public.users set role = 'coach' where id = %s",
            [world.uid("eve")],
        )
        == 0
    )


def test_admin_changes_roles_but_not_profiles(db: Conn, world: World) -> None:
    with db.transaction(force_rollback=True):
        act(db, world, "admin")
        cur = db.execute("update public.users set role = 'coach' where id = %s", [world.uid("eve")])
        assert cur.rowcount == 1
        db.execute("reset role")
        assert db.execute(
            "select role::text from public.users where id = %s", [world.uid("eve")]
        ).fetchone() == ("coach",)
    for column, value in (
        ("first_name", "Mallory"),
        ("last_name", "Mallory"),
        ("avatar_url", "https://evil.example/x.png"),
        ("preferences", '{"ftp": 1}'),
    ):
        outcome = attempt(
            db,
            world,
            "admin",
            f"update public.users set {column} = %s where id = %s",
            [value, world.uid("eve")],
        )
        assert outcome == GUARD, column
    for column in ("email", "is_verified", "is_active"):
        outcome = attempt(
            db,
            world,
            "admin",
            f"update public.users set {column} = null where id = %s",
            [world.uid("eve")],
        )
        assert outcome == DENIED, column
    # The admin still edits their own profile.
    assert (
        attempt(
            db,
            world,
            "admin",
            "update public.users set first_name = 'Ada' where id = %s",
            [world.uid("admin")],
        )
        == 1
    )


def test_athlete_edits_own_profile_fields(db: Conn, world: World) -> None:
    assert (
        attempt(
            db,
            world,
            "alice",
            "update public.users set first_name = 'Alice', last_name = 'Martin',"
            " avatar_url = 'https://cdn.example/a.png', preferences = '{\"units\": \"metric\"}'"
            " where id = %s",
            [world.uid("alice")],
        )
        == 1
    )
    # Someone else's profile is not reachable, even the coach's own athlete.
    assert (
        attempt(
            db,
            world,
            "bob",
            "update public.users set first_name = 'X' where id = %s",
            [world.uid("alice")],
        )
        == 0
    )


def test_athlete_edits_only_name_description_privacy(db: Conn, world: World) -> None:
    target = world.ids["a_garmin"]
    edit = attempt(
        db,
        world,
        "alice",
        "update public.activities set name = 'Tempo', description = 'felt good',"
        " is_private = true where id = %s",
        [target],
    )
    assert edit == 1
    for column, value in (
        ("distance", 1.0),
        ("moving_time", 1),
        ("start_date", "2020-01-01T00:00:00Z"),
        ("activity_type", "ride"),
        ("deleted_at", None),
        ("source", "manual"),
        ("connection_id", None),
        ("provider", None),
        ("external_id", "forged"),
        ("activity_data", "{}"),
        ("is_manual", True),
    ):
        outcome = attempt(
            db,
            world,
            "alice",
            f"update public.activities set {column} = %s where id = %s",
            [value, target],
        )
        assert outcome == DENIED, column
    # Someone else's activity: filtered, not an error.
    for actor in ("eve", "bob", "admin"):
        assert (
            attempt(
                db, world, actor, "update public.activities set name = 'x' where id = %s", [target]
            )
            == 0
        ), actor


def test_athlete_disconnects_but_cannot_reactivate_connection(db: Conn, world: World) -> None:
    strava = world.ids["c_alice_strava"]
    with db.transaction(force_rollback=True):
        act(db, world, "alice")
        cur = db.execute(
            "update public.provider_connections set status = 'disconnected' where id = %s",
            [strava],
        )
        assert cur.rowcount == 1
        assert db.execute(
            "select is_active, disconnected_at is not null from public.provider_connections"
            " where id = %s",
            [strava],
        ).fetchone() == (False, True)
        # The disconnect is audited, by a trigger the athlete cannot imitate.
        assert db.execute(
            "select event::text, detail ->> 'by' from public.connection_events"
            " where connection_id = %s order by id desc limit 1",
            [strava],
        ).fetchone() == ("disconnected", "authenticated")
        for status in ("active", "error", "revoked"):
            reactivate = pytest.raises(
                psycopg.errors.InsufficientPrivilege, match="row-level security"
            )
            with reactivate, db.transaction():
                db.execute(
                    "update public.provider_connections set status = %s where id = %s",
                    [status, strava],
                )
    # Nor set any other column, before or after.
    for column, value in (
        ("provider_user_id", "s-9999"),
        ("user_id", world.uid("eve")),
        ("scopes", "{}"),
        ("sync_cursor", "{}"),
        ("last_sync_at", None),
    ):
        outcome = attempt(
            db,
            world,
            "alice",
            f"update public.provider_connections set {column} = %s where id = %s",
            [value, strava],
        )
        assert outcome == DENIED, column


def test_athlete_cannot_forge_connection_events_or_sync_history(db: Conn, world: World) -> None:
    names = {
        "forge-connection-event",
        "rewrite-connection-event",
        "erase-connection-event",
        "forge-sync-history",
        "rewrite-sync-history",
        "erase-sync-history",
    }
    for write in WRITES:
        if write.name in names:
            outcome = attempt(db, world, "alice", write.query, write.params(world))
            assert outcome == DENIED, write.name


def test_coach_plans_workouts_for_granted_athlete_only(db: Conn, world: World) -> None:
    plan = (
        "insert into public.workouts (user_id, coach_id, planned_date, activity_type, name)"
        " values (%s, %s, '2025-07-02', 'ride', 'sweet spot')"
    )
    alice, eve = world.uid("alice"), world.uid("eve")
    assert attempt(db, world, "bob", plan, [alice, world.uid("bob")]) == 1
    for coach in ("carol", "dave", "frank"):
        assert attempt(db, world, coach, plan, [alice, world.uid(coach)]) == RLS, coach
    assert attempt(db, world, "bob", plan, [eve, world.uid("bob")]) == RLS
    # A coach signs as themselves: not anonymously, not as another coach.
    assert attempt(db, world, "bob", plan, [alice, None]) == RLS
    assert attempt(db, world, "bob", plan, [alice, world.uid("carol")]) == RLS
    # An athlete cannot forge a coach's signature on their own plan.
    assert attempt(db, world, "alice", plan, [alice, world.uid("bob")]) == RLS
    # bob edits alice's workouts; the others cannot reach them.
    edit = "update public.workouts set planned_load = 80 where id = %s"
    assert attempt(db, world, "bob", edit, [world.ids["w_alice"]]) == 1
    for coach in ("carol", "dave", "frank"):
        assert attempt(db, world, coach, edit, [world.ids["w_alice"]]) == 0, coach
    assert attempt(db, world, "bob", edit, [world.ids["w_eve"]]) == 0
    # Nobody moves a workout to another athlete or re-signs it.
    for column in ("user_id", "coach_id"):
        outcome = attempt(
            db,
            world,
            "bob",
            f"update public.workouts set {column} = %s where id = %s",
            [world.uid("bob"), world.ids["w_bob"]],
        )
        assert outcome == DENIED, column


def test_coach_cannot_delete_athletes_workouts(db: Conn, world: World) -> None:
    delete = "delete from public.workouts where id = %s"
    for workout in ("w_alice", "w_bob"):
        assert attempt(db, world, "bob", delete, [world.ids[workout]]) == 0, workout
    assert attempt(db, world, "alice", delete, [world.ids["w_bob"]]) == 1


def test_workout_cannot_link_another_users_activity(db: Conn, world: World) -> None:
    link = "update public.workouts set completed_activity_id = %s where id = %s"
    foreign_key = "error 23503"
    assert attempt(db, world, "alice", link, [world.ids["a_eve"], world.ids["w_alice"]]) == (
        foreign_key
    )
    assert attempt(db, world, "eve", link, [world.ids["a_garmin"], world.ids["w_eve"]]) == (
        foreign_key
    )
    assert attempt(db, world, "bob", link, [world.ids["a_eve"], world.ids["w_bob"]]) == (
        foreign_key
    )
    assert (
        attempt(
            db,
            world,
            "eve",
            "insert into public.workouts (planned_date, activity_type, name, completed_activity_id)"
            " values ('2025-07-01', 'run', 'x', %s)",
            [world.ids["a_strava"]],
        )
        == foreign_key
    )
    # Her own activity links fine; so may her coach link one he can read.
    assert attempt(db, world, "alice", link, [world.ids["a_manual"], world.ids["w_alice"]]) == 1
    assert attempt(db, world, "bob", link, [world.ids["a_garmin"], world.ids["w_bob"]]) == 1


def test_coach_cannot_probe_private_or_strava_activity_ids_by_linking(
    db: Conn, world: World
) -> None:
    # The check runs under the coach's RLS: her private and Strava activities answer exactly as
    # an id that does not exist, so linking reveals nothing about them.
    link = "update public.workouts set completed_activity_id = %s where id = %s"
    for hidden in ("a_private", "a_strava"):
        assert attempt(db, world, "bob", link, [world.ids[hidden], world.ids["w_bob"]]) == (
            "error 23503"
        )
    assert attempt(db, world, "bob", link, [2_000_000_000, world.ids["w_bob"]]) == "error 23503"
    assert attempt(db, world, "alice", link, [world.ids["a_private"], world.ids["w_bob"]]) == 1


def test_athlete_deletes_only_manual_activities(db: Conn, world: World) -> None:
    delete = "delete from public.activities where id = %s"
    for activity in ("a_strava", "a_garmin", "a_private", "a_file", "a_deleted"):
        assert attempt(db, world, "alice", delete, [world.ids[activity]]) == 0, activity
    assert attempt(db, world, "alice", delete, [world.ids["a_manual"]]) == 1
    for actor in ("eve", "bob", "admin"):
        assert attempt(db, world, actor, delete, [world.ids["a_manual"]]) == 0, actor


def test_soft_deleted_activities_are_hidden(db: Conn, world: World) -> None:
    deleted = world.ids["a_deleted"]
    for actor in ("alice", "bob", "admin"):
        assert (
            read(db, world, actor, "select 1 from public.activities where id = %s", [deleted]) == []
        ), actor
        assert (
            read(
                db,
                world,
                actor,
                "select 1 from public.activities_with_provider where id = %s",
                [deleted],
            )
            == []
        ), actor
    # ... and cannot be edited back to life or renamed.
    assert (
        attempt(
            db, world, "alice", "update public.activities set name = 'x' where id = %s", [deleted]
        )
        == 0
    )
    # The volume views leave it out even for service_role (which bypasses RLS).
    assert read(
        db,
        world,
        "service",
        "select sum(activity_count) from public.weekly_volume where user_id = %s"
        " and activity_type = 'run'",
        [world.uid("alice")],
    ) == [(3,)]


def test_raw_payloads_readable_by_owner_only(db: Conn, world: World) -> None:
    for actor in ACTORS:
        expected = EXPECTED_READS["public.activity_raw_payloads"][actor]
        assert visible(db, world, actor, "public.activity_raw_payloads") == expected, actor
    assert (
        read(
            db,
            world,
            "bob",
            "select 1 from public.activity_raw_payloads where activity_id = %s",
            [world.ids["a_garmin"]],
        )
        == []
    )


@pytest.mark.parametrize(
    "change",
    [
        "update public.users set is_active = false where id = %s",  # suspended by an admin
        "update public.users set role = 'athlete' where id = %s",  # no longer a coach
    ],
    ids=["suspended", "demoted"],
)
def test_coach_who_lost_coach_rights_reads_nothing_more(
    db: Conn, world: World, change: str
) -> None:
    """users.is_active: a suspended account "loses coach and admin rights"; user_role: an
    athlete reads "own data only". A grant that stays active must not outlive the coach role.
    """
    db.execute(change.encode(), [world.uid("bob")])
    assert visible(db, world, "bob", "public.activities") == set()
    assert visible(db, world, "bob", "public.workouts") == set()
    assert visible(db, world, "bob", "public.weekly_volume") == set()
    assert (
        attempt(
            db,
            world,
            "bob",
            "update public.workouts set name = 'x' where id = %s",
            [world.ids["w_alice"]],
        )
        == 0
    )
    assert (
        attempt(
            db,
            world,
            "bob",
            "insert into public.workouts (user_id, coach_id, planned_date, activity_type, name)"
            " values (%s, %s, '2025-07-02', 'run', 'x')",
            [world.uid("alice"), world.uid("bob")],
        )
        == RLS
    )
