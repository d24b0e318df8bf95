"""Every migration path derives the stored activities' time zones once (issue 15's hook).

Applying the migration that introduced derived zones (migrations.TIMEZONES_MIGRATION) must give
the rows stored before it their zone, whichever way the database is migrated: ``trainlytics db
migrate``, the embedded database's automatic migration (readiness.check_ready) or the demo. A
database is migrated up to just before that migration, a Garmin-shaped row (start position, +1 h
offset, no zone) is stored, and the rest is applied by each path."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from tests.conftest import cluster_lock, migrate_database
from tests.helpers import create_auth_user
from trainlytics.cli.main import app
from trainlytics.cli.readiness import check_ready
from trainlytics.db import migrations
from trainlytics.demo import run_demo
from trainlytics.importers.timezones import TimezoneRun

runner = CliRunner()


@pytest.fixture
def before_zones(
    make_database: Callable[[], str], server_url: str, tmp_path: Path
) -> tuple[str, int]:
    """A database migrated up to just before the zones migration, with one Garmin row without
    a zone; returns (url, activity id)."""
    older = tmp_path / "older"
    older.mkdir()
    for path in migrations.discover_migrations():
        if path.version < migrations.TIMEZONES_MIGRATION:
            os.symlink(path.path, older / path.filename)
    url = make_database()
    migrate_database(url, server_url, older)
    with psycopg.connect(url, autocommit=True) as conn:
        user = create_auth_user(conn, "traveller@example.com")
        connection = conn.execute(
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " values (%s, 'garmin', 'g-1') returning id",
            [user],
        ).fetchone()
        assert connection is not None
        row = conn.execute(
            "insert into public.activities (user_id, connection_id, provider, source,"
            " external_id, activity_type, start_date, utc_offset, activity_data)"
            " values (%s, %s, 'garmin', 'provider', '21902233451', 'backcountry_ski', %s, 3600,"
            " %s) returning id",
            [
                user,
                connection[0],
                datetime(2026, 11, 30, 8, tzinfo=UTC),
                # Garmin's start position keys (tests/fixtures/providers/garmin/activities).
                Jsonb({"startingLatitudeInDegree": 50.4198, "startingLongitudeInDegree": 12.9549}),
            ],
        ).fetchone()
        assert row is not None
    return url, int(row[0])


def zone_of(url: str, activity_id: int) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select timezone, utc_offset, activity_data ->> 'timezone_source'"
            " from public.activities where id = %s",
            [activity_id],
        ).fetchone()
    assert row is not None
    return tuple(row)


DERIVED = ("Europe/Berlin", 3600, "position")


def test_db_migrate_derives_the_zones_once(before_zones: tuple[str, int], server_url: str) -> None:
    url, activity_id = before_zones
    with cluster_lock(server_url):
        result = runner.invoke(app, ["db", "migrate", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "time zones: 1 activities without a zone examined, 1 given" in result.output
    assert zone_of(url, activity_id) == DERIVED
    again = runner.invoke(app, ["db", "migrate", "--database-url", url])
    assert again.exit_code == 0, again.output
    assert "time zones" not in again.output  # once: only with the migration that adds zones


def test_the_embedded_automatic_migration_derives_the_zones(
    before_zones: tuple[str, int], server_url: str
) -> None:
    url, activity_id = before_zones
    with cluster_lock(server_url):
        check_ready(url, migrate_embedded=True)
    assert zone_of(url, activity_id) == DERIVED


def test_the_demo_derives_the_zones(before_zones: tuple[str, int], server_url: str) -> None:
    url, activity_id = before_zones
    with cluster_lock(server_url), psycopg.connect(url, autocommit=True) as conn:
        run_demo(conn)
    assert zone_of(url, activity_id) == DERIVED


def test_migrate_reports_the_derivation_in_its_result(
    before_zones: tuple[str, int], server_url: str
) -> None:
    url, activity_id = before_zones
    result = migrate_database(url, server_url)
    assert result.timezones is not None
    assert (result.timezones.examined, result.timezones.updated) == (1, 1)
    assert migrate_database(url, server_url).timezones is None
    assert zone_of(url, activity_id) == DERIVED


def test_db_migrate_after_a_push_derives_the_zones_the_push_did_not(
    before_zones: tuple[str, int], server_url: str
) -> None:
    # `supabase db push` applies the files and records them, but derives nothing.
    url, activity_id = before_zones
    with cluster_lock(server_url), psycopg.connect(url, autocommit=True) as conn:
        pushed = migrations.migrate(conn, derive_timezones=lambda _conn: TimezoneRun())
    assert any(m.version == migrations.TIMEZONES_MIGRATION for m in pushed.applied)
    assert zone_of(url, activity_id) == (None, 3600, None)

    result = runner.invoke(app, ["db", "migrate", "--database-url", url])

    assert result.exit_code == 0, result.output
    assert "0 applied" in result.output
    assert "time zones: 1 activities without a zone examined, 1 given" in result.output
    assert zone_of(url, activity_id) == DERIVED
