"""Each screen's requests (supabase/frontend/screens.json, which src/queries.ts is held to by
its contract test) run as PostgREST runs them, as the athlete and as a coach: the rows are the
ones the screen needs, in the generated types, in the documented units."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import psycopg
import pytest

from tests.frontend.conftest import Screens
from tests.frontend.postgrest import (
    QUERIES_FILE,
    Request,
    expand,
    generated_row_types,
    json_matches_type,
    load_manifest,
    run,
)
from tests.helpers import act_as_user
from tests.http.conftest import FRONTEND, access_token
from tests.http.conftest import World as HttpWorld
from trainlytics.connections.connect import REASONS
from trainlytics.providers import PROVIDER_CLASSES

Conn = psycopg.Connection[Any]
MANIFEST = load_manifest()

WEEK = {"fromWeek": "2025-05-26", "toWeek": "2025-06-30"}
MONTHS = {"fromMonth": "2025-05-01", "toMonth": "2025-07-01"}
DAYS = {"from": "2025-06-01", "to": "2025-06-14"}


OFFER_NULLABLE = {"email", "first_name", "last_name", "avatar_url"}


def check_types(request: Request, rows: list[dict[str, Any]]) -> None:
    """Every value the screen receives is of the type the generated file declares."""
    types = generated_row_types(request.relation, function=request.is_rpc)
    for row in rows:
        for column, value in row.items():
            if column == "athlete":  # the coach list's embed: a users row
                if value is not None:
                    nested = generated_row_types("users")
                    for key, item in value.items():
                        assert json_matches_type(item, nested[key]), (key, item, nested[key])
                continue
            assert column in types, f"{request.relation}.{column} is not in the generated types"
            if request.relation == "pending_coach_offers" and column in OFFER_NULLABLE:
                # queries.ts widens these to `string | null` (PendingCoachOffer): the generator
                # types every column of a function's table as non-null.
                assert value is None or json_matches_type(value, types[column]), (column, value)
                continue
            assert json_matches_type(value, types[column]), (
                f"{request.relation}.{column} = {value!r} is not {types[column]}"
            )


def screen(
    api: Conn, world: Screens, name: str, as_user: str, **values: Any
) -> list[list[dict[str, Any]]]:
    """Run every request of screen ``name`` as ``as_user``; one list of rows per request."""
    results = []
    for request in expand(MANIFEST, name, values):
        rows = run(api, request, world.uid(as_user))
        check_types(request, rows)
        results.append(rows)
    return results


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


# --- the manifest itself ----------------------------------------------------------------------

# RPCs that take no user: they answer for the caller (auth.uid()) only.
CALLERS_OWN_RPCS = {"pending_coach_offers"}


def test_every_data_request_filters_by_the_user_it_shows() -> None:
    """The README's rule: always filter by the user whose data is shown (the (user_id, ...)
    indexes serve only filtered requests)."""
    owners = {"users": "id", "coach_athletes": "coach_id"}
    for name, spec in MANIFEST["screens"].items():
        example = spec["example"]
        for request in expand(MANIFEST, name, example):
            if request.http:
                continue
            if request.is_rpc:
                if request.relation in CALLERS_OWN_RPCS:
                    assert request.body == {}, name  # no argument: always the caller's own
                else:
                    assert "p_user_id" in request.body, name
                continue
            column = owners.get(request.relation, "user_id")
            filters = [value for key, value in request.query if key == column]
            assert any(value.startswith("eq.") for value in filters), (name, request.path)


def test_the_typescript_module_queries_only_what_the_manifest_lists() -> None:
    """Every from()/rpc() target and select string in queries.ts is one of screens.json's, so
    neither side can add a query the other does not know."""
    source = QUERIES_FILE.read_text(encoding="utf-8")
    targets = set(re.findall(r'\.from\("(\w+)"\)', source))
    targets |= {f"rpc/{f}" for f in re.findall(r'\.rpc\("(\w+)"', source)}
    selects = set(re.findall(r'\.select\(\s*"([^"]+)"', source))
    listed = {
        request.path
        for name, spec in MANIFEST["screens"].items()
        for request in expand(MANIFEST, name, spec["example"])
        if not request.http
    }
    listed_selects = {
        value
        for name, spec in MANIFEST["screens"].items()
        for request in expand(MANIFEST, name, spec["example"])
        for key, value in request.query
        if key == "select"
    }
    assert targets == listed
    assert selects == listed_selects


def test_the_rpcs_a_user_may_call_are_the_ones_the_readme_lists(api: Conn) -> None:
    """Every other function in the generated types is for workers: a user gets 42501."""
    executable = [
        row[0]
        for row in api.execute(
            "select p.proname from pg_proc as p"
            " where p.pronamespace = 'public'::regnamespace"
            " and has_function_privilege('authenticated', p.oid, 'execute')"
            " order by p.proname"
        ).fetchall()
    ]
    assert executable == MANIFEST["userRpcs"]
    anon = api.execute(
        "select p.proname from pg_proc as p"
        " where p.pronamespace = 'public'::regnamespace"
        " and has_function_privilege('anon', p.oid, 'execute')"
    ).fetchall()
    assert anon == []
    readme = (QUERIES_FILE.parents[3] / "README.md").read_text(encoding="utf-8")
    for name in executable:
        assert f"`{name}(" in readme, f"README does not document {name}"


def test_callback_reasons_are_the_ones_the_callback_sends() -> None:
    assert MANIFEST["callbackReasons"] == list(REASONS)


def test_http_error_codes_are_the_ones_the_app_answers() -> None:
    app = (QUERIES_FILE.parents[3] / "functions_py" / "trainlytics" / "api" / "app.py").read_text(
        encoding="utf-8"
    )
    codes = (
        re.findall(r'_error\(\d+, "(\w+)"', app)
        + re.findall(r'"error": "(\w+)"', app)
        + re.findall(r'\berror="(\w+)"', app)
    )
    assert sorted(MANIFEST["httpErrors"]) == sorted(set(codes))


def test_the_readme_documents_every_screen_reason_and_error_code() -> None:
    """README "For frontend developers" names each screen function, each reason the page may
    have to explain and each HTTP error code, so the documentation cannot lag the manifest."""
    readme = (QUERIES_FILE.parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- frontend -->", 1)[1].split("<!-- /frontend -->", 1)[0]
    for name in MANIFEST["screens"]:
        assert f"`{name}(" in section, f"README does not document the screen {name}"
    for code in MANIFEST["callbackReasons"] + MANIFEST["httpErrors"]:
        assert f"`{code}`" in section, f"README does not document {code}"


# --- activities -------------------------------------------------------------------------------


def test_recent_activities_as_the_athlete_one_row_per_workout_newest_first(
    api: Conn, screens_world: Screens
) -> None:
    alice = screens_world.uid("alice")
    [rows] = screen(api, screens_world, "recentActivities", "alice", userId=alice, limit=20)
    # The Strava copy of the Garmin run is grouped under it; the deleted run is gone.
    assert names(rows) == ["manual_walk", "private_run", "strava_ride", "garmin_run"]
    run_row = rows[-1]
    # Units: metres, seconds, m/s, s/km; local wall-clock start without offset.
    assert run_row["distance"] == 10000
    assert run_row["moving_time"] == 3000
    assert math.isclose(run_row["average_speed"], 10 / 3)
    assert math.isclose(run_row["pace"], 300.0)
    assert run_row["start_date_local"] == "2025-06-02T07:00:00"
    assert run_row["start_date"].startswith("2025-06-02T05:00:00")
    assert run_row["utc_offset"] == 7200
    assert run_row["provider"] == "garmin"


def test_recent_activities_limit_is_the_page_size(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    [rows] = screen(api, screens_world, "recentActivities", "alice", userId=alice, limit=2)
    assert names(rows) == ["manual_walk", "private_run"]


def test_coach_sees_no_strava_and_no_private_activity(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    [rows] = screen(api, screens_world, "recentActivities", "bob", userId=alice, limit=20)
    assert names(rows) == ["manual_walk", "garmin_run"]
    assert all(row["provider"] != "strava" and not row["is_private"] for row in rows)


@pytest.mark.parametrize("outsider", ["frank", "eve"])
def test_outsiders_read_no_activity_of_alice(
    api: Conn, screens_world: Screens, outsider: str
) -> None:
    alice = screens_world.uid("alice")
    assert screen(api, screens_world, "recentActivities", outsider, userId=alice, limit=20) == [[]]


# --- volume, load, records --------------------------------------------------------------------


def test_weekly_volume_per_sport_in_local_weeks(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    [rows] = screen(api, screens_world, "weeklyVolume", "alice", userId=alice, **WEEK)
    table = {(r["week_start"], r["activity_type"]): r for r in rows}
    assert sorted(table) == [
        ("2025-06-02", "ride"),
        ("2025-06-02", "run"),
        ("2025-06-09", "walk"),
    ]
    runs = table[("2025-06-02", "run")]
    # The Garmin run (its Strava copy counts once) and the private run; metres and seconds.
    assert runs["activity_count"] == 2
    assert runs["total_distance"] == 15000
    assert runs["total_moving_time"] == 4400
    assert table[("2025-06-02", "ride")]["total_distance"] == 40000


def test_coach_weekly_volume_leaves_out_strava_and_private(
    api: Conn, screens_world: Screens
) -> None:
    alice = screens_world.uid("alice")
    [rows] = screen(api, screens_world, "weeklyVolume", "bob", userId=alice, **WEEK)
    table = {(r["week_start"], r["activity_type"]): r for r in rows}
    assert sorted(table) == [("2025-06-02", "run"), ("2025-06-09", "walk")]
    assert table[("2025-06-02", "run")]["activity_count"] == 1
    assert table[("2025-06-02", "run")]["total_distance"] == 10000


def test_monthly_volume(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    [mine] = screen(api, screens_world, "monthlyVolume", "alice", userId=alice, **MONTHS)
    [coach] = screen(api, screens_world, "monthlyVolume", "bob", userId=alice, **MONTHS)
    assert {(r["month_start"], r["activity_type"], r["activity_count"]) for r in mine} == {
        ("2025-06-01", "ride", 1),
        ("2025-06-01", "run", 2),
        ("2025-06-01", "walk", 1),
    }
    assert {(r["month_start"], r["activity_type"], r["activity_count"]) for r in coach} == {
        ("2025-06-01", "run", 1),
        ("2025-06-01", "walk", 1),
    }


def test_training_load_one_row_per_day_and_the_coach_series_lacks_strava(
    api: Conn, screens_world: Screens
) -> None:
    alice = screens_world.uid("alice")
    [mine] = screen(api, screens_world, "trainingLoad", "alice", userId=alice, **DAYS)
    [coach] = screen(api, screens_world, "trainingLoad", "bob", userId=alice, **DAYS)
    assert [r["day"] for r in mine] == [f"2025-06-{d:02d}" for d in range(1, 15)]
    by_day = {r["day"]: r for r in mine}
    coach_by_day = {r["day"]: r for r in coach}
    assert by_day["2025-06-02"]["load"] > 0
    assert by_day["2025-06-02"]["load"] == coach_by_day["2025-06-02"]["load"]
    # The Strava ride (4 June) counts for alice only; the private run (5 June) too.
    assert by_day["2025-06-04"]["load"] > 0
    assert coach_by_day["2025-06-04"]["load"] == 0
    assert coach_by_day["2025-06-05"]["load"] == 0
    for row in mine:
        assert math.isclose(row["tsb"], row["ctl"] - row["atl"], abs_tol=1e-9)


def test_training_load_of_someone_unreadable_is_empty(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    assert screen(api, screens_world, "trainingLoad", "frank", userId=alice, **DAYS) == [[]]


def test_training_load_refuses_a_reversed_range(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        screen(
            api,
            screens_world,
            "trainingLoad",
            "alice",
            userId=alice,
            **{"from": "2025-06-10", "to": "2025-06-01"},
        )


def test_personal_records(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    [mine] = screen(api, screens_world, "personalRecords", "alice", userId=alice)
    [coach] = screen(api, screens_world, "personalRecords", "bob", userId=alice)
    records = {(r["activity_type"], r["record"], r["standard_distance"]): r for r in mine}
    ride = records[("ride", "longest_distance", None)]
    assert (ride["value"], ride["activity_id"]) == (40000, screens_world.ids["strava_ride"])
    # Fastest 5 km: the private run (1400 s for 5 km) beats the 10 km run's pace (1500 s).
    assert records[("run", "fastest", 5000)]["value"] == 1400
    assert records[("run", "fastest", 10000)]["value"] == 3000
    coach_records = {(r["activity_type"], r["record"], r["standard_distance"]): r for r in coach}
    assert not any(sport == "ride" for sport, _, _ in coach_records)
    assert coach_records[("run", "fastest", 5000)]["value"] == 1500


# --- connections ------------------------------------------------------------------------------


def test_connections_and_sync_health(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    connections, history, recurring = screen(
        api, screens_world, "connections", "alice", userId=alice, historyLimit=3
    )
    assert [(c["provider"], c["status"], c["is_active"]) for c in connections] == [
        ("strava", "active", True),
        ("garmin", "error", True),
        ("polar", "disconnected", False),
    ]
    garmin = connections[1]
    assert (garmin["last_error"], garmin["consecutive_failures"]) == ("Garmin answered 500", 3)
    assert [h["sync_status"] for h in history] == ["success", "failed", "failed"]
    assert [(r["kind"], r["provider"], r["failures"]) for r in recurring] == [
        ("failing_connection", "garmin", 3)
    ]


@pytest.mark.parametrize("reader", ["bob", "eve"])
def test_nobody_else_reads_alices_connections(
    api: Conn, screens_world: Screens, reader: str
) -> None:
    alice = screens_world.uid("alice")
    assert screen(api, screens_world, "connections", reader, userId=alice, historyLimit=20) == [
        [],
        [],
        [],
    ]


# --- coaching ---------------------------------------------------------------------------------


def test_coach_lists_active_and_pending_athletes_with_their_names(
    api: Conn, screens_world: Screens
) -> None:
    """Active athletes carry their names through the embed; gina's pending offer comes from
    public.pending_coach_offers() (who offers and since when, no preferences); hank's revoked
    grant is in neither."""
    bob, alice, gina = (screens_world.uid(n) for n in ("bob", "alice", "gina"))
    athletes, offers = screen(api, screens_world, "coachAthletes", "bob", coachId=bob)
    assert [
        (r["id"], r["athlete_id"], r["athlete"]["first_name"], r["athlete"]["last_name"])
        for r in athletes
    ] == [(screens_world.ids["grant_alice"], str(alice), "Alice", "Martin")]
    assert athletes[0]["activated_at"] is not None
    assert [
        (o["grant_id"], o["athlete_id"], o["first_name"], o["last_name"], o["avatar_url"])
        for o in offers
    ] == [(screens_world.ids["grant_gina"], str(gina), "Gina", "Pending", GINA_AVATAR)]
    assert offers[0]["email"].startswith("gina-")
    assert offers[0]["offered_at"] is not None
    # Exactly the declared columns: the athlete's preferences (FTP, heart rates) are not among
    # them.
    assert sorted(offers[0]) == sorted(generated_row_types("pending_coach_offers", function=True))
    assert "preferences" not in offers[0]


GINA_AVATAR = "https://cdn.example/gina.png"


def test_bob_pending_coach_cannot_read_ginas_profile(api: Conn, screens_world: Screens) -> None:
    """Only an active grant opens the profile: the pending coach reads no users row of gina,
    neither directly (the athlete page) nor through the grant's embed, so the offer's names
    must come from pending_coach_offers()."""
    bob, gina = screens_world.uid("bob"), screens_world.uid("gina")
    profile = screen(api, screens_world, "athletePage", "bob", athleteId=gina, **ATHLETE_PAGE)[0]
    assert profile == []
    embed = Request(
        method="GET",
        path="coach_athletes",
        query=(
            ("select", "id,status,athlete:users!coach_athletes_athlete_id_fkey(id,first_name)"),
            ("coach_id", f"eq.{bob}"),
            ("status", "eq.pending"),
        ),
        body=None,
    )
    assert run(api, embed, bob) == [
        {"id": screens_world.ids["grant_gina"], "status": "pending", "athlete": None}
    ]


@pytest.mark.parametrize("caller", ["frank", "eve", "gina", "alice"])
def test_nobody_but_the_offered_coach_sees_ginas_offer(
    api: Conn, screens_world: Screens, caller: str
) -> None:
    """An unrelated coach (frank), an unrelated athlete (eve), the athlete who offers (gina:
    not a coach) and bob's active athlete (alice): pending_coach_offers() answers nothing."""
    [request] = [r for r in expand(MANIFEST, "coachAthletes", {"coachId": "x"}) if r.is_rpc]
    assert run(api, request, screens_world.uid(caller)) == []


