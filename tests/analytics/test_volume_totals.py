"""Volume totals at the grain the statistics return (issue 16, migration 20261205250000).

public.weekly_volume, monthly_volume and yearly_volume read public.volume_totals, one row per
returned row, instead of summing public.weekly_rollups. What they return is unchanged: for the
athlete, an admin and a coach, each view equals the sums of the weekly_rollups the same caller
may read (the views' definitions before this migration). The property test of
tests/analytics/test_rollups.py checks that the totals equal aggregates of weekly_rollups and of
the activities, and a rebuild, after any sequence of writes.

Cost: the athlete's own read scans the window's rows of scope "all" only; the coaches' branch is
an index scan whose key (the coached ids, without the caller) excludes the athlete, so it reads
nothing, and for an admin it never runs (One-Time Filter).

Threats: an athlete reads no other athlete's totals; a coach reads only the shareable scope
(no private, no Strava-sourced workout), and nothing once the grant is revoked.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.test_rollups import (
    T0,
    Athletes,
    insert_activity,
    make_athletes,
    snapshot,
    totals_of_rollups,
    volume_totals,
)
from tests.helpers import (
    act_as_service,
    act_as_user,
    create_user_with_role,
    plan_nodes_as,
    reset_role,
)
from tests.hypothesis_profiles import examples

Conn = psycopg.Connection[Any]
SINCE = date(2026, 1, 1)  # the windows' start: the history begins at T0 (2026-03-02)

VIEWS = {
    "weekly_volume": "week_start",
    "monthly_volume": "month_start",
    "yearly_volume": "year_start",
}
# The key each view groups weekly_rollups by in its definition before migration 20261205250000.
ROLLUP_KEYS = {
    "weekly_volume": "week_start",
    "monthly_volume": "month_start",
    "yearly_volume": "date_trunc('year', month_start)::date",
}


def _before(view: str) -> str:
    """The view as it was: weekly_rollups summed per athlete, sport and period."""
    key = ROLLUP_KEYS[view]
    return (
        f"select user_id, activity_type, {key}, sum(activity_count),"
        " sum(distance)::float8, sum(moving_time)::bigint, sum(elapsed_time)::bigint,"
        " sum(elevation_gain)::real, sum(calories)::real, sum(load)::float8"
        f" from public.weekly_rollups group by 1, 2, 3 order by 1, 2, 3"
    )


def _after(view: str) -> str:
    return f"select * from public.{view} order by 1, 2, 3"


def _as(conn: Conn, user: uuid.UUID | None, query: str, params: list[Any]) -> list[Any]:
    with conn.transaction(force_rollback=True):
        if user is None:
            act_as_service(conn)
        else:
            act_as_user(conn, user)
        rows = conn.execute(query.encode(), params).fetchall()
        reset_role(conn)
        return rows


@pytest.fixture
def world(db: Conn) -> dict[str, Any]:
    athletes = make_athletes(db, 2)
    alice, eve = athletes.users
    # Five weeks across a month boundary (March into April 2026), every source, some private.
    for n in range(35):
        start = T0 + timedelta(days=n, hours=n % 5)
        source = ("garmin", "strava", "manual")[n % 3]
        sport = ("ride", "run", "swim")[n % 4 % 3]
        insert_activity(
            db,
            athletes,
            alice,
            source,
            start,
            activity_type=sport,
            is_private=n % 4 == 0,
            distance=1000.25 * (n + 1),
        )
    insert_activity(db, athletes, eve, "garmin", T0, distance=5000.0)
    coach = create_user_with_role(db, "coach", "coach")
    admin = create_user_with_role(db, "admin", "admin")
    db.execute(
        "insert into public.coach_athletes (athlete_id, coach_id, status)"
        " values (%s, %s, 'active')",
        [alice, coach],
    )
    db.execute("analyze public.volume_totals")
    return {"athletes": athletes, "alice": alice, "eve": eve, "coach": coach, "admin": admin}


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("reader", ["alice", "eve", "coach", "admin"])
def test_views_return_what_the_rollups_sum_for_each_reader(
    db: Conn, world: dict[str, Any], view: str, reader: str
) -> None:
    caller = world[reader]
    after = _as(db, caller, _after(view), [])
    assert after == _as(db, caller, _before(view), [])
    assert after, "the reader reads something"


def test_coach_reads_only_shareable_totals(db: Conn, world: dict[str, Any]) -> None:
    """No private and no Strava-sourced workout reaches a coach through the totals."""
    alice, coach = world["alice"], world["coach"]
    shareable = db.execute(
        "select count(*), sum(distance)::float8 from public.activities where user_id = %s"
        " and primary_activity_id is null and not is_private and provider is distinct from"
        " 'strava'",
        [alice],
    ).fetchone()
    everything = db.execute(
        "select count(*), sum(distance)::float8 from public.activities where user_id = %s",
        [alice],
    ).fetchone()
    assert shareable is not None
    assert everything is not None
    assert shareable[0] < everything[0]
    for view in VIEWS:
        total = f"select sum(activity_count)::bigint, sum(total_distance) from public.{view}"
        assert _as(db, coach, total, [])[0] == shareable
        assert _as(db, alice, total + " where user_id = %s", [alice])[0] == everything
    # the table itself: the coach reads the shareable scope only
    scopes = "select distinct shareable_only from public.volume_totals where user_id = %s"
    assert _as(db, coach, scopes, [alice]) == [(True,)]
    assert sorted(_as(db, alice, scopes, [alice])) == [(False,), (True,)]


def test_athlete_cannot_read_another_athletes_volume_totals(
    db: Conn, world: dict[str, Any]
) -> None:
    alice, eve = world["alice"], world["eve"]
    assert _as(db, eve, "select distinct user_id from public.volume_totals", []) == [(eve,)]
    assert _as(db, eve, "select 1 from public.volume_totals where user_id = %s", [alice]) == []
    for view, column in VIEWS.items():
        assert _as(db, eve, f"select distinct user_id from public.{view}", []) == [(eve,)]
        assert (
            _as(
                db,
                eve,
                f"select 1 from public.{view} where user_id = %s and {column} >= %s",
                [alice, T0.date() - timedelta(days=400)],
            )
            == []
        )


def test_coach_whose_grant_is_revoked_reads_no_volume_totals(
    db: Conn, world: dict[str, Any]
) -> None:
    coach = world["coach"]
    assert _as(db, coach, "select count(*) from public.weekly_volume", [])[0][0] > 0
    db.execute("update public.coach_athletes set status = 'revoked' where coach_id = %s", [coach])
    assert _as(db, coach, "select count(*) from public.volume_totals", []) == [(0,)]
    for view in VIEWS:
        assert _as(db, coach, f"select count(*) from public.{view}", []) == [(0,)]


def test_nobody_writes_volume_totals_through_the_api(db: Conn, world: dict[str, Any]) -> None:
    alice = world["alice"]
    for caller in (alice, None):
        for statement in (
            "update public.volume_totals set distance = 0",
            "delete from public.volume_totals",
            "select private.volume_totals_apply_rollup_changes()",
        ):
            with db.transaction(force_rollback=True):
                if caller is None:
                    act_as_service(db)
                else:
                    act_as_user(db, caller)
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    db.execute(statement.encode())


# --- maintenance paths beyond the activities' deltas ---------------------------------------------


def test_ftp_change_recomputing_loads_keeps_totals_equal_to_rollups(
    db: Conn, world: dict[str, Any]
) -> None:
    """private.recompute_loads updates weekly_rollups.load in place: the totals follow, and
    equal a rebuild."""
    alice = world["alice"]
    before = volume_totals(db, [alice])
    db.execute(
        "insert into public.athlete_ftp_history (user_id, effective_from, ftp_w)"
        " values (%s, %s, 320)",
        [alice, (T0 + timedelta(days=10)).date()],
    )
    after = volume_totals(db, [alice])
    assert after != before, "the loads changed"
    assert after == totals_of_rollups(db, [alice])
    # the recomputed period's loads are those of a rebuild (migration 20261205250100)
    kept = snapshot(db, [alice])
    with db.transaction(force_rollback=True):
        act_as_service(db)
        db.execute("select public.rebuild_rollups(%s)", [alice])
        reset_role(db)
        assert snapshot(db, [alice]) == kept
        assert volume_totals(db, [alice]) == after


def test_rebuilding_one_athlete_keeps_their_totals_and_deleting_them_removes_them(
    db: Conn, world: dict[str, Any]
) -> None:
    alice, eve = world["alice"], world["eve"]
    kept = volume_totals(db, [alice, eve])
    with db.transaction():
        act_as_service(db)
        db.execute("select public.rebuild_rollups(%s)", [alice])
        reset_role(db)
    assert volume_totals(db, [alice, eve]) == kept
    db.execute("delete from auth.users where id = %s", [alice])
    assert volume_totals(db, [alice]) == []
    assert volume_totals(db, [eve]) == totals_of_rollups(db, [eve]) != []


def test_totals_follow_a_bulk_statement(db: Conn) -> None:
    athletes: Athletes = make_athletes(db, 2)
    for user in athletes.users:
        for n in range(20):
            insert_activity(db, athletes, user, "garmin", T0 + timedelta(days=3 * n))
    db.execute(
        "update public.activities set is_private = not is_private, distance = distance + 1"
        " where user_id = any(%s) and extract(day from start_date) < 15",
        [athletes.users],
    )
    db.execute(
        "delete from public.activities where user_id = %s and start_date > %s",
        [athletes.users[0], T0 + timedelta(days=30)],
    )
    assert volume_totals(db, athletes.users) == totals_of_rollups(db, athletes.users)


# --- any writer of weekly_rollups (migration 20261205340000) -----------------------------------

# Mondays from early December 2026 into February 2027: weeks that straddle a month, and a year.
ROLLUP_WEEK0 = date(2026, 12, 7)
ROLLUP_SPORTS = ("ride", "run", "swim")
ROLLUP_PROVIDERS = (None, "garmin", "strava")
_row = st.integers(0, 1_000)  # picks rows by (week number + activity_count) modulo

rollup_write = st.one_of(
    # new rows (a row already there is left alone)
    st.tuples(
        st.just("insert"),
        st.integers(0, 1),  # athlete
        st.lists(
            st.tuples(
                st.integers(0, 5),  # week
                st.booleans(),  # month: of the week's Monday, or of its Sunday
                st.sampled_from(ROLLUP_SPORTS),
                st.sampled_from(ROLLUP_PROVIDERS),
                st.booleans(),  # shareable
                st.integers(1, 3),  # activity_count
                st.integers(0, 50_000),  # distance in quarters of a metre
            ),
            min_size=1,
            max_size=6,
        ),
    ),
    # one upsert statement: new rows inserted, existing ones added to (both triggers fire)
    st.tuples(st.just("upsert"), st.integers(0, 1), st.integers(0, 6), st.integers(1, 5_000)),
    # sums changed in place, or rewritten unchanged (amount 0), on a subset of rows
    st.tuples(st.just("update"), _row, st.integers(1, 3), st.integers(-1, 1), st.integers(0, 999)),
    # changes that cancel out within a total: +amount on one provider, -amount on the others
    st.tuples(st.just("cancel"), st.integers(0, 5), st.integers(1, 999)),
    # a key column changed: another week, sport or scope (a clash with an existing row is skipped)
    st.tuples(
        st.just("move"), _row, st.integers(1, 3), st.sampled_from(("week", "sport", "scope"))
    ),
    st.tuples(st.just("delete"), _row, st.integers(2, 4)),
)


def _write_rollups(conn: Conn, users: list[uuid.UUID], op: tuple[Any, ...]) -> None:
    kind = op[0]
    # rows picked by a residue of (weeks since ROLLUP_WEEK0 + activity_count)
    picked = "((r.week_start - %(week0)s) / 7 + r.activity_count) %% %(mod)s = %(rest)s"
    if kind == "insert":
        for week, sunday, sport, provider, shareable, count, quarters in op[2]:
            monday = ROLLUP_WEEK0 + timedelta(weeks=week)
            month = (monday + timedelta(days=6 if sunday else 0)).replace(day=1)
            conn.execute(
                "insert into public.weekly_rollups (user_id, week_start, month_start,"
                " activity_type, provider, shareable, activity_count, distance, moving_time,"
                " elapsed_time, elevation_gain, calories, load)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict do nothing",
                [
                    users[op[1]],
                    monday,
                    month,
                    sport,
                    provider,
                    shareable,
                    count,
                    Decimal(quarters) / 4,
                    60 * quarters,
                    61 * quarters,
                    Decimal(quarters) / 100,
                    Decimal(quarters) / 8,
                    Decimal(quarters) / 3,
                ],
            )
    elif kind == "upsert":
        _, who, week, amount = op
        monday = ROLLUP_WEEK0 + timedelta(weeks=week)
        conn.execute(
            "insert into public.weekly_rollups as r (user_id, week_start, month_start,"
            " activity_type, provider, shareable, activity_count, distance, moving_time,"
            " elapsed_time, elevation_gain, calories, load)"
            " select %(user)s, %(monday)s, date_trunc('month', %(monday)s::date)::date, s.sport,"
            " 'garmin', s.sport <> 'swim', 1, %(amount)s, %(amount)s, %(amount)s, 0, 0, 1.5"
            " from unnest(array['ride', 'run', 'swim']::public.activity_type[]) as s (sport)"
            " on conflict (user_id, week_start, month_start, activity_type, provider, shareable)"
            " do update set activity_count = r.activity_count + 1,"
            " distance = r.distance + excluded.distance, load = r.load + excluded.load",
            {"user": users[who], "monday": monday, "amount": amount},
        )
    elif kind == "update":
        _, rest, mod, count, amount = op
        conn.execute(
            "update public.weekly_rollups as r set"
            " activity_count = greatest(1, r.activity_count + %(count)s),"
            " distance = r.distance + %(amount)s::numeric / 4,"
            " moving_time = r.moving_time + %(amount)s, load = r.load - %(amount)s::numeric / 3"
            f" where r.user_id = any(%(users)s) and {picked}",
            {
                "count": count,
                "amount": amount,
                "users": users,
                "week0": ROLLUP_WEEK0,
                "mod": mod,
                "rest": rest % mod,
            },
        )
    elif kind == "cancel":
        _, week, amount = op
        conn.execute(
            "update public.weekly_rollups as r set distance = r.distance"
            " + case when r.provider is null then %(amount)s else -%(amount)s end"
            " where r.user_id = any(%(users)s) and r.week_start = %(monday)s",
            {"amount": amount, "users": users, "monday": ROLLUP_WEEK0 + timedelta(weeks=week)},
        )
    elif kind == "move":
        _, rest, mod, column = op
        change = {
            # the next week, in the month of its Monday (the key's month must overlap the week)
            "week": "week_start = r.week_start + 7,"
            " month_start = date_trunc('month', r.week_start + 7)::date",
            "sport": "activity_type = case r.activity_type when 'ride' then 'run'"
            " when 'run' then 'swim' else 'ride' end::public.activity_type",
            "scope": "shareable = not r.shareable",
        }[column]
        try:
            with conn.transaction():
                conn.execute(
                    f"update public.weekly_rollups as r set {change}"
                    f" where r.user_id = any(%(users)s) and {picked}",
                    {"users": users, "week0": ROLLUP_WEEK0, "mod": mod, "rest": rest % mod},
                )
        except psycopg.errors.UniqueViolation:
            pass
    else:
        _, rest, mod = op
        conn.execute(
            f"delete from public.weekly_rollups as r where r.user_id = any(%(users)s) and {picked}",
            {"users": users, "week0": ROLLUP_WEEK0, "mod": mod, "rest": rest % mod},
        )


@settings(
    max_examples=examples(50),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=st.lists(rollup_write, min_size=1, max_size=12))
def test_totals_equal_the_rollups_after_any_writes_of_the_rollups(
    db: Conn, writes: list[Any]
) -> None:
    """Whatever writes weekly_rollups (the activities' deltas, a recompute, the load refresh, a
    rebuild: here multi-row inserts, upserts, updates of sums and of key columns, rewrites with
    the same sums, changes that cancel out within a total, deletes), volume_totals equals the
    totals aggregated from scratch from the rollups after every statement."""
    with db.transaction(force_rollback=True):
        users = make_athletes(db, 2).users
        # a dense start: every week, two sports, every provider, for both athletes
        db.execute(
            "insert into public.weekly_rollups (user_id, week_start, month_start, activity_type,"
            " provider, shareable, activity_count, distance, moving_time, elapsed_time,"
            " elevation_gain, calories, load)"
            " select u.id, %(week0)s::date + 7 * w, date_trunc('month', %(week0)s::date + 7 * w),"
            " s.sport, p.provider, p.provider is distinct from 'strava', 1 + w %% 2,"
            " 1000.25 * (w + 1), 600 * (w + 1), 700 * (w + 1), 10.5, 300, 40.125 * (w + 1)"
            " from unnest(%(users)s::uuid[]) as u (id), generate_series(0, 5) as w,"
            " unnest(array['ride', 'run']::public.activity_type[]) as s (sport),"
            " unnest(array[null, 'garmin', 'strava']::public.provider_type[]) as p (provider)",
            {"week0": ROLLUP_WEEK0, "users": users},
        )
        assert volume_totals(db, users) == totals_of_rollups(db, users)
        for write in writes:
            _write_rollups(db, users, write)
            assert volume_totals(db, users) == totals_of_rollups(db, users), write


def test_totals_equal_the_rollups_after_statements_of_more_than_2000_rows(db: Conn) -> None:
    """A statement of more than 2,000 rollup rows takes the statement planned for its
    transition tables (migration 20261205340000): the totals equal the rollups' after a bulk
    insert, a bulk update (some rows rewritten with the same sums, some moved to other weeks)
    and a bulk delete."""
    users = make_athletes(db, 2).users
    db.execute(
        "insert into public.weekly_rollups (user_id, week_start, month_start, activity_type,"
        " provider, shareable, activity_count, distance, moving_time, elapsed_time,"
        " elevation_gain, calories, load)"
        " select u.id, %(week0)s::date + 7 * w, date_trunc('month', %(week0)s::date + 7 * w),"
        " s.sport, p.provider, h.shareable, 1 + w %% 3, 1000.25 * (w + 1), 600 * (w + 1),"
        " 700 * (w + 1), 10.5, 300, 40.125 * (w + 1)"
        " from unnest(%(users)s::uuid[]) as u (id), generate_series(0, 99) as w,"
        " unnest(array['ride', 'run', 'swim']::public.activity_type[]) as s (sport),"
        " unnest(array[null, 'garmin', 'strava']::public.provider_type[]) as p (provider),"
        " unnest(array[false, true]) as h (shareable)",
        {"week0": ROLLUP_WEEK0, "users": users},
    )
    assert db.execute("select count(*) from public.weekly_rollups").fetchone() == (3600,)
    assert volume_totals(db, users) == totals_of_rollups(db, users)
    db.execute(
        "update public.weekly_rollups as r set"
        " distance = r.distance + case when r.activity_count = 1 then 0 else 2.5 end,"
        " load = r.load * case when r.shareable then 1 else 2 end,"
        " week_start = r.week_start + case when r.provider = 'strava' then 7 * 200 else 0 end,"
        " month_start = case when r.provider = 'strava'"
        " then date_trunc('month', r.week_start + 7 * 200)::date else r.month_start end"
        " where r.user_id = any(%s)",
        [users],
    )
    assert volume_totals(db, users) == totals_of_rollups(db, users)
    db.execute(
        "delete from public.weekly_rollups as r"
        " where r.user_id = any(%s) and r.provider is not null",
        [users],
    )
    assert volume_totals(db, users) == totals_of_rollups(db, users)
    db.execute("delete from public.weekly_rollups as r where r.user_id = any(%s)", [users])
    assert volume_totals(db, users) == []


# --- plans ------------------------------------------------------------------------------------


def _branches(nodes: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scans of scope all and of scope shareable."""
    scans = [n for n in nodes if n.get("Relation Name") == "volume_totals"]
    assert len(scans) == 2, scans
    for scan in scans:
        assert scan["Node Type"] == "Index Scan"
        assert "period_start" in scan["Index Cond"]
    everything = [s for s in scans if "shareable_only = false" in s["Index Cond"]]
    shareable = [s for s in scans if "shareable_only = true" in s["Index Cond"]]
    assert len(everything) == len(shareable) == 1
    return everything[0], shareable[0]


