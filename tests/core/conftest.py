"""Fixtures of the core tests: keys, a cipher, a store over the test transaction, users."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.helpers import create_auth_user
from trainlytics.connections.crypto import TokenCipher
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.db.store import ConnectionStore
from trainlytics.providers.base import ProviderIdentity, TokenSet

Conn = psycopg.Connection[Any]


def random_key() -> bytes:
    return os.urandom(32)


def keys_env(*pairs: tuple[str, bytes]) -> str:
    return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in pairs)


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher({"k1": random_key()}, "k1")


@pytest.fixture
def tx(db: Conn) -> Conn:
    """The test's superuser connection with its (rolled back) transaction already open."""
    db.execute("select 1")
    return db


@pytest.fixture
def store(tx: Conn) -> ConnectionStore:
    """A store whose calls run as service_role (like PostgREST with the service key), inside
    the test transaction."""
    return ConnectionStore(PsycopgGateway(tx, role="service_role"))


@pytest.fixture
def make_user(tx: Conn) -> Callable[[], uuid.UUID]:
    return lambda: create_auth_user(tx, f"{uuid.uuid4().hex}@example.com")


def identity(
    provider_user_id: str = "athlete-1", scopes: tuple[str, ...] = ("read",)
) -> ProviderIdentity:
    return ProviderIdentity(
        provider_user_id=provider_user_id,
        username="Alice",
        profile={"firstname": "Alice"},
        scopes=scopes,
    )


def tokens(suffix: str = "0", *, expires_in: float = 3600) -> TokenSet:
    return TokenSet(
        access_token=f"access-{suffix}",
        refresh_token=f"refresh-{suffix}",
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    )


class CommittedDb:
    """An autocommit connection whose data other processes see; users made here are deleted
    (with everything of theirs, by cascade) at teardown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Conn = psycopg.connect(url, autocommit=True)
        self.created: list[uuid.UUID] = []

    def make_user(self) -> uuid.UUID:
        user_id = create_auth_user(self.conn, f"{uuid.uuid4().hex}@example.com")
        self.created.append(user_id)
        return user_id

    def close(self) -> None:
        for user_id in self.created:
            self.conn.execute("delete from auth.users where id = %s", [user_id])
        self.conn.close()


@pytest.fixture
def committed(database_url: str) -> Iterator[CommittedDb]:
    db = CommittedDb(database_url)
    try:
        yield db
    finally:
        db.close()
