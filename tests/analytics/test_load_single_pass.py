"""private.activity_training_load in one pass (issue 16, migration 20261205290000).

Equivalence: for random activities (every activity type, missing / zero / negative / huge
times, heart rates and powers including NaN, infinities and subnormals) and random preferences
(missing, zero, negative, absurd, numeric strings, non-numbers, non-objects, SQL null), the
plpgsql definition returns bit-for-bit the previous SQL definition (created here under another
name from the text of migration 20261125130100): the same real (compared by its bytes), the
same method, or the same error (a load beyond the range of real raises in both). Compared once
with constant arguments (folded at plan time) and once over a table (evaluated per row).

Threat: anon cannot execute the function (its grants are unchanged: authenticated and
service_role only).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import act_as_anon, act_as_user, create_auth_user
from tests.hypothesis_profiles import examples

Conn = psycopg.Connection[Any]
MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
PREVIOUS = MIGRATIONS / "20261125130100_training_load.sql"
SIGNATURE = "public.activity_type, integer, integer, real, real, real, jsonb"
ARGS = "%s::public.activity_type, %s::integer, %s::integer, %s::real, %s::real, %s::real, %s::jsonb"

KEYS = (
    "ftp",
    "run_ftp",
    "resting_heart_rate",
    "max_heart_rate",
    "threshold_heart_rate",
    "duration_load_per_hour",
)

Outcome = tuple[str, bytes | None, str | None]  # ("ok", load bytes, method) or ("error", state)


def _previous_function_sql() -> str:
    text = PREVIOUS.read_text()
    found = re.search(r"create function private\.activity_training_load\(.*?\n\$\$;\n", text, re.S)
    assert found is not None
    return found.group(0).replace(
        "private.activity_training_load(", "private.activity_training_load_previous(", 1
    )


@pytest.fixture
def previous(db: Conn) -> Conn:
    """The connection, with the previous SQL definition as activity_training_load_previous."""
    definition = db.execute(
        "select l.lanname from pg_proc as p join pg_language as l on p.prolang = l.oid"
        f" where p.oid = 'private.activity_training_load({SIGNATURE})'::regprocedure"
    ).fetchone()
    assert definition == ("plpgsql",)
    db.execute(_previous_function_sql().encode())
    return db


@pytest.fixture
def activity_types(db: Conn) -> list[str]:
    row = db.execute("select enum_range(null::public.activity_type)::text[]").fetchone()
    assert row is not None
    return list(row[0])


real = st.one_of(
    st.none(),
    st.just(0.0),
    st.floats(min_value=0, max_value=2500, width=32),
    st.floats(width=32),  # negative, NaN, infinities, subnormals, the largest reals
)
seconds = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.integers(1, 200_000),
    st.integers(-(2**31), 2**31 - 1),
)
number = st.one_of(
    st.integers(-300, 1_000),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=400).map(lambda x: round(x, 3)),
)
numeric_text = st.one_of(
    number.map(str),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "0.0",
            " 188 ",
            "1e3",
            "-60",
            "abc",
            "1.5.5",
            "999999",
            "1000000",
            "0.000000001",
            "0.0000000001",
            "250.123456789",
            "\t55\n",
        ]
    ),
)
preference_value = st.one_of(
    number,
    numeric_text,
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 300), max_size=2),
    st.dictionaries(st.just("value"), st.integers(0, 300), max_size=1),
)
sex = st.one_of(
    st.sampled_from(["female", "F", " Female ", "f", "male", "m", "", "other"]),
    st.none(),
    st.integers(0, 2),
)
preferences = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={**dict.fromkeys(KEYS, preference_value), "sex": sex, "unrelated": number},
    ),
    # heart-rate athletes with plausible values, so the heart-rate branch sees real settings
    st.fixed_dictionaries(
        {
            "resting_heart_rate": st.integers(30, 80),
            "max_heart_rate": st.integers(150, 215),
        },
        optional={"threshold_heart_rate": st.integers(0, 220), "sex": sex},
    ),
    st.none(),  # SQL null
    st.sampled_from(["[]", "5", '"ftp"', "null"]).map(lambda text: ("json", text)),
)
activity = st.tuples(
    st.integers(0, 10_000),  # index into the activity types
    seconds,
    seconds,
    real,
    real,
    real,
    preferences,
)


def _arguments(types: list[str], example: tuple[Any, ...]) -> list[Any]:
    kind, moving, elapsed, heart_rate, weighted, average, prefs = example
    if prefs is None:
        document = None
    elif isinstance(prefs, tuple):
        document = prefs[1]
    else:
        document = json.dumps(prefs)
    return [types[kind % len(types)], moving, elapsed, heart_rate, weighted, average, document]


def _outcome(conn: Conn, function: str, arguments: list[Any]) -> Outcome:
    try:
        with conn.transaction():
            row = conn.execute(
                f"select float4send((l).load), (l).method from (select {function}({ARGS}) as l)"
                " as t".encode(),
                arguments,
            ).fetchone()
    except psycopg.DataError as error:
        return ("error", None, error.sqlstate)
    assert row is not None
    return ("ok", None if row[0] is None else bytes(row[0]), row[1])


def _table_outcomes(conn: Conn, function: str) -> list[Outcome] | None:
    """Each row's outcome evaluated per row over the table; None when some row raises."""
    try:
        with conn.transaction():
            rows = conn.execute(
                f"select float4send((l).load), (l).method from ("
                f" select i, {function}(activity_type, moving_time, elapsed_time,"
                " average_heartrate, weighted_average_watts, average_watts, preferences) as l"
                " from load_inputs offset 0) as t order by i".encode()
            ).fetchall()
    except psycopg.DataError:
        return None
    return [("ok", None if r[0] is None else bytes(r[0]), r[1]) for r in rows]


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(activity, min_size=1, max_size=20))
def test_single_pass_load_equals_the_previous_definition(
    previous: Conn, activity_types: list[str], batch: list[tuple[Any, ...]]
) -> None:
    conn = previous
    inputs = [_arguments(activity_types, example) for example in batch]
    # Constant arguments: both definitions are evaluated (or folded) per call.
    expected = [_outcome(conn, "private.activity_training_load_previous", a) for a in inputs]
    actual = [_outcome(conn, "private.activity_training_load", a) for a in inputs]
    assert actual == expected, inputs
    # Per row of a table: the previous definition inlined into the query, the new one called.
    with conn.transaction(force_rollback=True):
        conn.execute(
            "create temporary table load_inputs (i integer, activity_type public.activity_type,"
            " moving_time integer, elapsed_time integer, average_heartrate real,"
            " weighted_average_watts real, average_watts real, preferences jsonb)"
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                f"insert into load_inputs values (%s, {ARGS})".encode(),
                [[i, *a] for i, a in enumerate(inputs)],
            )
        table_expected = _table_outcomes(conn, "private.activity_training_load_previous")
        table_actual = _table_outcomes(conn, "private.activity_training_load")
        assert table_actual == table_expected
        if table_expected is not None:
            assert table_expected == expected


