"""The real HTTP app over the real database, with every provider served by its fake.

``world`` builds, per test: one fake per registered provider (``tests.fakes.FAKES``), each
provider instance on its own ``httpx.Client`` whose transport is that fake; the settings a
deployment would read from its environment (``Settings.from_env`` on a dict built from the
fakes' credentials); the store and job queue on a psycopg pool acting as ``service_role``, as
the deployed app does; the FastAPI app in a ``TestClient``. The suite has a database of its
own (see ``database_url``). Users are created as Supabase Auth
does and sign in with HS256 access tokens minted here.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from tests.databases import migrated_database
from tests.fakes import FAKES, FakeProvider
from tests.helpers import create_auth_user
from trainlytics.api.app import create_app
from trainlytics.api.jwt_auth import JwtVerifier
from trainlytics.config import Settings
from trainlytics.connections.connect import Deps
from trainlytics.connections.tokens import TokenService
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.providers import PROVIDER_CLASSES, build_providers
from trainlytics.sync.jobs import JobQueue

JWT_SECRET = "test-jwt-secret-" + "x" * 32
FRONTEND = "https://app.trainlytics.test"
PUBLIC = "https://api.trainlytics.test"


def env_for(fakes: dict[str, FakeProvider]) -> dict[str, str]:
    """The environment of a deployment configured with these fakes' credentials."""
    env = {
        "TRAINLYTICS_TOKEN_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "TRAINLYTICS_FRONTEND_URL": FRONTEND,
        "TRAINLYTICS_PUBLIC_URL": PUBLIC,
    }
    for name, fake in fakes.items():
        cls = PROVIDER_CLASSES[name]
        prefix = name.upper()
        creds = fake.credentials
        env[f"{prefix}_CLIENT_ID"] = creds.client_id
        env[f"{prefix}_CLIENT_SECRET"] = creds.client_secret
        env[f"{prefix}_REDIRECT_URI"] = creds.redirect_uri
        if cls.webhook_secret_setting and creds.webhook_secret:
            env[f"{prefix}_{cls.webhook_secret_setting}"] = creds.webhook_secret
        for suffix in cls.extra_settings:
            if suffix in creds.extra:
                env[f"{prefix}_{suffix}"] = creds.extra[suffix]
    return env


def access_token(user_id: uuid.UUID, *, expires_in: int = 3600, role: str = "authenticated") -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": role,
        "aud": "authenticated",
        "iat": now,
        "exp": now + expires_in,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@dataclass
class World:
    fakes: dict[str, FakeProvider]
    deps: Deps
    client: TestClient
    conn: psycopg.Connection[Any]
    database_url: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    def user(self, label: str) -> uuid.UUID:
        if label not in self.users:
            self.users[label] = create_auth_user(
                self.conn, f"{label}-{uuid.uuid4().hex[:12]}@example.com", confirmed=True
            )
        return self.users[label]

    def auth(self, label: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {access_token(self.user(label))}"}

    def start(self, provider: str, label: str = "alice") -> str:
        response = self.client.post(f"/connections/{provider}/start", headers=self.auth(label))
        assert response.status_code == 200, response.text
        return str(response.json()["authorize_url"])

    def callback(
        self, provider: str, query: dict[str, str], label: str = "alice"
    ) -> dict[str, str]:
        """Deliver the provider's redirect to the browser of ``label`` and let that browser's
        frontend complete it (``POST /connections/{provider}/complete`` with the query and the
        athlete's own token); returns ``{"provider", "status"[, "reason"]}``.

        (Written to also drive the flow as it was before issue 14, when the callback itself
        completed and redirected with the outcome — so the attack tests can be run against the
        old code.)"""
        response = self.client.get(f"/oauth/{provider}/callback", params=query)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        forwarded = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if not location.startswith(f"{FRONTEND}/connections/complete?"):
            assert location.startswith(f"{FRONTEND}/connections?")
            return forwarded
        forwarded.pop("provider")
        completed = self.client.post(
            f"/connections/{provider}/complete", json=forwarded, headers=self.auth(label)
        )
        assert completed.status_code == 200, completed.text
        return {k: v for k, v in completed.json().items() if v is not None}

    def connect(self, provider: str, label: str = "alice") -> dict[str, str]:
        url = self.start(provider, label)
        state = parse_qs(urlsplit(url).query)["state"][0]
        return self.callback(provider, self.fakes[provider].callback(state), label)

    def one(self, query: str, params: list[Any] | None = None) -> Any:
        row = self.conn.execute(query.encode(), params).fetchone()
        return None if row is None else (row[0] if len(row) == 1 else row)


def state_of(authorize_url: str) -> str:
    return parse_qs(urlsplit(authorize_url).query)["state"][0]


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database of its own (bootstrapped and migrated): these tests commit users and
    connections, which must not show up in the other suites' row-level security matrices."""
    with migrated_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def service_pool(database_url: str) -> Iterator[ConnectionPool[Any]]:
    pool: ConnectionPool[Any] = ConnectionPool(database_url, min_size=1, max_size=4, open=True)
    try:
        yield pool
    finally:
        pool.close()


def make_world(
    database_url: str,
    pool: ConnectionPool[Any],
    fakes: dict[str, FakeProvider],
    *,
    configured: set[str] | None = None,
) -> Iterator[World]:
    env = env_for({n: f for n, f in fakes.items() if configured is None or n in configured})
    settings = Settings.from_env(env)
    clients = {name: httpx.Client(transport=fake.transport()) for name, fake in fakes.items()}
    # The registry's own builder, once per fake, so each provider talks to its own fake.
    providers = {}
    for name, client in clients.items():
        providers.update({k: v for k, v in build_providers(settings, client).items() if k == name})
    gateway = PsycopgGateway(pool, role="service_role")
    store = ConnectionStore(gateway)
    cipher = settings.token_cipher()
    jwt_http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    deps = Deps(
        settings=settings,
        providers=providers,
        store=store,
        cipher=cipher,
        tokens=TokenService(store, cipher, providers, poll_interval=0.01, wait_timeout=5),
        jobs=JobQueue(gateway),
        authenticate=JwtVerifier.from_settings(settings, jwt_http).verify,
    )
    app = create_app(deps)
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client,
    ):
        yield World(fakes=fakes, deps=deps, client=client, conn=conn, database_url=database_url)
    for client in clients.values():
        client.close()


@pytest.fixture
def world(database_url: str, service_pool: ConnectionPool[Any]) -> Iterator[World]:
    fakes = {name: cls() for name, cls in FAKES.items()}
    yield from make_world(database_url, service_pool, fakes)
