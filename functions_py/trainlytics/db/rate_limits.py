"""Typed calls of the shared rate-limit buckets (``public.rate_limit_*``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trainlytics.db.gateway import Gateway

__all__ = ["FUNCTIONS", "acquire", "charge", "observe"]

#: The SQL functions this module calls (its part of the allow-list).
FUNCTIONS = frozenset({"rate_limit_acquire", "rate_limit_observe", "rate_limit_charge"})


def acquire(
    gateway: Gateway,
    *,
    buckets: Sequence[str],
    limits: Sequence[int],
    window_seconds: Sequence[int],
    cost: int,
) -> dict[str, Any]:
    """``public.rate_limit_acquire``: ``granted``, else ``retry_at`` and ``blocking_bucket``
    (no row: granted)."""
    rows = gateway.call(
        "rate_limit_acquire",
        {
            "p_buckets": list(buckets),
            "p_limits": list(limits),
            "p_window_seconds": list(window_seconds),
            "p_cost": cost,
        },
    )
    return rows[0] if rows else {"granted": True}


def observe(
    gateway: Gateway,
    *,
    buckets: Sequence[str],
    used: Sequence[int],
    limits: Sequence[int],
    window_seconds: Sequence[int],
) -> None:
    """``public.rate_limit_observe``: record a provider's reported usage of its buckets."""
    gateway.call(
        "rate_limit_observe",
        {
            "p_buckets": list(buckets),
            "p_used": list(used),
            "p_limits": list(limits),
            "p_window_seconds": list(window_seconds),
        },
    )


def charge(
    gateway: Gateway,
    *,
    buckets: Sequence[str],
    limits: Sequence[int],
    window_seconds: Sequence[int],
    cost: int,
) -> None:
    """``public.rate_limit_charge``: charge (or give back, when negative) ``cost`` requests."""
    gateway.call(
        "rate_limit_charge",
        {
            "p_buckets": list(buckets),
            "p_limits": list(limits),
            "p_window_seconds": list(window_seconds),
            "p_cost": cost,
        },
    )
