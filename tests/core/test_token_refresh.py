# ruff: noqa: S105, S106, S107 - test tokens and secrets are fake values
"""TokenService: refresh ahead of expiry, serialised by the database lease.

The two-process tests are the point: two OS processes, each with its own Postgres connection,
ask for valid tokens of the same connection at the same moment, against a refresh endpoint
whose refresh tokens work once. Exactly one refresh reaches the provider; both processes end
with the same, valid tokens."""

from __future__ import annotations

import multiprocessing
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.core.conftest import CommittedDb, identity, random_key
from tests.core.refresh_support import (
    SingleUseRefreshProvider,
    SingleUseTokenServer,
    refresh_worker,
)
from trainlytics.connections.crypto import TokenCipher
from trainlytics.connections.tokens import TokenService
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.errors import ProviderUnavailableError, TokenRefreshError, TokenRevokedError
from trainlytics.providers.base import TokenSet

Conn = psycopg.Connection[Any]


def connect_wahoo(
    store: ConnectionStore,
    cipher: TokenCipher,
    user: uuid.UUID,
    *,
    expires_in: float,
    refresh_token: str | None = "refresh-0",
) -> int:
    result = store.upsert_connection(
        user_id=user,
        provider="wahoo",
        identity=identity(f"wahoo-{uuid.uuid4().hex[:8]}"),
        sealed=cipher.seal(
            TokenSet(
                access_token="access-0",
                refresh_token=refresh_token,
                expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            ),
            user_id=user,
            provider="wahoo",
        ),
    )
    assert result.connection_id is not None
    return result.connection_id


def run_two_processes(
    committed: CommittedDb, key: bytes, server: SingleUseTokenServer, connection_id: int
) -> list[tuple[Any, ...]]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(
            target=refresh_worker,
            args=(committed.url, key, server.url, connection_id, start, results),
        )
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert all(outcome[0] != "crash" for outcome in outcomes), outcomes
    # The two calls really ran at the same time: each began before the other ended.
    began = [outcome[-2] for outcome in outcomes]
    ended = [outcome[-1] for outcome in outcomes]
    assert max(began) < min(ended)
    return [outcome[:-2] for outcome in outcomes]


def event_names(conn: Conn, connection_id: int) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "select event::text from public.connection_events where connection_id = %s order by id",
            [connection_id],
        )
    ]


def test_two_processes_refresh_a_single_use_token_exactly_once(committed: CommittedDb) -> None:
    key = random_key()
    cipher = TokenCipher({"k1": key}, "k1")
    store = ConnectionStore(PsycopgGateway(committed.conn))
    user = committed.make_user()
    connection_id = connect_wahoo(store, cipher, user, expires_in=60)  # inside the margin

    with SingleUseTokenServer("refresh-0", delay=0.5).running() as server:
        outcomes = run_two_processes(committed, key, server, connection_id)

    assert server.refresh_calls == 1
    assert outcomes == [("ok", "access-1", "refresh-1")] * 2
    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.sealed is not None
    assert stored.version == 2
    assert stored.lease_holder is None
    opened = cipher.open(stored.sealed, user_id=user, provider="wahoo")
    assert (opened.access_token, opened.refresh_token) == ("access-1", "refresh-1")
    assert opened.expires_at is not None
    assert opened.expires_at > datetime.now(UTC) + timedelta(hours=1)
    assert event_names(committed.conn, connection_id) == ["connected", "refreshed"]


