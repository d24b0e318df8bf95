"""Threats ruled out: the API roles cannot reach OAuth states or tokens, nor call the functions
that handle them. Assertions run as anon/authenticated, as PostgREST would."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.core.conftest import identity, tokens
from tests.helpers import act_as_anon, act_as_service, act_as_user, create_auth_user
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import CONNECTION_FUNCTIONS, ConnectionStore

Conn = psycopg.Connection[Any]

# One call per function, with arguments of the right types (values are irrelevant: the call
# must be refused before the body runs).
CALLS: dict[str, str] = {
    "oauth_state_create": "select * from public.oauth_state_create('h', %(user)s, 'strava',"
    " null, 'https://x.example/cb', '{}')",
    "oauth_state_consume": "select * from public.oauth_state_consume('h', 'strava')",
    "connection_upsert": "select * from public.connection_upsert(%(user)s, 'strava', 'eve',"
    " null, '{}', '{}', 'k1', 'x', null, null, null)",
    "connection_find_by_provider_user": "select * from"
    " public.connection_find_by_provider_user('strava', 'athlete-1')",
    "connection_find_all_by_provider_user": "select * from"
    " public.connection_find_all_by_provider_user('strava', 'athlete-1')",
    "connection_find_for_user": "select * from public.connection_find_for_user(%(user)s, 'strava')",
    "connection_mark_revoked": "select * from public.connection_mark_revoked(%(conn)s, 'x')",
    "connection_disconnect": "select * from public.connection_disconnect(%(conn)s, true)",
    "connection_update_permissions": "select * from"
    " public.connection_update_permissions(%(conn)s, '{}', '{}')",
    "connection_count_live": "select * from public.connection_count_live('strava', %(user)s)",
    "tokens_get": "select * from public.tokens_get(%(conn)s)",
    "token_revocations_claim": "select * from public.token_revocations_claim(%(conn)s, 10)",
    "token_revocation_finish": "select * from public.token_revocation_finish(1, 'revoked', null)",
    "token_revocations_claim_due": "select * from public.token_revocations_claim_due(0, 10)",
    "token_revocations_for_rotation": "select * from"
    " public.token_revocations_for_rotation('k9', 0, 10)",
    "token_revocations_replace_ciphertexts": "select * from"
    " public.token_revocations_replace_ciphertexts('[]')",
    "tokens_acquire_refresh_lease": "select * from"
    " public.tokens_acquire_refresh_lease(%(conn)s, 'eve', 60)",
    "tokens_store_refreshed": "select * from public.tokens_store_refreshed(%(conn)s, 'eve',"
    " 'k1', 'x', null, null, null)",
    "tokens_release_lease": "select * from public.tokens_release_lease(%(conn)s, 'eve')",
    "tokens_for_rotation": "select * from public.tokens_for_rotation('k9', 0, 10)",
    "tokens_replace_ciphertexts": "select * from public.tokens_replace_ciphertexts(%(conn)s, 1,"
    " 'k1', 'x', null)",
}


def test_the_call_table_covers_every_store_function() -> None:
    assert set(CALLS) == CONNECTION_FUNCTIONS


@pytest.fixture
def alice_connection(tx: Conn, cipher: TokenCipher) -> tuple[uuid.UUID, int]:
    alice = create_auth_user(tx, f"alice-{uuid.uuid4().hex}@example.com")
    store = ConnectionStore(PsycopgGateway(tx, role="service_role"))
    result = store.upsert_connection(
        user_id=alice,
        provider="strava",
        identity=identity(),
        sealed=cipher.seal(tokens(), user_id=alice, provider="strava"),
    )
    assert result.connection_id is not None
    return alice, result.connection_id


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("function", sorted(CALLS))
def test_api_roles_cannot_execute_connection_functions(
    tx: Conn, role: str, function: str, alice_connection: tuple[uuid.UUID, int]
) -> None:
    alice, connection_id = alice_connection
    eve = create_auth_user(tx, f"eve-{uuid.uuid4().hex}@example.com")
    holds = tx.execute(
        "select has_function_privilege(%s, p.oid, 'execute') from pg_proc as p"
        " where p.proname = %s and p.pronamespace = 'public'::regnamespace",
        [role, function],
    ).fetchall()
    assert holds == [(False,)]

    with tx.transaction(force_rollback=True):
        if role == "anon":
            act_as_anon(tx)
        else:
            act_as_user(tx, eve)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tx.execute(CALLS[function], {"user": eve, "conn": connection_id})

    # Nothing of Alice's changed.
    status = tx.execute(
        "select status::text from public.provider_connections where id = %s", [connection_id]
    ).fetchone()
    assert status == ("active",)
    assert alice is not None


@pytest.mark.parametrize("function", sorted(CALLS))
def test_service_role_may_execute_connection_functions(tx: Conn, function: str) -> None:
    holds = tx.execute(
        "select has_function_privilege('service_role', p.oid, 'execute') from pg_proc as p"
        " where p.proname = %s and p.pronamespace = 'public'::regnamespace",
        [function],
    ).fetchone()
    assert holds == (True,)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("table", ["private.provider_tokens", "private.oauth_states"])
def test_api_roles_cannot_read_tokens_or_oauth_states(
    tx: Conn, role: str, table: str, alice_connection: tuple[uuid.UUID, int]
) -> None:
    alice, _ = alice_connection
    with tx.transaction(force_rollback=True):
        if role == "anon":
            act_as_anon(tx)
        else:
            act_as_user(tx, alice)  # even the tokens' owner
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tx.execute(f"select * from {table}")


def test_eve_cannot_read_alices_tokens_through_the_connection_functions(
    tx: Conn, alice_connection: tuple[uuid.UUID, int]
) -> None:
    alice, connection_id = alice_connection
    eve = create_auth_user(tx, f"eve-{uuid.uuid4().hex}@example.com")
    with tx.transaction(force_rollback=True):
        act_as_user(tx, eve)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tx.execute("select * from public.tokens_get(%s)", [connection_id])
    with tx.transaction(force_rollback=True):
        act_as_service(tx)
        row = tx.execute("select user_id from public.tokens_get(%s)", [connection_id]).fetchone()
    assert row == (alice,)
