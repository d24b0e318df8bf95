"""Athlete settings and FTP history (issue 18): validation, RLS, and training load with the FTP
in force on each activity's date, recomputed only for the period an FTP change affects.

Arithmetic: power TSS = t_s x (NP / FTP)^2 / 36 (migration 20261125130100_training_load.sql);
one hour at NP 200 W is 64 with FTP 250 W, 100 with FTP 200 W, 44.444... with FTP 300 W.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_anon, act_as_user, create_auth_user

Conn = psycopg.Connection[Any]


def _user(conn: Conn, name: str, role: str = "athlete") -> uuid.UUID:
    user = create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=True)
    if role != "athlete":
        conn.execute("update public.users set role = %s where id = %s", [role, user])
    return user


def _grant(conn: Conn, athlete: uuid.UUID, coach: uuid.UUID, status: str = "active") -> None:
    conn.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status) values (%s, %s, %s)",
        [athlete, coach, status],
    )


def _as(conn: Conn, user: uuid.UUID, query: str, params: list[Any] | None = None) -> list[Any]:
    with conn.transaction(force_rollback=True):
        act_as_user(conn, user)
        return conn.execute(query.encode(), params or []).fetchall()


def _error(conn: Conn, user: uuid.UUID | None, query: str, params: list[Any]) -> psycopg.Error:
    with conn.transaction(force_rollback=True):
        if user is None:
            act_as_anon(conn)
        else:
            act_as_user(conn, user)
        with pytest.raises(psycopg.Error) as caught, conn.transaction():
            conn.execute(query.encode(), params)
    return caught.value


def _ride(conn: Conn, user: uuid.UUID, start: str, **columns: object) -> int:
    values: dict[str, object] = {
        "user_id": user,
        "source": "manual",
        "is_manual": True,
        "activity_type": "ride",
        "start_date": start,
        "moving_time": 3600,
        "weighted_average_watts": 200,
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    row = conn.execute(
        f"insert into public.activities ({names}) values ({placeholders}) returning id".encode(),
        values,
    ).fetchone()
    assert row is not None
    return int(row[0])


def _set_ftp(conn: Conn, user: uuid.UUID, watts: int, day: str) -> None:
    with conn.transaction():
        act_as_user(conn, user)
        conn.execute("select public.set_ftp(%s, %s)", [watts, day])
        conn.execute("reset role")


def _daily(conn: Conn, user: uuid.UUID) -> dict[str, float]:
    rows = conn.execute(
        "select day::text, sum(load)::float8 from public.daily_loads where user_id = %s"
        " group by day order by day",
        [user],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _rebuilt_equals_incremental(conn: Conn, user: uuid.UUID) -> None:
    weekly = "select week_start, activity_type, load from public.weekly_rollups where user_id = %s"
    before = (_daily(conn, user), sorted(conn.execute(weekly, [user]).fetchall()))
    conn.execute("select public.rebuild_rollups(%s)", [user])
    after = (_daily(conn, user), sorted(conn.execute(weekly, [user]).fetchall()))
    assert before == after


# --- training load with the FTP in force on the activity's date ---------------------------------


def test_load_uses_the_ftp_in_force_on_the_activity_date(db: Conn) -> None:
    alice = _user(db, "alice")
    _ride(db, alice, "2026-01-05T08:00:00Z")
    _ride(db, alice, "2026-02-02T08:00:00Z")
    _ride(db, alice, "2026-03-02T08:00:00Z")
    _set_ftp(db, alice, 250, "2026-01-01")
    _set_ftp(db, alice, 200, "2026-02-01")
    _set_ftp(db, alice, 300, "2026-03-01")
    assert _daily(db, alice) == pytest.approx(
        {"2026-01-05": 64.0, "2026-02-02": 100.0, "2026-03-02": 400 / 9}
    )
    loads = _as(
        db,
        alice,
        "select local_date::text, load::float8, method from public.activity_loads"
        " order by local_date",
    )
    assert [(d, round(load, 4), m) for d, load, m in loads] == [
        ("2026-01-05", 64.0, "power"),
        ("2026-02-02", 100.0, "power"),
        ("2026-03-02", round(400 / 9, 4), "power"),
    ]
    _rebuilt_equals_incremental(db, alice)


def test_ftp_change_recomputes_only_until_the_next_change(db: Conn) -> None:
    alice = _user(db, "alice")
    db.execute("update public.users set preferences = '{\"ftp\": 250}' where id = %s", [alice])
    _ride(db, alice, "2026-01-05T08:00:00Z")  # before any history: preferences.ftp 250
    _ride(db, alice, "2026-02-02T08:00:00Z")
    _ride(db, alice, "2026-03-02T08:00:00Z")
    _set_ftp(db, alice, 300, "2026-03-01")
    assert _daily(db, alice) == pytest.approx(
        {"2026-01-05": 64.0, "2026-02-02": 64.0, "2026-03-02": 400 / 9}
    )
    # A rollup value of an unaffected day is poisoned on purpose: a recomputation that is not
    # bounded to the period would repair it.
    db.execute(
        "update public.daily_loads set load = 999 where user_id = %s and day = '2026-01-05'",
        [alice],
    )
    _set_ftp(db, alice, 200, "2026-02-01")
    assert _daily(db, alice) == pytest.approx(
        {"2026-01-05": 999.0, "2026-02-02": 100.0, "2026-03-02": 400 / 9}
    )
    # Removing the entry: February falls back to preferences.ftp.
    with db.transaction():
        act_as_user(db, alice)
        db.execute("select public.remove_ftp('2026-02-01')")
        db.execute("reset role")
    assert _daily(db, alice)["2026-02-02"] == pytest.approx(64.0)
    db.execute("select public.rebuild_rollups(%s)", [alice])
    assert _daily(db, alice) == pytest.approx(
        {"2026-01-05": 64.0, "2026-02-02": 64.0, "2026-03-02": 400 / 9}
    )


def test_heart_rate_settings_override_preferences_in_the_load(db: Conn) -> None:
    alice = _user(db, "alice")
    # 1 h at 150 bpm, resting 50, max 190 (settings) vs the preferences' 60/200
    db.execute(
        'update public.users set preferences = \'{"resting_heart_rate": 60,'
        ' "max_heart_rate": 200}\' where id = %s',
        [alice],
    )
    _ride(db, alice, "2026-01-05T08:00:00Z", weighted_average_watts=None, average_heartrate=150)
    before = _daily(db, alice)["2026-01-05"]
    with db.transaction():
        act_as_user(db, alice)
        db.execute(
            "select public.set_athlete_settings(%s)",
            [json.dumps({"resting_heart_rate": 50, "max_heart_rate": 190})],
        )
        db.execute("reset role")
    after = _daily(db, alice)["2026-01-05"]
    expected = db.execute(
        "select (private.activity_training_load('ride', 3600, null, 150, null, null,"
        ' \'{"resting_heart_rate": 50, "max_heart_rate": 190}\')).load::float8'
    ).fetchone()
    assert expected is not None
    assert after == pytest.approx(expected[0])
    assert after != pytest.approx(before)
    _rebuilt_equals_incremental(db, alice)


# --- the RPCs: validation with one-line errors ---------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_heart_rate": 300}, "max_heart_rate must be between 100 and 250 bpm"),
        ({"max_heart_rate": "fast"}, "max_heart_rate must be a whole number of bpm"),
        ({"resting_heart_rate": 70, "max_heart_rate": 150, "threshold_heart_rate": 160}, "<="),
        ({"timezone": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"timezone": "CEST"}, "is not an IANA time zone"),
        ({"units": "furlongs"}, "units must be metric or imperial"),
        ({"threshold_pace": 30}, "threshold_pace must be between 120 and 1200 s/km"),
        ({"zones": {"power": [200, 150]}}, "zones.power boundaries must be strictly increasing"),
        ({"zones": {"pace": [300, 320]}}, "zones.pace boundaries must be strictly decreasing"),
        ({"zones": {"speed": [1]}}, "zones.speed is not a zone kind"),
        ({"ftp": 250}, "unknown setting ftp"),
    ],
)
def test_invalid_settings_are_refused_with_one_line(
    db: Conn, settings: dict[str, object], message: str
) -> None:
    alice = _user(db, "alice")
    error = _error(db, alice, "select public.set_athlete_settings(%s)", [json.dumps(settings)])
    assert error.sqlstate == "22023"
    text = str(error.diag.message_primary)
    assert message in text
    assert "\n" not in text
    assert db.execute(
        "select count(*) from public.athlete_settings where user_id = %s", [alice]
    ).fetchone() == (0,)


def test_set_ftp_refuses_out_of_range_values(db: Conn) -> None:
    alice = _user(db, "alice")
    for args, message in (
        ([10, "2026-01-01"], "ftp must be between 30 and 2000 W"),
        ([250, "2999-01-01"], "must lie between 1900-01-01 and one year from today"),
    ):
        error = _error(db, alice, "select public.set_ftp(%s, %s)", args)
        assert error.sqlstate == "22023"
        assert message in str(error.diag.message_primary)
    error = _error(db, alice, "select public.remove_ftp('2026-01-01')", [])
    assert error.sqlstate == "22023"


def test_settings_round_trip_and_mirror_the_time_zone(db: Conn) -> None:
    alice = _user(db, "alice")
    with db.transaction():
        act_as_user(db, alice)
        db.execute(
            "select public.set_athlete_settings(%s)",
            [
                json.dumps(
                    {
                        "timezone": "Europe/Paris",
                        "units": "imperial",
                        "threshold_pace": 270,
                        "zones": {"power": [150, 200, 250], "heart_rate": [120, 140, 160]},
                    }
                )
            ],
        )
        # zones merge by kind; one kind is cleared with "zones.<kind>": null
        db.execute(
            "select public.set_athlete_settings(%s)", [json.dumps({"zones.heart_rate": None})]
        )
        row = db.execute("select public.get_athlete_settings()").fetchone()
        db.execute("reset role")
    assert row is not None
    shown = row[0]
    assert shown["timezone"] == {"value": "Europe/Paris", "source": "settings"}
    assert shown["units"]["value"] == "imperial"
    assert shown["zones"]["value"] == {"power": [150, 200, 250]}
    assert shown["max_heart_rate"] == {"value": 190, "source": "default"}
    assert db.execute(
        "select preferences ->> 'timezone' from public.users where id = %s", [alice]
    ).fetchone() == ("Europe/Paris",)


# --- threats --------------------------------------------------------------------------------------


def test_other_athlete_cannot_read_or_write_settings_or_ftp(db: Conn) -> None:
    alice, eve = _user(db, "alice"), _user(db, "eve")
    _set_ftp(db, alice, 250, "2026-01-01")
    db.execute(
        "insert into public.athlete_settings (user_id, units) values (%s, 'imperial')", [alice]
    )
    assert _as(db, eve, "select * from public.athlete_settings where user_id = %s", [alice]) == []
    assert (
        _as(db, eve, "select * from public.athlete_ftp_history where user_id = %s", [alice]) == []
    )
    assert _as(db, eve, "select public.get_athlete_settings(%s)", [alice]) == [(None,)]
    # writes aimed at alice's rows touch nothing or are refused
    assert (
        _as(
            db,
            eve,
            "update public.athlete_settings set units = 'metric' where user_id = %s returning 1",
            [alice],
        )
        == []
    )
    assert (
        _as(
            db,
            eve,
            "delete from public.athlete_ftp_history where user_id = %s returning 1",
            [alice],
        )
        == []
    )
    error = _error(
        db,
        eve,
        "insert into public.athlete_ftp_history (user_id, effective_from, ftp_w)"
        " values (%s, '2026-02-01', 100)",
        [alice],
    )
    assert error.sqlstate == "42501"
    # the RPCs write only the caller's own rows
    _as(db, eve, "select public.set_ftp(100, '2026-02-01')")
    assert (
        db.execute(
            "select user_id from public.athlete_ftp_history where effective_from = '2026-02-01'"
        ).fetchall()
        == []
    )


def test_coach_without_grant_cannot_read_settings(db: Conn) -> None:
    alice, coach = _user(db, "alice"), _user(db, "coach", "coach")
    _grant(db, alice, coach, "pending")
    _set_ftp(db, alice, 250, "2026-01-01")
    db.execute(
        "insert into public.athlete_settings (user_id, units) values (%s, 'imperial')", [alice]
    )
    assert _as(db, coach, "select count(*) from public.athlete_settings") == [(0,)]
    assert _as(db, coach, "select count(*) from public.athlete_ftp_history") == [(0,)]
    assert _as(db, coach, "select public.get_athlete_settings(%s)", [alice]) == [(None,)]


def test_coach_with_grant_reads_but_cannot_write_settings(db: Conn) -> None:
    alice, coach = _user(db, "alice"), _user(db, "coach", "coach")
    _grant(db, alice, coach)
    _set_ftp(db, alice, 250, "2026-01-01")
    assert _as(
        db, coach, "select ftp_w from public.athlete_ftp_history where user_id = %s", [alice]
    ) == [(250,)]
    shown = _as(db, coach, "select public.get_athlete_settings(%s)", [alice])[0][0]
    assert shown["ftp_history"] == [{"effective_from": "2026-01-01", "ftp_w": 250}]
    assert (
        _as(
            db,
            coach,
            "update public.athlete_ftp_history set ftp_w = 400 where user_id = %s returning 1",
            [alice],
        )
        == []
    )
    assert db.execute(
        "select ftp_w from public.athlete_ftp_history where user_id = %s", [alice]
    ).fetchall() == [(250,)]


def test_anon_cannot_touch_settings_or_rpcs(db: Conn) -> None:
    for query in (
        "select * from public.athlete_settings",
        "select * from public.athlete_ftp_history",
        "select public.set_athlete_settings('{}')",
        "select public.set_ftp(250, null)",
        "select public.remove_ftp('2026-01-01')",
        "select public.get_athlete_settings(null)",
    ):
        assert _error(db, None, query, []).sqlstate == "42501", query


def test_analyst_has_no_per_athlete_settings_access(db: Conn) -> None:
    for query in (
        "select * from public.athlete_settings",
        "select * from public.athlete_ftp_history",
        "select public.get_athlete_settings(null)",
        "select public.set_athlete_settings('{}')",
        "select public.set_ftp(250, null)",
        "select public.remove_ftp('2026-01-01')",
    ):
        with db.transaction(force_rollback=True):
            db.execute("set local role analyst")
            with pytest.raises(psycopg.Error) as caught, db.transaction():
                db.execute(query.encode())
        assert caught.value.sqlstate == "42501", query


def test_athlete_cannot_recompute_loads_directly(db: Conn) -> None:
    alice = _user(db, "alice")
    error = _error(db, alice, "select private.recompute_loads(%s, '2026-01-01', null)", [alice])
    assert error.sqlstate == "42501"


# --- the zones read the settings (private.athlete_zone_settings, from the streams work) -----------


def _zones(conn: Conn, user: uuid.UUID, day: str) -> dict[str, Any]:
    cur = conn.execute("select * from private.athlete_zone_settings(%s, %s)", [user, day])
    row = cur.fetchone()
    assert row is not None
    assert cur.description is not None
    return {d.name: v for d, v in zip(cur.description, row, strict=True)}


def test_zone_settings_come_from_the_settings_and_the_ftp_on_that_day(db: Conn) -> None:
    alice = _user(db, "alice")
    db.execute(
        "update public.users set preferences = %s where id = %s",
        [json.dumps({"ftp": 180, "max_heart_rate": 200, "power_zones": [100, 150]}), alice],
    )
    _set_ftp(db, alice, 250, "2026-01-01")
    _set_ftp(db, alice, 270, "2026-03-01")
    with db.transaction():
        act_as_user(db, alice)
        db.execute(
            "select public.set_athlete_settings(%s)",
            [
                json.dumps(
                    {
                        "max_heart_rate": 190,
                        "threshold_pace": 255,
                        "zones": {"heart_rate": [130, 150, 165], "pace": [330, 290]},
                        "units": "imperial",
                        "timezone": "Asia/Tokyo",
                    }
                )
            ],
        )
        db.execute("reset role")
    zones = _zones(db, alice, "2026-02-15")
    assert zones["ftp"] == 250  # in force on 15 February
    assert _zones(db, alice, "2026-03-02")["ftp"] == 270
    assert _zones(db, alice, "2025-12-31")["ftp"] == 180  # before the history: preferences
    assert zones["max_heart_rate"] == 190  # the setting wins over preferences' 200
    assert zones["heart_rate_zones"] == [130, 150, 165]
    assert zones["power_zones"] == [100, 150]  # no power setting: the preferences key
    assert zones["pace_zones"] == [330, 290]
    assert (zones["threshold_pace"], zones["units"], zones["timezone"]) == (
        255,
        "imperial",
        "Asia/Tokyo",
    )


def test_coach_without_grant_gets_no_zone_settings(db: Conn) -> None:
    alice, coach = _user(db, "alice"), _user(db, "coach", "coach")
    _set_ftp(db, alice, 250, "2026-01-01")
    with db.transaction(force_rollback=True):
        act_as_user(db, coach)
        assert _zones(db, alice, "2026-02-01")["ftp"] is None
    _grant(db, alice, coach)
    with db.transaction(force_rollback=True):
        act_as_user(db, coach)
        assert _zones(db, alice, "2026-02-01")["ftp"] == 250


def test_deleting_an_athlete_takes_their_settings_and_history(db: Conn) -> None:
    alice, eve = _user(db, "alice"), _user(db, "eve")
    for user in (alice, eve):
        _ride(db, user, "2026-01-05T08:00:00Z")
        _set_ftp(db, user, 250, "2026-01-01")
    db.execute("insert into public.athlete_settings (user_id) values (%s)", [alice])
    db.execute("delete from auth.users where id = %s", [alice])
    for table in ("athlete_settings", "athlete_ftp_history", "daily_loads"):
        assert db.execute(
            f"select count(*) from public.{table} where user_id = %s".encode(), [alice]
        ).fetchone() == (0,)
    assert _daily(db, eve) == pytest.approx({"2026-01-05": 64.0})