def test_an_accepted_offer_leaves_the_offers_and_opens_the_profile(
    api: Conn, screens_world: Screens
) -> None:
    """Bob accepts gina's offer as the README says (update the grant to active): in the same
    transaction the offer is gone from pending_coach_offers() and gina's profile is readable."""
    bob, gina = screens_world.uid("bob"), screens_world.uid("gina")
    with api.transaction(force_rollback=True):
        act_as_user(api, bob)
        api.execute(
            "update public.coach_athletes set status = 'active' where id = %s",
            [screens_world.ids["grant_gina"]],
        )
        offers = api.execute("select count(*) from public.pending_coach_offers()").fetchone()
        profile = api.execute(
            "select first_name from public.users where id = %s", [gina]
        ).fetchall()
    assert offers == (0,)
    assert profile == [("Gina",)]


@pytest.mark.parametrize("reader", ["frank", "alice"])
def test_others_cannot_list_bobs_athletes(api: Conn, screens_world: Screens, reader: str) -> None:
    bob = screens_world.uid("bob")
    athletes, offers = screen(api, screens_world, "coachAthletes", reader, coachId=bob)
    # alice sees her own grant to bob (both sides read a grant), never gina's.
    assert all(r["athlete_id"] == str(screens_world.uid(reader)) for r in athletes)
    assert offers == []
    if reader == "frank":
        assert athletes == []


