"""Importer tests: files the project writes itself (trainlytics.demo.files), real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.helpers import create_auth_user
from tests.seeded import seeded_database
from trainlytics.db.gateway import PsycopgGateway
from trainlytics.demo.files import Workout, synthesize
from trainlytics.importers import FileIngest

START = datetime(2026, 10, 1, 6, 30, tzinfo=UTC)


def make_run(**overrides: Any) -> Workout:
    args: dict[str, Any] = {
        "speed": 3.2, "heartrate": 145, "cadence": 170, "seed": 1, "utc_offset": 7200,
        "name": "Morning run",
    }  # fmt: skip
    args.update(overrides)
    return synthesize("run", START, args.pop("duration", 1800), **args)


def make_ride(**overrides: Any) -> Workout:
    args: dict[str, Any] = {"speed": 8.0, "heartrate": 140, "power": 220, "cadence": 88, "seed": 2}
    args.update(overrides)
    return synthesize("ride", START, args.pop("duration", 3600), **args)


@pytest.fixture
def athlete(db: psycopg.Connection[Any]) -> uuid.UUID:
    return create_auth_user(db, f"athlete-{uuid.uuid4().hex[:8]}@example.com")


@pytest.fixture
def ingest(db: psycopg.Connection[Any]) -> FileIngest:
    """The ingest as the importer calls it: service_role, inside the test's transaction."""
    return FileIngest(PsycopgGateway(db, role="service_role"))


@pytest.fixture(scope="session")
def seeded_url(server_url: str) -> Iterator[str]:
    """Migrated and seeded; the import command and the demo commit, so it is theirs alone."""
    with seeded_database(server_url) as url:
        yield url
