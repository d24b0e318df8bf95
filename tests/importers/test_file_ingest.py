"""public.ingest_file_activities on real Postgres: rows, idempotency, errors, privileges,
and grouping with a provider copy of the same workout."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_anon, act_as_user, reset_role
from tests.importers.conftest import START, make_ride, make_run
from trainlytics.demo.files import write_fit, write_tcx
from trainlytics.importers import FileIngest
from trainlytics.importers.base import ParsedActivity
from trainlytics.importers.files import parse_activity_file

Conn = psycopg.Connection[Any]


def rows(db: Conn, user: uuid.UUID) -> list[tuple[Any, ...]]:
    return db.execute(
        "select source::text, connection_id, provider, external_id, activity_type::text,"
        " distance, elapsed_time, average_heartrate, utc_offset, activity_data"
        " from public.activities where user_id = %s order by start_date, id",
        [user],
    ).fetchall()


def test_file_activity_lands_without_connection_keyed_by_content_hash(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    workout = make_run()
    parsed = parse_activity_file(write_fit(workout), "run.fit")

    summary = ingest.ingest(athlete, [parsed])

    assert (summary.created, summary.skipped, summary.errors) == (1, 0, [])
    [row] = rows(db, athlete)
    assert row[:5] == ("file", None, None, parsed.sha256, "run")
    assert abs(row[5] - workout.distance) < 0.01
    assert row[6] == 1800
    assert row[8] == 7200
    assert row[9]["file_format"] == "fit"
    raw = db.execute(
        "select payload ->> 'sha256' from public.activity_raw_payloads as r"
        " join public.activities as a on a.id = r.activity_id where a.user_id = %s",
        [athlete],
    ).fetchone()
    assert raw == (parsed.sha256,)


def test_reimport_adds_nothing(db: Conn, athlete: uuid.UUID, ingest: FileIngest) -> None:
    files = [
        parse_activity_file(write_fit(make_run()), "run.fit"),
        parse_activity_file(write_tcx(make_ride()), "ride.tcx"),
    ]
    first = ingest.ingest(athlete, files)
    again = ingest.ingest(athlete, files)
    repeated = ingest.ingest(athlete, [files[0], files[0]])

    assert (first.created, first.skipped) == (2, 0)
    assert (again.created, again.skipped) == (0, 2)
    assert (repeated.created, repeated.skipped) == (0, 2)
    assert len(rows(db, athlete)) == 2


def test_malformed_items_are_reported_and_the_batch_goes_on(db: Conn, athlete: uuid.UUID) -> None:
    good = parse_activity_file(write_fit(make_run()), "run.fit").to_payload()
    items = [
        {**good, "sha256": "not-a-hash"},
        good,
        {**good, "sha256": "a" * 64, "start_time": "yesterday"},
        {**good, "sha256": "b" * 64, "format": "docx"},
        "a string",
    ]
    with db.transaction():
        db.execute("set local role service_role")
        row = db.execute(
            "select * from public.ingest_file_activities(%s, %s)", [athlete, Jsonb(items)]
        ).fetchone()
    assert row is not None
    created, skipped, errors = row
    assert (created, skipped) == (1, 0)
    assert [e["index"] for e in errors] == [0, 2, 3, 4]
    assert "SHA-256" in errors[0]["reason"]
    assert "start_time" in errors[1]["reason"]
    assert "format" in errors[2]["reason"]


@pytest.mark.parametrize(
    ("vocabulary", "sport", "sub_sport", "expected"),
    [
        ("fit", "running", "trail", "trail_run"),
        ("fit", "cycling", "indoor_cycling", "indoor_ride"),
        ("fit", "cycling", "no_such_sub_sport", "ride"),
        ("fit", "training", "strength_training", "weight_training"),
        ("fit", "Biking", None, "ride"),
        ("fit", "yoga", None, "yoga"),
        ("fit", "jkljkl", None, "other"),
        ("strava", "Run", None, "run"),
        ("strava", "WeightTraining", None, "weight_training"),
        ("garmin", "lap_swimming", None, "swim"),
        ("garmin", "road_biking", None, "ride"),
    ],
)
def test_sport_maps_through_the_named_vocabulary(
    db: Conn, vocabulary: str, sport: str, sub_sport: str | None, expected: str
) -> None:
    payload = {
        "version": 1, "format": "fit", "sha256": "c" * 64, "start_time": START.isoformat(),
        "sport": sport, "sub_sport": sub_sport, "sport_vocabulary": vocabulary,
    }  # fmt: skip
    row = db.execute(
        "select (private.normalize_file_activity(%s)).activity_type::text", [Jsonb(payload)]
    ).fetchone()
    assert row == (expected,)


def test_offset_from_timezone_and_implausible_metrics_become_unknown(db: Conn) -> None:
    payload = {
        "version": 1, "format": "gpx", "sha256": "d" * 64, "start_time": "2026-07-01T06:00:00Z",
        "timezone": "Europe/Paris", "average_heartrate": 900, "distance": -5, "calories": "12",
    }  # fmt: skip
    row = db.execute(
        "select n.utc_offset, n.average_heartrate, n.distance, n.calories, n.error"
        " from private.normalize_file_activity(%s) as n",
        [Jsonb(payload)],
    ).fetchone()
    assert row == (7200, None, None, None, None)


def test_unknown_user_is_refused(db: Conn) -> None:
    with db.transaction():
        db.execute("set local role service_role")
        with pytest.raises(psycopg.errors.InvalidParameterValue), db.transaction():
            db.execute("select * from public.ingest_file_activities(%s, '[]')", [uuid.uuid4()])


@pytest.mark.parametrize("actor", ["anon", "authenticated"])
def test_api_roles_cannot_import_files_into_anyones_account(
    db: Conn, athlete: uuid.UUID, actor: str
) -> None:
    payload = ParsedActivity(format="fit", sha256="e" * 64, start_time=START).to_payload()
    with db.transaction():
        if actor == "anon":
            act_as_anon(db)
        else:
            act_as_user(db, athlete)  # even into their own account: files go through the CLI
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute(
                "select * from public.ingest_file_activities(%s, %s)",
                [athlete, Jsonb([payload])],
            )
        reset_role(db)
    assert rows(db, athlete) == []


@pytest.mark.parametrize(
    "function",
    [
        "private.normalize_file_activity('{}'::jsonb)",
        "private.fit_activity_type('running', null)",
        "private.file_number('1'::jsonb, 2)",
        "private.zone_utc_offset('Europe/Paris', now())",
        "private.is_foot_activity('run')",
    ],
)
def test_athlete_cannot_call_the_file_normalisers(
    db: Conn, athlete: uuid.UUID, function: str
) -> None:
    with db.transaction():
        act_as_user(db, athlete)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute(f"select {function}")
        reset_role(db)


def test_file_copy_is_grouped_with_the_strava_copy_of_the_same_workout(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    workout = make_run()
    connection = db.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'strava', %s) returning id",
        [athlete, uuid.uuid4().hex],
    ).fetchone()
    assert connection is not None
    db.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " activity_type, start_date, elapsed_time, moving_time, distance, is_manual)"
        " values (%s, %s, 'strava', 'provider', '987654321', 'run', %s, 1790, 1790, %s, false)",
        [athlete, connection[0], START.replace(second=25), workout.distance * 0.99],
    )
    parsed = parse_activity_file(write_fit(workout), "run.fit")

    ingest.ingest(athlete, [parsed])

    linked = db.execute(
        "select coalesce(a.provider::text, a.source::text), p.source::text"
        " from public.activities as a join public.activities as p"
        " on p.id = a.primary_activity_id where a.user_id = %s",
        [athlete],
    ).fetchall()
    # Imported files rank before Strava re-uploads: the Strava row points to the file row.
    assert linked == [("strava", "file")]
