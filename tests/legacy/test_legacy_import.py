"""The legacy import on a real v1 database (v1_schema.sql) with messy data, into a migrated v2."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.helpers import act_as_anon, act_as_user, reset_role
from tests.legacy.conftest import sign_in, v1_url
from tests.legacy.v1_factory import V1, strava_detail
from trainlytics.connections.crypto import TokenCipher
from trainlytics.errors import TrainlyticsError
from trainlytics.legacy.auth_users import LocalAuthUsers
from trainlytics.legacy.importer import LegacyImporter, LegacyReport
from trainlytics.users.auth_admin import check_local_auth

Conn = psycopg.Connection[dict[str, Any]]
RunImport = Callable[..., LegacyReport]


def user_id(v2: Conn, email: str) -> uuid.UUID:
    row = v2.execute("select id from public.users where email = %s", [email]).fetchone()
    assert row is not None, email
    value: uuid.UUID = row["id"]
    return value


def counts(v2: Conn) -> dict[str, int]:
    tables = (
        "auth.users", "auth.identities", "public.users", "public.provider_connections",
        "private.provider_tokens", "public.activities", "public.activity_raw_payloads",
        "public.workouts", "public.sync_history", "public.connection_events",
        "private.legacy_users", "private.legacy_auth_pending",
    )  # fmt: skip
    result = {}
    for table in tables:
        row = v2.execute(f"select count(*) as n from {table}").fetchone()
        assert row is not None
        result[table] = row["n"]
    return result


def v1_fingerprint(v1: V1) -> str:
    digest = hashlib.sha256()
    for table in ("users", "strava_connections", "activities", "password_reset_tokens", "workouts"):
        for (row,) in v1.conn.execute(f"select to_jsonb(t)::text from {table} as t order by id"):
            digest.update(row.encode())
    return digest.hexdigest()


def assert_counts_add_up(report: LegacyReport) -> None:
    for name, table in report.tables.items():
        assert table.read == table.created + table.already_there + table.skipped_total, name


# Users ------------------------------------------------------------------------------------------


def test_v1_users_sign_in_with_their_v1_passwords(run_import: RunImport, v1: V1, v2: Conn) -> None:
    run_import()
    # $2a$ cost 10, $2y$ cost 11, $2b$ cost 12, emails typed with spaces and capitals.
    for key, typed in (
        ("ada", " Ada.Lovelace@Example.COM "),
        ("coach", "coach.carla@example.com"),
        ("admin", "ROOT@example.com"),
        ("bob", "bob@example.com"),
    ):
        assert sign_in(v2, typed, v1.passwords[key]) is not None, key
        assert sign_in(v2, typed, v1.passwords[key] + "x") is None, key
    # Not verified in v1: the account exists, unconfirmed, so the password grant refuses it.
    row = v2.execute(
        "select email_confirmed_at, encrypted_password from auth.users where email = %s",
        ["old.timer@example.com"],
    ).fetchone()
    assert row is not None
    assert row["email_confirmed_at"] is None
    assert row["encrypted_password"].startswith("$2b$10$")
    assert sign_in(v2, "old.timer@example.com", v1.passwords["legacy_user"]) is None


def test_auth_rows_are_written_as_supabase_auth_writes_them(
    run_import: RunImport, v2: Conn
) -> None:
    run_import()
    ada = user_id(v2, "ada.lovelace@example.com")
    user = v2.execute("select * from auth.users where id = %s", [ada]).fetchone()
    assert user is not None
    assert (user["aud"], user["role"]) == ("authenticated", "authenticated")
    assert user["encrypted_password"].startswith("$2a$10$")
    for column in (
        "confirmation_token",
        "recovery_token",
        "email_change_token_new",
        "email_change",
    ):
        assert user[column] == "", column
    assert user["raw_app_meta_data"] == {"provider": "email", "providers": ["email"]}
    assert user["raw_user_meta_data"] == {
        "first_name": "Ada", "last_name": "Lovelace", "email_verified": True,
    }  # fmt: skip
    identity = v2.execute("select * from auth.identities where user_id = %s", [ada]).fetchone()
    assert identity is not None
    assert (identity["provider"], identity["provider_id"]) == ("email", str(ada))
    assert identity["identity_data"]["sub"] == str(ada)
    assert identity["email"] == "ada.lovelace@example.com"


def test_profiles_carry_names_flags_roles_and_preferences(run_import: RunImport, v2: Conn) -> None:
    report = run_import()
    profiles = {
        r["email"]: r
        for r in v2.execute(
            "select email, first_name, last_name, avatar_url, role::text, is_active, "
            "is_verified, preferences, created_at from public.users"
        )
    }
    ada = profiles["ada.lovelace@example.com"]
    assert (ada["first_name"], ada["last_name"], ada["avatar_url"]) == (
        "Ada", "Lovelace", "https://example.com/ada.jpg",
    )  # fmt: skip
    assert ada["preferences"] == {"units": "metric", "ftp": 250}
    assert ada["is_verified"]
    assert ada["is_active"]
    roles = {email: p["role"] for email, p in profiles.items()}
    assert roles == {
        "ada.lovelace@example.com": "athlete",
        "coach.carla@example.com": "coach",  # 'Coach'
        "root@example.com": "admin",
        "old.timer@example.com": "athlete",  # 'user'
        "blank@example.com": "athlete",  # ''
        "notadmin@example.com": "athlete",  # ' ADMIN': never promoted from a messy value
        "bob@example.com": "athlete",
        "nostrava@example.com": "athlete",
    }
    assert not profiles["notadmin@example.com"]["is_active"]
    # Preferences that are not a JSON object: kept verbatim under the documented key.
    assert profiles["old.timer@example.com"]["preferences"] == {
        "legacy_v1_preferences": "{units: metric}"
    }
    assert profiles["blank@example.com"]["preferences"] == {"legacy_v1_preferences": "[1, 2]"}
    assert profiles["coach.carla@example.com"]["preferences"] == {}
    mapped = {(n["v1"], n["v2"]) for n in report.notes["roles_mapped"]}
    assert mapped == {("Coach", "coach"), ("user", "athlete"), ("", "athlete"),
                      (" ADMIN", "athlete")}  # fmt: skip
    assert len(report.notes["preferences_kept_verbatim"]) == 2


def test_colliding_emails_are_reported_not_merged(run_import: RunImport, v1: V1, v2: Conn) -> None:
    report = run_import()
    (collision,) = report.notes["email_collisions"]
    assert collision["email"] == "bob@example.com"
    assert collision["imported_v1_id"] == v1.users["bob"]
    assert collision["not_imported_v1_ids"] == [v1.users["bob_twin"]]
    assert sign_in(v2, "bob@example.com", v1.passwords["bob"]) is not None
    assert sign_in(v2, "bob@example.com", v1.passwords["bob_twin"]) is None
    skipped = {d["v1_id"]: d["reason"] for d in report.tables["users"].details}
    assert "collides with v1 user" in skipped[v1.users["bob_twin"]]
    assert "not an address" in skipped[v1.users["bad_email"]]
    # The loser's activity is counted as skipped, not lost silently.
    assert (
        report.tables["activities"].skipped[
            f"its v1 user #{v1.users['bob_twin']} is not imported (see users)"
        ]
        == 1
    )


def test_an_address_registered_in_v2_is_not_merged(run_import: RunImport, v1: V1, v2: Conn) -> None:
    v2.execute(
        "insert into auth.users (id, aud, role, email, encrypted_password, created_at,"
        " updated_at) values (gen_random_uuid(), 'authenticated', 'authenticated',"
        " 'nostrava@example.com', '', now(), now())"
    )
    report = run_import()
    skipped = {d["v1_id"]: d["reason"] for d in report.tables["users"].details}
    assert "already registered in v2" in skipped[v1.users["no_conn"]]
    assert sign_in(v2, "nostrava@example.com", v1.passwords["no_conn"]) is None


def test_the_mapping_finds_every_imported_user(run_import: RunImport, v1: V1, v2: Conn) -> None:
    run_import()
    rows = v2.execute(
        "select m.v1_user_id, m.v1_email, u.email from private.legacy_users as m"
        " join public.users as u on u.id = m.user_id order by m.v1_user_id"
    ).fetchall()
    assert {r["v1_user_id"] for r in rows} == {
        v1.users[k]
        for k in ("ada", "coach", "admin", "legacy_user", "blank_role", "fake_admin", "bob",
                  "no_conn")
    }  # fmt: skip
    ada = next(r for r in rows if r["v1_user_id"] == v1.users["ada"])
    assert (ada["v1_email"], ada["email"]) == (
        " Ada.Lovelace@Example.COM ",
        "ada.lovelace@example.com",
    )


# Strava connections ------------------------------------------------------------------------------


def test_the_newest_usable_connection_wins_with_its_tokens_encrypted(
    run_import: RunImport, v1: V1, v2: Conn, cipher: TokenCipher
) -> None:
    report = run_import()
    ada = user_id(v2, "ada.lovelace@example.com")
    conn = v2.execute(
        "select * from public.provider_connections where user_id = %s", [ada]
    ).fetchone()
    assert conn is not None
    assert (conn["provider"], conn["provider_user_id"], conn["provider_username"]) == (
        "strava", "134815", "ada_runs",
    )  # fmt: skip
    assert conn["status"] == "active"
    assert sorted(conn["scopes"]) == ["activity:read_all", "profile:read_all", "read"]
    assert conn["provider_profile"]["firstname"] == "Ada"
    assert conn["last_sync_at"].isoformat() == "2024-03-02T06:00:00+00:00"
    tokens = v2.execute(
        "select * from private.provider_tokens where connection_id = %s", [conn["id"]]
    ).fetchone()
    assert tokens is not None
    assert tokens["key_id"] == "k1"
    assert "ada-new-access" not in tokens["access_token_ciphertext"]
    assert (
        cipher.decrypt(
            tokens["access_token_ciphertext"],
            key_id="k1",
            aad=f"trainlytics:{ada}:strava:access_token".encode(),
        )
        == "ada-new-access"
    )
    assert (
        cipher.decrypt(
            tokens["refresh_token_ciphertext"],
            key_id="k1",
            aad=f"trainlytics:{ada}:strava:refresh_token".encode(),
        )
        == "ada-new-refresh"
    )
    # Carla's newest row has no tokens: her older usable row wins.
    carla = user_id(v2, "coach.carla@example.com")
    row = v2.execute(
        "select c.status::text, t.access_token_ciphertext is not null as has_tokens,"
        " c.provider_profile from public.provider_connections as c"
        " left join private.provider_tokens as t on t.connection_id = c.id where c.user_id = %s",
        [carla],
    ).fetchone()
    assert row == {"status": "active", "has_tokens": True, "provider_profile": {}}
    choices = {c["v1_user_id"]: c for c in report.notes["connection_choices"]}
    assert choices[v1.users["ada"]]["imported_v1_connection_id"] == v1.connections["ada_new"]
    assert choices[v1.users["coach"]]["imported_v1_connection_id"] == v1.connections["coach_usable"]
    superseded = {d["v1_id"] for d in report.tables["strava_connections"].details}
    assert superseded == {v1.connections["ada_old"], v1.connections["coach_tokenless"]}
    # No plain v1 token anywhere in v2's connection data.
    dump = v2.execute(
        "select string_agg(to_jsonb(c)::text, '') as t from public.provider_connections as c"
    ).fetchone()
    assert dump is not None
    for secret in ("ada-new-access", "ada-new-refresh", "carla-access", "root-access"):
        assert secret not in dump["t"]


def test_a_connection_without_usable_tokens_arrives_revoked_with_the_reason(
    run_import: RunImport, v2: Conn
) -> None:
    run_import()
    rows = {
        r["email"]: r
        for r in v2.execute(
            "select u.email, c.status::text, c.last_error, c.is_active,"
            " exists (select from private.provider_tokens as t where t.connection_id = c.id)"
            " as has_tokens from public.provider_connections as c"
            " join public.users as u on u.id = c.user_id"
        )
    }
    old = rows["old.timer@example.com"]
    assert (old["status"], old["is_active"], old["has_tokens"]) == ("revoked", False, False)
    assert "kept no access token" in old["last_error"]
    assert "reconnect Strava" in old["last_error"]
    root = rows["root@example.com"]
    assert (root["status"], root["has_tokens"]) == ("revoked", False)
    assert "inactive in Trainlytics v1" in root["last_error"]
    events = v2.execute(
        "select event::text, detail from public.connection_events as e"
        " join public.users as u on u.id = e.user_id where u.email = 'old.timer@example.com'"
    ).fetchall()
    assert [e["event"] for e in events] == ["revoked"]
    assert events[0]["detail"]["legacy_import"] is True


def test_a_sync_history_row_says_where_the_history_came_from(
    run_import: RunImport, v1: V1, v2: Conn
) -> None:
    run_import()
    ada = user_id(v2, "ada.lovelace@example.com")
    (run,) = v2.execute(
        "select sync_trigger::text, sync_status::text, activities_fetched, activities_created,"
        " activities_skipped, api_calls, error_details, window_start, window_end"
        " from public.sync_history where user_id = %s",
        [ada],
    ).fetchall()
    # Six Strava rows in v1: four distinct activities, one repeated row, one unreadable id.
    assert run["sync_trigger"] == "legacy_import"
    assert run["sync_status"] == "partial"
    assert (run["activities_fetched"], run["activities_created"], run["api_calls"]) == (6, 4, 0)
    assert run["activities_skipped"] == 2
    assert run["error_details"]["source"] == "Trainlytics v1"
    assert [s["v1_id"] for s in run["error_details"]["skipped"]] == [v1.activities["ada_bad_id"]]
    assert run["window_start"] <= run["window_end"]
    histories = v2.execute("select count(*) as n from public.sync_history").fetchone()
    connections = v2.execute("select count(*) as n from public.provider_connections").fetchone()
    assert histories == connections


# Activities --------------------------------------------------------------------------------------


def test_raw_data_goes_through_the_same_ingest_as_synced_data(
    run_import: RunImport, v2: Conn
) -> None:
    run_import()
    # The same payload ingested by a sync, on another athlete's connection: same columns.
    detail = strava_detail()
    with v2.transaction():
        other = v2.execute(
            "insert into auth.users (id, aud, role, email, created_at, updated_at) values"
            " (gen_random_uuid(), 'authenticated', 'authenticated', 'synced@example.com',"
            " now(), now()) returning id"
        ).fetchone()
        assert other is not None
        conn = v2.execute(
            "insert into public.provider_connections (user_id, provider, provider_user_id)"
            " values (%s, 'strava', 'synced') returning id",
            [other["id"]],
        ).fetchone()
        assert conn is not None
        v2.execute(
            "select * from public.ingest_activities(%s, %s::jsonb)",
            [conn["id"], psycopg.types.json.Jsonb([detail])],
        )
    columns = (
        "name, description, activity_type::text, provider_activity_type, start_date, timezone,"
        " utc_offset, elapsed_time, moving_time, distance, average_speed, max_speed,"
        " average_heartrate, max_heartrate, average_cadence, elevation_gain, calories,"
        " is_manual, is_private, device_name, activity_data"
    )
    rows = v2.execute(
        f"select user_id, {columns} from public.activities where external_id = %s",
        [str(detail["id"])],
    ).fetchall()
    assert len(rows) == 2
    imported, synced = sorted(rows, key=lambda r: r["user_id"] == other["id"])
    imported.pop("user_id")
    synced.pop("user_id")
    assert imported == synced
    payload = v2.execute(
        "select p.payload from public.activity_raw_payloads as p"
        " join public.activities as a on a.id = p.activity_id"
        " where a.external_id = %s and a.user_id <> %s",
        [str(detail["id"]), other["id"]],
    ).fetchone()
    assert payload is not None
    assert payload["payload"] == detail


def test_rows_without_raw_data_are_read_in_stravas_shape(
    run_import: RunImport, v1: V1, v2: Conn
) -> None:
    report = run_import()
    row = v2.execute(
        "select a.*, p.payload from public.activities as a"
        " join public.activity_raw_payloads as p on p.activity_id = a.id"
        " where a.external_id = '9000000001'"
    ).fetchone()
    assert row is not None
    assert (row["source"], row["provider"]) == ("provider", "strava")
    assert row["activity_type"] == "run"  # 'RUN'
    assert row["provider_activity_type"] == "RUN"
    assert row["start_date"].isoformat() == "2024-03-05T17:00:00+00:00"  # naive UTC in v1
    assert (row["timezone"], row["utc_offset"]) == ("Europe/Paris", 3600)
    assert row["start_date_local"].isoformat() == "2024-03-05T18:00:00"
    assert row["average_cadence"] == 172.0  # Strava's one-leg 86 spm, doubled
    assert (row["distance"], row["moving_time"], row["elevation_gain"]) == (12000.0, 3000, 80.0)
    assert (row["calories"], row["description"], row["is_private"]) == (800.0, "4 x 2 km", True)
    assert row["payload"]["start_date_local"] == "2024-03-05T18:00:00Z"
    # raw_data that does not parse: the columns are used, and it is reported.
    bad = v2.execute(
        "select activity_type::text, average_watts from public.activities"
        " where external_id = '9000000002'"
    ).fetchone()
    assert bad == {"activity_type": "ride", "average_watts": 180.0}
    assert report.notes["activities_rebuilt_from_columns"] == [
        {"v1_id": v1.activities["ada_bad_raw"],
         "reason": "raw_data is not a JSON object: rebuilt from the columns"}
    ]  # fmt: skip


def test_manual_v1_entries_become_manual_activities_and_duplicates_are_grouped(
    run_import: RunImport, v1: V1, v2: Conn
) -> None:
    run_import()
    rows = {
        r["external_id"]: r
        for r in v2.execute(
            "select a.id, a.external_id, a.source::text, a.is_manual, a.connection_id,"
            " a.activity_type::text, a.primary_activity_id, a.activity_data"
            " from public.activities as a join public.users as u on u.id = a.user_id"
            " where u.email = 'ada.lovelace@example.com'"
        )
    }
    yoga = rows[f"legacy-v1-activity:{v1.activities['ada_manual']}"]
    assert (yoga["source"], yoga["is_manual"], yoga["connection_id"]) == ("manual", True, None)
    assert yoga["activity_type"] == "yoga"
    assert yoga["activity_data"]["legacy_v1_activity_id"] == v1.activities["ada_manual"]
    # The typed copy of the Strava tempo run is grouped under it, as any duplicate is.
    typed = rows[f"legacy-v1-activity:{v1.activities['ada_manual_dup']}"]
    assert typed["primary_activity_id"] == rows["9000000001"]["id"]
    assert rows["9000000001"]["primary_activity_id"] is None


def test_strava_rows_without_a_connection_or_id_are_reported(run_import: RunImport, v1: V1) -> None:
    report = run_import()
    skipped = {d["v1_id"]: d["reason"] for d in report.tables["activities"].details}
    assert "without a v1 Strava connection" in skipped[v1.activities["orphan_strava"]]
    assert skipped[v1.activities["ada_bad_id"]] == "strava activity without a numeric id"
    table = report.tables["activities"]
    # 12 read: 8 created, 1 repeated Strava row already there, 3 skipped (the two above, and
    # the activity of the user whose email collided).
    assert (table.read, table.created, table.already_there, table.skipped_total) == (12, 8, 1, 3)
    assert_counts_add_up(report)


# Workouts and what is not carried ----------------------------------------------------------------


def test_workouts_keep_their_coach_and_completed_activity(
    run_import: RunImport, v1: V1, v2: Conn
) -> None:
    report = run_import()
    rows = {
        r["name"]: r
        for r in v2.execute(
            "select w.name, w.activity_type::text, w.planned_duration, w.planned_distance,"
            " c.email as coach, a.external_id as completed, u.email as athlete"
            " from public.workouts as w join public.users as u on u.id = w.user_id"
            " left join public.users as c on c.id = w.coach_id"
            " left join public.activities as a on a.id = w.completed_activity_id"
        )
    }
    tempo = rows["Tempo 4 x 2 km"]
    assert tempo == {
        "name": "Tempo 4 x 2 km", "activity_type": "run", "planned_duration": 3000,
        "planned_distance": 12000.0, "coach": "coach.carla@example.com",
        "completed": "9000000001", "athlete": "ada.lovelace@example.com",
    }  # fmt: skip
    yoga = rows["Workout"]  # a blank v1 title
    assert (yoga["activity_type"], yoga["planned_duration"], yoga["coach"]) == ("yoga", None, None)
    assert yoga["completed"] == f"legacy-v1-activity:{v1.activities['ada_manual']}"
    drills = rows["Swim drills"]
    assert (drills["coach"], drills["completed"]) == (None, None)
    noted = {n["v1_id"]: n for n in report.notes["workouts"]}
    assert "was not imported" in noted[v1.workouts["no_conn_from_twin"]]["coach"]
    assert "was not imported" in noted[v1.workouts["no_conn_from_twin"]]["completed_activity"]


def test_password_reset_tokens_are_not_carried(run_import: RunImport) -> None:
    report = run_import()
    table = report.tables["password_reset_tokens"]
    assert (table.read, table.created, table.skipped_total) == (2, 0, 2)
    (reason,) = table.skipped
    assert "recovery" in reason


# Safety ------------------------------------------------------------------------------------------


def test_a_second_run_adds_nothing(run_import: RunImport, v2: Conn) -> None:
    first = run_import()
    before = counts(v2)
    second = run_import()
    assert counts(v2) == before
    for name, table in second.tables.items():
        assert table.created == 0, name
        assert table.read == first.tables[name].read
    assert second.tables["users"].already_there == first.tables["users"].created
    # Every row of an imported user is there (a user is imported whole); the collision
    # loser's activity is still skipped.
    activities = second.tables["activities"]
    assert (activities.already_there, activities.skipped_total) == (11, 1)
    assert_counts_add_up(second)


def test_an_interrupted_run_resumes_without_half_imported_users(
    run_import: RunImport, v1: V1, v2: Conn, v2_url: str, cipher: TokenCipher
) -> None:
    seen: list[int] = []

    def crash_on_third_user(v1_id: int) -> None:
        seen.append(v1_id)
        if len(seen) == 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C (or a kill) mid-user

    with pytest.raises(KeyboardInterrupt):
        run_import(before_commit=crash_on_third_user)
    victim = seen[2]
    mapped = {r["v1_user_id"] for r in v2.execute("select v1_user_id from private.legacy_users")}
    assert mapped == set(seen[:2])
    # Nothing of the interrupted user: no auth user, profile, connection or activity.
    (email,) = v1.conn.execute("select email from users where id = %s", [victim]).fetchone()  # type: ignore[misc]
    normalized = "".join(email.split()).lower()
    assert v2.execute("select 1 from auth.users where email = %s", [normalized]).fetchone() is None
    total = counts(v2)
    assert total["public.users"] == total["private.legacy_users"] == 2
    # The next run picks up where it stopped and ends where a clean run ends.
    resumed = run_import()
    assert resumed.tables["users"].already_there == 2
    final = counts(v2)
    assert final["private.legacy_users"] == 8
    assert final["public.activities"] == 8
    assert final["public.workouts"] == 3
    assert_counts_add_up(resumed)


def test_one_users_failure_leaves_nothing_of_them_and_the_others_go_on(
    run_import: RunImport, v1: V1, v2: Conn
) -> None:
    # A fault inside the database, in the middle of Ada's import (after her activities).
    v2.execute(
        "create function public.test_fault() returns trigger language plpgsql as $$"
        " begin raise exception 'injected fault'; end $$"
    )
    v2.execute(
        "create trigger test_fault before insert on public.workouts for each row"
        " when (new.name = 'Tempo 4 x 2 km') execute function public.test_fault()"
    )
    report = run_import()
    (failure,) = report.notes["failures"]
    assert failure["v1_user_id"] == v1.users["ada"]
    assert "injected fault" in failure["error"]
    assert (
        v2.execute("select 1 from auth.users where email = 'ada.lovelace@example.com'").fetchone()
        is None
    )
    assert (
        v2.execute(
            "select 1 from public.provider_connections where provider_user_id = '134815'"
        ).fetchone()
        is None
    )
    assert report.tables["users"].created == 7
    assert_counts_add_up(report)
    # Fixed, the next run imports her and only her.
    v2.execute("drop trigger test_fault on public.workouts")
    again = run_import()
    assert again.tables["users"].created == 1
    assert again.tables["users"].already_there == 7
    assert sign_in(v2, "ada.lovelace@example.com", v1.passwords["ada"]) is not None


def test_v1_is_only_read(run_import: RunImport, v1: V1, v2_url: str, cipher: TokenCipher) -> None:
    before = v1_fingerprint(v1)
    run_import()
    assert v1_fingerprint(v1) == before
    importer = LegacyImporter(v1_url(v1), v2_url, auth=LocalAuthUsers(), cipher=cipher)
    with importer._open_source() as source, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        source.execute("delete from password_reset_tokens")


def test_a_dry_run_keeps_nothing_and_reports_what_would_happen(
    run_import: RunImport, v2: Conn
) -> None:
    before = counts(v2)
    report = run_import(dry_run=True)
    assert counts(v2) == before
    assert report.dry_run
    assert report.tables["users"].created == 8
    assert report.tables["activities"].created == 8


def test_a_v2_database_without_the_migration_is_refused(
    v1: V1, make_database: Callable[[], str], cipher: TokenCipher
) -> None:
    empty = make_database()
    with pytest.raises(TrainlyticsError, match="no legacy import function"):
        LegacyImporter(v1_url(v1), empty, auth=LocalAuthUsers(), cipher=cipher).run()


def test_a_database_that_is_not_v1_is_refused(
    v2_url: str, make_database: Callable[[], str], cipher: TokenCipher
) -> None:
    with pytest.raises(TrainlyticsError, match="not a Trainlytics v1 database"):
        LegacyImporter(make_database(), v2_url, auth=LocalAuthUsers(), cipher=cipher).run()


def test_the_owner_login_imports_without_acting_as_supabase_auth_admin(
    v1: V1, v2: Conn, operator_url: str, cipher: TokenCipher
) -> None:
    """The one local rule (as for `users create`): a login that may not become
    supabase_auth_admin but holds the owner's privileges on auth.users and BYPASSRLS (as
    Supabase's postgres does) inserts as itself."""
    with psycopg.connect(operator_url) as operator:
        row = operator.execute(
            "select pg_has_role(current_user, 'supabase_auth_admin', 'member')"
        ).fetchone()
        assert row == (False,)
        with pytest.raises(TrainlyticsError, match=r"may not write auth\.users"):
            check_local_auth(operator)  # without BYPASSRLS, RLS on auth.users stops it
        login = operator.info.user
    v2.execute(sql.SQL("alter role {} bypassrls").format(sql.Identifier(login)))
    report = LegacyImporter(v1_url(v1), operator_url, auth=LocalAuthUsers(), cipher=cipher).run()
    assert report.tables["users"].created == 8
    assert sign_in(v2, "ada.lovelace@example.com", v1.passwords["ada"]) is not None


