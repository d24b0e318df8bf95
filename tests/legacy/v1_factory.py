"""A real Trainlytics v1 database for the legacy import tests, with the mess real v1 data has.

The schema is tests/fixtures/legacy/v1_schema.sql (a copy of the project's reference
shared/legacy/v1_schema.sql). :func:`build_messy_v1` fills it with one case per comment of that
schema: emails as typed (case, spaces, two users colliding), bcrypt hashes of the three
prefixes at costs 10-12, roles 'athlete' / 'coach' / 'admin' / 'user' / 'Coach' / '' / ' ADMIN',
preferences that are JSON, empty, not JSON or not an object, duplicate Strava connections
(a reconnect inserted a new row; a newer row without tokens; an inactive one), activities with
Strava's JSON in raw_data, without it, with raw_data that does not parse, manual entries
without a Strava id, naive timestamps, sport words in any case, password reset tokens and
workouts with a coach and a completed activity. Strava payloads come from the Strava fixtures
in tests/fixtures/providers/strava (their provenance is in that folder's README).
"""

from __future__ import annotations

# ruff: noqa: S106
# (the v1 tokens and passwords here are invented test values)
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import bcrypt
import psycopg

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V1_SCHEMA = FIXTURES / "legacy" / "v1_schema.sql"
STRAVA = FIXTURES / "providers" / "strava" / "activities"


