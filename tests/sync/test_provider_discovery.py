# ruff: noqa: S105, S106 - test tokens and secrets are fake values
"""Adding a provider is one new module: a made-up provider ("acme"), written into a folder added
to the ``trainlytics.providers`` package path, is discovered, configured from the environment,
offered by the CLI and the connect flow, exchanges a code for tokens and is synchronised by the
engine — without any edit to an existing module.

The made-up provider's HTTP answers follow RFC 6749 (token response §5.1, error response §5.2):
see tests/fixtures/providers/acme/PROVENANCE.md. Its activity shape is Trainlytics' own
(``external_id``, ``start_time``, ...): a made-up provider has no documentation of its own.

The SQL side of a new provider is two migrations (README "Adding a provider"), applied here by
the project's migration runner on top of the repository's files: with the enum value alone the
ingest refuses the items ("normaliser returned nothing"); once the registration migration
(sport words, normaliser, registry row, duplicate priority) is applied, the same page lands in
``activities``. tests/sync/test_provider_registry.py covers the SQL side in more depth.
"""

from __future__ import annotations

import base64
import os
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

import trainlytics.providers as providers_package
from tests.conftest import migrate_database
from tests.helpers import create_auth_user
from tests.sync.engine_support import admin, pool, sync_database_url
from trainlytics.cli.main import app as cli_app
from trainlytics.config import Settings
from trainlytics.config_check import check_environment
from trainlytics.db import migrations
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.errors import ConfigError, TokenRevokedError, UnknownProviderError
from trainlytics.providers import (
    ENTRY_POINT_GROUP,
    PROVIDER_CLASSES,
    build_providers,
    discover_providers,
    get_provider,
    refresh_registry,
)
from trainlytics.providers.base import SyncWindow, TokenSet
from trainlytics.report.formatting import sport_label
from trainlytics.sync.engine import SyncEngine

__all__ = ["admin", "pool", "sync_database_url"]

Conn = psycopg.Connection[Any]

#: The whole provider module, as a contributor would write it.
ACME_MODULE = textwrap.dedent(
    '''
    """Acme (made up, for the registry test): OAuth 2.0 with HTTP Basic client auth."""

    from collections.abc import Mapping
    from typing import Any, ClassVar

    from trainlytics import errors
    from trainlytics.providers import base
    from trainlytics.providers.oauth2 import ClientAuth, OAuth2Provider

    API = "https://api.acme.test/v1"


    class AcmeProvider(OAuth2Provider):
        name: ClassVar[str] = "acme"
        display_name: ClassVar[str] = "ACME"
        position: ClassVar[int] = 7
        uses_pkce: ClassVar[bool] = False
        required_scopes: ClassVar[tuple[str, ...]] = ("activity:read",)
        webhook_secret_setting: ClassVar[str | None] = "WEBHOOK_SECRET"
        authorize_url: ClassVar[str] = "https://auth.acme.test/authorize"
        token_url: ClassVar[str] = "https://auth.acme.test/token"
        client_auth: ClassVar[ClientAuth] = "client_secret_basic"
        requested_scopes: ClassVar[tuple[str, ...]] = ("activity:read",)
        revoke_url: ClassVar[str | None] = "https://auth.acme.test/revoke"
        revoke_token_field: ClassVar[str | None] = "token"

        def fetch_identity(
            self, tokens: base.TokenSet, *, callback_query: Mapping[str, str]
        ) -> base.ProviderIdentity:
            me = self._api_json(f"{API}/me", tokens, "reading the athlete")
            return base.ProviderIdentity(str(me["id"]), me.get("name"), me, tokens.scopes or ())

        def verify_webhook(self, request: base.WebhookRequest) -> None:
            raise errors.WebhookVerificationError("acme sends no webhooks")

        def parse_webhook(self, request: base.WebhookRequest) -> list[base.WebhookEvent]:
            return []

        def fetch_activities(
            self, tokens: base.TokenSet, window: base.SyncWindow, cursor: Mapping[str, Any] | None
        ) -> base.ActivityPage:
            params = {"after": int(window.start.timestamp()), "before": int(window.end.timestamp())}
            body = self._api_json(f"{API}/activities", tokens, "listing activities", params=params)
            return base.ActivityPage(items=body["activities"])


    PROVIDER = AcmeProvider
    '''
)

