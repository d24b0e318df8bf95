"""Local time, sport words and cadence of imported files on real Postgres (issue 15).

Real device files come from tests/fixtures/files (provenance in its ATTRIBUTION.md); the rest
are files the project writes itself."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_anon, act_as_user, reset_role
from tests.importers.conftest import START, make_run
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.demo.files import synthesize, write_fit, write_gpx, write_tcx
from trainlytics.importers import FileIngest
from trainlytics.importers.base import ParsedActivity
from trainlytics.importers.files import parse_activity_file
from trainlytics.importers.timezones import derive_timezones

Conn = psycopg.Connection[Any]
FILES = Path(__file__).resolve().parents[1] / "fixtures" / "files"


def real(name: str) -> ParsedActivity:
    return parse_activity_file((FILES / name).read_bytes(), name)


def stored(db: Conn, sha: str) -> dict[str, Any]:
    row = db.execute(
        "select timezone, utc_offset, start_date_local, activity_type::text, average_cadence,"
        " max_cadence, activity_data from public.activities where external_id = %s",
        [sha],
    ).fetchone()
    assert row is not None
    keys = ("timezone", "utc_offset", "local", "type", "cadence", "max_cadence", "data")
    return dict(zip(keys, row, strict=True))


def set_preferred_zone(db: Conn, user: uuid.UUID, zone: str) -> None:
    db.execute(
        "update public.users set preferences ="
        " preferences || jsonb_build_object('timezone', %s::text) where id = %s",
        [zone, user],
    )


# --- time zones -------------------------------------------------------------------------------


def test_edge500_ride_in_toronto_starts_at_nine_local_not_thirteen(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    # Garmin Edge 500, 2011-09-25 13:00:21Z, no local_timestamp; starts at 43.71 N 79.37 W.
    parsed = real("garmin-edge-500-activity.fit")
    ingest.ingest(athlete, [parsed])

    row = stored(db, parsed.sha256)
    assert (row["timezone"], row["utc_offset"]) == ("America/Toronto", -4 * 3600)  # EDT
    assert row["local"] == datetime(2011, 9, 25, 9, 0, 21)


def test_fit_local_timestamp_wins_over_the_zone_offset(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    # fēnix 2 in Norway: local_timestamp says UTC+2, the position says Europe/Oslo (CEST).
    parsed = real("activity-small-fenix2-run.fit")
    ingest.ingest(athlete, [parsed])

    row = stored(db, parsed.sha256)
    assert (row["timezone"], row["utc_offset"]) == ("Europe/Oslo", 7200)
    assert row["data"]["utc_offset_source"] == "file"


def test_same_run_from_fit_and_gpx_has_the_same_local_start(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    workout = make_run()  # Lyon, 1 October: CEST; the FIT carries local_timestamp, GPX none
    fit = parse_activity_file(write_fit(workout), "run.fit")
    gpx = parse_activity_file(write_gpx(workout), "run.gpx")
    ingest.ingest(athlete, [fit, gpx])

    assert stored(db, fit.sha256)["local"] == stored(db, gpx.sha256)["local"]
    assert stored(db, gpx.sha256)["timezone"] == "Europe/Paris"
    assert stored(db, gpx.sha256)["local"] == datetime(2026, 10, 1, 8, 30)


def test_winter_and_summer_offsets_of_one_zone(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    summer = synthesize("run", datetime(2026, 7, 1, 6, tzinfo=UTC), 600, speed=3.0, seed=3)
    winter = synthesize("run", datetime(2026, 1, 15, 7, tzinfo=UTC), 600, speed=3.0, seed=4)
    parsed = [parse_activity_file(write_gpx(w), f"{i}.gpx") for i, w in enumerate([summer, winter])]
    ingest.ingest(athlete, parsed)

    assert [stored(db, p.sha256)["utc_offset"] for p in parsed] == [7200, 3600]


def test_naive_gpx_times_are_utc_and_do_not_stop_the_import(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    data = write_gpx(make_run(duration=300)).replace(b"Z</time>", b"</time>")
    parsed = parse_activity_file(data, "naive.gpx")
    summary = ingest.ingest(athlete, [parsed])

    assert summary.created == 1
    assert parsed.start_time == START


def test_file_without_position_takes_the_athletes_preferred_zone(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    set_preferred_zone(db, athlete, "America/New_York")
    indoor = synthesize("ride", START, 1200, speed=8.0, origin=None, seed=5)
    parsed = parse_activity_file(write_tcx(indoor), "trainer.tcx")
    ingest.ingest(athlete, [parsed])

    row = stored(db, parsed.sha256)
    assert (row["timezone"], row["utc_offset"]) == ("America/New_York", -4 * 3600)
    assert row["data"]["utc_offset_source"] == "preferences"


def test_reimport_fills_the_zone_of_a_row_stored_without_one(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    # A row as imports stored it before zones were derived: same bytes, no zone, UTC.
    parsed = parse_activity_file(write_gpx(make_run()), "run.gpx")
    old = ParsedActivity(format="gpx", sha256=parsed.sha256, start_time=parsed.start_time)
    assert ingest.ingest(athlete, [old]).created == 1
    assert stored(db, parsed.sha256)["timezone"] is None

    again = ingest.ingest(athlete, [parsed])

    assert (again.created, again.skipped) == (0, 1)
    row = stored(db, parsed.sha256)
    assert (row["timezone"], row["utc_offset"]) == ("Europe/Paris", 7200)
    raw = db.execute(
        "select count(*) from public.activity_raw_payloads as r join public.activities as a"
        " on a.id = r.activity_id where a.external_id = %s",
        [parsed.sha256],
    ).fetchone()
    assert raw == (1,)


def _provider_row(
    db: Conn, user: uuid.UUID, provider: str, start: datetime, offset: int, data: dict[str, Any]
) -> int:
    connection = db.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, %s, %s) returning id",
        [user, provider, uuid.uuid4().hex],
    ).fetchone()
    assert connection is not None
    row = db.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " activity_type, start_date, utc_offset, elapsed_time, moving_time, distance, is_manual,"
        " activity_data) values (%s, %s, %s, 'provider', %s, 'ride', %s, %s, 3600, 3600, 30000,"
        " false, %s) returning id",
        [user, connection[0], provider, uuid.uuid4().hex, start, offset, Jsonb(data)],
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_provider_rows_with_a_start_position_get_their_zone(db: Conn, athlete: uuid.UUID) -> None:
    start = datetime(2026, 3, 10, 12, tzinfo=UTC)
    # Garmin: an offset (kept) and a position, no zone; a source with no offset at all (0).
    garmin = _provider_row(
        db, athlete, "garmin", start, -5 * 3600,
        {"startingLatitudeInDegree": 40.7128, "startingLongitudeInDegree": -74.006},
    )  # fmt: skip
    silent = _provider_row(db, athlete, "wahoo", start, 0, {"start_latlng": [35.68, 139.69]})
    gateway = PsycopgGateway(db, role="service_role")

    run = derive_timezones(gateway, user_id=athlete)

    assert run.updated == 2
    zones = dict(
        db.execute(
            "select id, (timezone, utc_offset)::text from public.activities where id = any(%s)",
            [[garmin, silent]],
        ).fetchall()
    )
    assert zones == {garmin: "(America/New_York,-18000)", silent: "(Asia/Tokyo,32400)"}
    assert derive_timezones(gateway, user_id=athlete).updated == 0  # idempotent


def test_preferred_zone_never_contradicts_the_offset_a_provider_gave(
    db: Conn, athlete: uuid.UUID
) -> None:
    set_preferred_zone(db, athlete, "Europe/Paris")
    start = datetime(2026, 3, 10, 12, tzinfo=UTC)
    travelling = _provider_row(db, athlete, "polar", start, -5 * 3600, {})
    home = _provider_row(db, athlete, "coros", start, 3600, {})

    derive_timezones(PsycopgGateway(db, role="service_role"), user_id=athlete)

    zones = dict(
        db.execute(
            "select id, timezone from public.activities where id = any(%s)", [[travelling, home]]
        ).fetchall()
    )
    assert zones == {travelling: None, home: "Europe/Paris"}


def test_rollups_move_to_the_local_week_when_a_rows_zone_is_derived(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    # Sunday 2026-11-22 23:30 UTC is Monday 00:30 in Paris: the next local week.
    sunday = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    workout = synthesize("run", sunday, 1200, speed=3.0, seed=9)
    parsed = parse_activity_file(write_gpx(workout), "late.gpx")
    stale = ParsedActivity(
        format="gpx", sha256=parsed.sha256, start_time=sunday, distance=3600.0,
        start_lat=parsed.start_lat, start_lon=parsed.start_lon,
    )  # fmt: skip
    ingest.ingest(athlete, [stale])  # the derivation after the ingest needs no re-import...
    weeks = db.execute(
        "select week_start, activity_count from public.weekly_rollups where user_id = %s",
        [athlete],
    ).fetchall()

    assert weeks == [(datetime(2026, 11, 23).date(), 1)]
    assert stored(db, parsed.sha256)["timezone"] == "Europe/Paris"
    rebuilt = db.execute(
        "select count(*) from public.activities where user_id = %s"
        " and date_trunc('week', start_date_local)::date = '2026-11-23'",
        [athlete],
    ).fetchone()
    assert rebuilt == (1,)


def test_rollups_follow_set_activity_timezones_directly(db: Conn, athlete: uuid.UUID) -> None:
    start = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    row = _provider_row(db, athlete, "wahoo", start, 0, {})
    before = db.execute(
        "select week_start from public.weekly_rollups where user_id = %s", [athlete]
    ).fetchall()
    with db.transaction():
        db.execute("set local role service_role")
        db.execute(
            "select * from public.set_activity_timezones(%s)",
            [Jsonb([{"id": row, "timezone": "Asia/Tokyo"}])],
        )
    after = db.execute(
        "select week_start, activity_count from public.weekly_rollups where user_id = %s",
        [athlete],
    ).fetchall()

    assert before == [(datetime(2026, 11, 16).date(),)]
    assert after == [(datetime(2026, 11, 23).date(), 1)]
    # The incremental result is exactly a rebuild's.
    snapshot = "select week_start, month_start, activity_count, distance, moving_time, load"
    snapshot += " from public.weekly_rollups where user_id = %s order by 1, 2"
    incremental = db.execute(snapshot, [athlete]).fetchall()
    db.execute("select public.rebuild_rollups(%s)", [athlete])
    assert db.execute(snapshot, [athlete]).fetchall() == incremental


@pytest.mark.parametrize("actor", ["anon", "authenticated"])
@pytest.mark.parametrize(
    "call",
    [
        "select * from public.set_activity_timezones(jsonb_build_array("
        "jsonb_build_object('id', %s::bigint, 'timezone', 'Pacific/Kiritimati')))",
        "select * from public.activity_timezone_candidates(null, null, %s::bigint - 1)",
    ],
    ids=["set", "list"],
)
def test_eve_cannot_shift_or_list_the_time_zones_of_alices_activities(
    db: Conn, athlete: uuid.UUID, actor: str, call: str
) -> None:
    row = _provider_row(db, athlete, "wahoo", datetime(2026, 3, 10, 12, tzinfo=UTC), 0, {})
    eve = uuid.uuid4()
    with db.transaction():
        if actor == "anon":
            act_as_anon(db)
        else:
            act_as_user(db, eve)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute(call, [row])
        reset_role(db)
    assert db.execute(
        "select timezone, utc_offset from public.activities where id = %s", [row]
    ).fetchone() == (None, 0)


def test_unknown_zone_names_are_reported_not_stored(db: Conn, athlete: uuid.UUID) -> None:
    row = _provider_row(db, athlete, "wahoo", datetime(2026, 3, 10, 12, tzinfo=UTC), 0, {})
    with db.transaction():
        db.execute("set local role service_role")
        result = db.execute(
            "select updated, unknown_zones from public.set_activity_timezones(%s)",
            [Jsonb([{"id": row, "timezone": "Mars/Olympus_Mons"}])],
        ).fetchone()
    assert result == (0, ["Mars/Olympus_Mons"])


# --- sport words and cadence ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("road_biking", "ride"),
        ("mountain_biking", "mountain_bike_ride"),
        ("lap_swimming", "swim"),
        ("treadmill_running", "treadmill_run"),
        ("indoor_cycling", "indoor_ride"),
        ("strength_training", "weight_training"),
        ("open_water_swimming", "open_water_swim"),
        ("running", "run"),
        ("jkljkl", "other"),
    ],
)
def test_garmin_connect_gpx_and_tcx_types_map_like_the_garmin_provider(
    db: Conn, word: str, expected: str
) -> None:
    payload = {
        "version": 2, "format": "gpx", "sha256": "f" * 64, "start_time": START.isoformat(),
        "sport": word,
    }  # fmt: skip
    row = db.execute(
        "select (private.normalize_file_activity(%s)).activity_type::text,"
        " private.garmin_activity_type(%s)::text",
        [Jsonb(payload), word],
    ).fetchone()
    assert row is not None
    assert row[0] == expected
    if expected != "other" and word != "running":
        assert row[1] == expected  # the very mapping the Garmin provider uses


def test_walk_cadence_counts_both_feet_like_runs_whatever_the_field_name(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    # fēnix 5: the walk's session names it avg_cadence (61 + 0.23), the run's
    # avg_running_cadence (83 + 0.67); both are one leg.
    walk, run = real("garmin-fenix-5-walk.fit"), real("garmin-fenix-5-run.fit")
    ride = real("garmin-edge-500-activity.fit")
    ingest.ingest(athlete, [walk, run, ride])

    assert stored(db, walk.sha256)["cadence"] == pytest.approx(2 * (61 + 0.2265625), abs=0.01)
    assert stored(db, walk.sha256)["max_cadence"] == 148
    assert stored(db, run.sha256)["cadence"] == pytest.approx(2 * (83 + 0.671875), abs=0.01)
    assert stored(db, ride.sha256)["cadence"] == 88  # crank rpm, as recorded
    assert stored(db, walk.sha256)["data"]["cadence_doubled"] is True


def test_polar_style_tcx_run_cadence_is_doubled_like_garmins(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    # Polar and Suunto write one-leg run cadence in <Cadence>; Garmin in the RunCadence
    # extension. The same run, stored from either, has the same steps per minute.
    workout = make_run(duration=600)
    garmin = write_tcx(workout)
    polar = re.sub(
        rb"(<Extensions><ns3:TPX><ns3:Speed>[^<]*</ns3:Speed>)"
        rb"<ns3:RunCadence>(\d+)</ns3:RunCadence>",
        rb"<Cadence>\2</Cadence>\1",
        garmin,
    )
    assert b"RunCadence" in garmin
    assert b"RunCadence" not in polar
    assert b"<Cadence>" in polar
    a = parse_activity_file(garmin, "garmin.tcx")
    b = parse_activity_file(polar, "polar.tcx")
    ingest.ingest(athlete, [a, b])

    assert stored(db, a.sha256)["cadence"] == pytest.approx(stored(db, b.sha256)["cadence"])
    assert stored(db, a.sha256)["cadence"] == pytest.approx(workout.mean("cadence") or 0, abs=2.0)


def test_multisport_file_has_no_blended_cadence(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    parsed = real("activity-large-fenxi2-multisport.fit")
    ingest.ingest(athlete, [parsed])

    row = stored(db, parsed.sha256)
    assert row["type"] == "multisport"
    assert (row["cadence"], row["max_cadence"]) == (None, None)


def test_version_one_payloads_keep_their_cadence(db: Conn) -> None:
    payload = {
        "version": 1, "format": "fit", "sha256": "a" * 64, "start_time": START.isoformat(),
        "sport": "running", "average_cadence": 170,
    }  # fmt: skip
    row = db.execute(
        "select (private.normalize_file_activity(%s)).average_cadence", [Jsonb(payload)]
    ).fetchone()
    assert row == (170,)


def test_start_after_a_rounded_tcx_id_is_the_first_trackpoint() -> None:
    # Garmin Connect writes <Id> rounded down to the minute.
    workout = synthesize("run", START + timedelta(seconds=37), 600, speed=3.0, seed=6)
    data = write_tcx(workout)
    exact = workout.start.strftime("%Y-%m-%dT%H:%M:%S").encode()
    rounded = workout.start.strftime("%Y-%m-%dT%H:%M:00").encode()
    data = data.replace(b"<Id>" + exact, b"<Id>" + rounded, 1)
    assert b"<Id>" + rounded in data

    parsed = parse_activity_file(data, "rounded.tcx")

    assert parsed.start_time == workout.start
    assert parsed.elapsed_time == pytest.approx(workout.elapsed, abs=1)


def test_a_files_explicit_utc_offset_of_zero_is_not_overridden_by_the_preference(
    db: Conn, athlete: uuid.UUID, ingest: FileIngest
) -> None:
    # An indoor FIT whose local_timestamp says local = UTC (a watch set to UTC): that is the
    # file's own word, kept; the preferred zone (UTC+1 in winter) does not contradict it.
    set_preferred_zone(db, athlete, "Europe/Paris")
    indoor = synthesize(
        "ride", datetime(2026, 1, 15, 18, tzinfo=UTC), 1200, speed=8.0, origin=None, seed=7
    )
    parsed = parse_activity_file(write_fit(indoor), "trainer.fit")
    assert parsed.utc_offset == 0
    ingest.ingest(athlete, [parsed])

    row = stored(db, parsed.sha256)
    assert (row["timezone"], row["utc_offset"]) == (None, 0)
    assert row["data"]["utc_offset_source"] == "file"
