"""Shared pieces of the ingest tests: a connection to ingest into, Strava-shaped payloads, and a
call of public.ingest_activities exactly as the worker makes it (as service_role)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.helpers import act_as_service, create_auth_user, reset_role

Conn = psycopg.Connection[Any]

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Ingested:
    created: int
    updated: int
    skipped: int
    deleted: int
    errors: list[dict[str, Any]]


def make_connection(conn: Conn, provider: str = "strava") -> tuple[int, uuid.UUID]:
    """A user with an active connection to ``provider``; returns (connection_id, user_id)."""
    user_id = create_auth_user(conn, f"{uuid.uuid4().hex}@example.com")
    row = conn.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, %s, %s) returning id",
        [user_id, provider, uuid.uuid4().hex[:12]],
    ).fetchone()
    assert row is not None
    return int(row[0]), user_id


def ingest(
    conn: Conn,
    connection_id: int,
    items: Any,
    deleted: Sequence[str] = (),
    received_at: datetime = T0,
) -> Ingested:
    """Call public.ingest_activities as service_role (the worker's role), in a savepoint."""
    with conn.transaction():
        act_as_service(conn)
        row = conn.execute(
            "select created, updated, skipped, deleted, errors"
            " from public.ingest_activities(%s, %s, %s, %s)",
            [connection_id, Jsonb(items), list(deleted), received_at],
        ).fetchone()
        reset_role(conn)
    assert row is not None
    return Ingested(int(row[0]), int(row[1]), int(row[2]), int(row[3]), list(row[4]))


def strava_activity(activity_id: int, **overrides: Any) -> dict[str, Any]:
    """A Strava SummaryActivity (GET /athlete/activities) in its real shape."""
    start = T0 - timedelta(days=1) + timedelta(minutes=activity_id % 10_000)
    payload: dict[str, Any] = {
        "resource_state": 2,
        "athlete": {"id": 134815, "resource_state": 1},
        "name": f"Morning Run {activity_id}",
        "distance": 10012.4,
        "moving_time": 2950,
        "elapsed_time": 3104,
        "total_elevation_gain": 41.0,
        "type": "Run",
        "sport_type": "Run",
        "workout_type": 0,
        "id": activity_id,
        "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_date_local": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone": "(GMT+01:00) Europe/Paris",
        "utc_offset": 3600.0,
        "location_city": None,
        "location_state": None,
        "location_country": "France",
        "achievement_count": 2,
        "kudos_count": 5,
        "comment_count": 0,
        "athlete_count": 1,
        "photo_count": 0,
        "map": {
            "id": f"a{activity_id}",
            "summary_polyline": "ki{eFvqfiVqAWQIGEEKAYJgBVqDJ{BHa@jAkNJw@Pw@V{APs@^a",
            "resource_state": 2,
        },
        "trainer": False,
        "commute": False,
        "manual": False,
        "private": False,
        "visibility": "everyone",
        "flagged": False,
        "gear_id": "g8453133",
        "start_latlng": [48.8566, 2.3522],
        "end_latlng": [48.8584, 2.2945],
        "average_speed": 3.394,
        "max_speed": 5.2,
        "average_cadence": 84.6,
        "has_heartrate": True,
        "average_heartrate": 148.3,
        "max_heartrate": 171.0,
        "heartrate_opt_out": False,
        "display_hide_heartrate_option": True,
        "elev_high": 58.2,
        "elev_low": 31.0,
        "upload_id": 10_000_000_000 + activity_id,
        "upload_id_str": str(10_000_000_000 + activity_id),
        "external_id": f"garmin_push_{activity_id}",
        "from_accepted_tag": False,
        "pr_count": 0,
        "total_photo_count": 0,
        "has_kudoed": False,
        "suffer_score": 42.0,
    }
    payload.update(overrides)
    return payload


def stored(conn: Conn, connection_id: int, external_id: str) -> dict[str, Any] | None:
    """The stored activity (as the owner sees it, soft-deleted included), with its raw payload."""
    cur = conn.execute(
        "select a.*, r.payload as raw_payload, r.received_at as raw_received_at"
        " from public.activities as a"
        " left join public.activity_raw_payloads as r on r.activity_id = a.id"
        " where a.connection_id = %s and a.external_id = %s",
        [connection_id, external_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    assert cur.description is not None
    return dict(zip([c.name for c in cur.description], row, strict=True))


def count_rows(conn: Conn, connection_id: int) -> int:
    row = conn.execute(
        "select count(*) from public.activities where connection_id = %s", [connection_id]
    ).fetchone()
    assert row is not None
    return int(row[0])