CLIENT_ID = "acme-client"
CLIENT_SECRET = "acme-secret-0123456789"
REDIRECT_URI = "https://api.example.com/oauth/acme/callback"
CODE = "SplxlOBeZQQYbYS6WxSbIA"  # RFC 6749 §4.1.2's example code
ACCESS_TOKEN = "2YotnFZFEjr1zCsicMWpAA"  # RFC 6749 §5.1's example tokens
REFRESH_TOKEN = "tGzv3JOkF0XG5Qx2TlKWIA"
ATHLETE_ID = "4711"


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Any]]:
    """The made-up module in a folder of its own, added to the package's path."""
    (tmp_path / "acme.py").write_text(ACME_MODULE, encoding="utf-8")
    monkeypatch.setattr(providers_package, "__path__", [*providers_package.__path__, str(tmp_path)])
    refresh_registry()
    try:
        yield PROVIDER_CLASSES["acme"]
    finally:
        monkeypatch.undo()
        sys.modules.pop("trainlytics.providers.acme", None)
        refresh_registry()


def env(**extra: str) -> dict[str, str]:
    return {
        "TRAINLYTICS_TOKEN_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
        "TRAINLYTICS_PUBLIC_URL": "https://api.example.com",
        **extra,
    }


def acme_env() -> dict[str, str]:
    return env(
        ACME_CLIENT_ID=CLIENT_ID,
        ACME_CLIENT_SECRET=CLIENT_SECRET,
        ACME_WEBHOOK_SECRET="acme-webhook-secret",
    )


class AcmeServer:
    """Acme's token endpoint and API as RFC 6749 describes them (tests/fixtures/providers/acme)."""

    def __init__(self, activities: list[dict[str, Any]]) -> None:
        self.activities = activities
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url.copy_with(query=None))
        if url == "https://auth.acme.test/token":
            # §2.3.1: the client authenticates with HTTP Basic, not in the form.
            basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            form = parse_qs(request.content.decode())
            if request.headers.get("authorization") != basic or "client_secret" in form:
                return httpx.Response(401, json={"error": "invalid_client"})
            if form.get("grant_type") != ["authorization_code"] or form.get("code") != [CODE]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(
                200,
                json={
                    "access_token": ACCESS_TOKEN,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": REFRESH_TOKEN,
                    "scope": "activity:read",
                },
            )
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return httpx.Response(401, json={"error": "invalid_token"})
        if url == "https://api.acme.test/v1/me":
            return httpx.Response(200, json={"id": int(ATHLETE_ID), "name": "Ada"})
        if url == "https://api.acme.test/v1/activities":
            after = int(request.url.params["after"])
            before = int(request.url.params["before"])
            return httpx.Response(
                200,
                json={
                    "activities": [
                        a
                        for a in self.activities
                        if after
                        <= int(datetime.fromisoformat(a["start_time"]).timestamp())
                        < before
                    ]
                },
            )
        return httpx.Response(404)


def test_a_new_module_is_discovered_in_enum_order(acme: type[Any]) -> None:
    assert list(PROVIDER_CLASSES)[-1] == "acme"
    assert list(PROVIDER_CLASSES)[:6] == ["strava", "garmin", "polar", "coros", "wahoo", "fitbit"]
    assert sport_label("acme") == "ACME"


