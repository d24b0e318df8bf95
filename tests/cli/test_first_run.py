"""A clean first run: every command on a database that is not migrated says so in one line with
the fix (the embedded database migrates itself), ``serve`` names everything it lacks at once and
runs on the embedded database, ``config check`` tells what is configured."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.cli.cli_support import error_line, invoke
from tests.cli.test_cli_operations import TOKEN_KEYS, TRAINLYTICS, _free_port, clean_env
from tests.conftest import throwaway_database
from trainlytics.config_check import check_environment
from trainlytics.db import migrations
from trainlytics.db.embedded import start_embedded, stop_embedded

__all__ = ["clean_env"]

PASSWORD = "correct horse battery"  # noqa: S105 - a test value
JWT_SECRET = "first-run-jwt-secret-that-is-long-enough-0000"  # noqa: S105 - a test value


@pytest.fixture(scope="module")
def empty_database_url(server_url: str) -> Iterator[str]:
    """A database nobody migrated (a fresh Supabase project or PostgreSQL)."""
    with throwaway_database(server_url) as url:
        yield url


def _untouched(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select to_regclass('supabase_migrations.schema_migrations') is null"
            " and to_regnamespace('auth') is null"
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "--user", "ada@example.com"],
        ["stats", "rebuild"],
        ["report", "--user", "ada@example.com", "--output", "{tmp}/report.html"],
        ["import", "{tmp}/ride.gpx", "--user", "ada@example.com"],
        ["users", "create", "ada@example.com", "--password", PASSWORD],
        ["sync", "1"],
        ["worker"],
        ["tokens", "rotate-key"],
    ],
    ids=lambda args: " ".join(a for a in args[:2] if not a.startswith("-")),
)
def test_every_command_on_an_unmigrated_database_is_one_line_with_the_fix(
    clean_env: pytest.MonkeyPatch, empty_database_url: str, tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "ride.gpx").write_text("<gpx/>")
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]

    result = invoke([*argv, "--database-url", empty_database_url])

    error_line(result, "is not migrated", "none of the", "trainlytics db migrate")
    assert _untouched(empty_database_url)  # nothing was created behind the operator's back


def test_a_database_behind_this_version_names_the_pending_migration(
    clean_env: pytest.MonkeyPatch, cli_database_url: str
) -> None:
    newest = migrations.file_versions()[-1]
    with psycopg.connect(cli_database_url, autocommit=True) as conn:
        saved = conn.execute(
            "delete from supabase_migrations.schema_migrations where version = %s"
            " returning version, name, statements",
            [newest],
        ).fetchone()
        assert saved is not None
        try:
            result = invoke(
                ["stats", "--user", "alice@example.com", "--database-url", cli_database_url]
            )
        finally:
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements)"
                " values (%s, %s, %s)",
                list(saved),
            )
    error_line(result, "is behind this trainlytics", "1 of", f"first {newest}", "db migrate")


def test_a_missing_table_despite_the_check_is_still_one_line(
    clean_env: pytest.MonkeyPatch, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net under the readiness check: an UndefinedTable never becomes a traceback."""
    from trainlytics.cli import readiness

    monkeypatch.setattr(readiness, "check_ready", lambda *args, **kwargs: None)
    result = invoke(["stats", "--user", "ada@example.com", "--database-url", empty_database_url])
    error_line(result, "the database lacks what this command needs", "db migrate")