def test_two_processes_facing_a_refused_refresh_mark_it_revoked_once_and_do_not_retry(
    committed: CommittedDb,
) -> None:
    key = random_key()
    cipher = TokenCipher({"k1": key}, "k1")
    store = ConnectionStore(PsycopgGateway(committed.conn))
    user = committed.make_user()
    connection_id = connect_wahoo(store, cipher, user, expires_in=60)

    with SingleUseTokenServer("refresh-0", delay=0.3, revoked=True).running() as server:
        outcomes = run_two_processes(committed, key, server, connection_id)
        # Asked again later: refused from the database, the provider is not called again.
        service = TokenService(
            store, cipher, {"wahoo": SingleUseRefreshProvider(server.url, httpx.Client())}
        )
        with pytest.raises(TokenRevokedError, match="holds no tokens"):
            service.valid_tokens(connection_id)

    assert server.refresh_calls == 1
    assert [outcome[0] for outcome in outcomes] == ["revoked", "revoked"]
    row = committed.conn.execute(
        "select status::text, last_error from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert row == ("revoked", "wahoo: refresh token refused (invalid_grant)")
    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.sealed is None
    assert event_names(committed.conn, connection_id) == ["connected", "revoked"]


# --- single process, provider over MockTransport ---------------------------------------------


class TokenEndpoint:
    """MockTransport handler: a token endpoint answering ``status`` (200 rotates)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.status == 200:
            return httpx.Response(
                200,
                json={
                    "access_token": f"access-{self.calls}",
                    "refresh_token": f"refresh-{self.calls}",
                    "expires_in": 7200,
                },
            )
        return httpx.Response(self.status, json={"error": "server_error"})

    def service(self, store: ConnectionStore, cipher: TokenCipher, **kwargs: Any) -> TokenService:
        http = httpx.Client(transport=httpx.MockTransport(self.handle))
        provider = SingleUseRefreshProvider("https://api.wahooligan.com/oauth/token", http)
        return TokenService(store, cipher, {"wahoo": provider}, **kwargs)


def test_a_fresh_token_is_returned_without_refreshing(
    store: ConnectionStore, cipher: TokenCipher, make_user: Any
) -> None:
    endpoint = TokenEndpoint()
    connection_id = connect_wahoo(store, cipher, make_user(), expires_in=3600)

    tokens = endpoint.service(store, cipher).valid_tokens(connection_id)

    assert tokens.access_token == "access-0"
    assert endpoint.calls == 0


def test_a_token_inside_the_margin_is_refreshed_and_stored(
    store: ConnectionStore, cipher: TokenCipher, make_user: Any
) -> None:
    endpoint = TokenEndpoint()
    user = make_user()
    connection_id = connect_wahoo(store, cipher, user, expires_in=3600)

    service = endpoint.service(store, cipher, margin_seconds=4000)
    first = service.valid_tokens(connection_id)
    service.margin_seconds = 300
    second = service.valid_tokens(connection_id)

    assert endpoint.calls == 1
    assert first.access_token == second.access_token == "access-1"
    stored, opened = service.stored_tokens(connection_id)
    assert stored.version == 2
    assert opened.refresh_token == "refresh-1"


def test_a_token_without_refresh_token_is_never_refreshed(
    store: ConnectionStore, cipher: TokenCipher, make_user: Any
) -> None:
    endpoint = TokenEndpoint()
    connection_id = connect_wahoo(store, cipher, make_user(), expires_in=10, refresh_token=None)

    tokens = endpoint.service(store, cipher).valid_tokens(connection_id)

    assert tokens.access_token == "access-0"
    assert endpoint.calls == 0


def test_a_transient_failure_releases_the_lease_records_it_and_keeps_the_tokens(
    store: ConnectionStore, cipher: TokenCipher, make_user: Any, tx: Conn
) -> None:
    endpoint = TokenEndpoint(status=503)
    connection_id = connect_wahoo(store, cipher, make_user(), expires_in=10)

    with pytest.raises(ProviderUnavailableError):
        endpoint.service(store, cipher).valid_tokens(connection_id)

    stored = store.get_tokens(connection_id)
    assert stored is not None
    assert stored.lease_holder is None
    assert stored.version == 1
    assert stored.status == "active"
    assert event_names(tx, connection_id)[-1] == "refresh_failed"


def test_a_waiter_gives_up_after_its_timeout_when_the_holder_never_finishes(
    store: ConnectionStore, cipher: TokenCipher, make_user: Any
) -> None:
    endpoint = TokenEndpoint()
    connection_id = connect_wahoo(store, cipher, make_user(), expires_in=10)
    store.acquire_refresh_lease(connection_id, "a-stuck-process", 60)

    with pytest.raises(TokenRefreshError, match="timed out waiting"):
        endpoint.service(store, cipher, wait_timeout=0.3, poll_interval=0.05).valid_tokens(
            connection_id
        )
    assert endpoint.calls == 0


def test_a_lapsed_lease_of_a_dead_process_is_taken_over(
    store: ConnectionStore, cipher: TokenCipher, make_user: Any, tx: Conn
) -> None:
    endpoint = TokenEndpoint()
    connection_id = connect_wahoo(store, cipher, make_user(), expires_in=10)
    store.acquire_refresh_lease(connection_id, "a-dead-process", 1)
    tx.execute(
        "update private.provider_tokens set refresh_lease_until = clock_timestamp()"
        " + interval '200 milliseconds' where connection_id = %s",
        [connection_id],
    )

    tokens = endpoint.service(store, cipher, poll_interval=0.05).valid_tokens(connection_id)

    assert tokens.access_token == "access-1"
    assert endpoint.calls == 1


def test_an_unknown_connection_is_refused(store: ConnectionStore, cipher: TokenCipher) -> None:
    with pytest.raises(TokenRevokedError, match="does not exist"):
        TokenEndpoint().service(store, cipher).valid_tokens(-1)


def test_tokens_under_a_missing_key_fail_loudly(
    store: ConnectionStore, cipher: TokenCipher, make_user: Any
) -> None:
    from trainlytics.errors import TokenDecryptionError

    connection_id = connect_wahoo(store, cipher, make_user(), expires_in=3600)
    other = TokenCipher({"k2": random_key()}, "k2")
    with pytest.raises(TokenDecryptionError, match="'k1'"):
        TokenEndpoint().service(store, other).valid_tokens(connection_id)
