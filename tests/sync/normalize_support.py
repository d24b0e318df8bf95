"""Shared pieces of the normaliser tests (tests/sync/test_normalize_<provider>.py): the columns
of ``private.normalized_activity``, one payload through a provider's normaliser or the dispatcher,
and the providers' recorded payloads in tests/fixtures/providers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest
from psycopg.types.json import Jsonb

__all__ = [
    "COLUMNS",
    "PROVIDER_FIXTURES",
    "approx",
    "normalize",
    "normalizer",
    "provider_json",
    "utc",
]

Conn = psycopg.Connection[Any]

PROVIDER_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"

#: The composite type private.normalized_activity, in its order (the spec fixes it).
COLUMNS = (
    "external_id", "name", "description", "activity_type", "provider_activity_type",
    "start_date", "timezone", "utc_offset", "elapsed_time", "moving_time", "distance",
    "average_speed", "max_speed", "average_heartrate", "max_heartrate", "average_watts",
    "max_watts", "weighted_average_watts", "average_cadence", "max_cadence", "elevation_gain",
    "elevation_loss", "calories", "is_manual", "is_private", "device_name", "activity_data",
    "provider_updated_at", "error",
)  # fmt: skip


def provider_json(provider: str, name: str) -> Any:
    """A recorded payload: tests/fixtures/providers/<provider>/<name> (provenance beside it)."""
    return json.loads((PROVIDER_FIXTURES / provider / name).read_text(encoding="utf-8"))


def normalize(
    db: Conn, provider: str, payload: Any, *, via_dispatcher: bool = True
) -> dict[str, Any]:
    """One payload through ``private.normalize_activity(provider, ...)`` (the ingest's path) or
    ``private.normalize_<provider>`` itself; the row as a dict, its columns checked."""
    function = (
        "private.normalize_activity(%s, %s)"
        if via_dispatcher
        else f"private.normalize_{provider}(%s)"
    )
    params = [provider, Jsonb(payload)] if via_dispatcher else [Jsonb(payload)]
    # In FROM, the function runs once (``(f(x)).*`` in a select list may run it per column).
    cur = db.execute(f"select * from {function}", params)
    row = cur.fetchone()
    assert row is not None
    assert cur.description is not None
    result = dict(zip([c.name for c in cur.description], row, strict=True))
    assert tuple(result) == COLUMNS
    return result


class Normalize(Protocol):
    def __call__(self, db: Conn, payload: Any, *, via_dispatcher: bool = ...) -> dict[str, Any]: ...


def normalizer(provider: str, *, via_dispatcher: bool = True) -> Normalize:
    """:func:`normalize` for one provider, through the dispatcher or not by default."""

    def bound(db: Conn, payload: Any, *, via_dispatcher: bool = via_dispatcher) -> dict[str, Any]:
        return normalize(db, provider, payload, via_dispatcher=via_dispatcher)

    return bound


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-6)


def utc(text: str) -> datetime:
    """A naive ISO timestamp read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
