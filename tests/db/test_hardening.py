"""Issue 14 (attack review), database side: each test is named after the threat it rules out
and reproduces the attack the review found (each failed on the code before the fix).

- 4: a re-sync must not undo an athlete's edits (privacy, name, description);
- 6: NaN and +-Infinity rejected by every numeric column; JSON columns size-limited;
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.analytics.test_rollups import T0 as WEEK0
from tests.analytics.test_rollups import insert_activity, make_athletes
from tests.helpers import act_as_service, act_as_user, create_auth_user, reset_role
from tests.sync.ingest_support import T0, ingest, make_connection, stored, strava_activity

Conn = psycopg.Connection[Any]


def _as_user(conn: Conn, user: uuid.UUID, query: str, params: list[Any] | None = None) -> Any:
    with conn.transaction():
        act_as_user(conn, user)
        cur = conn.execute(query.encode(), params or [])
        result = cur.fetchall() if cur.description else cur.rowcount
        reset_role(conn)
    return result


# --- 4: the athlete's edits win over provider data ---------------------------------------------


def test_resync_cannot_make_an_athletes_private_activity_public_again(db: Conn) -> None:
    connection_id, athlete = make_connection(db, "strava")
    ingest(db, connection_id, [strava_activity(901)], received_at=T0)
    _as_user(
        db,
        athlete,
        "update public.activities set is_private = true, name = 'Not for the coach',"
        " description = 'mine' where external_id = '901'",
    )
    # A replayed (or genuinely newer) payload that differs: public at the provider, renamed.
    changed = strava_activity(901, name="Renamed at Strava", distance=10100.0)
    result = ingest(db, connection_id, [changed], received_at=T0 + timedelta(hours=1))
    assert result.updated == 1  # the provider's metrics still flow in
    row = stored(db, connection_id, "901")
    assert row is not None
    assert row["is_private"] is True
    assert row["name"] == "Not for the coach"
    assert row["description"] == "mine"
    assert row["distance"] == 10100.0
    assert sorted(row["user_edited_fields"]) == ["description", "is_private", "name"]
    # Re-normalising from the raw payloads keeps them too.
    with db.transaction():
        act_as_service(db)
        db.execute("select public.renormalize_activities('strava')")
        reset_role(db)
    row = stored(db, connection_id, "901")
    assert row is not None
    assert (row["is_private"], row["name"]) == (True, "Not for the coach")


def test_resync_keeps_an_athletes_choice_to_make_a_private_activity_public(db: Conn) -> None:
    connection_id, athlete = make_connection(db, "strava")
    ingest(db, connection_id, [strava_activity(902, private=True)], received_at=T0)
    _as_user(db, athlete, "update public.activities set is_private = false")
    ingest(
        db,
        connection_id,
        [strava_activity(902, private=True, distance=9000.0)],
        received_at=T0 + timedelta(hours=1),
    )
    row = stored(db, connection_id, "902")
    assert row is not None
    assert (row["is_private"], row["distance"]) == (False, 9000.0)


def test_unedited_fields_keep_following_the_provider(db: Conn) -> None:
    connection_id, athlete = make_connection(db, "strava")
    ingest(db, connection_id, [strava_activity(903)], received_at=T0)
    _as_user(db, athlete, "update public.activities set description = 'legs heavy'")
    ingest(
        db,
        connection_id,
        [strava_activity(903, name="Renamed", private=True)],
        received_at=T0 + timedelta(hours=1),
    )
    row = stored(db, connection_id, "903")
    assert row is not None
    assert (row["name"], row["is_private"], row["description"]) == (
        "Renamed",
        True,
        "legs heavy",
    )


def test_athlete_cannot_forge_the_edit_record(db: Conn) -> None:
    connection_id, athlete = make_connection(db, "strava")
    ingest(db, connection_id, [strava_activity(904)], received_at=T0)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_user(db, athlete, "update public.activities set user_edited_fields = '{}'")


# --- 6: NaN, Infinity and oversized JSON ---------------------------------------------------------


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("column", ["distance", "average_speed", "calories"])
def test_athlete_cannot_poison_totals_with_non_finite_numbers(
    db: Conn, column: str, value: str
) -> None:
    athlete = create_auth_user(db, f"{uuid.uuid4().hex}@example.com")
    with pytest.raises(psycopg.errors.CheckViolation):
        _as_user(
            db,
            athlete,
            f"insert into public.activities (start_date, activity_type, {column})"
            " values (now(), 'run', %s::double precision)",
            [value],
        )


def test_nan_never_reaches_rollups_or_analyst_totals(db: Conn) -> None:
    world = make_athletes(db, 1)
    [athlete] = world.users
    insert_activity(db, world, athlete, "garmin", WEEK0, distance=1000.0)
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        insert_activity(db, world, athlete, "garmin", WEEK0, distance=float("nan"))
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        insert_activity(db, world, athlete, "manual", WEEK0, elevation_gain=float("inf"))
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        db.execute(
            "insert into public.workouts (user_id, planned_date, activity_type, name,"
            " planned_distance)"
            " values (%s, current_date, 'run', 'tempo', 'NaN')",
            [athlete],
        )
    total = db.execute(
        "select sum(distance)::float8 from public.weekly_rollups where user_id = %s", [athlete]
    ).fetchone()
    assert total == (1000.0,)


def test_athlete_cannot_store_megabytes_of_preferences_or_activity_data(db: Conn) -> None:
    athlete = create_auth_user(db, f"{uuid.uuid4().hex}@example.com")
    big = json.dumps({"junk": "x" * 1_000_000})
    with pytest.raises(psycopg.errors.CheckViolation):
        _as_user(db, athlete, "update public.users set preferences = %s::jsonb", [big])
    with pytest.raises(psycopg.errors.CheckViolation):
        _as_user(
            db,
            athlete,
            "insert into public.activities (start_date, activity_type, activity_data)"
            " values (now(), 'run', %s::jsonb)",
            [big],
        )
    # Reasonable documents still fit.
    _as_user(
        db,
        athlete,
        "update public.users set preferences = %s::jsonb",
        [json.dumps({"ftp": 250, "units": "metric", "notes": "y" * 2000})],
    )


# --- 12: coach grants reveal nothing before the coach accepts -----------------------------------


def _users(conn: Conn, *roles: str) -> list[uuid.UUID]:
    people = []
    for role in roles:
        user = create_auth_user(conn, f"{role}-{uuid.uuid4().hex[:8]}@example.com")
        conn.execute("update public.users set role = %s where id = %s", [role, user])
        people.append(user)
    return people


def test_offering_a_grant_does_not_reveal_whether_a_uuid_is_a_coach(db: Conn) -> None:
    athlete, coach, other = _users(db, "athlete", "coach", "athlete")
    outcomes = []
    for grantee in (coach, other):
        try:
            with db.transaction():
                outcomes.append(
                    _as_user(
                        db,
                        athlete,
                        "insert into public.coach_athletes (athlete_id, coach_id) values (%s, %s)",
                        [athlete, grantee],
                    )
                )
        except psycopg.Error as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes == [1, 1]


def test_a_non_coach_cannot_accept_an_offer_to_read_an_athlete(db: Conn) -> None:
    athlete, other = _users(db, "athlete", "athlete")
    _as_user(
        db,
        athlete,
        "insert into public.coach_athletes (athlete_id, coach_id) values (%s, %s)",
        [athlete, other],
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_user(db, other, "update public.coach_athletes set status = 'active'")
    assert _as_user(db, other, "select id from public.users where id = %s", [athlete]) == []


def test_pending_coach_cannot_read_the_athletes_preferences(db: Conn) -> None:
    athlete, coach = _users(db, "athlete", "coach")
    db.execute(
        'update public.users set preferences = \'{"ftp": 287, "max_heart_rate": 191}\','
        " first_name = 'Alice' where id = %s",
        [athlete],
    )
    _as_user(
        db,
        athlete,
        "insert into public.coach_athletes (athlete_id, coach_id) values (%s, %s)",
        [athlete, coach],
    )
    read = "select preferences from public.users where id = %s"
    assert _as_user(db, coach, read, [athlete]) == []
    # The coach learns who offers (no preferences) ...
    offers = _as_user(db, coach, "select athlete_id, first_name from public.pending_coach_offers()")
    assert offers == [(athlete, "Alice")]
    # ... and reads the profile once they accepted.
    _as_user(db, coach, "update public.coach_athletes set status = 'active'")
    assert _as_user(db, coach, read, [athlete]) == [({"ftp": 287, "max_heart_rate": 191},)]
    assert _as_user(db, coach, "select * from public.pending_coach_offers()") == []


# --- 11: one disconnect path ---------------------------------------------------------------------


def test_athlete_disconnect_through_the_data_api_cannot_keep_strava_data_or_skip_revocation(
    db: Conn,
) -> None:
    connection_id, athlete = make_connection(db, "strava")
    ingest(db, connection_id, [strava_activity(911), strava_activity(912)], received_at=T0)
    db.execute(
        "insert into private.provider_tokens (connection_id, user_id, key_id,"
        " access_token_ciphertext, refresh_token_ciphertext)"
        " values (%s, %s, 'k1', 'sealed-access', 'sealed-refresh')",
        [connection_id, athlete],
    )
    changed = _as_user(
        db,
        athlete,
        "update public.provider_connections set status = 'disconnected' where id = %s",
        [connection_id],
    )
    assert changed == 1
    left = db.execute(
        "select (select count(*) from public.activities where connection_id = %(c)s),"
        " (select count(*) from private.provider_tokens where connection_id = %(c)s),"
        " (select count(*) from private.token_revocations where connection_id = %(c)s"
        "   and access_token_ciphertext = 'sealed-access'),"
        " (select count(*) from queue.procrastinate_jobs where task_name ="
        "   'trainlytics:revoke_tokens' and (args->>'connection_id')::bigint = %(c)s),"
        " (select sync_cursor = '{}' and last_sync_at is null from public.provider_connections"
        "   where id = %(c)s)",
        {"c": connection_id},
    ).fetchone()
    assert left == (0, 0, 1, 1, True)


# --- 10: coaches learn nothing of hidden activities ---------------------------------------------


def _coach_of(conn: Conn, athlete: uuid.UUID) -> uuid.UUID:
    [coach] = _users(conn, "coach")
    conn.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [athlete, coach],
    )
    return coach


def _coach_reads(conn: Conn, coach: uuid.UUID, athlete: uuid.UUID) -> list[Any]:
    return list(
        _as_user(
            conn,
            coach,
            "select id, primary_activity_id from public.activities where user_id = %s order by id",
            [athlete],
        )
    )


def test_coach_cannot_see_a_copy_pointing_to_the_athletes_strava_primary(db: Conn) -> None:
    world = make_athletes(db, 1)
    [athlete] = world.users
    coach = _coach_of(db, athlete)
    strava = insert_activity(db, world, athlete, "strava", WEEK0)
    manual = insert_activity(db, world, athlete, "manual", WEEK0)
    grouped = db.execute(
        "select primary_activity_id from public.activities where id = %s", [manual]
    ).fetchone()
    assert grouped == (strava,)  # Strava outranks a manual entry: the copy names it
    assert _coach_reads(db, coach, athlete) == []


def test_hiding_the_primary_hides_every_copy_of_the_workout_from_the_coach(db: Conn) -> None:
    world = make_athletes(db, 1)
    [athlete] = world.users
    coach = _coach_of(db, athlete)
    garmin = insert_activity(db, world, athlete, "garmin", WEEK0)
    manual = insert_activity(db, world, athlete, "manual", WEEK0)
    assert _coach_reads(db, coach, athlete) == [(garmin, None), (manual, garmin)]
    _as_user(db, athlete, "update public.activities set is_private = true where id = %s", [garmin])
    assert _coach_reads(db, coach, athlete) == []
    # Made public again, the workout is back; the athlete always sees both copies.
    _as_user(db, athlete, "update public.activities set is_private = false where id = %s", [garmin])
    assert _coach_reads(db, coach, athlete) == [(garmin, None), (manual, garmin)]
    # Split from its group, the manual entry stands on its own (visible on its own terms).
    _as_user(db, athlete, "update public.activities set is_private = true where id = %s", [garmin])
    _as_user(db, athlete, "select public.split_duplicate(%s)", [manual])
    assert _coach_reads(db, coach, athlete) == [(manual, None)]


def test_coach_cannot_see_which_hidden_activity_fulfilled_a_workout(db: Conn) -> None:
    world = make_athletes(db, 1)
    [athlete] = world.users
    coach = _coach_of(db, athlete)
    hidden = insert_activity(db, world, athlete, "garmin", WEEK0, is_private=True)
    visible = insert_activity(db, world, athlete, "garmin", WEEK0 + timedelta(days=2))
    for day, activity in ((0, hidden), (2, visible)):
        db.execute(
            "insert into public.workouts (user_id, planned_date, activity_type, name,"
            " completed_activity_id) values (%s, %s, 'ride', 'planned', %s)",
            [athlete, (WEEK0 + timedelta(days=day)).date(), activity],
        )
    seen = _as_user(
        db, coach, "select completed_activity_id from public.workouts where user_id = %s", [athlete]
    )
    assert seen == [(visible,)]
    mine = _as_user(
        db,
        athlete,
        "select completed_activity_id from public.workouts order by completed_activity_id",
    )
    assert mine == [(hidden,), (visible,)]


# --- 5: analyst suppression cannot be differenced away -------------------------------------------


def _as_analyst(conn: Conn, query: str, params: list[Any] | None = None) -> list[Any]:
    with conn.transaction(force_rollback=True):
        conn.execute("set local role analyst")
        return conn.execute(query.encode(), params or []).fetchall()


def _five_runners_and_a_swimmer(conn: Conn) -> None:
    world = make_athletes(conn, 6)
    for user in world.users[:5]:
        insert_activity(conn, world, user, "garmin", WEEK0, activity_type="run", distance=10000.0)
    insert_activity(
        conn, world, world.users[5], "garmin", WEEK0, activity_type="swim", distance=1234.0
    )


def test_analyst_cannot_difference_the_swimmers_load_out_of_two_weekly_views(db: Conn) -> None:
    _five_runners_and_a_swimmer(db)
    week = WEEK0.date()
    [(athletes, mean_load, mean_moving)] = _as_analyst(
        db,
        "select athlete_count, mean_load, mean_moving_time from analytics.weekly_training_load"
        " where week_start = %s",
        [week],
    )
    by_sport = _as_analyst(
        db,
        "select activity_type::text, athlete_count, total_load, total_moving_time"
        " from analytics.weekly_volume_by_sport where week_start = %s",
        [week],
    )
    assert [row[0] for row in by_sport] == ["run"]
    _, runners, run_load, run_moving = by_sport[0]
    # The week's totals are exactly the published cells' totals: nothing left for the swimmer.
    assert athletes == runners == 5
    assert mean_load * athletes == pytest.approx(run_load)
    assert mean_moving * athletes == pytest.approx(run_moving)


def test_analyst_cannot_difference_the_swimmers_distance_out_of_two_monthly_views(
    db: Conn,
) -> None:
    _five_runners_and_a_swimmer(db)
    month = WEEK0.date().replace(day=1)
    by_provider = _as_analyst(
        db,
        "select sum(total_distance) from analytics.monthly_volume_by_provider"
        " where month_start = %s",
        [month],
    )
    by_sport = _as_analyst(
        db,
        "select sum(total_distance) from analytics.monthly_volume_by_sport where month_start = %s",
        [month],
    )
    assert by_provider == by_sport == [(50000.0,)]


def test_analyst_cannot_read_individuals_values_as_quartiles_of_five(db: Conn) -> None:
    world = make_athletes(db, 5)
    for n, user in enumerate(world.users):
        insert_activity(db, world, user, "garmin", WEEK0, moving_time=1800 + 600 * n)
    [(athletes, p25, median, p75)] = _as_analyst(
        db,
        "select athlete_count, load_p25, load_median, load_p75 from analytics.weekly_training_load"
        " where week_start = %s",
        [WEEK0.date()],
    )
    assert (athletes, p25, median, p75) == (5, None, None, None)


# --- 7: duplicate grouping stays linear ----------------------------------------------------------


def _crowd(conn: Conn, user: uuid.UUID, count: int, start: str, source: str = "manual") -> None:
    conn.execute(
        "insert into public.activities (user_id, source, is_manual, external_id, start_date,"
        " activity_type, moving_time, distance)"
        " select %s, %s, %s, %s || g, %s, 'run', 3600, 10000 from generate_series(1, %s) as g",
        [user, source, source == "manual", f"{source}-{start}-", start, count],
    )


def test_a_crowd_of_same_time_manual_entries_cannot_stall_duplicate_grouping(db: Conn) -> None:
    athlete = create_auth_user(db, f"{uuid.uuid4().hex}@example.com")
    with db.transaction():
        # Before the fix this insert took minutes (40 rows: 0.5 s, 100: 15 s, 250: timeout).
        db.execute("set local statement_timeout = '1s'")
        _crowd(db, athlete, 250, "2026-01-05T10:00:00Z")
    # Two manual entries are two workouts: none of them became a copy of another.
    primaries = db.execute(
        "select count(*) from public.activities where user_id = %s and primary_activity_id is null",
        [athlete],
    ).fetchone()
    assert primaries == (250,)


def test_an_insert_next_to_a_large_cluster_stays_cheap(db: Conn) -> None:
    athlete = create_auth_user(db, f"{uuid.uuid4().hex}@example.com")
    _crowd(db, athlete, 70, "2026-01-05T10:00:00Z", source="file")
    _crowd(db, athlete, 70, "2026-01-06T10:00:00Z")
    with db.transaction():
        db.execute("set local statement_timeout = '500ms'")
        _crowd(db, athlete, 1, "2026-01-05T10:01:00Z")
        _crowd(db, athlete, 1, "2026-01-06T10:01:00Z", source="file")


def test_a_crowd_of_same_time_imported_files_is_grouped_in_bounded_time(db: Conn) -> None:
    athlete = create_auth_user(db, f"{uuid.uuid4().hex}@example.com")
    with db.transaction():
        db.execute("set local statement_timeout = '3s'")
        _crowd(db, athlete, 250, "2026-01-05T10:00:00Z", source="file")
    with db.transaction():
        act_as_service(db)
        db.execute("set local statement_timeout = '5s'")
        db.execute("select public.regroup_activity_duplicates(%s)", [athlete])
        reset_role(db)


# --- 12: personal records are not recomputed from whole histories on each read ------------------


def test_reading_personal_records_does_not_recompute_the_whole_history(db: Conn) -> None:
    plan = db.execute("explain (format json) select * from public.personal_records").fetchone()
    assert plan is not None
    # Before: a scan of every activity, five record rows each, sorted on every read.
    assert '"activities"' not in json.dumps(plan[0])
    # The records are kept as activities change (the equality with a rebuild is checked by
    # tests/analytics/test_rollups.py after random operations).
    world = make_athletes(db, 1)
    [athlete] = world.users
    first = insert_activity(db, world, athlete, "garmin", WEEK0, distance=40000.0)
    second = insert_activity(db, world, athlete, "garmin", WEEK0 + timedelta(days=1))
    holder = "select activity_id from public.personal_records where record = 'longest_distance'"
    assert db.execute(holder).fetchall() == [(first,)]
    db.execute("delete from public.activities where id = %s", [first])
    assert db.execute(holder).fetchall() == [(second,)]


def test_a_quick_reconnect_is_not_undone_by_revoking_the_old_tokens(db: Conn) -> None:
    connection_id, athlete = make_connection(db, "strava")
    db.execute(
        "insert into private.provider_tokens (connection_id, user_id, key_id,"
        " access_token_ciphertext) values (%s, %s, 'k1', 'old-access')",
        [connection_id, athlete],
    )
    _as_user(
        db,
        athlete,
        "update public.provider_connections set status = 'disconnected' where id = %s",
        [connection_id],
    )
    assert db.execute("select count(*) from private.token_revocations").fetchone() == (1,)
    # The athlete reconnects before a worker ran (connection_upsert sets the status back).
    db.execute(
        "update public.provider_connections set status = 'active' where id = %s", [connection_id]
    )
    assert db.execute("select count(*) from private.token_revocations").fetchone() == (0,)
