"""SQL functions without a SET clause are inlined by the planner, whatever their body's quoting.

The migrations write SQL function bodies `$$`-quoted (the Supabase CLI 2.x statement splitter
cannot read `begin atomic` bodies that hold `case ... end`, supabase/cli#3474). The ingest's
safe casts and normalisers, the training-load formulas and the rollups' helpers must still be
inlined into the queries that call them (bench/ingest_throughput.py and bench/rls_queries.py
measure what that is worth): a function that is called instead of inlined shows up by name in
``EXPLAIN VERBOSE``.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

Conn = psycopg.Connection[Any]

# Functions the planner does not inline as a scalar call, and why. The first twelve were not
# inlined when their bodies were `begin atomic` (measured on the migrations before the rewrite);
# the two source_totals builders of SQL text (20261205250200) are like the rollups' ones.
_NOT_SCALAR = (
    "its body has a FROM clause, a WITH or a sub-select: PostgreSQL inlines a scalar SQL "
    "function only when its body is one expression"
)
NOT_INLINED: dict[str, str] = {
    "private.coros_number": _NOT_SCALAR,
    "private.coros_sport_code": _NOT_SCALAR,
    "private.fit_activity_type": _NOT_SCALAR,
    "private.fitbit_number": _NOT_SCALAR,
    "private.garmin_number": _NOT_SCALAR,
    "private.iso8601_duration_seconds": _NOT_SCALAR,
    "private.map_activity_type": _NOT_SCALAR,
    "private.rollups_delta_sql": _NOT_SCALAR,
    "private.rollups_versions_sql": _NOT_SCALAR,
    "private.source_totals_delta_sql": _NOT_SCALAR,
    "private.source_totals_versions_sql": _NOT_SCALAR,
    "private.try_timestamp": _NOT_SCALAR,
    "private.try_timestamptz": _NOT_SCALAR,
    "private.wahoo_number": _NOT_SCALAR,
}


def inlinable_candidates(conn: Conn) -> list[tuple[str, list[str], bool]]:
    """Security-invoker SQL functions in our schemas without SET clauses (name, argument
    types, whether it returns a set)."""
    return [
        (row[0], list(row[1]), row[2])
        for row in conn.execute(
            """
            select format('%s.%s', n.nspname, p.proname),
                   array(select format_type(t, null) from unnest(p.proargtypes) as t),
                   p.proretset
            from pg_proc as p
            join pg_namespace as n on n.oid = p.pronamespace
            join pg_language as l on l.oid = p.prolang
            where n.nspname in ('public', 'private') and p.prokind = 'f' and l.lanname = 'sql'
              and not p.prosecdef and p.proconfig is null
              and p.provolatile in ('i', 's')
            order by 1
            """
        )
    ]


def plan_of_call(conn: Conn, name: str, argument_types: list[str], returns_set: bool) -> str:
    # Arguments are columns of a subquery the planner does not flatten (offset 0), so an
    # immutable function is not simply folded into a constant. A set-returning function is
    # called in FROM, where the planner inlines those.
    columns = ", ".join(f"null::{t} as a{i}" for i, t in enumerate(argument_types)) or "1 as a"
    arguments = ", ".join(f"s.a{i}" for i in range(len(argument_types)))
    source = f"(select {columns} offset 0) as s"
    if returns_set:
        query = f"select f.* from {source} cross join lateral {name}({arguments}) as f"
    else:
        query = f"select {name}({arguments}) from {source}"
    return "\n".join(
        str(row[0]) for row in conn.execute(f"explain (verbose, costs off) {query}".encode())
    )


def test_there_are_sql_functions_to_inline(db: Conn) -> None:
    names = {name for name, _, _ in inlinable_candidates(db)}
    assert {"private.try_float", "private.check_normalized", "private.strava_number"} <= names


def test_sql_functions_without_set_are_inlined(db: Conn) -> None:
    called = {}
    for name, argument_types, returns_set in inlinable_candidates(db):
        if name in NOT_INLINED:
            continue
        plan = plan_of_call(db, name, argument_types, returns_set)
        if f"{name}(" in plan:
            called[name] = plan
    assert sorted(called) == []


@pytest.mark.parametrize("name", ["private.try_float", "private.check_normalized"])
def test_an_inlined_function_reads_its_body_into_the_plan(db: Conn, name: str) -> None:
    """The check above can fail: a function with a SET clause is called, not inlined."""
    argument_types, returns_set = {n: (t, r) for n, t, r in inlinable_candidates(db)}[name]
    assert f"{name}(" not in plan_of_call(db, name, argument_types, returns_set)
    with db.transaction(force_rollback=True):
        signature = f"{name}({', '.join(argument_types)})"
        db.execute(f"alter function {signature} set search_path = ''".encode())
        assert f"{name}(" in plan_of_call(db, name, argument_types, returns_set)