def create_v1_schema(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(V1_SCHEMA.read_text(encoding="utf-8").encode())


def v1_hash(password: str, *, prefix: str = "2b", cost: int = 10) -> str:
    """A bcrypt hash as v1 stored it ($2a$, $2b$ or $2y$: the same algorithm, another label)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
    return f"${prefix}${hashed[4:]}"


def strava_detail() -> dict[str, Any]:
    value: dict[str, Any] = json.loads((STRAVA / "detail_run.json").read_text())
    return value


def strava_summaries() -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = json.loads((STRAVA / "summary_page.json").read_text())
    return value


@dataclass
class V1:
    """Handles on the rows of the messy v1 database."""

    conn: psycopg.Connection[Any]
    users: dict[str, int] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    activities: dict[str, int] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    workouts: dict[str, int] = field(default_factory=dict)

    def user(self, key: str, email: str, password: str, **values: Any) -> int:
        values.setdefault("password_hash", v1_hash(password))
        columns = ["email", *values]
        row = self.conn.execute(
            f"insert into users ({', '.join(columns)}) values "
            f"({', '.join(['%s'] * len(columns))}) returning id",
            [email, *values.values()],
        ).fetchone()
        assert row is not None
        self.users[key] = row[0]
        self.passwords[key] = password
        return int(row[0])

    def insert(self, table: str, key: str, **values: Any) -> int:
        columns = list(values)
        row = self.conn.execute(
            f"insert into {table} ({', '.join(columns)}) values "
            f"({', '.join(['%s'] * len(columns))}) returning id",
            list(values.values()),
        ).fetchone()
        assert row is not None
        {"activities": self.activities, "strava_connections": self.connections}.get(
            table, self.workouts
        )[key] = row[0]
        return int(row[0])


ATHLETE_DATA = json.dumps(
    {
        "id": 134815,
        "username": "ada_runs",
        "firstname": "Ada",
        "lastname": "Lovelace",
        "city": "London",
        "profile": "https://example.com/ada.jpg",
        "resource_state": 2,
    }
)


def build_messy_v1(url: str) -> V1:
    """Create the schema and fill it with the messy cases; returns the handles."""
    create_v1_schema(url)
    conn = psycopg.connect(url, autocommit=True)
    v1 = V1(conn)
    t = datetime(2024, 3, 1, 7, 30)

    # Users --------------------------------------------------------------------------------------
    v1.user(
        "ada", " Ada.Lovelace@Example.COM ", "ada-secret-1", first_name="Ada",
        last_name="Lovelace", avatar_url="https://example.com/ada.jpg", role="athlete",
        is_verified=True, preferences='{"units": "metric", "ftp": 250}',
        password_hash=v1_hash("ada-secret-1", prefix="2a", cost=10),
    )  # fmt: skip
    v1.user(
        "coach", "coach.carla@example.com", "carla-secret-2", first_name="Carla", role="Coach",
        is_verified=True, preferences="",
        password_hash=v1_hash("carla-secret-2", prefix="2y", cost=11),
    )  # fmt: skip
    v1.user(
        "admin", "root@example.com", "root-secret-3", role="admin", is_verified=True,
        password_hash=v1_hash("root-secret-3", prefix="2b", cost=12),
    )  # fmt: skip
    v1.user(
        "legacy_user", "old.timer@example.com", "old-secret-4", role="user", is_verified=False,
        preferences="{units: metric}",
    )  # fmt: skip
    v1.user("blank_role", "blank@example.com", "blank-secret", role="", preferences="[1, 2]")
    v1.user("fake_admin", "notadmin@example.com", "fake-secret", role=" ADMIN", is_active=False)
    # Two v1 accounts that are one address once case and spaces are normalised.
    v1.user(
        "bob", "bob@example.com", "bob-secret-1", is_verified=True,
        updated_at=datetime(2024, 1, 1),
    )  # fmt: skip
    v1.user(
        "bob_twin", "  BOB@Example.com", "bob-secret-2", is_verified=True,
        updated_at=datetime(2023, 1, 1),
    )  # fmt: skip
    v1.user("bad_email", "not an email", "nope-secret")
    v1.user("no_conn", "nostrava@example.com", "nostrava-secret", is_verified=True)

    # Strava connections ---------------------------------------------------------------------------
    # Ada reconnected: the newer row is the usable one.
    v1.insert(
        "strava_connections", "ada_old", user_id=v1.users["ada"], strava_athlete_id="134815",
        strava_username="ada_runs", athlete_data=ATHLETE_DATA, access_token="ada-old-access",
        refresh_token="ada-old-refresh", token_expires_at=datetime(2024, 1, 1),
        scope="read,activity:read_all", is_active=True, updated_at=datetime(2024, 1, 1),
    )  # fmt: skip
    v1.insert(
        "strava_connections", "ada_new", user_id=v1.users["ada"], strava_athlete_id="134815",
        strava_username="ada_runs", athlete_data=ATHLETE_DATA, access_token="ada-new-access",
        refresh_token="ada-new-refresh", token_expires_at=datetime(2026, 12, 31, 12),
        scope="read, activity:read_all,profile:read_all", last_sync_at=datetime(2024, 3, 2, 6),
        is_active=True, updated_at=datetime(2024, 3, 2),
    )  # fmt: skip
    # Carla: the newest row lost its tokens; the older usable row wins.
    v1.insert(
        "strava_connections", "coach_usable", user_id=v1.users["coach"],
        strava_athlete_id="2001", access_token="carla-access", refresh_token="carla-refresh",
        token_expires_at=datetime(2026, 12, 31), scope="read,activity:read",
        athlete_data="{not json", is_active=True, updated_at=datetime(2024, 2, 1),
    )  # fmt: skip
    v1.insert(
        "strava_connections", "coach_tokenless", user_id=v1.users["coach"],
        strava_athlete_id="2001", access_token=None, refresh_token=None, scope="read",
        is_active=True, updated_at=datetime(2024, 2, 10),
    )  # fmt: skip
    # The old timer's only row has no tokens: it arrives revoked.
    v1.insert(
        "strava_connections", "old_tokenless", user_id=v1.users["legacy_user"],
        strava_athlete_id="3001", access_token=None, refresh_token=None, scope="read",
        is_active=True,
    )  # fmt: skip
    # The admin's row was deactivated in v1.
    v1.insert(
        "strava_connections", "admin_inactive", user_id=v1.users["admin"],
        strava_athlete_id="4001", access_token="root-access", refresh_token="root-refresh",
        scope="read", is_active=False,
    )  # fmt: skip

    # Activities ---------------------------------------------------------------------------------
    detail = strava_detail()
    summaries = strava_summaries()
    v1.insert(
        "activities", "ada_raw", user_id=v1.users["ada"], strava_activity_id=str(detail["id"]),
        name="from columns (ignored)", activity_type="Run", start_date=t,
        raw_data=json.dumps(detail),
    )  # fmt: skip
    v1.insert(
        "activities", "ada_raw_summary", user_id=v1.users["ada"],
        strava_activity_id=str(summaries[0]["id"]), activity_type="MountainBikeRide",
        start_date=t, raw_data=json.dumps(summaries[0]),
    )  # fmt: skip
    # The same Strava activity twice in v1 (a re-sync inserted it again).
    v1.insert(
        "activities", "ada_raw_summary_again", user_id=v1.users["ada"],
        strava_activity_id=str(summaries[0]["id"]), activity_type="MountainBikeRide",
        start_date=t, raw_data=json.dumps(summaries[0]),
    )  # fmt: skip
    # No raw_data: rebuilt from the columns (naive UTC times, Strava's zone text, one-leg cadence).
    v1.insert(
        "activities", "ada_columns", user_id=v1.users["ada"], strava_activity_id="9000000001",
        name="Tempo run", description="4 x 2 km", activity_type="RUN",
        start_date=datetime(2024, 3, 5, 17, 0), start_date_local=datetime(2024, 3, 5, 18, 0),
        timezone="(GMT+01:00) Europe/Paris", distance=12000.0, moving_time=3000,
        elapsed_time=3100, total_elevation_gain=80.0, average_speed=4.0, max_speed=5.5,
        average_heartrate=155.0, max_heartrate=178.0, average_cadence=86.0, calories=800.0,
        is_private=True,
    )  # fmt: skip
    # raw_data that is not JSON: rebuilt from the columns, reported.
    v1.insert(
        "activities", "ada_bad_raw", user_id=v1.users["ada"], strava_activity_id="9000000002",
        name="Easy ride", activity_type="ride", start_date=datetime(2024, 3, 6, 8, 0),
        start_date_local=datetime(2024, 3, 6, 9, 0), timezone="(GMT+01:00) Europe/Paris",
        distance=40000.0, moving_time=5400, elapsed_time=5600, average_watts=180.0,
        raw_data='{"id": 9000000002, "name": "Easy ride"',
    )  # fmt: skip
    # A Strava id that is not a number: the normaliser refuses it, reported.
    v1.insert(
        "activities", "ada_bad_id", user_id=v1.users["ada"], strava_activity_id="abc",
        name="Broken", activity_type="Run", start_date=datetime(2024, 3, 7, 8, 0),
    )  # fmt: skip
    # A manual v1 entry (no Strava id) for the same session as ada_columns: grouped as usual.
    v1.insert(
        "activities", "ada_manual_dup", user_id=v1.users["ada"], strava_activity_id=None,
        name="Tempo (typed)", activity_type="run", start_date=datetime(2024, 3, 5, 17, 0, 30),
        start_date_local=datetime(2024, 3, 5, 18, 0, 30), timezone="(GMT+01:00) Europe/Paris",
        distance=12050.0, moving_time=3010, elapsed_time=3100, is_manual=True,
    )  # fmt: skip
    # A manual v1 entry on its own day.
    v1.insert(
        "activities", "ada_manual", user_id=v1.users["ada"], strava_activity_id=None,
        name="Yoga", activity_type="Yoga", start_date=datetime(2024, 3, 8, 6, 0),
        start_date_local=datetime(2024, 3, 8, 7, 0), timezone="(GMT+01:00) Europe/Paris",
        elapsed_time=3600, is_manual=True,
    )  # fmt: skip
    # The coach's activities (Strava, public, not private) and a manual one.
    v1.insert(
        "activities", "coach_strava", user_id=v1.users["coach"], strava_activity_id="9100000001",
        name="Coach long run", activity_type="Run", start_date=datetime(2024, 3, 9, 7, 0),
        start_date_local=datetime(2024, 3, 9, 8, 0), timezone="(GMT+01:00) Europe/Paris",
        distance=20000.0, moving_time=6000, elapsed_time=6100,
    )  # fmt: skip
    # A Strava activity of a user without any Strava connection in v1.
    v1.insert(
        "activities", "orphan_strava", user_id=v1.users["no_conn"],
        strava_activity_id="9200000001", name="Lost", activity_type="Run",
        start_date=datetime(2024, 3, 10, 7, 0),
    )  # fmt: skip
    v1.insert(
        "activities", "no_conn_manual", user_id=v1.users["no_conn"], strava_activity_id=None,
        name="Swim", activity_type="Swim", start_date=datetime(2024, 3, 10, 18, 0),
        distance=1500.0, elapsed_time=2000, is_manual=True,
    )  # fmt: skip
    # The collision loser's activity.
    v1.insert(
        "activities", "twin_manual", user_id=v1.users["bob_twin"], strava_activity_id=None,
        name="Twin walk", activity_type="Walk", start_date=datetime(2024, 3, 10, 18, 0),
        is_manual=True,
    )  # fmt: skip

    # Password reset tokens ------------------------------------------------------------------------
    for key in ("ada", "legacy_user"):
        conn.execute(
            "insert into password_reset_tokens (user_id, token, expires_at) values (%s, %s, %s)",
            [v1.users[key], f"reset-{key}", datetime(2024, 4, 1)],
        )

    # Workouts -------------------------------------------------------------------------------------
    v1.insert(
        "workouts", "ada_tempo", user_id=v1.users["ada"], coach_id=v1.users["coach"],
        title="Tempo 4 x 2 km", planned_date=datetime(2024, 3, 5).date(), activity_type="run",
        planned_duration=3000, planned_distance=12000.0,
        completed_activity_id=v1.activities["ada_columns"],
    )  # fmt: skip
    v1.insert(
        "workouts", "ada_yoga", user_id=v1.users["ada"], coach_id=None, title="",
        planned_date=datetime(2024, 3, 8).date(), activity_type="Yoga", planned_duration=0,
        completed_activity_id=v1.activities["ada_manual"],
    )  # fmt: skip
    # A coach who is not imported (the collision loser).
    v1.insert(
        "workouts", "no_conn_from_twin", user_id=v1.users["no_conn"],
        coach_id=v1.users["bob_twin"], title="Swim drills",
        planned_date=datetime(2024, 3, 11).date(), activity_type="Swim",
        completed_activity_id=v1.activities["orphan_strava"],
    )  # fmt: skip
    return v1
