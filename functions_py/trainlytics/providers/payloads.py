"""Reading provider payloads: webhook bodies and ISO 8601 instants, one way for every provider."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trainlytics.errors import BadPayloadError
from trainlytics.json_limits import loads_bounded

__all__ = ["json_object", "parse_instant"]


def json_object(raw: bytes, provider: str) -> dict[str, Any]:
    """A webhook body that must be a JSON object (bounded depth), else BadPayloadError (never
    quoting the body)."""
    try:
        body = loads_bounded(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadPayloadError(provider, "webhook body is not JSON") from None
    if not isinstance(body, dict):
        raise BadPayloadError(provider, "webhook body is not a JSON object")
    return body


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 instant (``"2026-11-22T08:14:05.000Z"``) as an aware datetime; one without
    an offset is read as UTC. None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
