# ruff: noqa: S106 - test tokens and secrets are fake values
"""`trainlytics sync` and `trainlytics worker`: the happy path on a real database (the provider
behind a fake transport), and bad input — an unknown connection, user or provider, a bad
database URL — as one red line and exit code 1."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from procrastinate import App
from typer.testing import CliRunner

from tests.core.conftest import keys_env, random_key
from tests.fakes.strava import FakeStrava
from tests.helpers import create_auth_user
from tests.sync.engine_support import admin, history, sync_database_url
from trainlytics.cli.main import app
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.providers.base import ProviderIdentity, TokenSet

__all__ = ["admin", "sync_database_url"]

Conn = psycopg.Connection[Any]
runner = CliRunner()
KEY = random_key()
BAD_URL = "postgresql://nobody@127.0.0.1:1/nothing"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeStrava:
    """A fake Strava that every httpx.Client the CLI builds talks to."""
    strava = FakeStrava()
    real_client = httpx.Client

    def client(*args: Any, **kwargs: Any) -> httpx.Client:
        kwargs["transport"] = strava.transport()
        return real_client(*args, **kwargs)

    monkeypatch.setattr(httpx, "Client", client)
    return strava


def env_for(fake: FakeStrava) -> dict[str, str]:
    credentials = fake.credentials
    return {
        "TRAINLYTICS_TOKEN_KEYS": keys_env(("k1", KEY)),
        "STRAVA_CLIENT_ID": credentials.client_id,
        "STRAVA_CLIENT_SECRET": credentials.client_secret,
        "STRAVA_REDIRECT_URI": credentials.redirect_uri,
        "DATABASE_URL": "",
    }


def connect_athlete(admin: Conn, fake: FakeStrava) -> tuple[str, int]:
    email = f"{uuid.uuid4().hex}@example.com"
    user = create_auth_user(admin, email)
    access = "cli-access-token"
    fake._live_access_tokens.add(access)
    store = ConnectionStore(PsycopgGateway(admin))
    result = store.upsert_connection(
        user_id=user,
        provider="strava",
        identity=ProviderIdentity(
            provider_user_id=fake.provider_user_id,
            username="Alice",
            profile={},
            scopes=("read", "activity:read_all"),
        ),
        sealed=TokenCipher({"k1": KEY}, "k1").seal(
            TokenSet(
                access_token=access,
                refresh_token="cli-refresh",
                expires_at=datetime.now(UTC) + timedelta(hours=2),
            ),
            user_id=user,
            provider="strava",
        ),
    )
    assert result.connection_id is not None
    return email, result.connection_id


def one_red_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error:"), output
    return lines[0]


def test_sync_runs_a_connection_by_id_and_by_user_and_provider(
    fake: FakeStrava, admin: Conn, sync_database_url: str
) -> None:
    email, connection_id = connect_athlete(admin, fake)
    start = datetime.now(UTC) - timedelta(days=2)
    for n in range(1, 6):
        fake.add_activity(n, start + timedelta(hours=n))
    result = runner.invoke(
        app, ["sync", str(connection_id), "--database-url", sync_database_url], env=env_for(fake)
    )
    assert result.exit_code == 0, result.output
    assert "success" in result.output
    assert "5 created" in result.output
    fake.add_activity(6, datetime.now(UTC) - timedelta(hours=1))
    result = runner.invoke(
        app,
        ["sync", "--user", email.upper(), "--provider", "strava", "--trigger", "scheduled"],
        env={**env_for(fake), "DATABASE_URL": sync_database_url},
    )
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    runs = history(admin, connection_id)
    assert [(r["sync_trigger"], r["sync_status"]) for r in runs] == [
        ("manual", "success"),
        ("scheduled", "success"),
    ]
    assert sum(r["activities_created"] for r in runs) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999999999"], "connection 999999999 does not exist"),
        (["--user", "nobody@example.com", "--provider", "strava"], "no user has the email"),
        (["--user", "{email}", "--provider", "polar"], "has no polar connection"),
        (["--user", "{email}", "--provider", "myspace"], "unknown provider 'myspace'"),
        (["1", "--trigger", "whenever"], "unknown trigger 'whenever'"),
        (["1", "--user", "{email}", "--provider", "strava"], "name the connection by id"),
        (["1", "--database-url", BAD_URL], "cannot connect to"),
        (["1", "--database-url", "not a url"], "invalid database URL"),
    ],
)
def test_sync_bad_input_is_one_red_line_and_exit_1(
    args: list[str], message: str, fake: FakeStrava, admin: Conn, sync_database_url: str
) -> None:
    email, _ = connect_athlete(admin, fake)
    argv = ["sync", *(a.replace("{email}", email) for a in args)]
    if "--database-url" not in argv:
        argv += ["--database-url", sync_database_url]
    result = runner.invoke(app, argv, env=env_for(fake))
    assert result.exit_code == 1, result.output
    assert message in one_red_line(result.output)


def test_worker_closes_abandoned_runs_then_consumes_the_queues(
    fake: FakeStrava, admin: Conn, sync_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, connection_id = connect_athlete(admin, fake)
    admin.execute(
        "insert into public.sync_history (connection_id, user_id, sync_trigger, sync_started_at)"
        " select id, user_id, 'scheduled', now() - interval '1 hour'"
        " from public.provider_connections where id = %s",
        [connection_id],
    )
    consumed: dict[str, Any] = {}

    def run_worker(self: App, **kwargs: Any) -> None:
        consumed.update(kwargs)

    monkeypatch.setattr(App, "run_worker", run_worker)
    result = runner.invoke(
        app,
        ["worker", "--concurrency", "2", "--database-url", sync_database_url],
        env=env_for(fake),
    )
    assert result.exit_code == 0, result.output
    assert "concurrency 2" in result.output
    assert "1 abandoned run(s) closed" in result.output
    assert consumed["queues"] == ["sync", "webhooks", "revocations", "streams"]
    assert consumed["concurrency"] == 2
    assert consumed["additional_context"]["engine"] is not None
    (run,) = history(admin, connection_id)
    assert run["sync_status"] == "failed"
    assert "stopped" in run["error_message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--database-url", BAD_URL], "cannot connect to"),
        (["--database-url", "not a url"], "invalid database URL"),
    ],
)
def test_worker_bad_url_is_one_red_line_and_exit_1(
    args: list[str], message: str, fake: FakeStrava
) -> None:
    result = runner.invoke(app, ["worker", *args], env=env_for(fake))
    assert result.exit_code == 1, result.output
    assert message in one_red_line(result.output)


def test_worker_rejects_a_bad_concurrency() -> None:
    result = runner.invoke(app, ["worker", "--concurrency", "0"])
    assert result.exit_code != 0
    assert "concurrency" in result.output.lower()
