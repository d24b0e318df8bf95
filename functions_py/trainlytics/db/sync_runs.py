"""Typed calls of the sync-run SQL functions (``public.sync_*``) — the sync engine's database.

Each function names one SQL function of ``supabase/migrations`` and binds its arguments by
name through a :class:`~trainlytics.db.gateway.Gateway`; rows come back as dicts (psycopg types or
PostgREST JSON scalars), which :mod:`trainlytics.sync.engine` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from trainlytics.db.gateway import Gateway

__all__ = [
    "FUNCTIONS",
    "close_stale_runs",
    "connection_token_key",
    "finish",
    "heartbeat",
    "ingest_page",
    "refuse_items",
    "start",
]

#: The SQL functions this module calls (its part of the allow-list).
FUNCTIONS = frozenset(
    {
        "tokens_get",
        "sync_start",
        "sync_progress",
        "sync_ingest_page",
        "sync_refuse_items",
        "sync_finish",
        "sync_close_stale_runs",
    }
)

Row = dict[str, Any]


def _first(rows: list[Row]) -> Row | None:
    return rows[0] if rows else None


def _scalar(rows: list[Row]) -> Any:
    """The one value of a scalar function's one row (None for no row)."""
    return next(iter(rows[0].values())) if rows else None


def connection_token_key(gateway: Gateway, connection_id: int) -> Row | None:
    """``public.tokens_get``: the connection's provider and token ``key_id`` (None: unknown)."""
    return _first(gateway.call("tokens_get", {"p_connection_id": connection_id}))


def close_stale_runs(gateway: Gateway, older_than: timedelta) -> int:
    """``public.sync_close_stale_runs``: how many runs whose lease lapsed were closed."""
    value = _scalar(
        gateway.call(
            "sync_close_stale_runs", {"p_older_than": f"{older_than.total_seconds()} seconds"}
        )
    )
    return int(value or 0)


def start(
    gateway: Gateway,
    *,
    connection_id: int,
    trigger: str,
    holder: str,
    lease_seconds: int,
    exclusive: bool,
) -> Row:
    """``public.sync_start``: ``status`` ``started | busy | unknown | no_tokens`` with the run
    id, the connection's provider, cursor and last sync (``{"status": "unknown"}`` for no row)."""
    rows = gateway.call(
        "sync_start",
        {
            "p_connection_id": connection_id,
            "p_trigger": trigger,
            "p_holder": holder,
            "p_lease_seconds": lease_seconds,
            "p_exclusive": exclusive,
        },
    )
    return rows[0] if rows else {"status": "unknown"}


def ingest_page(
    gateway: Gateway,
    *,
    sync_id: int,
    holder: str,
    items: Sequence[Mapping[str, Any]],
    deleted_external_ids: Sequence[str],
    api_calls: int,
    cursor: Mapping[str, Any] | None,
    lease_seconds: int,
    complete_starts: Sequence[datetime],
    complete_ends: Sequence[datetime],
) -> Row:
    """``public.sync_ingest_page``: one page stored with the run's counters and cursor in one
    transaction; ``lease_held``, ``created``, ``updated``, ``skipped``, ``deleted``, ``errors``."""
    rows = gateway.call(
        "sync_ingest_page",
        {
            "p_sync_id": sync_id,
            "p_holder": holder,
            "p_items": [dict(item) for item in items],
            "p_deleted_external_ids": list(deleted_external_ids),
            "p_api_calls": api_calls,
            "p_cursor": cursor,
            "p_lease_seconds": lease_seconds,
            "p_complete_starts": list(complete_starts),
            "p_complete_ends": list(complete_ends),
        },
    )
    return rows[0] if rows else {}


def refuse_items(
    gateway: Gateway, *, sync_id: int, holder: str, refused: Sequence[Mapping[str, Any]]
) -> bool:
    """``public.sync_refuse_items``: whether the run still held its lease (items recorded)."""
    rows = gateway.call(
        "sync_refuse_items",
        {"p_sync_id": sync_id, "p_holder": holder, "p_refused": [dict(r) for r in refused]},
    )
    return bool(_scalar(rows))


def heartbeat(
    gateway: Gateway,
    *,
    sync_id: int,
    holder: str,
    window_start: datetime,
    window_end: datetime,
    lease_seconds: int,
) -> bool:
    """``public.sync_progress``: extend the lease and record the planned span; False when the
    run was closed as abandoned meanwhile (no row counts as held)."""
    rows = gateway.call(
        "sync_progress",
        {
            "p_sync_id": sync_id,
            "p_holder": holder,
            "p_api_calls": 0,
            "p_window_start": window_start,
            "p_window_end": window_end,
            "p_lease_seconds": lease_seconds,
        },
    )
    return not rows or bool(_scalar(rows))


def finish(
    gateway: Gateway,
    *,
    sync_id: int,
    holder: str,
    status: str,
    error_message: str | None,
    error_details: Mapping[str, Any] | None,
    activities_failed: int | None,
) -> None:
    """``public.sync_finish``: close the run (and record its error on the connection)."""
    gateway.call(
        "sync_finish",
        {
            "p_sync_id": sync_id,
            "p_holder": holder,
            "p_status": status,
            "p_error_message": error_message,
            "p_error_details": dict(error_details) if error_details is not None else None,
            "p_activities_failed": activities_failed,
        },
    )
