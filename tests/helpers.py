"""Test helpers: act as PostgREST does, and create users as Supabase Auth does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg

__all__ = [
    "act_as_anon",
    "act_as_service",
    "act_as_user",
    "create_auth_user",
    "reset_role",
]

Connection = psycopg.Connection[Any]


def _switch(conn: Connection, role: str, claims: dict[str, Any]) -> None:
    # PostgREST's per-request statement: transaction-local role and JWT claims, then the
    # impersonated role's own settings (statement_timeout for anon and authenticated), which
    # PostgREST applies with set_config because `set role` does not.
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        [role, json.dumps(claims)],
    )
    conn.execute(
        """
        select set_config(split_part(setting, '=', 1), substr(setting, strpos(setting, '=') + 1),
                          true)
        from pg_db_role_setting as s, unnest(s.setconfig) as setting
        where s.setrole = %s::regrole
          and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
        order by s.setdatabase
        """,
        [role],
    )


def act_as_user(conn: Connection, user_id: uuid.UUID | str, email: str | None = None) -> None:
    """For the rest of the current transaction, be this user behind PostgREST."""
    claims: dict[str, Any] = {"sub": str(user_id), "role": "authenticated"}
    if email is not None:
        claims["email"] = email
    _switch(conn, "authenticated", claims)


def act_as_anon(conn: Connection) -> None:
    """For the rest of the current transaction, be an anonymous PostgREST request."""
    _switch(conn, "anon", {"role": "anon"})


def act_as_service(conn: Connection) -> None:
    """For the rest of the current transaction, be a PostgREST request with the service key."""
    _switch(conn, "service_role", {"role": "service_role"})


def reset_role(conn: Connection) -> None:
    """Back to the connection's own role, with no JWT claims."""
    conn.execute("reset role")
    conn.execute("reset statement_timeout")
    conn.execute("select set_config('request.jwt.claims', '', true)")


def create_auth_user(conn: Connection, email: str, *, confirmed: bool = False) -> uuid.UUID:
    """Insert a user into auth.users as Supabase Auth (GoTrue) does; returns its id.

    Runs as ``supabase_auth_admin`` with ``search_path = auth``, then restores the caller's
    role and search_path, so it can be called while acting as someone else.
    """
    with conn.transaction():
        row = conn.execute(
            "select current_setting('role'), current_setting('search_path')"
        ).fetchone()
        assert row is not None
        previous_role, previous_search_path = row[0], row[1]
        conn.execute("set local role supabase_auth_admin")
        conn.execute("set local search_path = auth")
        inserted = conn.execute(
            """
            insert into users (
                id, aud, role, email, encrypted_password,
                raw_app_meta_data, raw_user_meta_data,
                created_at, updated_at, email_confirmed_at
            ) values (
                gen_random_uuid(), 'authenticated', 'authenticated', %s, 'x',
                '{"provider": "email", "providers": ["email"]}', '{}',
                now(), now(), case when %s then now() end
            )
            returning id
            """,
            [email, confirmed],
        ).fetchone()
        conn.execute(
            "select set_config('role', %s, true), set_config('search_path', %s, true)",
            [previous_role, previous_search_path],
        )
    assert inserted is not None
    user_id = inserted[0]
    return user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))


def create_user_with_role(
    conn: Connection, name: str, role: str = "athlete", *, confirmed: bool = False
) -> uuid.UUID:
    """A new Supabase Auth user named after ``name`` (unique email), with this profile role."""
    user = create_auth_user(conn, f"{name}-{uuid.uuid4().hex[:8]}@example.com", confirmed=confirmed)
    if role != "athlete":  # what every new profile is
        conn.execute("update public.users set role = %s where id = %s", [role, user])
    return user


def plan_nodes_as(
    conn: Connection, caller: uuid.UUID, query: str, params: Sequence[Any] | Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every node of ``query``'s executed plan (EXPLAIN ANALYZE, JSON) run as ``caller``, with
    sequential and bitmap scans off: a small test table then plans as the production size."""
    with conn.transaction(force_rollback=True):
        act_as_user(conn, caller)
        conn.execute("set local enable_seqscan = off")
        conn.execute("set local enable_bitmapscan = off")
        row = conn.execute(
            f"explain (analyze, costs off, timing off, format json) {query}".encode(), params
        ).fetchone()
        reset_role(conn)
    assert row is not None
    document = row[0] if isinstance(row[0], list) else json.loads(row[0])

    def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield plan
        for child in plan.get("Plans", []):
            yield from nodes(child)

    return list(nodes(document[0]["Plan"]))
