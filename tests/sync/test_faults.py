"""The fault-injection matrix: whatever fails, wherever, no activity is lost or duplicated, the
next run resumes from the durable cursor, and sync_history tells the truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.sync.engine_support import (
    StravaListServer,
    admin,
    cursor_of,
    drop_engine_connections,
    history,
    make_engine,
    new_connection,
    pool,
    stored_ids,
    sync_database_url,
)
from trainlytics.errors import (
    BadPayloadError,
    DatabaseUnavailableError,
    ProviderUnavailableError,
    RateLimitedError,
)
from trainlytics.sync.engine import is_transient

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]
REPO = Path(__file__).resolve().parents[2]

N = 1000  # five full pages of 200, then the end
FAULTS = {
    "5xx": ProviderUnavailableError,
    "timeout": ProviderUnavailableError,
    "json": BadPayloadError,
    "429": RateLimitedError,
}


def _assert_complete(admin: Conn, connection_id: int) -> None:
    ids = stored_ids(admin, connection_id)
    assert ids == list(range(1, N + 1))  # none lost, none doubled (UNIQUE holds it too)
    total = admin.execute(
        "select count(*), count(distinct external_id) from public.activities"
        " where connection_id = %s",
        [connection_id],
    ).fetchone()
    assert total == (N, N)


@pytest.mark.parametrize("page", [0, 2, 5])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_provider_fault_at_a_page(
    pool: ConnectionPool[Any], admin: Conn, fault: str, page: int
) -> None:
    server = StravaListServer()
    server.add(*range(1, N + 1))
    server.faults[page] = fault
    connection_id = new_connection(admin, server.fake.provider_user_id)
    engine = make_engine(pool, server)

    with pytest.raises(FAULTS[fault]) as caught:
        engine.run(connection_id, "initial")
    assert is_transient(caught.value)
    stored = stored_ids(admin, connection_id)
    (failed,) = history(admin, connection_id)
    assert failed["sync_status"] == ("partial" if stored else "failed")
    assert failed["activities_created"] == len(stored)
    assert failed["error_message"]
    assert failed["error_details"]["error"] == type(caught.value).__name__
    assert "engine-test-access-token" not in str(failed)
    if page > 0:
        assert stored, "pages before the fault are kept"
        assert cursor_of(admin, connection_id)["page"] is not None

    requests_before = len(server.list_requests)
    resumed = engine.run(connection_id, "retry")
    assert resumed.status == "success"
    _assert_complete(admin, connection_id)
    # The retry resumed where the cursor was, not at the beginning.
    assert len(server.list_requests) - requests_before <= 6 - min(page, 5) + 1
    runs = history(admin, connection_id)
    assert [r["sync_status"] for r in runs] == [failed["sync_status"], "success"]
    assert sum(r["activities_created"] for r in runs) == N


@pytest.mark.parametrize("page", [1, 3])
def test_database_connection_dropped_mid_page(
    pool: ConnectionPool[Any], admin: Conn, sync_database_url: str, page: int
) -> None:
    server = StravaListServer()
    server.add(*range(1, N + 1))
    # While the provider answers page `page`, another connection kills the engine's backends:
    # the page's ingest then meets a dead connection.
    server.faults[page] = drop_engine_connections(sync_database_url)
    connection_id = new_connection(admin, server.fake.provider_user_id)
    engine = make_engine(pool, server)

    with pytest.raises(DatabaseUnavailableError) as caught:
        engine.run(connection_id, "initial")
    assert is_transient(caught.value)
    (run,) = history(admin, connection_id)
    # The engine closed the run on a fresh connection, truthfully.
    assert run["sync_status"] == "partial"
    stored = stored_ids(admin, connection_id)
    assert 0 < len(stored) <= page * 200  # the pages before the drop
    assert run["activities_created"] == len(stored)
    assert "database unavailable" in run["error_message"]

    assert engine.run(connection_id, "retry").status == "success"
    _assert_complete(admin, connection_id)


def test_worker_killed_mid_sync(
    pool: ConnectionPool[Any], admin: Conn, sync_database_url: str
) -> None:
    server = StravaListServer()
    connection_id = new_connection(admin, server.fake.provider_user_id)
    lease = 5
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'functions_py'}"}
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "tests.sync.worker_child",
            sync_database_url,
            str(connection_id),
            server.fake.provider_user_id,
            str(N),
            "0.3",
            str(lease),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(stored_ids(admin, connection_id)) < 400:
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    stored_at_kill = stored_ids(admin, connection_id)
    assert 400 <= len(stored_at_kill) < N
    (dead,) = history(admin, connection_id)
    assert dead["sync_status"] == "running"

    # While the dead worker's lease is live, nobody else runs the connection.
    assert make_engine(pool, server).close_stale_runs() == 0
    time.sleep(lease + 0.5)
    engine = make_engine(pool, server)
    assert engine.close_stale_runs() == 1  # what every worker does at start
    (closed,) = history(admin, connection_id)
    assert closed["sync_status"] == "partial"
    assert closed["sync_completed_at"] is not None
    assert "stopped" in closed["error_message"]
    assert closed["activities_created"] == len(stored_at_kill)

    server.add(*range(1, N + 1))
    resumed = engine.run(connection_id, "retry")
    assert resumed.status == "success"
    assert resumed.created == N - len(stored_at_kill)
    _assert_complete(admin, connection_id)
    runs = history(admin, connection_id)
    assert [r["sync_status"] for r in runs] == ["partial", "success"]
    assert sum(r["activities_created"] for r in runs) == N
