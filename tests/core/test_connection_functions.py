# ruff: noqa: S105 - test tokens and secrets are fake values
"""Every connection SQL function's behaviour on real Postgres, through the store (run as
service_role)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.core.conftest import identity, tokens
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.store import ConnectionStore

Conn = psycopg.Connection[Any]
MakeUser = Callable[[], uuid.UUID]


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def connect(
    store: ConnectionStore,
    cipher: TokenCipher,
    user_id: uuid.UUID,
    provider: str = "strava",
    provider_user_id: str = "athlete-1",
    suffix: str = "0",
    expires_in: float = 3600,
) -> int:
    sealed = cipher.seal(tokens(suffix, expires_in=expires_in), user_id=user_id, provider=provider)
    result = store.upsert_connection(
        user_id=user_id,
        provider=provider,
        identity=identity(provider_user_id),
        sealed=sealed,
    )
    assert result.connection_id is not None, result
    return result.connection_id


def events(tx: Conn, connection_id: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        (row[0], row[1])
        for row in tx.execute(
            "select event::text, detail from public.connection_events"
            " where connection_id = %s order by id",
            [connection_id],
        )
    ]


# --- OAuth states -----------------------------------------------------------------------------


def test_state_round_trip_returns_the_bound_user_verifier_and_redirect(
    store: ConnectionStore, make_user: MakeUser, tx: Conn
) -> None:
    user = make_user()
    expires = store.create_oauth_state(
        state_hash=state_hash("s1"),
        user_id=user,
        provider="garmin",
        code_verifier="v" * 64,
        redirect_uri="https://api.example.com/oauth/garmin/callback",
        scopes=["activity"],
    )
    consumed = store.consume_oauth_state(state_hash=state_hash("s1"), provider="garmin")

    assert expires > datetime.now(UTC) + timedelta(seconds=500)
    assert consumed.status == "ok"
    assert consumed.user_id == user
    assert consumed.code_verifier == "v" * 64
    assert consumed.redirect_uri == "https://api.example.com/oauth/garmin/callback"
    assert consumed.scopes == ("activity",)
    stored = tx.execute("select state_hash from private.oauth_states").fetchall()
    assert ("s1",) not in stored  # only the hash is kept


def test_a_state_is_used_once(store: ConnectionStore, make_user: MakeUser) -> None:
    store.create_oauth_state(
        state_hash=state_hash("once"),
        user_id=make_user(),
        provider="strava",
        code_verifier=None,
        redirect_uri="https://x.example/cb",
    )
    first = store.consume_oauth_state(state_hash=state_hash("once"), provider="strava")
    second = store.consume_oauth_state(state_hash=state_hash("once"), provider="strava")

    assert first.status == "ok"
    assert second.status == "reused"
    assert second.user_id is None
    assert second.code_verifier is None


def test_an_unknown_state_is_refused(store: ConnectionStore) -> None:
    consumed = store.consume_oauth_state(state_hash=state_hash("forged"), provider="strava")
    assert consumed.status == "unknown"
    assert consumed.user_id is None


def test_an_expired_state_is_refused_and_spent(
    store: ConnectionStore, make_user: MakeUser, tx: Conn
) -> None:
    store.create_oauth_state(
        state_hash=state_hash("old"),
        user_id=make_user(),
        provider="polar",
        code_verifier=None,
        redirect_uri="https://x.example/cb",
    )
    tx.execute(
        "update private.oauth_states set created_at = now() - interval '20 minutes',"
        " expires_at = now() - interval '10 minutes' where state_hash = %s",
        [state_hash("old")],
    )
    first = store.consume_oauth_state(state_hash=state_hash("old"), provider="polar")
    second = store.consume_oauth_state(state_hash=state_hash("old"), provider="polar")

    assert first.status == "expired"
    assert first.user_id is None
    assert second.status == "reused"


def test_a_state_for_another_provider_is_refused_and_spent(
    store: ConnectionStore, make_user: MakeUser
) -> None:
    store.create_oauth_state(
        state_hash=state_hash("cross"),
        user_id=make_user(),
        provider="strava",
        code_verifier=None,
        redirect_uri="https://x.example/cb",
    )
    wrong = store.consume_oauth_state(state_hash=state_hash("cross"), provider="garmin")
    then_right = store.consume_oauth_state(state_hash=state_hash("cross"), provider="strava")

    assert wrong.status == "wrong_provider"
    assert wrong.user_id is None
    assert then_right.status == "reused"


def test_state_ttl_is_bounded(store: ConnectionStore, make_user: MakeUser) -> None:
    from trainlytics.errors import GatewayError

    with pytest.raises(GatewayError) as caught:
        store.create_oauth_state(
            state_hash=state_hash("long"),
            user_id=make_user(),
            provider="strava",
            code_verifier=None,
            redirect_uri="https://x.example/cb",
            ttl_seconds=86_400,
        )
    assert caught.value.code == "22023"


# --- connection_upsert -------------------------------------------------------------------------


def test_first_connect_creates_the_row_tokens_and_a_connected_event(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user)

    row = tx.execute(
        "select user_id, provider::text, provider_user_id, provider_username, scopes, status::text,"
        " token_expires_at is not null from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert row == (user, "strava", "athlete-1", "Alice", ["read"], "active", True)
    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.sealed is not None
    assert stored.version == 1
    assert "access-0" not in stored.sealed.access_token_ciphertext
    opened = cipher.open(stored.sealed, user_id=user, provider="strava")
    assert (opened.access_token, opened.refresh_token) == ("access-0", "refresh-0")
    assert [event for event, _ in events(tx, connection_id)] == ["connected"]


def test_reconnect_reuses_the_row_and_strava_data_is_gone_whoever_disconnected(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user)
    tx.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " start_date, is_manual) values (%s, %s, 'strava', 'provider', '111', now(), false)",
        [user, connection_id],
    )
    store.disconnect(connection_id, delete_activities=False)

    result = store.upsert_connection(
        user_id=user,
        provider="strava",
        identity=identity(),
        sealed=cipher.seal(tokens("1"), user_id=user, provider="strava"),
    )

    assert result.status == "reconnected"
    assert result.connection_id == connection_id
    # Strava's terms: its data goes on every disconnect, whatever the caller asked (issue 14:
    # the SQL decides, so the Data API's disconnect behaves the same).
    count = tx.execute(
        "select count(*) from public.activities where connection_id = %s", [connection_id]
    ).fetchone()
    assert count == (0,)
    status = tx.execute(
        "select status::text, disconnected_at from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert status == ("active", None)
    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.sealed is not None
    assert cipher.open(stored.sealed, user_id=user, provider="strava").access_token == "access-1"
    assert [event for event, _ in events(tx, connection_id)] == [
        "connected",
        "disconnected",
        "reconnected",
    ]


def test_reauthorising_an_active_connection_replaces_its_tokens(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user, suffix="0")
    again = connect(store, cipher, user, suffix="1")

    stored = store.get_tokens(connection_id)
    assert again == connection_id
    assert stored is not None
    assert stored.sealed is not None
    assert stored.version == 2
    assert cipher.open(stored.sealed, user_id=user, provider="strava").refresh_token == "refresh-1"


def test_an_account_linked_to_another_active_user_is_refused(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    alice, mallory = make_user(), make_user()
    connect(store, cipher, alice, provider_user_id="shared-account")

    result = store.upsert_connection(
        user_id=mallory,
        provider="strava",
        identity=identity("shared-account"),
        sealed=cipher.seal(tokens(), user_id=mallory, provider="strava"),
    )

    assert result.status == "linked_to_other_user"
    assert result.connection_id is None
    count = tx.execute(
        "select count(*) from public.provider_connections where user_id = %s", [mallory]
    ).fetchone()
    assert count == (0,)


def test_an_account_released_by_its_user_may_be_linked_by_another(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    alice, bob = make_user(), make_user()
    alices = connect(store, cipher, alice, provider_user_id="handed-over")
    store.disconnect(alices, delete_activities=False)

    result = store.upsert_connection(
        user_id=bob,
        provider="strava",
        identity=identity("handed-over"),
        sealed=cipher.seal(tokens(), user_id=bob, provider="strava"),
    )

    assert result.status == "connected"
    ref = store.find_by_provider_user("strava", "handed-over")
    assert ref is not None
    assert ref.user_id == bob


# --- find ---------------------------------------------------------------------------------------


def test_find_by_provider_user_returns_only_the_active_connection(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user, provider="polar", provider_user_id="p-9")

    found = store.find_by_provider_user("polar", "p-9")
    other_provider = store.find_by_provider_user("strava", "p-9")
    store.mark_revoked(connection_id, "gone")
    after_revoke = store.find_by_provider_user("polar", "p-9")

    assert found is not None
    assert (found.connection_id, found.user_id) == (connection_id, user)
    assert other_provider is None
    assert after_revoke is None


def test_find_for_user_reports_status_and_whether_tokens_are_held(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    user = make_user()
    assert store.find_for_user(user, "coros") is None
    connection_id = connect(store, cipher, user, provider="coros")
    active = store.find_for_user(user, "coros")
    store.disconnect(connection_id, delete_activities=False)
    gone = store.find_for_user(user, "coros")

    assert active is not None
    assert (active.connection_id, active.status, active.has_tokens) == (
        connection_id,
        "active",
        True,
    )
    assert gone is not None
    assert (gone.status, gone.has_tokens) == ("disconnected", False)


# --- disconnect and revoke ----------------------------------------------------------------------


def test_disconnect_deletes_tokens_and_keeps_activities_unless_asked(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user, provider="garmin")
    tx.execute(
        "insert into public.activities (user_id, connection_id, provider, source, external_id,"
        " start_date, is_manual) values (%s, %s, 'garmin', 'provider', 'a1', now(), false)",
        [user, connection_id],
    )

    result = store.disconnect(connection_id, delete_activities=False)
    again = store.disconnect(connection_id, delete_activities=False)

    assert (result.changed, result.activities_deleted) == (True, 0)
    assert again.changed is False
    tokens_left = tx.execute(
        "select count(*) from private.provider_tokens where connection_id = %s", [connection_id]
    ).fetchone()
    activities_left = tx.execute(
        "select count(*) from public.activities where connection_id = %s", [connection_id]
    ).fetchone()
    assert tokens_left == (0,)
    assert activities_left == (1,)
    assert [event for event, _ in events(tx, connection_id)] == ["connected", "disconnected"]


def test_disconnect_with_deletion_removes_that_connections_activities_only(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    user = make_user()
    strava = connect(store, cipher, user, provider="strava")
    garmin = connect(store, cipher, user, provider="garmin")
    for connection_id, provider, external in (
        (strava, "strava", "s1"),
        (strava, "strava", "s2"),
        (garmin, "garmin", "g1"),
    ):
        tx.execute(
            "insert into public.activities (user_id, connection_id, provider, source,"
            " external_id, start_date, is_manual)"
            " values (%s, %s, %s, 'provider', %s, now(), false)",
            [user, connection_id, provider, external],
        )
    tx.execute(
        "update public.provider_connections set sync_cursor = '{\"after\": 5}' where id = %s",
        [strava],
    )

    result = store.disconnect(strava, delete_activities=True)

    assert (result.changed, result.activities_deleted) == (True, 2)
    remaining = tx.execute(
        "select provider::text, count(*) from public.activities where user_id = %s"
        " group by provider",
        [user],
    ).fetchall()
    assert remaining == [("garmin", 1)]
    cursor = tx.execute(
        "select sync_cursor from public.provider_connections where id = %s", [strava]
    ).fetchone()
    assert cursor == ({},)


def test_mark_revoked_records_the_reason_and_deletes_tokens(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user, provider="wahoo")

    changed = store.mark_revoked(connection_id, "wahoo: refresh token refused (invalid_grant)")
    again = store.mark_revoked(connection_id, "second time")

    assert changed is True
    assert again is False
    row = tx.execute(
        "select status::text, last_error, last_error_at is not null, token_expires_at"
        " from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert row == ("revoked", "wahoo: refresh token refused (invalid_grant)", True, None)
    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.sealed is None
    assert stored.status == "revoked"
    recorded = events(tx, connection_id)
    assert [event for event, _ in recorded] == ["connected", "revoked"]
    assert recorded[-1][1]["reason"] == "wahoo: refresh token refused (invalid_grant)"


def test_mark_revoked_leaves_a_disconnected_connection_disconnected(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user)
    store.disconnect(connection_id, delete_activities=False)

    assert store.mark_revoked(connection_id, "late deauthorization") is False
    found = store.find_for_user(user, "strava")
    assert found is not None
    assert found.status == "disconnected"


def test_unknown_connections_are_no_ops(store: ConnectionStore) -> None:
    assert store.get_tokens(-1) is None
    assert store.mark_revoked(-1, "x") is False
    assert store.disconnect(-1, delete_activities=True).changed is False
    assert store.acquire_refresh_lease(-1, "h", 10) is None


# --- the refresh lease --------------------------------------------------------------------------


def test_the_lease_is_exclusive_until_released(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    connection_id = connect(store, cipher, make_user())

    first = store.acquire_refresh_lease(connection_id, "a", 30)
    second = store.acquire_refresh_lease(connection_id, "b", 30)
    released_by_other = store.release_lease(connection_id, "b")
    released = store.release_lease(connection_id, "a")
    third = store.acquire_refresh_lease(connection_id, "b", 30)

    assert first is not None
    assert (first.acquired, first.version) == (True, 1)
    assert second is not None
    assert (second.acquired, second.version) == (False, 1)
    assert released_by_other is False
    assert released is True
    assert third is not None
    assert third.acquired is True


def test_a_lapsed_lease_can_be_taken_over(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    connection_id = connect(store, cipher, make_user())
    store.acquire_refresh_lease(connection_id, "dead-process", 30)
    tx.execute(
        "update private.provider_tokens set refresh_lease_until = clock_timestamp()"
        " - interval '1 second' where connection_id = %s",
        [connection_id],
    )

    taken = store.acquire_refresh_lease(connection_id, "survivor", 30)

    assert taken is not None
    assert taken.acquired is True


def test_only_the_lease_holder_stores_refreshed_tokens(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user)
    refreshed = cipher.seal(tokens("1", expires_in=7200), user_id=user, provider="strava")

    without_lease = store.store_refreshed(connection_id, "nobody", refreshed)
    store.acquire_refresh_lease(connection_id, "holder", 30)
    intruder = store.store_refreshed(connection_id, "intruder", refreshed)
    version = store.store_refreshed(connection_id, "holder", refreshed)

    assert without_lease is None
    assert intruder is None
    assert version == 2
    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.lease_holder is None
    assert stored.sealed is not None
    assert cipher.open(stored.sealed, user_id=user, provider="strava").access_token == "access-1"
    expires = tx.execute(
        "select token_expires_at from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert expires == (refreshed.access_token_expires_at,)
    assert [event for event, _ in events(tx, connection_id)] == ["connected", "refreshed"]


def test_releasing_with_a_failure_records_refresh_failed(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser, tx: Conn
) -> None:
    connection_id = connect(store, cipher, make_user())
    store.acquire_refresh_lease(connection_id, "h", 30)

    assert store.release_lease(connection_id, "h", failure="strava: timed out") is True
    recorded = events(tx, connection_id)
    assert recorded[-1] == ("refresh_failed", {"reason": "strava: timed out"})


# --- rotation helpers ---------------------------------------------------------------------------


def test_rotation_pages_rows_not_under_the_current_key(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    user = make_user()
    ids = [
        connect(store, cipher, user, provider=p, provider_user_id=p) for p in ("strava", "polar")
    ]
    first = store.tokens_for_rotation("k2", 0, 1)
    second = store.tokens_for_rotation("k2", first[0].connection_id, 10)
    none_left = store.tokens_for_rotation("k1", 0, 10)

    assert [row.connection_id for row in first + second] == sorted(ids)
    assert first[0].remaining == 2
    assert second[0].remaining == 1
    assert none_left == []


def test_replace_ciphertexts_requires_the_expected_version(
    store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    user = make_user()
    connection_id = connect(store, cipher, user)
    sealed = cipher.seal(tokens(), user_id=user, provider="strava")

    stale = store.replace_ciphertexts(connection_id, 99, sealed)
    fresh = store.replace_ciphertexts(connection_id, 1, sealed)

    assert stale is False
    assert fresh is True
    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.version == 2


# --- the revocation queue: outcomes (integration fixes after issue 14) ----------------------


def _queue_revocation(store: ConnectionStore, cipher: TokenCipher, user: uuid.UUID) -> int:
    connection_id = connect(store, cipher, user)
    store.disconnect(connection_id, delete_activities=False)
    return connection_id


def test_an_operator_error_gives_the_claims_attempt_back_and_keeps_the_row(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    connection_id = _queue_revocation(store, cipher, make_user())
    for _ in range(7):  # more than the attempt budget
        (queued,) = store.claim_revocations(connection_id)
        assert queued.attempts == 1
        outcome = store.finish_revocation(
            queued.revocation_id, outcome="deferred", error="provider strava is not configured"
        )
        assert outcome == "deferred"
    row = tx.execute(
        "select attempts, last_error, claimed_until from private.token_revocations"
        " where connection_id = %s",
        [connection_id],
    ).fetchone()
    assert row == (0, "provider strava is not configured", None)


def test_the_fifth_failed_attempt_drops_the_row_and_says_so(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    connection_id = _queue_revocation(store, cipher, make_user())
    outcomes = []
    for _ in range(5):
        (queued,) = store.claim_revocations(connection_id)
        outcomes.append(store.finish_revocation(queued.revocation_id, outcome="failed", error="x"))
    assert outcomes == ["retry"] * 4 + ["dropped"]
    assert store.claim_revocations(connection_id) == []
    assert store.finish_revocation(queued.revocation_id, outcome="revoked") == "gone"


def test_finish_rejects_an_unknown_outcome(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    connection_id = _queue_revocation(store, cipher, make_user())
    (queued,) = store.claim_revocations(connection_id)
    with tx.transaction(force_rollback=True), pytest.raises(psycopg.errors.InvalidParameterValue):
        tx.execute(
            "select * from public.token_revocation_finish(%s, 'ok', null)",
            [queued.revocation_id],
        )


def test_the_sweeps_claim_pages_by_id_so_a_released_row_waits_for_the_next_sweep(
    tx: Conn, store: ConnectionStore, cipher: TokenCipher, make_user: MakeUser
) -> None:
    tx.execute("delete from private.token_revocations")
    ids = [_queue_revocation(store, cipher, make_user()) for _ in range(3)]
    first = store.claim_due_revocations(0, 2)
    assert sorted(q.connection_id for q in first) == ids[:2]
    for queued in first:
        assert store.finish_revocation(queued.revocation_id, outcome="failed") == "retry"
    after = max(q.revocation_id for q in first)
    assert sorted(q.connection_id for q in store.claim_due_revocations(after, 2)) == ids[2:]
    # released rows are claimable again from the start (the next sweep)
    assert sorted(q.connection_id for q in store.claim_due_revocations(0, 10)) == ids[:2]
