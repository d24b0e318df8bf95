"""The legacy import's SQL: reads of a Trainlytics v1 database (``v1``, read only) and the v2
side (``v2``): the mapping tables, the advisory lock, ``public.legacy_import_user`` as
``service_role``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

__all__ = [
    "add_pending",
    "as_service_role",
    "delete_pending",
    "has_legacy_import_function",
    "import_user",
    "pending_user",
    "profile_exists",
    "release_lock",
    "try_lock",
    "v1_activities",
    "v1_activity_counts",
    "v1_coach_ids",
    "v1_columns",
    "v1_connections",
    "v1_reset_token_count",
    "v1_users",
    "v1_workouts",
    "v2_identities",
]

Connection = psycopg.Connection[TupleRow]


# --- v1 (the source) ---------------------------------------------------------------------------


def v1_columns(v1: Connection, tables: Iterable[str]) -> list[tuple[str, str]]:
    """``(table, column)`` of these tables in the source's current schema."""
    rows = v1.execute(
        "select table_name::text, column_name::text from information_schema.columns"
        " where table_schema = current_schema() and table_name = any(%s)",
        [list(tables)],
    ).fetchall()
    return [(str(t), str(c)) for t, c in rows]


def v1_users(v1: Connection) -> list[dict[str, Any]]:
    return [r[0] for r in v1.execute("select to_jsonb(u) from users as u order by u.id")]


def v1_connections(v1: Connection) -> list[dict[str, Any]]:
    return [
        row
        for (row,) in v1.execute(
            "select to_jsonb(c) from strava_connections as c order by c.user_id, c.id"
        )
    ]


def v1_activity_counts(v1: Connection) -> dict[int, int]:
    return {
        int(uid): int(n)
        for uid, n in v1.execute("select user_id, count(*) from activities group by user_id")
    }


def v1_workouts(v1: Connection) -> dict[int, tuple[str, int]]:
    """Each user's workouts as one JSON array text, and how many."""
    return {
        int(uid): (str(text), int(n))
        for uid, text, n in v1.execute(
            "select user_id, jsonb_agg(to_jsonb(w) order by w.id)::text, count(*)"
            " from workouts as w group by user_id"
        )
    }


def v1_coach_ids(v1: Connection) -> set[int]:
    return {
        int(r[0])
        for r in v1.execute("select distinct coach_id from workouts where coach_id is not null")
    }


def v1_reset_token_count(v1: Connection) -> int:
    row = v1.execute("select count(*) from password_reset_tokens").fetchone()
    return int(row[0]) if row else 0


def v1_activities(v1: Connection, user_ids: list[int]) -> dict[int, str]:
    """Each of these users' activities as one JSON array text."""
    return {
        int(uid): str(text)
        for uid, text in v1.execute(
            "select a.user_id, jsonb_agg(to_jsonb(a) order by a.id)::text"
            " from activities as a where a.user_id = any(%s) group by a.user_id",
            [user_ids],
        )
    }


# --- v2 (the target) ---------------------------------------------------------------------------


def has_legacy_import_function(v2: Connection) -> bool:
    row = v2.execute(
        "select to_regprocedure('public.legacy_import_user(uuid,jsonb,jsonb,jsonb,jsonb)')"
        " is not null"
    ).fetchone()
    return bool(row and row[0])


def as_service_role(v2: Connection) -> None:
    """Act as ``service_role`` for the rest of the caller's transaction (raises
    ``InsufficientPrivilege`` for a login that may not)."""
    v2.execute("set local role service_role")


def try_lock(v2: Connection, key: int) -> bool:
    """The session's advisory lock ``key``, unless another session holds it."""
    row = v2.execute("select pg_try_advisory_lock(%s)", [key]).fetchone()
    return bool(row and row[0])


def release_lock(v2: Connection, key: int) -> None:
    v2.execute("select pg_advisory_unlock(%s)", [key])


def v2_identities(
    v2: Connection,
) -> tuple[dict[int, uuid.UUID], dict[int, uuid.UUID], dict[str, uuid.UUID]]:
    """As ``service_role``, in one transaction: v1 users already imported, v1 users whose auth
    user was created but whose import did not finish, and every registered email (lower case)."""
    with v2.transaction():
        as_service_role(v2)
        mapped = {
            int(v1_id): user_id
            for v1_id, user_id in v2.execute("select v1_user_id, user_id from private.legacy_users")
        }
        pending = {
            int(v1_id): user_id
            for v1_id, user_id in v2.execute(
                "select v1_user_id, user_id from private.legacy_auth_pending"
            )
        }
        registered = {
            str(email): user_id
            for email, user_id in v2.execute(
                "select lower(email), id from public.users where email is not null"
            )
        }
    return mapped, pending, registered


def import_user(
    v2: Connection,
    *,
    user_id: uuid.UUID,
    v1_user: dict[str, Any],
    connection: dict[str, Any] | None,
    activities: str,
    workouts: str,
) -> dict[str, Any]:
    """``public.legacy_import_user`` as ``service_role`` in the caller's transaction: what it
    created and skipped."""
    as_service_role(v2)
    row = v2.execute(
        "select public.legacy_import_user(%s, %s, %s, %s::jsonb, %s::jsonb)",
        [
            user_id,
            Jsonb(v1_user),
            Jsonb(connection) if connection is not None else None,
            activities,
            workouts,
        ],
    ).fetchone()
    if row is None:  # pragma: no cover - a scalar select returns a row
        raise RuntimeError("legacy_import_user returned nothing")
    result: dict[str, Any] = row[0]
    return result


def pending_user(v2: Connection, v1_id: int) -> uuid.UUID | None:
    """The auth user id reserved for this v1 user by an unfinished import (caller's
    transaction, as ``service_role``)."""
    row = v2.execute(
        "select user_id from private.legacy_auth_pending where v1_user_id = %s", [v1_id]
    ).fetchone()
    return row[0] if row is not None else None


def add_pending(v2: Connection, v1_id: int, user_id: uuid.UUID) -> None:
    v2.execute(
        "insert into private.legacy_auth_pending (v1_user_id, user_id) values (%s, %s)",
        [v1_id, user_id],
    )


def profile_exists(v2: Connection, user_id: uuid.UUID) -> bool:
    return v2.execute("select 1 from public.users where id = %s", [user_id]).fetchone() is not None


def delete_pending(v2: Connection, v1_id: int) -> None:
    v2.execute("delete from private.legacy_auth_pending where v1_user_id = %s", [v1_id])
