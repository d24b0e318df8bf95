"""Both gateway transports: the SQL psycopg runs, and the HTTP requests the Supabase gateway
sends (contract tests over MockTransport), plus a live test against a real project when
SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are set."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.core.conftest import identity, tokens
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.gateway import PsycopgGateway, SupabaseGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.errors import DatabaseUnavailableError, GatewayError

Conn = psycopg.Connection[Any]
URL = "https://abc.supabase.co"
SERVICE_KEY = "service-role-key-value"


class Recorder:
    def __init__(self, status: int = 200, body: Any = None, raw: bytes | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = [] if body is None else body
        self.raw = raw

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.raw is not None:
            return httpx.Response(self.status, content=self.raw)
        return httpx.Response(self.status, json=self.body)

    def gateway(self) -> SupabaseGateway:
        return SupabaseGateway(
            URL + "/", SERVICE_KEY, httpx.Client(transport=httpx.MockTransport(self.handle))
        )


# --- SupabaseGateway contract ----------------------------------------------------------------


def test_rpc_request_shape() -> None:
    recorder = Recorder(body=[{"connection_id": 7, "user_id": str(uuid.UUID(int=1))}])
    user = uuid.UUID(int=5)
    when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    rows = recorder.gateway().call(
        "connection_find_for_user",
        {
            "p_user_id": user,
            "p_provider": "strava",
            "p_when": when,
            "p_scopes": ("a", "b"),
            "p_profile": {"x": 1},
            "p_none": None,
        },
    )

    assert rows == [{"connection_id": 7, "user_id": str(uuid.UUID(int=1))}]
    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == f"{URL}/rest/v1/rpc/connection_find_for_user"
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-profile"] == "public"
    assert json.loads(request.content) == {
        "p_user_id": str(user),
        "p_provider": "strava",
        "p_when": "2026-11-25T12:00:00+00:00",
        "p_scopes": ["a", "b"],
        "p_profile": {"x": 1},
        "p_none": None,
    }


def test_store_calls_go_through_rpc_with_the_functions_argument_names(
    cipher: TokenCipher,
) -> None:
    user = uuid.UUID(int=9)
    recorder = Recorder(body=[{"status": "connected", "connection_id": 3}])
    store = ConnectionStore(recorder.gateway())

    result = store.upsert_connection(
        user_id=user,
        provider="wahoo",
        identity=identity("w-1"),
        sealed=cipher.seal(tokens(), user_id=user, provider="wahoo"),
    )

    assert (result.status, result.connection_id) == ("connected", 3)
    (request,) = recorder.requests
    assert request.url.path == "/rest/v1/rpc/connection_upsert"
    body = json.loads(request.content)
    assert set(body) == {
        "p_user_id",
        "p_provider",
        "p_provider_user_id",
        "p_provider_username",
        "p_provider_profile",
        "p_scopes",
        "p_key_id",
        "p_access_token_ciphertext",
        "p_refresh_token_ciphertext",
        "p_access_token_expires_at",
        "p_refresh_token_expires_at",
    }
    assert "access-0" not in request.content.decode()  # only ciphertexts travel


def test_json_values_from_postgrest_are_normalised_by_the_store() -> None:
    recorder = Recorder(
        body=[
            {
                "connection_id": 4,
                "user_id": str(uuid.UUID(int=2)),
                "provider": "strava",
                "provider_user_id": "a",
                "status": "active",
                "key_id": "k1",
                "access_token_ciphertext": "abc",
                "refresh_token_ciphertext": None,
                "access_token_expires_at": "2026-11-25T12:00:00+00:00",
                "refresh_token_expires_at": None,
                "version": 3,
                "refresh_lease_holder": None,
                "refresh_lease_until": None,
            }
        ]
    )
    stored = ConnectionStore(recorder.gateway()).get_tokens(4)

    assert stored is not None
    assert stored.user_id == uuid.UUID(int=2)
    assert stored.sealed is not None
    assert stored.sealed.access_token_expires_at == datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_postgrest_errors_become_gateway_errors_with_the_code() -> None:
    recorder = Recorder(
        status=403, body={"code": "42501", "message": "permission denied for function x"}
    )
    with pytest.raises(GatewayError) as caught:
        recorder.gateway().call("tokens_get", {"p_connection_id": 1})
    assert caught.value.code == "42501"
    assert "permission denied" in caught.value.message
    assert SERVICE_KEY not in caught.value.message


@pytest.mark.parametrize("status", [502, 503, 504])
def test_an_unavailable_api_is_database_unavailable(status: int) -> None:
    with pytest.raises(DatabaseUnavailableError):
        Recorder(status=status, raw=b"<html>bad gateway</html>").gateway().call("tokens_get", {})


def test_a_transport_failure_is_database_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timeout", request=request)

    gateway = SupabaseGateway(URL, SERVICE_KEY, httpx.Client(transport=httpx.MockTransport(down)))
    with pytest.raises(DatabaseUnavailableError) as caught:
        gateway.call("tokens_get", {"p_connection_id": 1})
    assert SERVICE_KEY not in caught.value.message


@pytest.mark.parametrize(
    "name", ["tokens_get; drop table x", "Tokens_get", "rpc/../admin", "", "a" * 64]
)
def test_function_names_are_validated_before_any_request(name: str) -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="invalid SQL function name"):
        recorder.gateway().call(name, {})
    assert recorder.requests == []


def test_argument_names_and_allow_list_are_enforced() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="invalid argument name"):
        recorder.gateway().call("tokens_get", {"p_x) or (1=1": 1})
    allowed = SupabaseGateway(
        URL,
        SERVICE_KEY,
        httpx.Client(transport=httpx.MockTransport(recorder.handle)),
        allowed=frozenset({"tokens_get"}),
    )
    with pytest.raises(ValueError, match="allow-list"):
        allowed.call("enqueue_job", {})
    assert recorder.requests == []


# --- PsycopgGateway -----------------------------------------------------------------------------


def test_values_are_bound_not_formatted(tx: Conn) -> None:
    gateway = PsycopgGateway(tx, role="service_role")
    hostile = "x'); drop table public.activities; --"
    rows = gateway.call(
        "connection_find_by_provider_user", {"p_provider": "strava", "p_provider_user_id": hostile}
    )
    assert rows == []
    assert tx.execute("select to_regclass('public.activities') is not null").fetchone() == (True,)


def test_role_switch_is_undone_after_the_call(tx: Conn) -> None:
    before = tx.execute("select current_user").fetchone()
    PsycopgGateway(tx, role="service_role").call("tokens_get", {"p_connection_id": -1})
    after = tx.execute("select current_user").fetchone()
    assert before == after


def test_sql_errors_become_gateway_errors_and_the_transaction_survives(tx: Conn) -> None:
    gateway = PsycopgGateway(tx, role="service_role")
    with pytest.raises(GatewayError) as caught:
        gateway.call(
            "tokens_acquire_refresh_lease", {"p_connection_id": 1, "p_holder": "h", "p_seconds": 0}
        )
    assert caught.value.code == "22023"
    assert tx.execute("select 1").fetchone() == (1,)


def test_a_pool_commits_each_call(committed: Any, cipher: TokenCipher) -> None:
    user = committed.make_user()
    with ConnectionPool(committed.url, min_size=1, max_size=2, open=True) as pool:
        store = ConnectionStore(PsycopgGateway(pool))
        result = store.upsert_connection(
            user_id=user,
            provider="coros",
            identity=identity("c-1"),
            sealed=cipher.seal(tokens(), user_id=user, provider="coros"),
        )
    seen = committed.conn.execute(
        "select count(*) from public.provider_connections where id = %s", [result.connection_id]
    ).fetchone()
    assert seen == (1,)


# --- Live Supabase (runs only with a real project's credentials) ------------------------------


LIVE = bool(os.environ.get("SUPABASE_URL") and os.environ.get("SUPABASE_SERVICE_ROLE_KEY"))


@pytest.mark.skipif(not LIVE, reason="SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY not set")
def test_live_supabase_rpc_round_trip() -> None:  # pragma: no cover - needs a real project
    with httpx.Client(timeout=20) as http:
        store = ConnectionStore(
            SupabaseGateway(
                os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"], http
            )
        )
        assert store.find_by_provider_user("strava", f"nobody-{uuid.uuid4().hex}") is None
        assert store.get_tokens(-1) is None
        consumed = store.consume_oauth_state(state_hash=uuid.uuid4().hex, provider="strava")
        assert consumed.status == "unknown"