def test_a_login_that_cannot_write_auth_users_gets_a_clear_error(
    v1: V1, v2: Conn, v2_url: str, cipher: TokenCipher
) -> None:
    role = f"legacy_service_{uuid.uuid4().hex[:8]}"
    v2.execute(
        sql.SQL("create role {} login nosuperuser in role service_role").format(
            sql.Identifier(role)
        )
    )
    params = {k: v for k, v in conninfo_to_dict(v2_url).items() if v is not None}
    params["user"] = role
    params.pop("password", None)
    try:
        with pytest.raises(TrainlyticsError, match=r"may not write auth\.users") as raised:
            LegacyImporter(
                v1_url(v1), make_conninfo("", **params), auth=LocalAuthUsers(), cipher=cipher
            ).run()
        assert "--auth admin-api" in (raised.value.hint or "")
    finally:
        v2.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
    assert v2.execute("select count(*) as n from auth.users").fetchone() == {"n": 0}


def test_a_supabase_project_is_refused_without_the_admin_api(
    v1: V1, v2: Conn, v2_url: str, cipher: TokenCipher
) -> None:
    """Where Supabase Auth runs (its ledger auth.schema_migrations exists), only it writes
    auth.users: the local mode refuses, as `users create` does."""
    v2.execute("create table auth.schema_migrations (version varchar(255) primary key)")
    with pytest.raises(TrainlyticsError, match="is a Supabase project") as raised:
        LegacyImporter(v1_url(v1), v2_url, auth=LocalAuthUsers(), cipher=cipher).run()
    assert "--auth admin-api" in (raised.value.hint or "")
    assert v2.execute("select count(*) as n from auth.users").fetchone() == {"n": 0}


