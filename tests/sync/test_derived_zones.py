"""Derived time zones survive re-syncs and re-normalisation (issues 14 and 15 together).

Garmin sends a start position and an offset but no zone; Wahoo sends neither (a zone comes
from the athlete's preferences.timezone). public.set_activity_timezones derives the zone of such
rows. A look-back sync replays the same payloads: they must count as unchanged and keep the
derived zone, its offset and activity_data.timezone_source, and so must
public.renormalize_activities. Payloads: tests/fixtures/providers/garmin/activities/pull_page.json
and tests/fixtures/providers/wahoo/activities/workout_road_ride_power.json (provenance in the
READMEs of those folders)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from tests.helpers import act_as_service, reset_role
from tests.sync.ingest_support import T0, ingest, make_connection, strava_activity
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.importers.timezones import derive_timezones

Conn = psycopg.Connection[Any]

PROVIDERS = Path(__file__).resolve().parent.parent / "fixtures" / "providers"


def garmin_page() -> list[dict[str, Any]]:
    page: list[dict[str, Any]] = json.loads(
        (PROVIDERS / "garmin" / "activities" / "pull_page.json").read_text()
    )
    return page


def wahoo_workout() -> dict[str, Any]:
    workout: dict[str, Any] = json.loads(
        (PROVIDERS / "wahoo" / "activities" / "workout_road_ride_power.json").read_text()
    )
    return workout


def zones(db: Conn, connection_id: int) -> dict[str, tuple[Any, ...]]:
    rows = db.execute(
        "select external_id, timezone, utc_offset, activity_data ->> 'timezone_source',"
        " start_date_local from public.activities where connection_id = %s",
        [connection_id],
    ).fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def renormalize(db: Conn, provider: str) -> int:
    with db.transaction():
        act_as_service(db)
        row = db.execute("select public.renormalize_activities(%s)", [provider]).fetchone()
        reset_role(db)
    assert row is not None
    return int(row[0])


def test_a_replayed_garmin_page_keeps_its_derived_zones_and_counts_unchanged(db: Conn) -> None:
    connection_id, _ = make_connection(db, "garmin")
    page = garmin_page()
    assert ingest(db, connection_id, page).created == len(page)
    run = derive_timezones(PsycopgGateway(db, role="service_role"), connection_id=connection_id)
    derived = zones(db, connection_id)
    # Oberwiesenthal (Erzgebirge) and Boulder: Garmin's own offsets are kept beside the
    # derived zones; the pool swim has no start position (and its athlete no preference).
    assert run.updated == 2
    assert derived["21902233451"][:3] == ("Europe/Berlin", 3600, "position")
    assert derived["21903318842"][:3] == ("America/Denver", -25200, "position")
    assert derived["21904450017"][:3] == (None, 3600, None)

    # The look-back window of the next sync: the same payloads at the same time ...
    again = ingest(db, connection_id, page)
    assert (again.created, again.updated, again.skipped) == (0, 0, len(page))
    assert zones(db, connection_id) == derived
    # ... and at a later time (recorded, still not an update).
    later = ingest(db, connection_id, page, received_at=T0 + timedelta(hours=1))
    assert (later.created, later.updated, later.skipped) == (0, 0, len(page))
    assert zones(db, connection_id) == derived
    # Nothing is left for the worker to derive again (the swim has nothing to derive from).
    gateway = PsycopgGateway(db, role="service_role")
    assert derive_timezones(gateway, connection_id=connection_id).updated == 0


def test_renormalization_keeps_derived_zones(db: Conn) -> None:
    connection_id, _ = make_connection(db, "garmin")
    page = garmin_page()
    ingest(db, connection_id, page)
    renormalize(db, "garmin")  # whatever other rows of the database need, done first
    derive_timezones(PsycopgGateway(db, role="service_role"), connection_id=connection_id)
    derived = zones(db, connection_id)

    assert renormalize(db, "garmin") == 0
    assert zones(db, connection_id) == derived


def test_a_zone_from_the_athletes_preference_keeps_its_offset_on_replay(db: Conn) -> None:
    # Wahoo gives neither a zone nor an offset (0): the preferred zone sets both.
    connection_id, user_id = make_connection(db, "wahoo")
    db.execute(
        'update public.users set preferences = preferences || \'{"timezone": "Asia/Tokyo"}\''
        " where id = %s",
        [user_id],
    )
    workout = wahoo_workout()
    assert ingest(db, connection_id, [workout]).created == 1
    derive_timezones(PsycopgGateway(db, role="service_role"), connection_id=connection_id)
    ((external_id, derived),) = zones(db, connection_id).items()
    assert derived[:3] == ("Asia/Tokyo", 9 * 3600, "preferences")

    replay = ingest(db, connection_id, [workout], received_at=T0 + timedelta(days=1))
    assert (replay.updated, replay.skipped) == (0, 1)
    assert zones(db, connection_id) == {external_id: derived}
    renormalize(db, "wahoo")
    assert zones(db, connection_id) == {external_id: derived}


def test_a_zone_the_source_sends_still_wins_over_a_derived_one(db: Conn) -> None:
    connection_id, _ = make_connection(db, "strava")
    # A Strava item without its zone fields (an old or partial payload): derived from Paris.
    first = strava_activity(7, timezone=None, utc_offset=None)
    ingest(db, connection_id, [first])
    derive_timezones(PsycopgGateway(db, role="service_role"), connection_id=connection_id)
    assert zones(db, connection_id)["7"][:3] == ("Europe/Paris", 3600, "position")

    # Strava later sends the zone the athlete set on the activity: it wins, offset and all,
    # and the row is no longer marked as derived.
    told = strava_activity(7, timezone="(GMT+00:00) Europe/London", utc_offset=0.0)
    result = ingest(db, connection_id, [told], received_at=T0 + timedelta(days=1))
    assert result.updated == 1
    assert zones(db, connection_id)["7"][:3] == ("Europe/London", 0, None)