def test_an_installed_plugin_is_discovered_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider shipped as its own package: entry point group ``trainlytics.providers``."""
    (tmp_path / "acme_plugin.py").write_text(ACME_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint(name="acme", value="acme_plugin", group=ENTRY_POINT_GROUP)

    def plugins(*, group: str) -> list[EntryPoint]:
        return [point] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(providers_package, "entry_points", plugins)
    try:
        refresh_registry()
        assert PROVIDER_CLASSES["acme"].__module__ == "acme_plugin"
        # The same name from a second plug-in is refused, not silently shadowed.
        (tmp_path / "acme_copy.py").write_text(ACME_MODULE, encoding="utf-8")
        copy = EntryPoint(name="acme", value="acme_copy", group=ENTRY_POINT_GROUP)
        monkeypatch.setattr(providers_package, "entry_points", lambda *, group: [point, copy])
        with pytest.raises(ConfigError, match="defined twice"):
            discover_providers()
    finally:
        monkeypatch.undo()
        sys.modules.pop("acme_plugin", None)
        sys.modules.pop("acme_copy", None)
        refresh_registry()
    assert "acme" not in PROVIDER_CLASSES


def test_without_the_module_acme_is_no_provider() -> None:
    assert "acme" not in PROVIDER_CLASSES
    with pytest.raises(UnknownProviderError):
        get_provider({}, "acme")


def test_the_new_provider_is_configured_from_its_environment_variables(acme: type[Any]) -> None:
    settings = Settings.from_env(acme_env(), serving_http=False)
    credentials = settings.providers["acme"]
    assert (credentials.client_id, credentials.webhook_secret) == (CLIENT_ID, "acme-webhook-secret")
    assert credentials.redirect_uri == REDIRECT_URI

    unset = Settings.from_env(env(), serving_http=False)
    assert unset.unconfigured["acme"] == ("ACME_CLIENT_ID", "ACME_CLIENT_SECRET")

    checks = {c.feature: c for c in check_environment(acme_env())}
    assert checks["provider acme"].state == "ready"
    assert "webhooks verified" in checks["provider acme"].detail


def test_the_cli_accepts_the_new_provider(acme: type[Any], sync_database_url: str) -> None:
    runner = CliRunner()
    args = ["sync", "--user", "nobody@example.com", "--database-url", sync_database_url]
    known = runner.invoke(cli_app, [*args, "--provider", "acme"], env=acme_env())
    # Past the provider check, stopped by the database: no such user.
    assert "no user has the email" in known.output
    unknown = runner.invoke(cli_app, [*args, "--provider", "acme2"], env=acme_env())
    assert "unknown provider" in unknown.output
    assert "acme" in unknown.output  # the hint lists the discovered providers


ACME_ENUM_MIGRATION = """\
-- Acme: its provider_type value (alone: a new value is usable once committed).
alter type public.provider_type add value if not exists 'acme';
"""

# Acme's payload is the made-up API's (AcmeServer above): external_id, name, sport,
# start_time, duration_s, distance_m.
ACME_REGISTRATION = """\
insert into public.activity_type_mappings (provider, provider_value, activity_type) values
('acme', 'run', 'run');

create function private.normalize_acme(p_payload jsonb)
returns setof private.normalized_activity
language plpgsql
stable
set search_path = ''
as $$
declare
    r private.normalized_activity;
begin
    r.external_id := p_payload ->> 'external_id';
    r.name := p_payload ->> 'name';
    r.provider_activity_type := p_payload ->> 'sport';
    r.activity_type := private.map_activity_type('acme', p_payload ->> 'sport');
    r.start_date := private.try_timestamptz(p_payload ->> 'start_time');
    r.utc_offset := 0;
    r.elapsed_time := private.try_int(p_payload ->> 'duration_s');
    r.moving_time := private.try_int(p_payload ->> 'duration_s');
    r.distance := private.try_float(p_payload ->> 'distance_m');
    r.activity_data := '{}'::jsonb;
    return next r;
end;
$$;

revoke all on function private.normalize_acme(jsonb) from public, anon, authenticated;
grant execute on function private.normalize_acme(jsonb) to service_role;

select private.register_provider('acme', 'private.normalize_acme(jsonb)', false);

insert into public.provider_priorities (origin, priority, upload_origin_pattern) values
('acme', 55, '^acme');
"""


def _repository_migrations_plus(directory: Path, enum_migration: str) -> Path:
    """Every repository migration (linked, unchanged) plus Acme's enum-value migration."""
    target = directory / "migrations"
    target.mkdir()
    for migration in migrations.discover_migrations():
        os.symlink(migration.path, target / migration.filename)
    (target / "29991231000000_acme_provider_type.sql").write_text(enum_migration)
    return target