@pytest.mark.parametrize("view", list(VIEWS))
def test_owner_read_never_scans_the_shareable_scope(
    db: Conn, world: dict[str, Any], view: str
) -> None:
    alice = world["alice"]
    query = f"select * from public.{view} where user_id = %s and {VIEWS[view]} >= %s"
    since = SINCE
    returned = len(_as(db, alice, query, [alice, since]))
    everything, shareable = _branches(plan_nodes_as(db, alice, query, [alice, since]))
    # the window's rows of scope all, one per returned row, none read to be thrown away
    assert everything["Actual Rows"] == returned > 0
    assert everything.get("Rows Removed by Filter", 0) == 0
    # the coaches' branch: the coached ids (without alice) are its key: nothing read
    assert "ANY" in shareable["Index Cond"]
    assert shareable["Actual Rows"] == 0
    assert shareable.get("Rows Removed by Filter", 0) == 0


@pytest.mark.parametrize("view", list(VIEWS))
def test_admin_read_never_runs_the_coaches_branch(
    db: Conn, world: dict[str, Any], view: str
) -> None:
    alice, admin = world["alice"], world["admin"]
    query = f"select * from public.{view} where user_id = %s and {VIEWS[view]} >= %s"
    nodes = plan_nodes_as(db, admin, query, [alice, SINCE])
    everything, shareable = _branches(nodes)
    assert everything["Actual Rows"] > 0
    assert shareable["Actual Loops"] == 0
    assert any("One-Time Filter" in n for n in nodes)


@pytest.mark.parametrize("view", list(VIEWS))
def test_coach_read_gets_the_shareable_scope_only(
    db: Conn, world: dict[str, Any], view: str
) -> None:
    alice, coach = world["alice"], world["coach"]
    query = f"select * from public.{view} where user_id = %s and {VIEWS[view]} >= %s"
    everything, shareable = _branches(plan_nodes_as(db, coach, query, [alice, SINCE]))
    assert everything["Actual Rows"] == 0
    assert shareable["Actual Rows"] > 0
