"""Typed calls of the file ingest and the time-zone derivation (``public.ingest_file_activities``,
``public.activity_timezone_candidates``, ``public.set_activity_timezones``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from trainlytics.db.gateway import Gateway

__all__ = ["FUNCTIONS", "ingest_file_activities", "set_activity_timezones", "timezone_candidates"]

#: The SQL functions this module calls (its part of the allow-list).
FUNCTIONS = frozenset(
    {"ingest_file_activities", "activity_timezone_candidates", "set_activity_timezones"}
)


def ingest_file_activities(
    gateway: Gateway, *, user_id: uuid.UUID, items: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``public.ingest_file_activities``: ``created``, ``skipped`` and per-item ``errors``."""
    rows = gateway.call(
        "ingest_file_activities", {"p_user_id": user_id, "p_items": [dict(i) for i in items]}
    )
    return rows[0]


def timezone_candidates(
    gateway: Gateway,
    *,
    user_id: uuid.UUID | None = None,
    connection_id: int | None = None,
    after_id: int = 0,
    limit: int,
) -> list[dict[str, Any]]:
    """``public.activity_timezone_candidates``: rows without a zone (``activity_id``,
    ``start_lat``, ``start_lon``) after ``after_id``, by id; of the athlete, of the connection,
    or everyone's when both are None."""
    return gateway.call(
        "activity_timezone_candidates",
        {
            "p_user_id": user_id,
            "p_connection_id": connection_id,
            "p_after_id": after_id,
            "p_limit": limit,
        },
    )


def set_activity_timezones(gateway: Gateway, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``public.set_activity_timezones``: ``updated`` and the ``unknown_zones``."""
    rows = gateway.call("set_activity_timezones", {"p_items": [dict(i) for i in items]})
    return rows[0] if rows else {}
