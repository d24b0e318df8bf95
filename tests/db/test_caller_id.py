"""private.caller_id(): the caller's id, as auth.uid() gives it.

The policy helpers (private.readable_user_ids and the others) identify the caller through it.
It returns auth.uid() itself (migration 20261125100200_access_helpers.sql; Supabase Auth's
definition has no SET clause, so both are inlined). It must never disagree with auth.uid(),
whatever PostgREST put in the request settings, and a request without a subject must read as nobody.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from tests.helpers import act_as_anon, act_as_user, create_auth_user, reset_role

Conn = psycopg.Connection[Any]

SUB = "6f1c1f9e-2a6b-4f43-9a5e-3f6d2f1b7c10"
OTHER = "0b7e7d7e-1f0e-4a8c-8d5e-8c6f7a9b0c11"


@pytest.mark.parametrize(
    ("claim_sub", "claims"),
    [
        ("", json.dumps({"sub": SUB, "role": "authenticated"})),
        (SUB, ""),  # older PostgREST: one setting per claim
        (SUB, json.dumps({"sub": OTHER})),  # the per-claim setting wins, as in auth.uid()
        ("", ""),  # nothing set: no caller
        ("", json.dumps({"role": "anon"})),  # claims without a subject
        ("", json.dumps({"sub": ""})),
    ],
    ids=["claims", "claim-sub", "both", "none", "no-sub", "empty-sub"],
)
def test_caller_id_agrees_with_auth_uid(db: Conn, claim_sub: str, claims: str) -> None:
    def evaluate(function: str) -> tuple[str, Any]:
        try:
            with db.transaction():  # a savepoint: an error leaves the test's transaction usable
                row = db.execute(f"select {function}").fetchone()
                return "value", row[0] if row else None
        except psycopg.Error as error:
            return "error", error.sqlstate

    with db.transaction(force_rollback=True):
        db.execute(
            "select set_config('request.jwt.claim.sub', %s, true),"
            " set_config('request.jwt.claims', %s, true)",
            [claim_sub, claims],
        )
        assert evaluate("private.caller_id()") == evaluate("auth.uid()")


def test_caller_id_is_inlined_not_called(db: Conn) -> None:
    """The planner replaces it, and the auth.uid() inside it, by their expression."""
    plan = db.execute("explain (verbose, format json) select private.caller_id()").fetchone()
    assert plan is not None
    output = json.dumps(plan[0])
    assert "current_setting" in output
    assert "caller_id" not in output
    assert "auth.uid" not in output


def test_anonymous_request_without_subject_reads_no_profile_or_rollup(db: Conn) -> None:
    """A request whose JWT names nobody is nobody: no profile, no rollup, no admin rights."""
    alice = create_auth_user(db, f"caller-{uuid.uuid4().hex[:8]}@example.com")
    db.execute(
        "insert into public.weekly_rollups (user_id, week_start, month_start, activity_type,"
        " provider, shareable, activity_count, distance, moving_time, elapsed_time,"
        " elevation_gain, calories, load) values (%s, '2026-11-23', '2026-11-01', 'run',"
        " 'garmin', false, 1, 1000, 300, 300, 0, 0, 10)",
        [alice],
    )
    with db.transaction(force_rollback=True):
        db.execute("set local role authenticated")
        db.execute("select set_config('request.jwt.claims', %s, true)", ['{"role": "x"}'])
        assert db.execute("select private.is_admin()").fetchone() == (False,)
        assert db.execute("select count(*) from public.users").fetchone() == (0,)
        assert db.execute("select count(*) from public.weekly_rollups").fetchone() == (0,)
    with db.transaction(force_rollback=True):
        act_as_user(db, alice)
        assert db.execute("select count(*) from public.weekly_rollups").fetchone() == (1,)
        reset_role(db)
    # Only the helpers (security definer) call it: no API role may.
    for become in (act_as_anon, lambda c: act_as_user(c, alice)):
        with db.transaction(force_rollback=True):
            become(db)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute("select private.caller_id()")