ATHLETE_PAGE = {**WEEK, **DAYS, "limit": 10}


def coach_readable_activity_ids(api: Conn, world: Screens, coach: str, athlete: str) -> set[int]:
    """Every activity of ``athlete`` that ``coach`` may read (copies included), under RLS."""
    request = Request(
        method="GET",
        path="activities",
        query=(("select", "id"), ("user_id", f"eq.{world.uid(athlete)}")),
        body=None,
    )
    return {row["id"] for row in run(api, request, world.uid(coach))}


def assert_no_hidden_activity_named(
    api: Conn, world: Screens, workouts: list[dict[str, Any]]
) -> None:
    """The privacy property: no workout the coach reads names an activity hidden from them."""
    readable = coach_readable_activity_ids(api, world, "bob", "alice")
    hidden = {world.ids["strava_ride"], world.ids["private_run"], world.ids["strava_copy"]}
    assert not readable & hidden
    for workout in workouts:
        assert workout["completed_activity_id"] in readable | {None}, workout


def test_athlete_page_as_the_coach(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    profile, activities, volume, load, workouts, compliance = screen(
        api, screens_world, "athletePage", "bob", athleteId=alice, **ATHLETE_PAGE
    )
    assert [(p["first_name"], p["role"]) for p in profile] == [("Alice", "athlete")]
    assert names(activities) == ["manual_walk", "garmin_run"]
    assert {r["activity_type"] for r in volume} == {"run", "walk"}
    assert len(load) == 14
    # The Tempo ride (fulfilled by the Strava ride) and the Easy 5k (by the private run) are
    # hidden from the coach with their activities.
    assert [w["name"] for w in workouts] == ["Easy 10k", "Intervals"]
    assert_no_hidden_activity_named(api, screens_world, workouts)
    assert [(c["week_start"], c["planned_count"]) for c in compliance] == [
        ("2025-06-02", 1),
        ("2025-06-09", 1),
    ]


def test_athlete_page_as_the_athlete_shows_every_workout(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    results = screen(api, screens_world, "athletePage", "alice", athleteId=alice, **ATHLETE_PAGE)
    workouts = results[4]
    assert [w["name"] for w in workouts] == ["Easy 10k", "Tempo ride", "Easy 5k", "Intervals"]


def test_athlete_page_for_a_coach_without_grant_is_empty(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    results = screen(api, screens_world, "athletePage", "frank", athleteId=alice, **ATHLETE_PAGE)
    assert results == [[], [], [], [], [], []]


# --- plan and compliance ----------------------------------------------------------------------


def test_planned_workouts_and_compliance(api: Conn, screens_world: Screens) -> None:
    alice = screens_world.uid("alice")
    values = {"userId": alice, "from": "2025-06-02", "to": "2025-06-15"}
    workouts, compliance = screen(api, screens_world, "plannedWorkouts", "alice", **values)
    ids = screens_world.ids
    assert [(w["name"], w["completed_activity_id"]) for w in workouts] == [
        ("Easy 10k", ids["garmin_run"]),
        ("Tempo ride", ids["strava_ride"]),
        ("Easy 5k", ids["private_run"]),
        ("Intervals", None),
    ]
    assert workouts[1]["coach_id"] == str(screens_world.uid("bob"))
    assert [
        (c["week_start"], c["planned_count"], c["completed_count"], c["completion_rate"])
        for c in compliance
    ] == [("2025-06-02", 3, 3, 1), ("2025-06-09", 1, 0, 0)]
    first = compliance[0]
    # Seconds and metres: the planned run, ride and 5k; the Garmin run, the Strava ride and
    # the private run.
    assert (first["planned_duration"], first["completed_duration"]) == (9200, 9200)
    assert first["completed_distance"] == 55000


def test_coach_compliance_counts_only_activities_the_coach_may_read(
    api: Conn, screens_world: Screens
) -> None:
    """The workouts fulfilled by the Strava ride and by the private run are absent for the
    coach (their completed_activity_id would name the hidden activity), present for the
    athlete; the coach's compliance counts only what the coach may read."""
    alice = screens_world.uid("alice")
    ids = screens_world.ids
    values = {"userId": alice, "from": "2025-06-02", "to": "2025-06-15"}
    workouts, compliance = screen(api, screens_world, "plannedWorkouts", "bob", **values)
    mine, _ = screen(api, screens_world, "plannedWorkouts", "alice", **values)
    hidden = {ids["w_ride"], ids["w_private"]}
    assert hidden <= {w["id"] for w in mine}
    assert not hidden & {w["id"] for w in workouts}
    assert [(w["name"], w["completed_activity_id"]) for w in workouts] == [
        ("Easy 10k", ids["garmin_run"]),
        ("Intervals", None),
    ]
    assert_no_hidden_activity_named(api, screens_world, workouts)
    assert [
        (c["week_start"], c["planned_count"], c["completed_count"], c["completion_rate"])
        for c in compliance
    ] == [("2025-06-02", 1, 1, 1), ("2025-06-09", 1, 0, 0)]
    first = compliance[0]
    # Only the Easy 10k and the Garmin run: nothing of the hidden ride or private run.
    assert (first["planned_duration"], first["completed_duration"]) == (3000, 3000)
    assert first["completed_distance"] == 10000


# --- the HTTP functions -----------------------------------------------------------------------


def http_call(world: HttpWorld, request: Request, user: uuid.UUID | None) -> httpx.Response:
    """The request as queries.ts sends it: POST, the user's token, a JSON body if any."""
    assert request.http
    assert request.method == "POST"
    headers = {"Accept": "application/json"}
    if user is not None:
        headers["Authorization"] = f"Bearer {access_token(user)}"
    response: httpx.Response
    if request.body is None:
        response = world.client.post("/" + request.path, headers=headers)
    else:
        response = world.client.post("/" + request.path, json=request.body, headers=headers)
    return response


def test_start_connection_answers_what_the_frontend_reads(http_world: HttpWorld) -> None:
    user = http_world.user("alice")
    [request] = expand(MANIFEST, "startConnection", {"provider": "garmin"})
    response = http_call(http_world, request, user)
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body) == sorted(MANIFEST["http"]["startConnection"])
    assert body["provider"] == "garmin"
    assert body["authorize_url"].startswith("https://")
    assert "state=" in body["authorize_url"]


def test_disconnect_answers_what_the_frontend_reads(http_world: HttpWorld) -> None:
    user = http_world.user("alice")
    outcome = http_world.connect("garmin", "alice")
    assert outcome["status"] == "connected"
    [request] = expand(MANIFEST, "disconnectProvider", {"provider": "garmin"})
    response = http_call(http_world, request, user)
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body) == sorted(MANIFEST["http"]["disconnectProvider"])
    assert (body["disconnected"], body["activities_deleted"]) == (True, 0)


@pytest.mark.parametrize(
    ("provider", "token", "status", "code"),
    [
        ("garmin", "not-a-jwt", 401, "unauthenticated"),
        ("nosuch", None, 404, "unknown_provider"),
        ("polar", None, 503, "provider_not_configured"),
    ],
)
def test_http_errors_carry_a_code_the_frontend_knows(
    http_world: HttpWorld, provider: str, token: str | None, status: int, code: str
) -> None:
    user = http_world.user("alice")
    headers = {"Authorization": f"Bearer {token or access_token(user)}"}
    response = http_world.client.post(f"/connections/{provider}/start", headers=headers)
    assert response.status_code == status
    body = response.json()
    assert sorted(body) == ["detail", "error", "hint"]
    assert body["error"] == code
    assert code in MANIFEST["httpErrors"]


# --- the connect flow: start -> provider -> /connections/complete -> POST complete ------------


def start_as(world: HttpWorld, provider: str, user: uuid.UUID) -> str:
    """The startConnection screen as ``user``: the authorize URL the browser is sent to."""
    [request] = expand(MANIFEST, "startConnection", {"provider": provider})
    response = http_call(world, request, user)
    assert response.status_code == 200, response.text
    return str(response.json()["authorize_url"])


def provider_redirect(world: HttpWorld, provider: str, authorize_url: str) -> str:
    """The athlete approves at the provider (its fake), which redirects the browser to our
    callback; returns where the callback sends the browser next."""
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    query = world.fakes[provider].callback(state)
    response = world.client.get(f"/oauth/{provider}/callback", params=query)
    assert response.status_code == 302, response.text
    return str(response.headers["location"])


def completion_request(location: str) -> dict[str, Any]:
    """What the /connections/complete page reads from its address, as ``completionRequest``
    in queries.ts does: ``provider``, and the rest of the query (last value of a name)."""
    assert location.startswith(f"{FRONTEND}/connections/complete?"), location
    query = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
    provider = query.pop("provider")
    assert provider in PROVIDER_CLASSES, provider  # else completionRequest returns null
    return {"provider": provider, "query": query}


def complete_as(world: HttpWorld, page: dict[str, Any], user: uuid.UUID | None) -> httpx.Response:
    [request] = expand(MANIFEST, "completeConnection", page)
    assert request.path == f"connections/{page['provider']}/complete"
    assert request.body == page["query"]
    assert "provider" not in request.body
    return http_call(world, request, user)


def connected_providers(api: Conn, user: uuid.UUID) -> list[tuple[str, str]]:
    """The connections screen's first request, as ``user`` under row-level security."""
    request = expand(MANIFEST, "connections", {"userId": user, "historyLimit": 5})[0]
    return [(row["provider"], row["status"]) for row in run(api, request, user)]


@pytest.mark.parametrize("provider", ["strava", "garmin"])
def test_complete_connection_links_the_athlete_who_started_it(
    http_world: HttpWorld, api: Conn, provider: str
) -> None:
    """start -> provider -> /connections/complete?provider=… -> POST complete with the
    athlete's own token: connected, and the connections screen shows it (Strava's redirect
    carries ``scope``; Garmin's flow uses PKCE)."""
    alice = http_world.user("alice")
    location = provider_redirect(http_world, provider, start_as(http_world, provider, alice))
    page = completion_request(location)
    assert {"code", "state"} <= set(page["query"])
    assert http_world.fakes[provider].token_exchanges == 0  # the redirect completed nothing
    response = complete_as(http_world, page, alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body) == sorted(MANIFEST["http"]["completeConnection"])
    assert body == {"provider": provider, "status": "connected", "reason": None}
    assert http_world.fakes[provider].token_exchanges == 1
    assert connected_providers(api, alice) == [(provider, "active")]
    # Why the page drops the query from its address: posting it again (a reload) links
    # nothing more and exchanges nothing.
    again = complete_as(http_world, page, alice)
    assert again.json() == {"provider": provider, "status": "error", "reason": "reused_state"}
    assert http_world.fakes[provider].token_exchanges == 1


def test_eve_cannot_link_her_garmin_link_to_alices_account(
    http_world: HttpWorld, api: Conn
) -> None:
    """The attacker case: Eve starts a connection and sends the authorize link to Alice; Alice
    approves, her browser lands on /connections/complete and posts with Alice's token. The
    state was issued to Eve: state_user_mismatch, the code is never exchanged, nobody is
    linked, and the spent state is of no use to Eve either."""
    alice, eve = http_world.user("alice"), http_world.user("eve")
    page = completion_request(
        provider_redirect(http_world, "garmin", start_as(http_world, "garmin", eve))
    )
    response = complete_as(http_world, page, alice)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "provider": "garmin",
        "status": "error",
        "reason": "state_user_mismatch",
    }
    assert "state_user_mismatch" in MANIFEST["callbackReasons"]
    assert http_world.fakes["garmin"].token_exchanges == 0
    assert connected_providers(api, alice) == []
    assert connected_providers(api, eve) == []
    replay = complete_as(http_world, page, eve)
    assert replay.json()["reason"] == "reused_state"
    assert http_world.fakes["garmin"].token_exchanges == 0