def test_single_pass_load_matches_on_the_edges(previous: Conn, activity_types: list[str]) -> None:
    """Every type against the edge values of each branch (the property test samples them)."""
    conn = previous
    prefs = [
        None,
        {},
        {"ftp": 250, "run_ftp": "310", "resting_heart_rate": 55, "max_heart_rate": 188},
        {"resting_heart_rate": 200, "max_heart_rate": 150, "threshold_heart_rate": 170},
        {"resting_heart_rate": 150, "max_heart_rate": "150", "threshold_heart_rate": 150},
        {"threshold_heart_rate": 40, "sex": "F", "duration_load_per_hour": "0"},
        {"ftp": "0.000000001", "threshold_heart_rate": 189.999, "sex": " female "},
        {"ftp": -250, "max_heart_rate": "1e3", "duration_load_per_hour": 999999.5},
    ]
    metrics = [
        (3600, None, 150.0, 240.0, 200.0),
        (None, 1, 60.0, 0.0, 180.0),
        (0, 3600, 150.0, 240.0, 200.0),
        (5400, 6000, math.nan, math.nan, None),
        (7200, None, math.inf, None, None),
        (2**31 - 1, None, 1e-45, 3.4e38, None),
        (1, None, -10.0, -5.0, -5.0),
    ]
    checked = 0
    for kind in activity_types:
        for pref in prefs:
            for moving, elapsed, heart_rate, weighted, average in metrics:
                arguments = [
                    kind,
                    moving,
                    elapsed,
                    heart_rate,
                    weighted,
                    average,
                    None if pref is None else json.dumps(pref),
                ]
                expected = _outcome(conn, "private.activity_training_load_previous", arguments)
                assert _outcome(conn, "private.activity_training_load", arguments) == expected, (
                    arguments
                )
                checked += 1
    assert checked == len(activity_types) * len(prefs) * len(metrics)


def test_single_pass_load_covers_every_method_and_the_overflow(previous: Conn) -> None:
    conn = previous
    power = ["ride", 3600, None, 150.0, 250.0, None, '{"ftp": 250}']
    heart = ["ride", 3600, None, 150.0, None, None, '{"resting_heart_rate": 50}']
    duration = ["swim", 3600, None, None, None, None, "{}"]
    overflow = ["ride", 2**31 - 1, None, None, 3.4e38, None, '{"ftp": "0.000000001"}']
    for arguments, method in ((power, "power"), (heart, "heart_rate"), (duration, "duration")):
        outcome = _outcome(conn, "private.activity_training_load", arguments)
        assert outcome[0] == "ok"
        assert outcome[2] == method
        assert outcome == _outcome(conn, "private.activity_training_load_previous", arguments)
    raised = _outcome(conn, "private.activity_training_load", overflow)
    assert raised == ("error", None, "22003")
    assert raised == _outcome(conn, "private.activity_training_load_previous", overflow)


def test_anon_cannot_execute_the_training_load(db: Conn) -> None:
    for role, allowed in (("anon", False), ("authenticated", True), ("service_role", True)):
        row = db.execute(
            "select has_function_privilege(%s, %s, 'execute')",
            [role, f"private.activity_training_load({SIGNATURE})"],
        ).fetchone()
        assert row == (allowed,), role
    with db.transaction(force_rollback=True):
        act_as_anon(db)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(
                "select private.activity_training_load('ride', 3600, null, 150, null, null, '{}')"
            )
    with db.transaction(force_rollback=True):
        user = create_auth_user(db, "load-single-pass@example.com", confirmed=True)
        act_as_user(db, user)
        row = db.execute(
            "select (private.activity_training_load('swim', 3600, null, null, null, null,"
            " '{}')).load"
        ).fetchone()
        assert row == (50.0,)
