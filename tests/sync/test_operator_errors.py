"""Operator configuration errors never reach what the athlete sees.

A ``sync`` (CLI or worker) on a server without the provider's credentials, or without the key
the connection's tokens are sealed with, is the operator's mistake: it is reported to the
operator (one red line; a permanent job failure in the worker's log) and nothing is written —
no ``sync_history`` run, the connection's ``status``, ``last_error`` and failure count as they
were (both are readable by the athlete under RLS)."""

from __future__ import annotations

import base64
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from tests.core.conftest import keys_env, random_key
from tests.fakes.strava import FakeStrava
from tests.sync.engine_support import admin, history, sync_database_url
from tests.sync.test_cli_sync import KEY, connect_athlete, env_for, fake, one_red_line
from trainlytics.cli.main import app
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.errors import ProviderNotConfiguredError, TokenKeyNotConfiguredError
from trainlytics.sync.engine import SyncEngine, is_transient

__all__ = ["admin", "fake", "sync_database_url"]

Conn = psycopg.Connection[Any]
runner = CliRunner()


def _athlete_visible(admin: Conn, connection_id: int) -> tuple[Any, ...]:
    row = admin.execute(
        "select status::text, last_error, last_error_at, consecutive_failures, last_sync_at"
        " from public.provider_connections where id = %s",
        [connection_id],
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_eve_the_operator_without_strava_credentials_does_not_mark_alices_connection(
    fake: FakeStrava, admin: Conn, sync_database_url: str
) -> None:
    _, connection_id = connect_athlete(admin, fake)
    before = _athlete_visible(admin, connection_id)
    env = {
        **env_for(fake),
        "STRAVA_CLIENT_ID": "",
        "STRAVA_CLIENT_SECRET": "",
        "STRAVA_REDIRECT_URI": "",
    }

    result = runner.invoke(
        app, ["sync", str(connection_id), "--database-url", sync_database_url], env=env
    )

    assert result.exit_code == 1, result.output
    line = one_red_line(result.output)
    assert "provider strava is not configured on this server" in line
    assert "STRAVA_CLIENT_ID" in line
    assert _athlete_visible(admin, connection_id) == before
    assert before[0] == "active"
    assert history(admin, connection_id) == []
    assert fake.requests == []


def test_tokens_sealed_with_a_key_this_server_lacks_are_the_operators_problem(
    fake: FakeStrava, admin: Conn, sync_database_url: str
) -> None:
    _, connection_id = connect_athlete(admin, fake)  # sealed with k1
    before = _athlete_visible(admin, connection_id)
    env = {**env_for(fake), "TRAINLYTICS_TOKEN_KEYS": keys_env(("k2", random_key()))}

    result = runner.invoke(
        app, ["sync", str(connection_id), "--database-url", sync_database_url], env=env
    )

    assert result.exit_code == 1, result.output
    line = one_red_line(result.output)
    assert "sealed with key 'k1'" in line
    assert "TRAINLYTICS_TOKEN_KEYS" in line
    assert base64.b64encode(KEY).decode() not in line
    assert _athlete_visible(admin, connection_id) == before
    assert history(admin, connection_id) == []


def test_the_worker_engine_raises_a_permanent_error_and_records_nothing(
    fake: FakeStrava, admin: Conn, sync_database_url: str
) -> None:
    _, connection_id = connect_athlete(admin, fake)
    before = _athlete_visible(admin, connection_id)
    pool: ConnectionPool[Any] = ConnectionPool(sync_database_url, min_size=1, max_size=2, open=True)
    try:
        engine = SyncEngine(
            PsycopgGateway(pool, role="service_role"),
            tokens=None,  # type: ignore[arg-type]  # never reached: the check comes first
            providers={},
        )
        with pytest.raises(ProviderNotConfiguredError) as raised:
            engine.run(connection_id, "scheduled")
        assert not is_transient(raised.value)  # the job queue does not retry it

        engine = SyncEngine(
            PsycopgGateway(pool, role="service_role"),
            tokens=None,  # type: ignore[arg-type]
            providers={"strava": object()},  # type: ignore[dict-item]
            token_key_ids=frozenset({"k9"}),
        )
        with pytest.raises(TokenKeyNotConfiguredError) as key_error:
            engine.run(connection_id, "scheduled")
        assert not is_transient(key_error.value)
    finally:
        pool.close()
    assert _athlete_visible(admin, connection_id) == before
    assert history(admin, connection_id) == []