# Who sees what afterwards --------------------------------------------------------------------


def test_a_coach_with_an_active_grant_does_not_see_migrated_strava_activities(
    run_import: RunImport, v2: Conn
) -> None:
    run_import()
    ada = user_id(v2, "ada.lovelace@example.com")
    carla = user_id(v2, "coach.carla@example.com")
    v2.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status, activated_at)"
        " values (%s, %s, 'active', now())",
        [ada, carla],
    )
    with v2.transaction():
        act_as_user(v2, carla)
        seen = v2.execute(
            "select source::text, provider::text from public.activities where user_id = %s",
            [ada],
        ).fetchall()
        reset_role(v2)
    # Ada's manual entries only: none of her Strava-sourced rows.
    assert seen
    assert all(r["source"] == "manual" and r["provider"] is None for r in seen)
    with v2.transaction():
        act_as_user(v2, ada)
        own = v2.execute(
            "select count(*) filter (where provider = 'strava') as n from public.activities"
        ).fetchone()
        reset_role(v2)
    assert own is not None
    assert own["n"] == 4


def test_eve_cannot_read_the_legacy_mapping_or_run_the_import(
    run_import: RunImport, v2: Conn
) -> None:
    run_import()
    eve = user_id(v2, "blank@example.com")
    acts: tuple[Callable[[], None], ...] = (
        lambda: act_as_user(v2, eve),
        lambda: act_as_anon(v2),
    )
    for act in acts:
        for statement in (
            "select * from private.legacy_users",
            "select * from private.legacy_auth_pending",
            "select public.legacy_import_user(gen_random_uuid(), '{}', null, '[]', '[]')",
        ):
            with v2.transaction(force_rollback=True):
                act()
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    v2.execute(statement)