def test_connect_exchange_and_sync_through_the_engine(
    acme: type[Any],
    pool: ConnectionPool[Any],
    admin: Conn,
    sync_database_url: str,
    server_url: str,
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    activities = [
        {
            "external_id": f"acme-{n}",
            "name": f"Run {n}",
            "sport": "run",
            "start_time": (now - timedelta(days=2, hours=n)).isoformat(),
            "duration_s": 1800,
            "distance_m": 5000.0,
        }
        for n in range(3)
    ]
    server = AcmeServer(activities)
    settings = Settings.from_env(acme_env(), serving_http=False)
    http = httpx.Client(transport=httpx.MockTransport(server))
    providers = build_providers(settings, http, clock=lambda: now)
    provider = get_provider(providers, "acme")

    # Connect: the authorize URL, the code exchange (HTTP Basic) and the identity.
    authorize = urlsplit(provider.authorization_url(state="st", code_challenge=None))
    query = parse_qs(authorize.query)
    assert (authorize.netloc, query["client_id"], query["scope"]) == (
        "auth.acme.test",
        [CLIENT_ID],
        ["activity:read"],
    )
    tokens = provider.exchange_code(code=CODE, code_verifier=None, callback_query={"code": CODE})
    assert (tokens.access_token, tokens.refresh_token) == (ACCESS_TOKEN, REFRESH_TOKEN)
    assert tokens.expires_at == now + timedelta(seconds=3600)  # the injected clock
    identity = provider.fetch_identity(tokens, callback_query={})
    assert (identity.provider_user_id, provider.missing_scopes(identity)) == (ATHLETE_ID, [])
    with pytest.raises(TokenRevokedError):
        provider.fetch_activities(
            TokenSet(access_token="stale"), SyncWindow(now - timedelta(days=1), now), None
        )

    # The database first learns the enum value only (the first of the provider's two
    # migrations, see "Adding a provider"): its items are refused, nothing is stored.
    migrations_dir = _repository_migrations_plus(tmp_path, ACME_ENUM_MIGRATION)
    migrate_database(sync_database_url, server_url, migrations_dir)
    user_id = create_auth_user(admin, f"{uuid.uuid4().hex}@example.com")
    row = admin.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'acme', %s) returning id",
        [user_id, ATHLETE_ID],
    ).fetchone()
    assert row is not None

    class Tokens:
        def valid_tokens(self, connection_id: int) -> TokenSet:
            return tokens

    engine = SyncEngine(PsycopgGateway(pool, role="service_role"), Tokens(), providers)
    before = len(server.requests)
    outcome = engine.run(int(row[0]), "initial")

    # The engine fetched Acme's page with the athlete's token and handed all three items on.
    listed = [r for r in server.requests[before:] if r.url.path == "/v1/activities"]
    assert listed
    assert all(r.headers["authorization"] == f"Bearer {ACCESS_TOKEN}" for r in listed)
    assert outcome.fetched == len(activities), outcome
    # Without a registered normaliser the database refuses every item.
    assert (outcome.created, outcome.failed) == (0, len(activities))
    assert {e["reason"] for e in outcome.item_errors} == {"normaliser returned nothing"}

    # The second migration registers Acme (sport words, normaliser, registry row, duplicate
    # priority): the same page now lands in activities, with no other file changed.
    (migrations_dir / "29991231000100_acme_registration.sql").write_text(ACME_REGISTRATION)
    migrate_database(sync_database_url, server_url, migrations_dir)
    # (An athlete connecting now: the first connection's window was already synchronised.)
    second = admin.execute(
        "insert into public.provider_connections (user_id, provider, provider_user_id)"
        " values (%s, 'acme', %s) returning id",
        [create_auth_user(admin, f"{uuid.uuid4().hex}@example.com"), "acme-athlete-2"],
    ).fetchone()
    assert second is not None
    outcome = engine.run(int(second[0]), "initial")
    assert (outcome.fetched, outcome.created, outcome.failed) == (3, 3, 0), outcome
    stored = admin.execute(
        "select external_id, activity_type, distance, moving_time from public.activities"
        " where connection_id = %s order by external_id",
        [second[0]],
    ).fetchall()
    assert stored == [(f"acme-{n}", "run", 5000.0, 1800) for n in range(3)]