@pytest.fixture
def embedded_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No DATABASE_URL: the commands use an embedded server with its data in tmp_path."""
    clean_env.setenv("TRAINLYTICS_DATA_DIR", str(tmp_path))
    yield tmp_path
    stop_embedded(tmp_path)


def test_the_embedded_database_migrates_itself_on_first_use(embedded_home: Path) -> None:
    created = invoke(["users", "create", "ada@example.com", "--password", PASSWORD])

    assert created.exit_code == 0, created.output
    assert f"applying {len(migrations.file_versions())} pending migration(s)" in created.output
    assert "created athlete ada@example.com" in created.output

    stats = invoke(["stats", "--user", "ada@example.com"])
    assert stats.exit_code == 0, stats.output
    assert "applying" not in stats.output  # migrated once


# --- serve ----------------------------------------------------------------------------------


def test_serve_names_everything_missing_in_one_line(clean_env: pytest.MonkeyPatch) -> None:
    error_line(
        invoke(["serve"]),
        "serve is not configured",
        "TRAINLYTICS_TOKEN_KEYS",
        "SUPABASE_JWT_SECRET",
        "TRAINLYTICS_FRONTEND_URL",
        ".env.example",
    )
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    line = error_line(invoke(["serve"]), "SUPABASE_JWT_SECRET", "TRAINLYTICS_FRONTEND_URL")
    assert "TRAINLYTICS_TOKEN_KEYS" not in line


def test_serve_on_an_unmigrated_database_is_one_line(
    clean_env: pytest.MonkeyPatch, empty_database_url: str
) -> None:
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    clean_env.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)
    clean_env.setenv("TRAINLYTICS_FRONTEND_URL", "http://localhost:3000")
    clean_env.setenv("DATABASE_URL", empty_database_url)
    error_line(invoke(["serve"]), "is not migrated", "db migrate")
    assert _untouched(empty_database_url)


def test_serve_runs_on_the_embedded_database(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TRAINLYTICS_", "SUPABASE_", "DATABASE_URL"))
        and not key.endswith(("_CLIENT_ID", "_CLIENT_SECRET"))
    }
    env.update(
        TRAINLYTICS_DATA_DIR=str(tmp_path),
        TRAINLYTICS_TOKEN_KEYS=TOKEN_KEYS,
        SUPABASE_JWT_SECRET=JWT_SECRET,
        TRAINLYTICS_FRONTEND_URL="http://localhost:3000",
    )
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [TRAINLYTICS, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # starts and migrates the embedded database first
        response = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert response is not None, process.stdout.read() if process.stdout else ""
        assert response.status_code == 200
        # The server it runs on is the embedded one in TRAINLYTICS_DATA_DIR, fully migrated,
        # with the job queue (joining it from here reuses the running server).
        url = start_embedded(tmp_path)
        with psycopg.connect(url) as conn:
            assert migrations.pending_versions(conn) == []
            row = conn.execute("select to_regclass('queue.procrastinate_jobs')").fetchone()
            assert row is not None
            assert row[0] is not None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        stop_embedded(tmp_path)
    # uvicorn re-raises SIGTERM after its graceful shutdown (no interpreter-exit cleanup): serve
    # released its handle on the server at shutdown, so the last release above stopped it.
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


# --- config check ---------------------------------------------------------------------------


def test_config_check_on_an_empty_environment(clean_env: pytest.MonkeyPatch) -> None:
    result = invoke(["config", "check"])

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "token encryption │ missing" in text
    assert "serve: not ready — set TRAINLYTICS_TOKEN_KEYS" in text
    assert "providers configured: none" in text
    failed = invoke(["config", "check", "--for", "serve"])
    error_line(failed, "serve is not configured", ".env.example")


def test_config_check_when_configured_prints_no_secret(clean_env: pytest.MonkeyPatch) -> None:
    client_secret = "strava-client-secret-value"  # noqa: S105 - a test value
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", TOKEN_KEYS)
    clean_env.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)
    clean_env.setenv("TRAINLYTICS_FRONTEND_URL", "https://app.example.com")
    clean_env.setenv("TRAINLYTICS_PUBLIC_URL", "https://api.example.com")
    clean_env.setenv("STRAVA_CLIENT_ID", "12345")
    clean_env.setenv("STRAVA_CLIENT_SECRET", client_secret)
    clean_env.setenv("DATABASE_URL", "postgresql://postgres:hunter22@db.example.com/postgres")

    result = invoke(["config", "check", "--for", "serve"])

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "serve: ready" in text
    assert "providers configured: strava" in text
    strava = next(c for c in check_environment() if c.feature == "provider strava")
    assert (strava.state, strava.detail) == (
        "ready",
        "redirect URI https://api.example.com/oauth/strava/callback; webhooks refused until "
        "STRAVA_WEBHOOK_VERIFY_TOKEN is set; STRAVA_SUBSCRIPTION_ID unset; "
        "STRAVA_ATHLETE_CAPACITY unset",
    )
    for secret in (client_secret, JWT_SECRET, "hunter22", base64.b64encode(b"\x01" * 32).decode()):
        assert secret not in result.output


def test_config_check_reports_invalid_settings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRAINLYTICS_TOKEN_KEYS", "k1:not-base64!")
    clean_env.setenv("POLAR_CLIENT_SECRET", "only-the-secret")

    result = invoke(["config", "check"])

    error_line(result, "invalid settings", "token encryption", "provider polar")
    assert "half-configured" in " ".join(result.output.split())
