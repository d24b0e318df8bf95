"""Operator look-ups the CLI makes by name (as the connecting login, outside row-level
security): users by email, connections by user and provider."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

__all__ = ["connection_exists", "connection_id_for", "user_id_by_email"]

Conn = psycopg.Connection[Any]


def user_id_by_email(conn: Conn, email: str) -> uuid.UUID | None:
    """The id of the user with this email (any case), or None."""
    row = conn.execute(
        "select id from public.users where lower(email) = lower(%s)", [email]
    ).fetchone()
    if row is None:
        return None
    value = row[0]
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def connection_id_for(conn: Conn, email: str, provider: str) -> int | None:
    """The id of the user's connection to ``provider`` (any status), or None."""
    row = conn.execute(
        "select pc.id from public.provider_connections as pc"
        " join public.users as u on u.id = pc.user_id"
        " where lower(u.email) = lower(%s) and pc.provider::text = %s",
        [email, provider],
    ).fetchone()
    return int(row[0]) if row is not None else None


def connection_exists(conn: Conn, connection_id: int) -> bool:
    row = conn.execute(
        "select 1 from public.provider_connections where id = %s", [connection_id]
    ).fetchone()
    return row is not None
