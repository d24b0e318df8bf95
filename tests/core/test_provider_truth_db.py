"""Issue 13 in the database: a disconnected connection keeps no provider profile, whichever
path disconnects it; a confirmed permission change is stored as scopes and status, never as a
revocation; the athlete cap counts other athletes only. Threats named as such."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.core.conftest import identity, tokens
from tests.helpers import act_as_user, create_auth_user, reset_role
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.store import ConnectionStore

Conn = psycopg.Connection[Any]

PROFILE = {"id": 5150, "firstname": "Alice", "city": "Leipzig", "profile": "https://x/a.jpg"}


def _connect(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher, provider: str = "strava"
) -> tuple[uuid.UUID, int]:
    alice = create_auth_user(tx, f"alice-{uuid.uuid4().hex}@example.com")
    who = identity(f"athlete-{uuid.uuid4().hex[:8]}", ("read", "activity:read_all"))
    who = type(who)(who.provider_user_id, "alice_runs", PROFILE, who.scopes)
    result = store.upsert_connection(
        user_id=alice,
        provider=provider,
        identity=who,
        sealed=cipher.seal(tokens(), user_id=alice, provider=provider),
    )
    assert result.connection_id is not None
    return alice, result.connection_id


def _profile(tx: Conn, connection_id: int) -> tuple[Any, ...]:
    row = tx.execute(
        "select provider_profile, provider_username, provider_user_id"
        " from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_disconnect_keeps_no_strava_profile(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher
) -> None:
    _, connection_id = _connect(tx, store, cipher)
    assert _profile(tx, connection_id)[:2] == (PROFILE, "alice_runs")
    store.disconnect(connection_id, delete_activities=True)
    profile, username, provider_user_id = _profile(tx, connection_id)
    assert (profile, username) == ({}, None)
    assert provider_user_id  # kept: routes a late deauthorisation webhook and a reconnect


def test_an_athletes_own_disconnect_through_the_data_api_scrubs_the_profile_too(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher
) -> None:
    alice, connection_id = _connect(tx, store, cipher)
    act_as_user(tx, alice)
    changed = tx.execute(
        "update public.provider_connections set status = 'disconnected' where id = %s",
        [connection_id],
    ).rowcount
    reset_role(tx)
    assert changed == 1
    assert _profile(tx, connection_id)[:2] == ({}, None)


def test_a_withdrawn_permission_is_stored_not_a_revocation(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher
) -> None:
    _, connection_id = _connect(tx, store, cipher, "garmin")
    status = store.update_permissions(
        connection_id,
        ["HEALTH_EXPORT"],
        ["ACTIVITY_EXPORT"],
        "ACTIVITY_EXPORT is no longer granted",
    )
    assert status == "error"
    row = tx.execute(
        "select scopes, status, last_error,"
        " (select count(*) from private.provider_tokens where connection_id = pc.id)"
        " from public.provider_connections as pc where pc.id = %s",
        [connection_id],
    ).fetchone()
    assert row == (["HEALTH_EXPORT"], "error", "ACTIVITY_EXPORT is no longer granted", 1)
    assert (
        store.update_permissions(connection_id, ["HEALTH_EXPORT", "ACTIVITY_EXPORT"], [], None)
        == "active"
    )
    assert tx.execute(
        "select status, last_error from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone() == ("active", None)
    events = tx.execute(
        "select count(*) from public.connection_events"
        " where connection_id = %s and event = 'scopes_changed'",
        [connection_id],
    ).fetchone()
    assert events == (2,)


def test_a_permission_change_cannot_revive_a_disconnected_connection(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher
) -> None:
    _, connection_id = _connect(tx, store, cipher, "garmin")
    store.disconnect(connection_id, delete_activities=False)
    assert store.update_permissions(connection_id, ["ACTIVITY_EXPORT"], [], None) == (
        "disconnected"
    )
    assert tx.execute(
        "select status from public.provider_connections where id = %s", [connection_id]
    ).fetchone() == ("disconnected",)


def test_eve_cannot_learn_how_many_athletes_use_strava(tx: Conn) -> None:
    eve = create_auth_user(tx, f"eve-{uuid.uuid4().hex}@example.com")
    act_as_user(tx, eve)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        tx.execute("select public.connection_count_live('strava', %s)", [eve])


def test_the_athlete_cap_counts_other_athletes_only(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher
) -> None:
    alice, _ = _connect(tx, store, cipher)
    before = store.count_live_connections("strava", except_user=alice)
    _connect(tx, store, cipher)
    assert store.count_live_connections("strava", except_user=alice) == before + 1