def test_completing_without_a_token_is_unauthenticated_and_spends_nothing(
    http_world: HttpWorld, api: Conn
) -> None:
    alice = http_world.user("alice")
    page = completion_request(
        provider_redirect(http_world, "garmin", start_as(http_world, "garmin", alice))
    )
    response = complete_as(http_world, page, None)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert "unauthenticated" in MANIFEST["httpErrors"]
    signed_in = complete_as(http_world, page, alice)
    assert signed_in.json()["status"] == "connected"
    assert connected_providers(api, alice) == [("garmin", "active")]


def test_a_completion_body_that_is_not_at_most_32_strings_is_a_422_without_our_error_body(
    http_world: HttpWorld,
) -> None:
    """What queries.ts turns into ``http_422`` / ``report_bug``: the page sends only the
    address's parameters, as strings."""
    alice = http_world.user("alice")
    for query in ({"state": "s", "code": 1}, {f"k{i}": "v" for i in range(33)}):
        response = http_world.client.post(
            "/connections/garmin/complete",
            json=query,
            headers={"Authorization": f"Bearer {access_token(alice)}"},
        )
        assert response.status_code == 422, response.text
        assert "error" not in response.json()


def test_an_unforwardable_redirect_lands_on_connections_with_invalid_callback(
    http_world: HttpWorld,
) -> None:
    """The one outcome the callback still puts in an address (read by connectionOutcome)."""
    response = http_world.client.get(
        "/oauth/garmin/callback", params={"state": "s", "code": "c" * 5000}
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{FRONTEND}/connections?")
    outcome = dict(parse_qsl(urlsplit(location).query))
    assert outcome == {"provider": "garmin", "status": "error", "reason": "invalid_callback"}
    assert outcome["reason"] in MANIFEST["callbackReasons"]
