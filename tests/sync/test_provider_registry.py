"""Adding a provider takes new migrations only (issue 11: the provider registry).

A made-up provider, "trailpeak", is added the documented way (README, "Adding a provider"): a
migration of its own for the enum value, then one migration with its normaliser, its
registration (private.register_provider: its private.providers row and page function), its
duplicate priority (public.provider_priorities) and its sport mappings
(public.activity_type_mappings). Both are throwaway files applied by the test after every
repository migration, which none of them edits. Its items then go through
public.ingest_activities like any provider's: stored, mapped, ranked against a Strava copy of
the same workout, and renormalised.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import migrate_database
from tests.helpers import act_as_service, reset_role
from tests.sync.ingest_support import Conn, ingest, make_connection, strava_activity
from trainlytics.db import migrations

ENUM_VALUE = """\
-- A new provider: its provider_type value (alone: a new value is usable once committed).
alter type public.provider_type add value 'trailpeak';
"""

REGISTRATION = """\
-- Trailpeak: its sport words, normaliser, registry row and duplicate priority.
insert into public.activity_type_mappings (provider, provider_value, activity_type) values
('trailpeak', 'TRAIL', 'trail_run'),
('trailpeak', 'ROAD', 'run');

create function private.normalize_trailpeak(p_payload jsonb)
returns setof private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    r private.normalized_activity;
begin
    r.external_id := p_payload ->> 'workout_id';
    r.name := p_payload ->> 'title';
    r.provider_activity_type := p_payload ->> 'sport';
    r.activity_type := private.map_activity_type('trailpeak', p_payload ->> 'sport');
    r.start_date := private.try_timestamptz(p_payload ->> 'started_at');
    r.utc_offset := 0;
    r.elapsed_time := private.try_int(p_payload ->> 'seconds');
    r.moving_time := private.try_int(p_payload ->> 'seconds');
    r.distance := private.try_float(p_payload ->> 'meters');
    r.activity_data := '{}'::jsonb;
    return next r;
end;
$$;

comment on function private.normalize_trailpeak(jsonb) is 'Trailpeak normaliser (test).';

revoke all on function private.normalize_trailpeak(jsonb) from public, anon, authenticated;

grant execute on function private.normalize_trailpeak(jsonb) to service_role;

select private.register_provider('trailpeak', 'private.normalize_trailpeak(jsonb)', false);

insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('trailpeak', 5, '^trailpeak');
"""


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """Every repository migration (linked, unchanged) plus the enum value's file."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    for migration in migrations.discover_migrations():
        os.symlink(migration.path, directory / migration.filename)
    (directory / "29991231000000_trailpeak_provider_type.sql").write_text(ENUM_VALUE)
    return directory


@pytest.fixture
def trailpeak_db(
    make_database: Callable[[], str], server_url: str, registry_dir: Path
) -> Iterator[tuple[Conn, Callable[[], None]]]:
    """A database with the enum value only; the second item applies the registration."""
    url = make_database()
    migrate_database(url, server_url, registry_dir)

    def register() -> None:
        (registry_dir / "29991231000100_trailpeak_registration.sql").write_text(REGISTRATION)
        migrate_database(url, server_url, registry_dir)

    with psycopg.connect(url) as conn:
        yield conn, register
        conn.rollback()


def trailpeak_workout(workout_id: str, **overrides: Any) -> dict[str, Any]:
    """The made-up provider's workout: the same run as strava_activity(1)."""
    start = strava_activity(1)["start_date"]
    return {
        "workout_id": workout_id,
        "title": "Hill loop",
        "sport": "TRAIL",
        "started_at": start,
        "seconds": 3104,
        "meters": 10012.4,
        **overrides,
    }


def test_a_provider_without_a_registry_row_gets_every_item_reported(
    trailpeak_db: tuple[Conn, Callable[[], None]],
) -> None:
    db, _ = trailpeak_db
    connection_id, _ = make_connection(db, "trailpeak")
    result = ingest(db, connection_id, [trailpeak_workout("tp-1")])
    assert result.created == 0
    assert [e["reason"] for e in result.errors] == ["normaliser returned nothing"]


def test_a_provider_added_by_migrations_alone_ingests_and_ranks_its_copies(
    trailpeak_db: tuple[Conn, Callable[[], None]],
) -> None:
    db, register = trailpeak_db
    register()
    connection_id, user_id = make_connection(db, "trailpeak")
    result = ingest(
        db,
        connection_id,
        [
            trailpeak_workout("tp-1"),
            trailpeak_workout("tp-2", sport="ROAD", started_at="2026-10-01T08:00:00Z"),
        ],
    )
    assert (result.created, result.errors) == (2, [])
    rows = db.execute(
        "select external_id, provider::text, activity_type::text, provider_activity_type,"
        " distance, elapsed_time from public.activities where connection_id = %s"
        " order by external_id",
        [connection_id],
    ).fetchall()
    assert rows == [
        ("tp-1", "trailpeak", "trail_run", "TRAIL", pytest.approx(10012.4), 3104),
        ("tp-2", "trailpeak", "run", "ROAD", pytest.approx(10012.4), 3104),
    ]

    # The same run synchronised from Strava too: the registered priority (5, before Garmin's
    # 10 and Strava's 70) makes the Trailpeak copy the primary.
    strava_connection = db.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', %s) returning id",
        [user_id, uuid.uuid4().hex[:12]],
    ).fetchone()
    assert strava_connection is not None
    assert ingest(db, strava_connection[0], [strava_activity(1)]).created == 1
    primary = db.execute(
        "select s.primary_activity_id = t.id from public.activities as s, public.activities as t"
        " where s.connection_id = %s and t.connection_id = %s and t.external_id = 'tp-1'",
        [strava_connection[0], connection_id],
    ).fetchone()
    assert primary == (True,)

    # Its rules come from the registry: its data is kept on disconnect (Strava's is not), and
    # renormalising applies a changed sport mapping to its stored rows.
    assert db.execute(
        "select private.provider_deletes_data_on_disconnect('trailpeak'),"
        " private.provider_deletes_data_on_disconnect('strava')"
    ).fetchone() == (False, True)
    db.execute(
        "update public.activity_type_mappings set activity_type = 'hike'"
        " where provider = 'trailpeak' and provider_value = 'TRAIL'"
    )
    with db.transaction():
        act_as_service(db)
        db.execute("select * from public.renormalize_activities('trailpeak')")
        reset_role(db)
    assert db.execute(
        "select activity_type::text from public.activities"
        " where connection_id = %s and external_id = 'tp-1'",
        [connection_id],
    ).fetchone() == ("hike",)
