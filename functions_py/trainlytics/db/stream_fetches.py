"""Typed calls of the provider stream job (issue 18): its work list, its outcomes, and its
share of the rate-limit buckets (migration 20261205215000_provider_stream_fetches.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from trainlytics.db.gateway import Gateway

__all__ = ["FUNCTIONS", "acquire_share", "activity_id", "candidates", "pending", "record"]

#: The SQL functions this module calls (its part of the allow-list).
FUNCTIONS = frozenset(
    {
        "stream_fetch_candidates",
        "stream_fetch_pending",
        "stream_fetch_record",
        "stream_activity_id",
        "rate_limit_acquire_share",
    }
)


def candidates(
    gateway: Gateway, connection_id: int, limit: int, since: datetime | None = None
) -> list[dict[str, Any]]:
    """``public.stream_fetch_candidates``: the connection's activities due for a stream fetch,
    most recent first (activity_id, provider, provider_user_id, external_id, start_date,
    elapsed_time, payload)."""
    args: dict[str, Any] = {"p_connection_id": connection_id, "p_limit": limit}
    if since is not None:
        args["p_since"] = since
    return gateway.call("stream_fetch_candidates", args)


def pending(gateway: Gateway, connection_id: int, since: datetime | None) -> dict[str, Any]:
    """``public.stream_fetch_pending``: ``due`` now and the earliest ``next_retry_at``."""
    rows = gateway.call(
        "stream_fetch_pending", {"p_connection_id": connection_id, "p_since": since}
    )
    return rows[0] if rows else {}


def record(
    gateway: Gateway,
    activity_id: int,
    outcome: str,
    error: str | None = None,
    points: int | None = None,
) -> None:
    """``public.stream_fetch_record``: fetched / unavailable / failed for one activity."""
    gateway.call(
        "stream_fetch_record",
        {
            "p_activity_id": activity_id,
            "p_outcome": outcome,
            "p_error": error,
            "p_points": points,
        },
    )


def activity_id(gateway: Gateway, connection_id: int, external_id: str) -> int | None:
    """``public.stream_activity_id``: the connection's live activity with this provider id."""
    rows = gateway.call(
        "stream_activity_id", {"p_connection_id": connection_id, "p_external_id": external_id}
    )
    value = next(iter(rows[0].values())) if rows else None
    return int(value) if value is not None else None


def acquire_share(
    gateway: Gateway,
    *,
    buckets: Sequence[str],
    limits: Sequence[int],
    window_seconds: Sequence[int],
    share: float,
    cost: int = 1,
) -> dict[str, Any]:
    """``public.rate_limit_acquire_share``: ``granted``, else ``retry_at`` and
    ``blocking_bucket`` (no row: granted)."""
    rows = gateway.call(
        "rate_limit_acquire_share",
        {
            "p_buckets": list(buckets),
            "p_limits": list(limits),
            "p_window_seconds": list(window_seconds),
            "p_share": share,
            "p_cost": cost,
        },
    )
    return rows[0] if rows else {"granted": True}
