"""public.ingest_activities and public.renormalize_activities on real Postgres.

Payloads are Strava activities in their real shape, normalised by the repository's own
private.normalize_strava (its migration); each test states one rule of the ingest.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import act_as_anon, act_as_service, act_as_user, reset_role
from tests.sync.ingest_support import (
    T0,
    Conn,
    count_rows,
    ingest,
    make_connection,
    stored,
    strava_activity,
)
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.jsonb_text import jsonb_bytes, without_nul


@pytest.fixture
def strava(db: Conn) -> tuple[int, Any]:
    return make_connection(db, "strava")


def test_new_items_are_created_with_user_and_provider_from_the_connection(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, user_id = strava
    result = ingest(db, connection_id, [strava_activity(1), strava_activity(2)])
    assert (result.created, result.updated, result.skipped, result.deleted) == (2, 0, 0, 0)
    assert result.errors == []
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["user_id"] == user_id
    assert row["provider"] == "strava"
    assert row["source"] == "provider"
    assert row["is_manual"] is False
    assert row["activity_type"] == "run"
    assert row["distance"] == pytest.approx(10012.4)
    assert row["utc_offset"] == 3600
    assert row["provider_updated_at"] == T0  # Strava has no modification time: received time


def test_raw_payload_is_kept_exactly_as_received(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    payload = strava_activity(7, extra_field={"nested": [1, "two", None]})
    ingest(db, connection_id, [payload])
    row = stored(db, connection_id, "7")
    assert row is not None
    assert row["raw_payload"] == payload
    assert row["raw_received_at"] == T0


def test_reingesting_the_same_page_skips_everything(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    page = [strava_activity(i) for i in range(1, 6)]
    ingest(db, connection_id, page)
    before = db.execute(
        "select id, updated_at, xmin::text from public.activities where connection_id = %s"
        " order by id",
        [connection_id],
    ).fetchall()
    again = ingest(db, connection_id, page)
    assert (again.created, again.updated, again.skipped, again.deleted) == (0, 0, 5, 0)
    after = db.execute(
        "select id, updated_at, xmin::text from public.activities where connection_id = %s"
        " order by id",
        [connection_id],
    ).fetchall()
    assert after == before  # not even rewritten
    assert count_rows(db, connection_id) == 5


def test_a_changed_item_is_updated_in_place(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(1)])
    original = stored(db, connection_id, "1")
    assert original is not None
    changed = strava_activity(1, name="Renamed", sport_type="TrailRun", type="Run")
    later = T0 + timedelta(minutes=5)
    result = ingest(db, connection_id, [changed], received_at=later)
    assert (result.created, result.updated, result.skipped) == (0, 1, 0)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["id"] == original["id"]
    assert row["name"] == "Renamed"
    assert row["activity_type"] == "trail_run"
    assert row["provider_updated_at"] == later
    assert row["raw_payload"]["name"] == "Renamed"
    assert count_rows(db, connection_id) == 1


def test_an_older_update_never_overwrites_newer_data(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    newer = T0 + timedelta(hours=1)
    ingest(db, connection_id, [strava_activity(1, name="Newest")], received_at=newer)
    late = ingest(db, connection_id, [strava_activity(1, name="Stale")], received_at=T0)
    assert (late.created, late.updated, late.skipped) == (0, 0, 1)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["name"] == "Newest"
    assert row["raw_payload"]["name"] == "Newest"
    assert row["provider_updated_at"] == newer


def test_unchanged_content_at_a_newer_time_still_guards_against_older_updates(
    db: Conn, strava: tuple[int, Any]
) -> None:
    # t1: A, t3: A again (nothing changed: skipped), then an update from t2 arrives late.
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(1, name="A")], received_at=T0)
    same = ingest(
        db, connection_id, [strava_activity(1, name="A")], received_at=T0 + timedelta(hours=3)
    )
    assert (same.created, same.updated, same.skipped) == (0, 0, 1)
    late = ingest(
        db, connection_id, [strava_activity(1, name="B")], received_at=T0 + timedelta(hours=2)
    )
    assert (late.updated, late.skipped) == (0, 1)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["name"] == "A"


def test_the_payloads_own_modification_time_beats_the_received_time(
    db: Conn, strava: tuple[int, Any]
) -> None:
    # A provider that dates its versions (the Wahoo workout's updated_at) is ordered by that
    # date, whatever order the pages are received in.
    connection_id, _ = make_connection(db, "wahoo")

    def workout(name: str, updated_at: str) -> dict[str, Any]:
        return {
            "id": 5501,
            "starts": "2026-10-30T07:00:00.000Z",
            "minutes": 60,
            "name": name,
            "plan_id": None,
            "workout_token": "abc",
            "workout_type_id": 0,
            "created_at": "2026-10-30T08:05:00.000Z",
            "updated_at": updated_at,
            "workout_summary": {
                "id": 9001,
                "ascent_accum": "120.0",
                "cadence_avg": "85.0",
                "calories_accum": "650.0",
                "distance_accum": "30000.0",
                "duration_active_accum": "3500.0",
                "duration_paused_accum": "100.0",
                "duration_total_accum": "3600.0",
                "heart_rate_avg": "140.0",
                "power_avg": "200.0",
                "power_bike_np_last": "210.0",
                "speed_avg": "8.5",
                "work_accum": "700000.0",
                "time_zone": None,
                "manual": False,
                "created_at": "2026-10-30T08:05:00.000Z",
                "updated_at": updated_at,
            },
        }

    newer = workout("Newer", "2026-10-30T10:00:00.000Z")
    older = workout("Older", "2026-10-30T09:00:00.000Z")
    first = ingest(db, connection_id, [newer], received_at=T0)
    assert first.errors == []
    assert first.created == 1
    late = ingest(db, connection_id, [older], received_at=T0 + timedelta(days=1))
    assert (late.updated, late.skipped) == (0, 1)
    row = stored(db, connection_id, "5501")
    assert row is not None
    assert row["name"] == "Newer"


def test_deleted_ids_are_soft_deleted_and_counted(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(1), strava_activity(2)])
    when = T0 + timedelta(hours=1)
    result = ingest(db, connection_id, [], deleted=["1", "404"], received_at=when)
    assert (result.created, result.updated, result.skipped, result.deleted) == (0, 0, 0, 1)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["deleted_at"] == when
    assert row["raw_payload"] is not None  # the raw payload stays with the row
    again = ingest(db, connection_id, [], deleted=["1"], received_at=when + timedelta(hours=1))
    assert again.deleted == 0  # already deleted: nothing more to do
    other = stored(db, connection_id, "2")
    assert other is not None
    assert other["deleted_at"] is None


def test_an_older_update_does_not_resurrect_a_deleted_activity(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(1)], received_at=T0)
    ingest(db, connection_id, [], deleted=["1"], received_at=T0 + timedelta(hours=2))
    # A page fetched before the deletion, ingested after it.
    late = ingest(
        db,
        connection_id,
        [strava_activity(1, name="Edited before deletion")],
        received_at=T0 + timedelta(hours=1),
    )
    assert (late.created, late.updated, late.skipped) == (0, 0, 1)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["deleted_at"] == T0 + timedelta(hours=2)
    assert row["name"] != "Edited before deletion"


def test_a_strictly_newer_version_brings_a_deleted_activity_back(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(1)], received_at=T0)
    ingest(db, connection_id, [], deleted=["1"], received_at=T0 + timedelta(hours=1))
    back = ingest(db, connection_id, [strava_activity(1)], received_at=T0 + timedelta(hours=2))
    assert (back.created, back.updated, back.skipped) == (0, 1, 0)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["deleted_at"] is None


def test_a_page_that_updates_and_deletes_the_same_id_leaves_it_deleted(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    result = ingest(db, connection_id, [strava_activity(1)], deleted=["1"])
    assert (result.created, result.deleted) == (1, 1)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["deleted_at"] == T0


MALFORMED: list[tuple[Any, str]] = [
    ("just a string", "not a JSON object"),
    (42, "not a JSON object"),
    (None, "not a JSON object"),
    ([1, 2], "not a JSON object"),
    ({"name": "no id at all"}, "id"),
    ({"id": "not-a-number", "start_date": "2026-11-01T10:00:00Z"}, "id"),
    ({"id": 9, "start_date": "yesterday"}, "start"),
    ({"id": 10, "start_date": "2026-02-30T10:00:00Z"}, "start"),
]


def test_malformed_items_are_skipped_with_reasons_and_never_abort_the_page(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    page: list[Any] = [strava_activity(1)]
    for bad, _ in MALFORMED:
        page.append(bad)
    page.append(strava_activity(2))
    result = ingest(db, connection_id, page)
    assert (result.created, result.updated, result.skipped) == (2, 0, 0)
    assert [e["index"] for e in result.errors] == list(range(1, len(MALFORMED) + 1))
    for error, (_, reason_part) in zip(result.errors, MALFORMED, strict=True):
        assert reason_part in error["reason"], error
    by_index = {e["index"]: e for e in result.errors}
    assert by_index[7]["external_id"] == "9"  # reported with its id when it has one
    assert count_rows(db, connection_id) == 2


def test_out_of_range_metrics_become_unknown_instead_of_losing_the_activity(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    weird = strava_activity(
        1,
        distance=-5,
        average_speed=-1,
        max_heartrate=999,
        utc_offset=999999,
        name="x" * 800,
    )
    result = ingest(db, connection_id, [weird])
    assert result.created == 1
    assert result.errors == []
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["distance"] is None
    assert row["average_speed"] is None
    assert row["max_heartrate"] is None
    assert len(row["name"]) == 500


def test_a_normaliser_that_raises_is_reported_not_propagated(db: Conn) -> None:
    # Replace the Strava normaliser, inside this test's rolled-back transaction only, with
    # one that raises on a marker: the dispatcher must turn it into an item error.
    connection_id, _ = make_connection(db, "strava")
    db.execute(
        """
        create or replace function private.normalize_strava(p_payload jsonb)
        returns setof private.normalized_activity language plpgsql set search_path = '' as $$
        declare r private.normalized_activity;
        begin
            if p_payload ? 'boom' then
                raise exception 'kaboom %', p_payload ->> 'boom';
            end if;
            r.external_id := p_payload ->> 'id';
            r.start_date := (p_payload ->> 'start_date')::timestamptz;
            return next r;
        end $$
        """
    )
    page = [
        {"id": 1, "start_date": "2026-11-01T10:00:00Z"},
        {"id": 2, "boom": "now"},
        {"id": 3, "start_date": "2026-11-01T11:00:00Z"},
    ]
    result = ingest(db, connection_id, page)
    assert (result.created, result.skipped) == (2, 0)
    assert len(result.errors) == 1
    assert result.errors[0]["index"] == 1
    assert "kaboom now" in result.errors[0]["reason"]


def test_repeated_ids_in_one_page_keep_the_last_and_count_the_rest_as_skipped(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    page = [strava_activity(1, name="first"), strava_activity(1, name="second")]
    result = ingest(db, connection_id, page)
    assert (result.created, result.updated, result.skipped) == (1, 0, 1)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["name"] == "second"


def test_counts_add_up_to_the_page(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(i) for i in range(1, 11)])
    page: list[Any] = (
        [strava_activity(i) for i in range(1, 5)]  # unchanged: skipped
        + [strava_activity(i, name="changed") for i in range(5, 8)]  # updated
        + [strava_activity(i) for i in range(100, 106)]  # new
        + ["bad", {"id": "x"}]  # errors
        + [strava_activity(100)]  # repeated in the page
    )
    result = ingest(
        db, connection_id, page, deleted=["8", "9"], received_at=T0 + timedelta(minutes=1)
    )
    assert (result.created, result.updated, result.skipped, result.deleted) == (6, 3, 5, 2)
    assert len(result.errors) == 2
    assert result.created + result.updated + result.skipped + len(result.errors) == len(page)
    assert count_rows(db, connection_id) == 16


def test_rows_of_other_connections_are_untouched(db: Conn) -> None:
    alice, _ = make_connection(db, "strava")
    bob, _ = make_connection(db, "strava")
    ingest(db, alice, [strava_activity(1, name="alice")])
    ingest(db, bob, [strava_activity(1, name="bob")])
    ingest(db, bob, [], deleted=["1"])
    alices = stored(db, alice, "1")
    bobs = stored(db, bob, "1")
    assert alices is not None
    assert bobs is not None
    assert alices["name"] == "alice"
    assert alices["deleted_at"] is None
    assert bobs["name"] == "bob"
    assert bobs["deleted_at"] is not None


def test_empty_and_null_pages_are_fine(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    assert ingest(db, connection_id, []).created == 0
    with db.transaction():
        act_as_service(db)
        row = db.execute(
            "select * from public.ingest_activities(%s, null)", [connection_id]
        ).fetchone()
        reset_role(db)
    assert row == (0, 0, 0, 0, [])


def test_a_page_that_is_not_an_array_is_refused(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="JSON array"):
        ingest(db, connection_id, {"id": 1})


def test_an_unknown_connection_is_refused(db: Conn) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown connection"):
        ingest(db, 999_999_999, [strava_activity(1)])


# --- who may call it --------------------------------------------------------------------------


def _call_as(db: Conn, become: Any, function_sql: str, params: list[Any]) -> None:
    with db.transaction():
        become(db)
        db.execute(function_sql, params)


@pytest.mark.parametrize(
    "function_sql",
    [
        "select * from public.ingest_activities(%s, %s)",
        "select public.renormalize_activities()",
        "select private.normalize_activity('strava', %s)",
        "select * from private.normalize_page('strava', %s)",
    ],
    ids=["ingest", "renormalize", "normalize", "normalize_page"],
)
def test_athletes_and_anon_cannot_ingest_or_renormalize(
    db: Conn, strava: tuple[int, Any], function_sql: str
) -> None:
    connection_id, user_id = strava
    calls: dict[str, list[Any]] = {
        "select * from public.ingest_activities(%s, %s)": [
            connection_id,
            Jsonb([strava_activity(1)]),
        ],
        "select public.renormalize_activities()": [],
        "select private.normalize_activity('strava', %s)": [Jsonb(strava_activity(1))],
        "select * from private.normalize_page('strava', %s)": [Jsonb([strava_activity(1)])],
    }
    params = calls[function_sql]
    for become in (lambda c: act_as_user(c, user_id), act_as_anon):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _call_as(db, become, function_sql, params)
    assert count_rows(db, connection_id) == 0


def test_eve_cannot_ingest_activities_into_alices_connection(db: Conn) -> None:
    alice_connection, _ = make_connection(db, "strava")
    _, eve = make_connection(db, "strava")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _call_as(
            db,
            lambda c: act_as_user(c, eve),
            "select * from public.ingest_activities(%s, %s)",
            [alice_connection, Jsonb([strava_activity(1)])],
        )
    assert count_rows(db, alice_connection) == 0


def test_only_service_role_may_execute_the_ingest_functions(db: Conn) -> None:
    functions = [
        "public.ingest_activities(bigint,jsonb,text[],timestamptz)",
        "public.renormalize_activities(public.provider_type)",
        "private.normalize_activity(public.provider_type,jsonb)",
        "private.normalize_page(public.provider_type,jsonb)",
        "private.map_activity_type(public.provider_type,text)",
    ]
    for function in functions:
        for role, allowed in (
            ("anon", False),
            ("authenticated", False),
            ("public", False),
            ("service_role", True),
        ):
            if role == "public":
                row = db.execute(
                    "select exists (select 1 from aclexplode(coalesce((select proacl from"
                    " pg_proc where oid = %s::regprocedure), acldefault('f', 0)))"
                    " where grantee = 0 and privilege_type = 'EXECUTE')",
                    [function],
                ).fetchone()
            else:
                row = db.execute(
                    "select has_function_privilege(%s, %s, 'execute')", [role, function]
                ).fetchone()
            assert row is not None
            assert row[0] is allowed, (function, role)


def test_athletes_read_the_sport_mappings_but_cannot_change_them(
    db: Conn, strava: tuple[int, Any]
) -> None:
    _, user_id = strava
    with db.transaction():
        act_as_user(db, user_id)
        row = db.execute(
            "select activity_type from public.activity_type_mappings"
            " where provider = 'strava' and provider_value = 'Run'"
        ).fetchone()
        assert row == ("run",)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _call_as(
            db,
            lambda c: act_as_user(c, user_id),
            "update public.activity_type_mappings set activity_type = 'walk'"
            " where provider = 'strava'",
            [],
        )


# --- mapping lookups and re-normalisation ---------------------------------------------------


def test_mapping_lookup_is_case_insensitive_and_falls_back_to_other(db: Conn) -> None:
    def lookup(value: str | None) -> str:
        row = db.execute("select private.map_activity_type('strava', %s)", [value]).fetchone()
        assert row is not None
        return str(row[0])

    assert lookup("Run") == "run"
    assert lookup("run") == "run"
    assert lookup("  RUN ") == "run"
    assert lookup("Quidditch") == "other"
    assert lookup(None) == "other"


def test_renormalize_applies_a_changed_mapping_to_stored_activities(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    page = [strava_activity(1, sport_type="Quidditch", type="Quidditch"), strava_activity(2)]
    ingest(db, connection_id, page)
    first = stored(db, connection_id, "1")
    assert first is not None
    assert first["activity_type"] == "other"
    assert first["provider_activity_type"] == "Quidditch"
    db.execute(
        "insert into public.activity_type_mappings (provider, provider_value, activity_type)"
        " values ('strava', 'Quidditch', 'workout')"
    )
    with db.transaction():
        act_as_service(db)
        changed = db.execute("select public.renormalize_activities('strava')").fetchone()
        reset_role(db)
    assert changed == (1,)  # only the row whose result differs
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["activity_type"] == "workout"
    assert row["provider_updated_at"] == first["provider_updated_at"]
    with db.transaction():
        act_as_service(db)
        again = db.execute("select public.renormalize_activities()").fetchone()
        reset_role(db)
    assert again == (0,)  # idempotent


def test_renormalize_of_another_provider_leaves_these_rows_alone(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(1, sport_type="Quidditch", type="Quidditch")])
    db.execute(
        "insert into public.activity_type_mappings (provider, provider_value, activity_type)"
        " values ('strava', 'Quidditch', 'workout')"
    )
    with db.transaction():
        act_as_service(db)
        changed = db.execute("select public.renormalize_activities('polar')").fetchone()
        reset_role(db)
    assert changed == (0,)
    row = stored(db, connection_id, "1")
    assert row is not None
    assert row["activity_type"] == "other"


# --- safe casts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("private.try_float(%s)", "12.5", 12.5),
        ("private.try_float(%s)", " 1.2e3 ", 1200.0),
        ("private.try_float(%s)", "-3", -3.0),
        ("private.try_float(%s)", "NaN", None),
        ("private.try_float(%s)", "Infinity", None),
        ("private.try_float(%s)", "1e999", None),
        ("private.try_float(%s)", "abc", None),
        ("private.try_float(%s)", None, None),
        ("private.try_int(%s)", "3600.0", 3600),
        ("private.try_int(%s)", "99999999999", None),
        ("private.try_int(%s)", "12,5", None),
        ("private.iso8601_duration_seconds(%s)", "PT2H44M", 9840.0),
        ("private.iso8601_duration_seconds(%s)", "PT1.5S", 1.5),
        ("private.iso8601_duration_seconds(%s)", "P1DT1S", 86401.0),
        ("private.iso8601_duration_seconds(%s)", "PT", None),
        ("private.iso8601_duration_seconds(%s)", "2 hours", None),
        ("private.try_epoch_seconds(%s)::text", "0", "1970-01-01 00:00:00+00"),
        ("private.try_epoch_seconds(%s)", "1e20", None),
        (
            "private.try_timestamptz(%s)::text",
            "2026-11-01T10:00:00+02:00",
            "2026-11-01 08:00:00+00",
        ),
        ("private.try_timestamptz(%s)::text", "2026-11-01T10:00:00", "2026-11-01 10:00:00+00"),
        ("private.try_timestamptz(%s)::text", "2026-11-01T10:00:00.5Z", "2026-11-01 10:00:00.5+00"),
        ("private.try_timestamptz(%s)", "2026-13-01T10:00:00Z", None),
        ("private.try_timestamptz(%s)", "now", None),
        ("private.try_timestamptz(%s)", "epoch", None),
        ("private.try_timestamp(%s)::text", "2026-11-01T10:00:00", "2026-11-01 10:00:00"),
        ("private.try_timestamp(%s)", "2026-11-01T10:00:00Z", None),
    ],
)
def test_safe_casts_never_raise(
    db: Conn, expression: str, value: str | None, expected: Any
) -> None:
    db.execute("set local timezone = 'UTC'")
    row = db.execute(f"select {expression}", [value]).fetchone()  # expression is a literal above
    assert row is not None
    assert row[0] == expected


# --- text jsonb cannot hold ---------------------------------------------------------------------


def test_a_nul_character_would_make_postgres_refuse_the_whole_page(
    db: Conn, strava: tuple[int, Any]
) -> None:
    # The limit itself: jsonb rejects U+0000 before the ingest function runs.
    connection_id, _ = strava
    page = [strava_activity(1), strava_activity(2, description="bad \x00 byte")]
    with pytest.raises(psycopg.errors.UntranslatableCharacter):
        ingest(db, connection_id, page)


def test_without_nul_strips_it_so_every_item_of_the_page_is_stored(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    page = [
        strava_activity(1),
        strava_activity(2, name="Morning\x00 Run", device_name="Edge\x00", **{"k\x00": "v"}),
    ]
    clean = without_nul(page)
    assert clean[0] == page[0]
    assert clean[1]["name"] == "Morning Run"
    assert "k" in clean[1]
    result = ingest(db, connection_id, clean)
    assert (result.created, result.errors) == (2, [])
    row = stored(db, connection_id, "2")
    assert row is not None
    assert row["name"] == "Morning Run"
    untouched = [strava_activity(3)]
    assert without_nul(untouched) is untouched  # nothing to strip: the page itself


def test_jsonb_bytes_is_what_the_gateways_send_and_postgres_takes_every_item(
    db: Conn, strava: tuple[int, Any]
) -> None:
    """The gateways' encoder: U+0000 stripped, NaN and infinities as null (jsonb has neither;
    json.dumps would write NaN and Postgres refuse the page), integers beyond 64 bits kept."""
    connection_id, _ = strava
    page = [
        strava_activity(1, name="Lunch\x00 Ride", average_watts=float("nan")),
        strava_activity(2, max_speed=float("inf"), upload_id=2**70, **{"k\x00": "v"}),
    ]
    encoded = jsonb_bytes(page)
    assert b"\\u0000" not in encoded
    decoded = json.loads(encoded)
    assert decoded[0]["name"] == "Lunch Ride"
    assert decoded[0]["average_watts"] is None
    assert decoded[1]["max_speed"] is None
    assert decoded[1]["upload_id"] == 2**70
    assert "k" in decoded[1]
    assert jsonb_bytes(page[:1]) != json.dumps(page[:1]).encode()  # the stdlib writes NaN
    with db.transaction():
        act_as_service(db)
        row = db.execute(
            "select created, errors from public.ingest_activities(%s, %s)",
            [connection_id, Jsonb(page, dumps=jsonb_bytes)],
        ).fetchone()
        reset_role(db)
    assert row == (2, [])
    stored_row = stored(db, connection_id, "1")
    assert stored_row is not None
    assert stored_row["average_watts"] is None


def test_jsonb_bytes_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError):
        jsonb_bytes({"when": object()})
    assert json.loads(jsonb_bytes({1: "a"}, default=str)) == {"1": "a"}


# --- partial shapes: a Strava list item after the detailed object ---------------------------


def test_a_list_item_keeps_the_description_calories_and_device_of_the_detail(
    db: Conn, strava: tuple[int, Any]
) -> None:
    connection_id, _ = strava
    detail = strava_activity(
        7,
        resource_state=3,
        description="3 x 2 km at threshold",
        calories=871.0,
        device_name="Garmin Forerunner 965",
        laps=[{"id": 1, "elapsed_time": 600}],
    )
    assert ingest(db, connection_id, [detail]).created == 1
    later = T0 + timedelta(hours=1)
    summary = strava_activity(7, name="Renamed in the list")  # resource_state 2
    assert "description" not in summary
    result = ingest(db, connection_id, [summary], received_at=later)
    assert result.updated == 1
    row = stored(db, connection_id, "7")
    assert row is not None
    assert row["name"] == "Renamed in the list"
    assert row["description"] == "3 x 2 km at threshold"
    assert row["calories"] == 871.0
    assert row["device_name"] == "Garmin Forerunner 965"
    assert "_keep_stored" not in row["activity_data"]
    raw = db.execute(
        "select r.payload from public.activity_raw_payloads as r"
        " join public.activities as a on a.id = r.activity_id"
        " where a.connection_id = %s and a.external_id = '7'",
        [connection_id],
    ).fetchone()
    assert raw is not None
    assert raw[0]["name"] == "Renamed in the list"  # the list item's fields win
    assert raw[0]["description"] == "3 x 2 km at threshold"  # the detail's stay
    assert raw[0]["laps"] == [{"id": 1, "elapsed_time": 600}]
    # The same list item again changes nothing; re-normalising keeps the detail's values.
    again = ingest(db, connection_id, [summary], received_at=later)
    assert (again.updated, again.skipped) == (0, 1)
    with db.transaction():
        act_as_service(db)
        changed = db.execute("select public.renormalize_activities('strava')").fetchone()
        reset_role(db)
    assert changed == (0,)


def test_a_newer_detail_may_blank_the_description(db: Conn, strava: tuple[int, Any]) -> None:
    connection_id, _ = strava
    ingest(db, connection_id, [strava_activity(8, resource_state=3, description="old text")])
    cleared = strava_activity(8, resource_state=3, description="")
    ingest(db, connection_id, [cleared], received_at=T0 + timedelta(hours=1))
    row = stored(db, connection_id, "8")
    assert row is not None
    assert row["description"] is None


def test_a_nul_character_sent_through_the_gateway_does_not_lose_the_page(
    db: Conn, strava: tuple[int, Any]
) -> None:
    # The gateway strips U+0000 from every JSON argument, so a provider's stray NUL costs
    # nothing: the whole page is stored.
    connection_id, _ = strava
    page = [strava_activity(1), strava_activity(2, description="bad \x00 byte")]
    # ingest_activities is no Python call of the package (sync_ingest_page calls it in SQL).
    rows = PsycopgGateway(db, allowed=None).call(
        "ingest_activities", {"p_connection_id": connection_id, "p_items": page}
    )
    assert (rows[0]["created"], rows[0]["errors"]) == (2, [])
    row = stored(db, connection_id, "2")
    assert row is not None
    assert row["description"] == "bad  byte"
