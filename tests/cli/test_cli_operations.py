"""``serve``, ``worker``, ``sync`` and ``tokens`` through the command line: happy paths and the
one-line errors of bad input. Elsewhere: ``db`` in tests/db/test_cli_db.py, ``demo`` in
tests/importers/test_demo.py, ``import`` in tests/importers/, ``stats rebuild`` in
tests/analytics/test_rollups.py, ``tokens rotate-key``'s re-encryption in
tests/core/test_rotate_key.py."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.cli.cli_support import error_line, invoke
from tests.sync.engine_support import StravaListServer, make_engine, new_connection
from trainlytics.cli import sync as sync_command
from trainlytics.cli.worker import Runtime

TRAINLYTICS = str(Path(sys.executable).with_name("trainlytics"))
TOKEN_KEYS = "k1:" + base64.b64encode(b"\x01" * 32).decode()
UNREACHABLE = "postgresql://postgres:pw@127.0.0.1:1/none"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No Trainlytics/Supabase/provider configuration from the developer's shell."""
    for name in list(os.environ):
        if name.startswith(("TRAINLYTICS_", "SUPABASE_", "DATABASE_URL")) or name.endswith(
            ("_CLIENT_ID", "_CLIENT_SECRET")
        ):
            monkeypatch.delenv(name)
    return monkeypatch


# --- serve and worker: real processes ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def process_env(cli_database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TRAINLYTICS_", "SUPABASE_", "DATABASE_URL"))
    }
    env.update(
        TRAINLYTICS_TOKEN_KEYS=TOKEN_KEYS,
        SUPABASE_JWT_SECRET="cli-test-jwt-secret-that-is-long-enough-000",  # noqa: S106
        TRAINLYTICS_FRONTEND_URL="https://app.example.com",
        DATABASE_URL=cli_database_url,
    )
    return env


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serve_answers_health(
    process_env: dict[str, str], started: list[subprocess.Popen[str]]
) -> None:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [TRAINLYTICS, "serve", "--port", str(port), "--log-level", "warning"],
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(process)
    deadline = time.monotonic() + 30
    response = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    assert response is not None, process.stdout.read() if process.stdout else ""
    assert response.status_code == 200
    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (uvicorn >= 0.29).
    assert process.wait(timeout=20) in (0, -signal.SIGTERM)


def test_serve_without_configuration_is_one_red_line(clean_env: pytest.MonkeyPatch) -> None:
    error_line(invoke(["serve"]), "TRAINLYTICS_TOKEN_KEYS")


def test_serve_with_a_bad_frontend_url(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    clean_env.setenv("SUPABASE_JWT_SECRET", "x" * 40)
    clean_env.setenv("TRAINLYTICS_FRONTEND_URL", "not a url")
    error_line(invoke(["serve"]), "TRAINLYTICS_FRONTEND_URL")


def test_worker_starts_and_stops_cleanly(
    process_env: dict[str, str], started: list[subprocess.Popen[str]]
) -> None:
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [TRAINLYTICS, "worker", "--concurrency", "1", "--log-level", "warning"],
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(process)
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Worker on "), first
    assert "concurrency 1" in first
    assert "abandoned run(s) closed" in first
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def test_worker_without_token_keys(clean_env: pytest.MonkeyPatch) -> None:
    error_line(
        invoke(["worker", "--database-url", UNREACHABLE]), "TRAINLYTICS_TOKEN_KEYS is not set"
    )


def test_worker_on_an_unreachable_database(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    error_line(invoke(["worker", "--database-url", UNREACHABLE]), "127.0.0.1:1")


# --- sync --------------------------------------------------------------------------------------


def test_sync_by_user_and_provider_runs_the_engine(
    cli_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = StravaListServer()
    server.add(*range(1, 31))
    with psycopg.connect(cli_database_url, autocommit=True) as admin:
        connection_id = new_connection(admin, server.fake.provider_user_id)
        row = admin.execute(
            "select u.email from public.users as u join public.provider_connections as pc"
            " on pc.user_id = u.id where pc.id = %s",
            [connection_id],
        ).fetchone()
    assert row is not None
    email = row[0]

    def build_runtime(database_url: str | None, **_: Any) -> Runtime:
        pool: ConnectionPool[Any] = ConnectionPool(
            cli_database_url, min_size=1, max_size=2, open=True
        )
        return Runtime(cli_database_url, pool, httpx.Client(), make_engine(pool, server))

    monkeypatch.setattr(sync_command, "build_runtime", build_runtime)
    result = invoke(["sync", "--user", email.upper(), "--provider", "strava"])

    assert result.exit_code == 0, result.output
    assert "strava sync" in result.output
    assert "success" in result.output
    assert "30 created" in result.output
    with psycopg.connect(cli_database_url) as conn:
        stored = conn.execute(
            "select count(*) from public.activities where connection_id = %s", [connection_id]
        ).fetchone()
        runs = conn.execute(
            "select sync_trigger::text, sync_status::text from public.sync_history"
            " where connection_id = %s",
            [connection_id],
        ).fetchall()
    assert stored == (30,)
    assert runs == [("manual", "success")]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--trigger", "whenever", "1"], ["unknown trigger 'whenever'", "one of initial"]),
        ([], ["name the connection by id, or by --user and --provider"]),
        (["1", "--user", "a@b.c", "--provider", "strava"], ["name the connection by id"]),
        (["--user", "a@b.c"], ["name the connection by id"]),
    ],
)
def test_sync_bad_arguments(args: list[str], fragments: list[str]) -> None:
    error_line(invoke(["sync", *args]), *fragments)


def test_sync_unknown_connection(cli_database_url: str, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    result = invoke(
        [
            "sync",
            "--user",
            "nobody@example.com",
            "--provider",
            "polar",
            "--database-url",
            cli_database_url,
        ]
    )
    error_line(result, "nobody@example.com")


# --- tokens --------------------------------------------------------------------------------------


def test_tokens_rotate_key_happy_path(cli_database_url: str, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    result = invoke(["tokens", "rotate-key", "--database-url", cli_database_url])
    assert result.exit_code == 0, result.output
    assert "Re-encrypting tokens under key k1" in result.output
    assert "re-encrypted" in result.output


@pytest.mark.parametrize(
    ("keys", "fragment"),
    [("", "TRAINLYTICS_TOKEN_KEYS is not set"), ("k1:not-base64!", "is not valid base64")],
)
def test_tokens_rotate_key_bad_keys(
    clean_env: pytest.MonkeyPatch, keys: str, fragment: str
) -> None:
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", keys)
    # config.py's key errors name the variable; not all of them carry a hint.
    error_line(
        invoke(["tokens", "rotate-key", "--database-url", UNREACHABLE]), fragment, hint=False
    )
